"""What each date's backup came to, from its validation report file: the coverage.

One verdict (:func:`verdict`) decides a source's check, a date's report, the coverage
and the sensors' retries, from the statuses of the report's rows (docs/assets.md):
``complete`` when every row is verified (extra rows aside); ``incomplete`` when
anything is missing, mismatched or damaged, or a Mosaiq delivery made no record and
nobody acknowledged it (``not_converted``; ``acknowledged`` deliveries are counted, and
no failure); ``unreachable`` when a source could not be listed;
``not_run`` when a source has no listing that can decide the day, or the date no report;
``deferred`` when what is lacking was only left for the next run (``max_uids_per_run``).
The coverage asset lists every date so; the sensors request the dates left incomplete,
unreachable or deferred again. With the rolling content verification, the coverage reads
a date's report with the ledger's findings (an instance whose archived content is not
the source's: ``mismatched``, :class:`~radonc_assets.backup.rolling_content.ContentState`)
and counts its instances proven identical lately; the sensors do not (another copy
cannot change an archived instance).
"""

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

import pandas as pd

from radonc_assets.backup.audit_files import REPORT, SUMMARY, audit_path, read_frame, summary_rows
from radonc_assets.backup.manifest import INCOMPLETE, Status
from radonc_assets.backup.rolling_content import ContentState


class DayStatus(StrEnum):
    """What a date's (or a source's) backup came to: its verdict."""

    COMPLETE = "complete"
    DEFERRED = "deferred"
    INCOMPLETE = "incomplete"
    UNREACHABLE = "unreachable"
    NOT_RUN = "not_run"


@dataclass(frozen=True)
class DayCoverage:
    """One date's status, with its report's counts.

    Attributes:
        day: The date.
        status: What its backup came to.
        counts: Instances per report status (verified, missing...), every source together.
        report_version: The report file's modification time (ns); 0 without a report.
            A new report (a new run) has a new version.
        content_verified: Its verified instances the content verification proved
            identical within its N days; None without it, or without the report's rows
            (a date without a report, or past the retention).
    """

    day: dt.date
    status: DayStatus
    counts: dict[str, int]
    report_version: int
    content_verified: int | None = None


def verdict(statuses: Iterable[str]) -> DayStatus:
    """The verdict of a source or a date whose report rows have `statuses`.

    The worst wins: incomplete, unreachable, not_run, deferred, then complete.
    """
    found = set(statuses)
    if found & (set(INCOMPLETE) - {Status.DEFERRED}):
        return DayStatus.INCOMPLETE
    if Status.UNREACHABLE in found:
        return DayStatus.UNREACHABLE
    if Status.NOT_RUN in found:
        return DayStatus.NOT_RUN
    if Status.DEFERRED in found:
        return DayStatus.DEFERRED
    return DayStatus.COMPLETE


def day_status(report: pd.DataFrame) -> DayStatus:
    """The verdict of a date whose validation report is `report`."""
    return verdict(report["status"].tolist())


def day_coverage(
    site: str, day: dt.date, source: str | None = None, content: ContentState | None = None
) -> DayCoverage:
    """The coverage of `site`'s date `day`, from its report file (``not_run`` without one).

    A date past the retention has its report's summary instead
    (:mod:`radonc_assets.backup.retention`), which counts the same.

    Args:
        site: The site's name.
        day: The date.
        source: Only this source's rows (its alias); None for every source.
        content: What the rolling content verification's ledger says: its findings
            become ``mismatched`` rows of the report.
    """
    path = audit_path(site, day, REPORT)
    summary = audit_path(site, day, SUMMARY)
    try:
        version = path.stat().st_mtime_ns
        report = read_frame(path)
    except FileNotFoundError:
        if not summary.exists():
            return DayCoverage(day, DayStatus.NOT_RUN, {}, 0)
        version = summary.stat().st_mtime_ns
        report = summary_rows(read_frame(summary))
    if source is not None:
        report = report[report["source"] == source]
    content_verified = None
    if content is not None and "sop_instance_uid" in report.columns:  # not a summary's rows
        report = content.apply(report)
        content_verified = content.verified(report)
    counts = report["status"].value_counts()
    return DayCoverage(
        day,
        day_status(report),
        {str(status): int(counts.get(status, 0)) for status in Status},
        version,
        content_verified,
    )


def coverage_frame(
    site: str, days: Iterable[dt.date], content: ContentState | None = None
) -> pd.DataFrame:
    """One row per date: its status and its report's counts per status.

    With `content` (the rolling content verification), the reports are read with its
    findings (:func:`day_coverage`) and a column ``content_verified`` counts each date's
    verified instances proven identical within its N days (empty for a date without the
    report's rows: no report, or past the retention).
    """
    columns = ["date", "status", *(str(s) for s in Status)]
    if content is not None:
        columns.append("content_verified")
    rows = []
    for day in days:
        coverage = day_coverage(site, day, content=content)
        rows.append(
            {
                "date": day.isoformat(),
                "status": str(coverage.status),
                **{str(status): coverage.counts.get(status, 0) for status in Status},
                "content_verified": ""
                if coverage.content_verified is None
                else coverage.content_verified,
            }
        )
    return pd.DataFrame(rows, columns=columns)
