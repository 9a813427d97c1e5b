"""Whether a past date of a source is still complete: its recorded verdict, then one listing.

`radonc backup SITE [SOURCE]` without a date (a catch-up, run from cron) backs up the
dates of its window that are not complete. A past date of a source is complete when

- its recorded verdict is complete (:func:`~radonc_assets.backup.coverage.day_coverage`,
  with the rolling content verification's findings when the site has it), and its last
  listing can decide the date (:func:`~radonc_assets.backup.listing.unlisted`: a full
  listing made after the date ended), the "no false green" rules of the report; and
- the source, listed again now as the backup lists it, holds what the recorded
  manifest says: a DICOM source the same instances (same rows), Mosaiq the same records
  (UIDs and content) and the same deliveries that made no record.

Anything else needs a run, with the reason; a source that cannot be listed now is
``unreachable`` (not complete, and not run: a run would only record it so).
"""

import datetime as dt
import logging
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import pandas as pd

from radonc_assets.backup.audit_files import audit_path, read_frame, records_dir
from radonc_assets.backup.chain import chain_summary
from radonc_assets.backup.content_hash import content_hash, file_hash
from radonc_assets.backup.coverage import DayStatus, day_coverage
from radonc_assets.backup.listing import listing_path, read_listing, unlisted
from radonc_assets.backup.manifest import MANIFEST_COLUMNS, manifest_frame
from radonc_assets.backup.mosaiq.accounting import not_converted_file
from radonc_assets.backup.mosaiq.queries import day_window, read_sessions
from radonc_assets.backup.mosaiq.records import EncodedRecord, encode_record, record_settings
from radonc_assets.backup.rolling_content import ContentState
from radonc_assets.backup.source_queries import UndatedRecordsError, day_manifest
from radonc_assets.site.clients import dicom_client, mosaiq_database
from radonc_assets.site.config import SiteConfig
from resources.errors import DicomError, MosaiqDatabaseError

LOGGER = logging.getLogger(__name__)


class CheckOutcome(StrEnum):
    """What the catch-up found for a source's past date."""

    COMPLETE = "complete"
    RUN = "run"
    UNREACHABLE = "unreachable"


@dataclass(frozen=True)
class SourceCheck:
    """One source's past date, checked.

    Attributes:
        alias: The source.
        outcome: Complete (after its listing check), needs a run, or unreachable.
        detail: What the listing found (complete), why it needs a run, or why the source
            could not be listed.
    """

    alias: str
    outcome: CheckOutcome
    detail: str


def day_end(site: SiteConfig, day: dt.date) -> dt.datetime:
    """When `day` ends in `site`'s time zone (aware)."""
    return dt.datetime.combine(
        day + dt.timedelta(days=1), dt.time(), tzinfo=zoneinfo.ZoneInfo(site.timezone)
    )


def check_source(
    site: SiteConfig, day: dt.date, alias: str, content: ContentState | None
) -> SourceCheck:
    """Whether `alias`'s `day` is still complete (see the module docstring).

    The source is listed only when the recorded verdict is complete.

    Args:
        site: The site.
        day: A past date.
        alias: One of its sources.
        content: The rolling content verification's state, when the site has it.
    """
    problem = recorded_problem(site, day, alias, content, dt.datetime.now(dt.UTC))
    if problem is not None:
        return SourceCheck(alias, CheckOutcome.RUN, problem)
    try:
        return listing_check(site, day, alias)
    except (DicomError, UndatedRecordsError, MosaiqDatabaseError) as exc:
        return SourceCheck(alias, CheckOutcome.UNREACHABLE, f"{alias} could not be listed: {exc}")


def recorded_problem(
    site: SiteConfig, day: dt.date, alias: str, content: ContentState | None, now: dt.datetime
) -> str | None:
    """Why the recorded verdict of `alias`'s `day` is not complete at `now`; None if it is."""
    coverage = day_coverage(site.name, day, source=alias, content=content)
    if not coverage.report_version:
        return f"{coverage.status}: never validated"
    if coverage.status != DayStatus.COMPLETE:
        return f"{coverage.status} when last validated"
    listed = unlisted(read_listing(listing_path(site.name, day, alias)), day_end(site, day), now)
    if listed is not None:
        status, detail = listed
        return f"{status}: {detail}"
    return None


