"""Rolling content verification's I/O: due instances compared by content, and the ledger file.

Each due instance (:func:`~radonc_assets.backup.rolling_content.due_instances`) is
retrieved from the archive by C-GET and from its source, and the two are compared by
content (:func:`~radonc_assets.backup.content_hash.content_hash`: outside group 0002,
PixelData as encoded), never by the files' bytes. A DICOM source is asked by C-GET, as
``deep_validation`` asks it; a Mosaiq source's records are read from the records folder
of their date, the files that were stored into the archive (Mosaiq itself is not asked).

Instances go in batches of whole series (about :data:`BATCH` instances), hashed as they
arrive and not kept: memory holds hashes, not instances. A series all of whose verified
instances are due is asked for whole, the others by lists of their due instances
(:func:`~radonc_assets.backup.transfers.listed_requests`). When a side cannot be reached,
it is not asked again in that run and its remaining instances are ``unreachable``; the
archive unreachable, the sources are not asked either.
"""

import datetime as dt
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from radonc_assets.backup.audit_files import (
    read_frame,
    records_dir,
    site_path,
    validation_reports,
    write_frame,
)
from radonc_assets.backup.content_hash import Retrieved, file_hash, retrieved_hashes
from radonc_assets.backup.manifest import among
from radonc_assets.backup.rolling_content import (
    LEDGER,
    LEDGER_COLUMNS,
    REPORT_COLUMNS,
    Result,
    due_instances,
    empty_ledger,
    population,
    updated_ledger,
)
from resources.dicom.client import DicomClient
from resources.errors import DicomError

LOGGER = logging.getLogger(__name__)

# Instances retrieved per batch (whole series: a larger series is one batch).
BATCH = 500


@dataclass(frozen=True)
class ContentSource:
    """Where the content of a source's instances is read, for the comparison.

    Attributes:
        hashes: The content hashes of the instances of its first argument (the rows of
            one batch), the second being every verified instance of their series.
        absent: Why an instance it did not give is not compared, as a sentence.
    """

    hashes: Callable[[pd.DataFrame, pd.DataFrame], Retrieved]
    absent: str


def dicom_source(client: DicomClient) -> ContentSource:
    """A DICOM source, asked by C-GET."""

    def hashes(rows: pd.DataFrame, series: pd.DataFrame) -> Retrieved:
        return retrieved_hashes(client, rows, series=series, isolate_failures=True)

    return ContentSource(hashes, f"{client.peer} did not return it by C-GET")


def records_source(site: str, alias: str) -> ContentSource:
    """A Mosaiq source: its records as generated, from the records folder of their date."""

    def hashes(rows: pd.DataFrame, series: pd.DataFrame) -> Retrieved:
        found: dict[str, str] = {}
        size = 0
        for uid, day in zip(rows["sop_instance_uid"], rows["date"], strict=True):
            folder = records_dir(site, dt.date.fromisoformat(day), alias)
            hashed = file_hash(folder / f"{uid}.dcm")
            if hashed is not None:
                found[uid] = hashed[0]
                size += hashed[1]
        return Retrieved(found, size)

    return ContentSource(hashes, f"no record file of it in {alias}'s records folder of its date")


@dataclass(frozen=True)
class Verification:
    """What comparing the due instances found, and what it took.

    Attributes:
        rows: One ledger row per due instance (:data:`LEDGER_COLUMNS`).
        source_bytes: Bytes read from each source (by alias).
        archive_bytes: Bytes retrieved from the archive.
    """

    rows: pd.DataFrame
    source_bytes: dict[str, int]
    archive_bytes: int


def _batches(rows: pd.DataFrame) -> Iterator[pd.DataFrame]:
    """`rows` in batches of whole series of about :data:`BATCH` instances."""
    batch: list[pd.DataFrame] = []
    size = 0
    for _, series in rows.groupby("series_instance_uid", sort=True):
        batch.append(series)
        size += len(series)
        if size >= BATCH:
            yield pd.concat(batch)
            batch, size = [], 0
    if batch:
        yield pd.concat(batch)


