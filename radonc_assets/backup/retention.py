"""Retention of the data folder: the files of dates older than the site keeps, deleted.

A date's folder (``SITE/YYYY-MM-DD/``: manifests, copies, validation report, treatment
chains, generated records) names patients. Past the retention, it is replaced by its
validation summary: instances per source and status, no identifier, so that the
coverage still shows what the date's backup came to. Restore reports
(``SITE/recoveries/``, ``SITE/drills/``) are deleted by age, and the site's access log
(``SITE/access.log`` and its rotated files) loses its lines of older accesses. Nothing
else is touched.
"""

import datetime as dt
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from radonc_assets.backup.audit_files import (
    REPORT,
    SUMMARY,
    audit_path,
    read_frame,
    report_summary,
    write_frame,
)
from radonc_assets.site.access_log import purge_before
from radonc_assets.site.paths import data_dir

LOGGER = logging.getLogger(__name__)

RESTORE_REPORTS = ("recoveries", "drills")


@dataclass(frozen=True)
class Purged:
    """What a purge deleted.

    Attributes:
        days: The dates whose files were deleted (their summary kept).
        files: Files deleted.
        bytes: Their size (and what the access log shrank by).
        access_lines: Lines of older accesses removed from the access log.
    """

    days: list[dt.date]
    files: int
    bytes: int
    access_lines: int


def purge(site: str, cutoff: dt.date) -> Purged:
    """Delete the files of `site`'s dates before `cutoff`, older restore reports and accesses.

    Each date keeps its validation summary (written from its report first, when it has
    one). Restore reports older than `cutoff` (their modification time, local) go; so do
    access log lines older than `cutoff` (local midnight).
    """
    root = data_dir() / site.lower()
    days: list[dt.date] = []
    files, size = 0, 0
    for folder in sorted(root.glob("????-??-??")):
        day = _folder_date(folder)
        if day is None or day >= cutoff:
            continue
        kept = audit_path(site, day, SUMMARY)
        doomed = [path for path in folder.rglob("*") if path.is_file() and path != kept]
        if not doomed:
            continue
        report = audit_path(site, day, REPORT)
        if report.exists():
            write_frame(report_summary(read_frame(report)), kept)
        files += len(doomed)
        size += sum(path.stat().st_size for path in doomed)
        for child in folder.iterdir():
            if child != kept:
                shutil.rmtree(child) if child.is_dir() else child.unlink()
        days.append(day)
    since = dt.datetime.combine(cutoff, dt.time()).astimezone()
    for name in RESTORE_REPORTS:
        for path in sorted((root / name).glob("*.csv")):
            if path.stat().st_mtime < since.timestamp():
                files += 1
                size += path.stat().st_size
                path.unlink()
    logs = purge_before(site, since)
    files, size = files + logs.files, size + logs.bytes
    LOGGER.info("Purged %d files (%d bytes) of %s before %s", files, size, site, cutoff)
    return Purged(days, files, size, logs.lines)


def _folder_date(folder: Path) -> dt.date | None:
    """The date a day's folder is named by (``YYYY-MM-DD``); None: not a day's folder."""
    if not folder.is_dir():
        return None
    try:
        return dt.date.fromisoformat(folder.name)
    except ValueError:
        return None