def chains_complete(site: SiteConfig, day: dt.date) -> bool:
    """Whether the date's last treatment chain report found every record's chain complete."""
    path = audit_path(site.name, day, "treatment_chains")
    return path.exists() and chain_summary(read_frame(path))["incomplete"] == 0


def listing_check(site: SiteConfig, day: dt.date, alias: str) -> SourceCheck:
    """List `alias`'s `day` again, as the backup lists it, and compare with its manifest.

    Raises:
        DicomError: A DICOM source could not be listed.
        UndatedRecordsError: As the backup's listing.
        MosaiqDatabaseError: Mosaiq could not be read.
    """
    mosaiq = alias in site.mosaiq_sources
    path = audit_path(
        site.name, day, f"{alias}_{'treatment_records' if mosaiq else 'source_studies'}"
    )
    if not path.exists():
        return SourceCheck(alias, CheckOutcome.RUN, "its manifest file is gone")
    recorded = read_frame(path)
    if not mosaiq:
        listed = day_manifest(dicom_client(site, alias), site.dicom_sources[alias], day)
        changes = manifest_changes(recorded, listed)
        what = f"{len(listed)} instances"
    else:
        sessions = read_sessions(
            mosaiq_database(site, alias),
            day_window(day),
            site_query=site.settings.mosaiq_backup_sql_query,
        )
        settings = record_settings(site)
        records = [encode_record(session, settings) for session in sessions.items]
        changes = manifest_changes(recorded, manifest_frame(r.instance() for r in records))
        known = set(recorded["sop_instance_uid"])
        changes += _record_changes(
            records_dir(site.name, day, alias), [r for r in records if r.uids.instance in known]
        )
        unconverted = {str(item.dhs_id) for item in sessions.not_converted}
        if unconverted != _recorded_unconverted(site, day, alias):
            changes.append("other deliveries made no record")
        what = f"{len(records)} records"
    if changes:
        LOGGER.info("%s %s changed since it was verified: %s", alias, day, changes)
        return SourceCheck(alias, CheckOutcome.RUN, f"changed since verified: {', '.join(changes)}")
    return SourceCheck(alias, CheckOutcome.COMPLETE, f"{alias} {what} as verified")


def manifest_changes(recorded: pd.DataFrame, listed: pd.DataFrame) -> list[str]:
    """How `listed` differs from the `recorded` manifest: instances new, gone, changed."""
    before = _rows(recorded)
    after = _rows(listed)
    counts = {
        "new": len(after.keys() - before.keys()),
        "gone": len(before.keys() - after.keys()),
        "changed": sum(before[uid] != row for uid, row in after.items() if uid in before),
    }
    return [f"{count} instance(s) {what}" for what, count in counts.items() if count]


def _rows(manifest: pd.DataFrame) -> dict[str, tuple[str, ...]]:
    """Each row of `manifest` as text, by SOPInstanceUID."""
    rows = manifest[MANIFEST_COLUMNS].astype(str).itertuples(index=False, name=None)
    return {row[MANIFEST_COLUMNS.index("sop_instance_uid")]: tuple(row) for row in rows}


def _record_changes(folder: Path, records: Iterable[EncodedRecord]) -> list[str]:
    """How many of `records` differ in content from the files the backup generated in `folder`."""
    changed = 0
    for record in records:
        stored = file_hash(folder / f"{record.uids.instance}.dcm")
        changed += stored is None or stored[0] != content_hash(record.dataset())
    return [f"content of {changed} records"] if changed else []


def _recorded_unconverted(site: SiteConfig, day: dt.date, alias: str) -> set[str]:
    """The deliveries the last backup of `day` found in no record (DHS_ID)."""
    path = not_converted_file(site.name, day, alias)
    return set(read_frame(path, ["dhs_id"])["dhs_id"]) if path.exists() else set()