def verify_content(
    due: pd.DataFrame,
    instances: pd.DataFrame,
    sources: Mapping[str, ContentSource],
    archive: DicomClient,
    verified_at: str,
) -> Verification:
    """Compare each of `due` with its source (module docstring): the ledger rows.

    Args:
        due: The instances due (population rows), each of a source of `sources`.
        instances: Every verified instance (the population), for the series'
            membership.
        sources: How to read each source's instances, by alias.
        archive: The archive's DICOM client.
        verified_at: When (the site's local time, ISO 8601), for the ledger.
    """
    archived: dict[str, str] = {}
    asked: set[str] = set()
    archive_bytes = 0
    archive_error = ""
    source_bytes = dict.fromkeys(sources, 0)
    rows: list[tuple[str, ...]] = []
    everyone = _Series(instances.drop_duplicates("sop_instance_uid"))
    for alias, source in sources.items():
        source_error = ""
        own = _Series(instances[instances["source"] == alias])
        for batch in _batches(due[due["source"] == alias]):
            wanted = batch[~among(batch["sop_instance_uid"], asked)]
            wanted = wanted.drop_duplicates("sop_instance_uid")
            if not archive_error and not wanted.empty:
                try:
                    got = retrieved_hashes(
                        archive, wanted, series=everyone.of(wanted), isolate_failures=True
                    )
                except DicomError as exc:
                    archive_error = f"the archive could not be reached: {exc}"
                    LOGGER.warning("Content verification: %s", archive_error)
                else:
                    asked |= set(wanted["sop_instance_uid"])
                    archived |= got.hashes
                    archive_bytes += got.bytes
            theirs: dict[str, str] = {}
            if not (archive_error or source_error):
                try:
                    got = source.hashes(batch, own.of(batch))
                except DicomError as exc:
                    source_error = f"{alias} could not be reached: {exc}"
                    LOGGER.warning("Content verification: %s", source_error)
                else:
                    theirs = got.hashes
                    source_bytes[alias] += got.bytes
            for uid, day in zip(batch["sop_instance_uid"], batch["date"], strict=True):
                result, detail = _compared(
                    uid, archived, theirs, archive_error or source_error, source.absent
                )
                rows.append((uid, alias, day, verified_at, str(result), detail))
            LOGGER.info("Content verification: %d of %d instances compared", len(rows), len(due))
    frame = pd.DataFrame(rows, columns=LEDGER_COLUMNS, dtype=str)
    return Verification(frame, source_bytes, archive_bytes)


class _Series:
    """The instances of a population, by series."""

    def __init__(self, instances: pd.DataFrame) -> None:
        self._instances = instances
        self._positions = instances.groupby("series_instance_uid", sort=False).indices

    def of(self, rows: pd.DataFrame) -> pd.DataFrame:
        """Every instance of the series of `rows`."""
        series = rows["series_instance_uid"].unique().tolist()
        return self._instances.iloc[np.concatenate([self._positions[s] for s in series])]


def _compared(
    uid: str,
    archived: Mapping[str, str],
    theirs: Mapping[str, str],
    unreachable: str,
    absent: str,
) -> tuple[Result, str]:
    """The result of one instance and its detail; `unreachable`: why a side was not asked."""
    if unreachable:
        return Result.UNREACHABLE, unreachable
    if uid not in archived:
        return Result.NOT_IN_ARCHIVE, "the archive did not return it by C-GET"
    if uid not in theirs:
        return Result.NOT_IN_SOURCE, absent
    if theirs[uid] != archived[uid]:
        return Result.DIFFERS, "content differs from the source"
    return Result.IDENTICAL, ""


@dataclass(frozen=True)
class DayVerification:
    """One day's content verification of a site.

    Attributes:
        reports: The validation reports it read (:data:`REPORT_COLUMNS` and ``day``).
        instances: The verified instances (:func:`population`).
        due: Those due that day, with why (:func:`due_instances`).
        done: What comparing them found.
        ledger: The ledger written, with the day's rows.
        path: The ledger file.
    """

    reports: pd.DataFrame
    instances: pd.DataFrame
    due: pd.DataFrame
    done: Verification
    ledger: pd.DataFrame
    path: Path


def verify_day(
    site: str,
    dates: Iterable[dt.date],
    sources: Mapping[str, ContentSource],
    archive: DicomClient,
    now: dt.datetime,
    days: int,
) -> DayVerification:
    """The content verification of `site` on the local day of `now`, N being `days`.

    The instances the validation reports of `dates` list as verified for one of `sources`
    are read, those due chosen with the ledger, compared, and the ledger written with
    their rows.
    """
    reports = validation_reports(site, dates, REPORT_COLUMNS)
    instances = population(reports, sources)
    ledger = read_ledger(site)
    due = due_instances(instances, ledger, now.date(), days)
    LOGGER.info(
        "%d of %d verified instances due for content verification on %s",
        len(due),
        len(instances),
        now.date(),
    )
    done = verify_content(due, instances, sources, archive, now.isoformat(timespec="seconds"))
    ledger = updated_ledger(ledger, done.rows, instances)
    return DayVerification(reports, instances, due, done, ledger, write_ledger(site, ledger))


def ledger_path(site: str) -> Path:
    """The ledger file of `site`: ``SITE/content_verification.csv`` in the data folder."""
    return site_path(site, LEDGER)


def read_ledger(site: str) -> pd.DataFrame:
    """The ledger of `site`; without a file, one without rows."""
    path = ledger_path(site)
    return read_frame(path)[LEDGER_COLUMNS] if path.exists() else empty_ledger()


def write_ledger(site: str, ledger: pd.DataFrame) -> Path:
    """Write the ledger of `site`, owner-only (:func:`write_frame`); its path."""
    return write_frame(ledger[LEDGER_COLUMNS], ledger_path(site))
