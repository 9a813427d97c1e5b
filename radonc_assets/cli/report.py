"""`radonc report`: a patient's treatment summary from Mosaiq, as the earlier `get_report`.

One row per treated site (the Mosaiq site's name is the TargetVolume): first and last
delivery dates, the total projected dose (Gy) and the number of fractions, as a table
and, with ``--csv``, as a CSV file readable by its owner only.
"""

import argparse
import csv
import datetime as dt
import io
from pathlib import Path

import pandas as pd

from radonc_assets.backup.mosaiq.model import SUMMARY_COLUMNS
from radonc_assets.backup.mosaiq.queries import date_window, fetch_treatment_summary
from radonc_assets.cli.commands import add_command, add_with_earlier_spelling
from radonc_assets.cli.output import print_table
from radonc_assets.cli.records import add_mosaiq_argument, decimal_text, mosaiq_alias, save_private
from radonc_assets.site.access_log import Access, logged
from radonc_assets.site.clients import mosaiq_database
from radonc_assets.site.loading import load_site


def add_parsers(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Register `radonc report`."""
    report = add_command(subparsers, "report")
    report.add_argument("site")
    add_mosaiq_argument(report)
    report.add_argument("--mrn", required=True, help="the patient's MRN (Ident.IDA)")
    add_with_earlier_spelling(
        report,
        "--start-date",
        "--start_date",
        type=dt.date.fromisoformat,
        help="first treatment date (YYYY-MM-DD)",
    )
    add_with_earlier_spelling(
        report,
        "--end-date",
        "--end_date",
        type=dt.date.fromisoformat,
        help="last treatment date, included",
    )
    report.add_argument(
        "--csv", type=Path, metavar="FILE", help="also write the table as CSV (mode 0600)"
    )
    report.set_defaults(func=_report, parser=report)


def _cell(value: object) -> str:
    """A summary value as text: empty for NULL, doses without trailing zeros, ISO dates."""
    if value is None or value is pd.NaT or (isinstance(value, float) and pd.isna(value)):
        return ""
    if isinstance(value, float):
        return decimal_text(value)
    return str(value)


def _report(args: argparse.Namespace) -> int:
    start: dt.date | None = args.start_date
    end: dt.date | None = args.end_date
    if start and end and end < start:
        args.parser.error("--end-date is before --start-date")
    site = load_site(args.site)
    alias = mosaiq_alias(site, args.mosaiq)
    asked = {"mrn": args.mrn, "from": str(start or ""), "to": str(end or "")}
    with logged(Access("report", site.name, alias, asked)) as access:
        summary = fetch_treatment_summary(
            mosaiq_database(site, alias), args.mrn, date_window(start, end)
        )
        rows = [
            {str(column): _cell(value) for column, value in row.items()}
            for row in summary.to_dict(orient="records")
        ]
        access.patients, access.rows = int(bool(rows)), len(rows)
        if args.csv:
            text = io.StringIO()
            writer = csv.DictWriter(text, SUMMARY_COLUMNS, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
            save_private(args.csv, text.getvalue().encode("utf-8"))
            access.written = str(args.csv.resolve())
    print_table(rows, SUMMARY_COLUMNS)
    period = (f" from {start}" if start else "") + (f" to {end}" if end else "")
    print(f"{len(rows)} treated site(s) of MRN {args.mrn}{period} in {alias}; TotalDose in Gy")
    if args.csv:
        print(f"wrote {args.csv} (mode 0600: it identifies the patient)")
    return 0
