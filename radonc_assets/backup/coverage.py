"""What each date's backup came to, from its validation report file: the coverage.

A date is ``complete`` when its report lists nothing that fails a source's check
(:data:`~radonc_assets.backup.manifest.INCOMPLETE`), ``deferred`` when what it lacks was
only left for the next run (``max_uids_per_run``), ``incomplete`` when anything else fails
(missing, mismatched, altered in the archive), and ``not_run`` without a report.
The coverage asset lists every date so; the sensors request the dates left incomplete
or deferred again.
"""

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

import pandas as pd

from radonc_assets.backup.audit_files import REPORT, SUMMARY, audit_path, read_frame, summary_rows
from radonc_assets.backup.manifest import INCOMPLETE, Status


class DayStatus(StrEnum):
    """What a date's backup came to."""

    COMPLETE = "complete"
    DEFERRED = "deferred"
    INCOMPLETE = "incomplete"
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
    """

    day: dt.date
    status: DayStatus
    counts: dict[str, int]
    report_version: int


def day_status(report: pd.DataFrame) -> DayStatus:
    """The status of a date whose validation report is `report`."""
    statuses = set(report["status"])
    if statuses & (set(INCOMPLETE) - {Status.DEFERRED}):
        return DayStatus.INCOMPLETE
    if Status.DEFERRED in statuses:
        return DayStatus.DEFERRED
    return DayStatus.COMPLETE


def day_coverage(site: str, day: dt.date, source: str | None = None) -> DayCoverage:
    """The coverage of `site`'s date `day`, from its report file (``not_run`` without one).

    A date past the retention has its report's summary instead
    (:mod:`radonc_assets.backup.retention`), which counts the same.

    Args:
        site: The site's name.
        day: The date.
        source: Only this source's rows (its alias); None for every source.
    """
    path = audit_path(site, day.isoformat(), REPORT)
    summary = audit_path(site, day.isoformat(), SUMMARY)
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
    counts = report["status"].value_counts()
    return DayCoverage(
        day,
        day_status(report),
        {str(status): int(counts.get(status, 0)) for status in Status},
        version,
    )


def coverage_frame(site: str, days: Iterable[dt.date]) -> pd.DataFrame:
    """One row per date: its status and its report's counts per status."""
    rows = []
    for day in days:
        coverage = day_coverage(site, day)
        rows.append(
            {
                "date": day.isoformat(),
                "status": str(coverage.status),
                **{str(status): coverage.counts.get(status, 0) for status in Status},
            }
        )
    return pd.DataFrame(rows, columns=["date", "status", *(str(s) for s in Status)])
