"""Manifest and report files, readable without Dagster (CSV).

Files live under the data folder (``$RADONC_DATA_DIR``, default ``.radonc/data``),
one folder per site and day: ``SITE/YYYY-MM-DD/SOURCE_source_studies.csv``,
``SOURCE_orthanc_copies.csv`` and ``validation_report.csv``. They name patients: files
are created owner-only (0600), folders 0700 (:mod:`radonc_assets.site.private_files`).
"""

import datetime as dt
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

from radonc_assets.site.paths import data_dir
from radonc_assets.site.private_files import write_private

# A date's validation report, and what is kept of it past the retention: its counts.
REPORT = "validation_report"
SUMMARY = "validation_summary"
SUMMARY_COLUMNS = ["source", "status", "instances"]


def audit_path(site: str, day: dt.date, name: str) -> Path:
    """The CSV file `name` of `site` for the date `day` (its folder ``YYYY-MM-DD``)."""
    return data_dir() / site.lower() / day.isoformat() / f"{name.lower()}.csv"


def site_path(site: str, name: str) -> Path:
    """The CSV file `name` of `site` as a whole (beside its days' folders)."""
    return data_dir() / site.lower() / f"{name.lower()}.csv"


def write_frame(frame: pd.DataFrame, path: Path) -> Path:
    """Write `frame` as CSV, owner-only (it names patients), atomically (:func:`write_private`)."""
    return write_private(path, frame.to_csv(index=False).encode("utf-8"))


def records_dir(site: str, day: dt.date, alias: str) -> Path:
    """The folder of the DICOM files `alias` generated for `site` and the date `day`."""
    return data_dir() / site.lower() / day.isoformat() / f"{alias.lower()}_records"


def read_frame(path: Path, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Read a file written by :func:`write_frame`, every column (or `columns`) as text."""
    return pd.read_csv(
        path, dtype=str, keep_default_na=False, usecols=None if columns is None else list(columns)
    )


def validation_reports(
    site: str, days: Iterable[dt.date], columns: Sequence[str] | None = None
) -> pd.DataFrame:
    """The validation reports of `site` for those of `days` that have one, concatenated.

    Each row gets its report's day as ``day`` (``YYYY-MM-DD``); no report at all gives an
    empty frame.
    `columns`: only those of each report (less memory for many days).
    """
    frames = [
        read_frame(path, columns).assign(day=day.isoformat())
        for day in days
        if (path := audit_path(site, day, "validation_report")).exists()
    ]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def report_summary(report: pd.DataFrame) -> pd.DataFrame:
    """Instances per source and status of a validation report: no identifier."""
    counts = report.groupby(["source", "status"], sort=True).size()
    return counts.rename("instances").reset_index()[SUMMARY_COLUMNS]


def summary_rows(summary: pd.DataFrame) -> pd.DataFrame:
    """A summary as report rows (``source``, ``status``), one per instance, for counting."""
    return summary.loc[summary.index.repeat(summary["instances"].astype(int)), ["source", "status"]]
