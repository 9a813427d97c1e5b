"""`radonc backup` and `radonc validate`, in the shape of the earlier tools.

Both run the site's Dagster job (:mod:`radonc_assets.cli.runs`). Each date is one
partition; one line per date and source summarises it; the exit code is 1 when
anything is missing or failed.
"""

import argparse
import datetime as dt

from radonc_assets.site.config import SiteConfig
from radonc_assets.site.loading import load_site


def add_parsers(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Register `radonc backup` and `radonc validate`."""
    backup = subparsers.add_parser("backup", help="back up and validate dates of a site")
    backup.add_argument("site")
    backup.add_argument("source", nargs="?", help="one DICOM source (default: all of them)")
    _date_options(backup, ranges=True)
    backup.set_defaults(func=_backup)

    validate = subparsers.add_parser("validate", help="compare sources and archive for a date")
    validate.add_argument("site")
    validate.add_argument("source", nargs="?", help="report this source (default: all)")
    validate.add_argument("backup", nargs="?", help="the archive (must be default_backup)")
    _date_options(validate, ranges=False)
    validate.set_defaults(func=_validate)


def _date_options(parser: argparse.ArgumentParser, *, ranges: bool) -> None:
    dates = parser.add_mutually_exclusive_group(required=True)
    dates.add_argument("--date", type=dt.date.fromisoformat, help="YYYY-MM-DD")
    if ranges:
        dates.add_argument("--from", dest="start", type=dt.date.fromisoformat, help="first date")
        parser.add_argument("--to", dest="end", type=dt.date.fromisoformat, help="last date")


def _dates(args: argparse.Namespace) -> list[dt.date]:
    if args.date:
        return [args.date]
    if args.end is None or args.end < args.start:
        raise SystemExit("radonc: --from needs a --to on or after it")
    return [args.start + dt.timedelta(days=n) for n in range((args.end - args.start).days + 1)]


def _sources(site: SiteConfig, alias: str | None) -> list[str]:
    if alias is None:
        return list(site.dicom_sources)
    if alias not in site.dicom_sources:
        raise site.problem(alias, f"not a DICOM source ({', '.join(site.dicom_sources)})")
    return [alias]


def _backup(args: argparse.Namespace) -> int:
    from radonc_assets.cli.runs import run_day  # loads Dagster: only commands that run jobs

    site = load_site(args.site)
    aliases = _sources(site, args.source)
    results = [run_day(site, day, aliases, copy=True) for day in _dates(args)]
    failed = results.count(False)
    print(
        f"{len(results)} date(s) backed up; {failed} incomplete"
        + (" (see the Dagster UI)" if failed else "")
    )
    return 1 if failed else 0


def _validate(args: argparse.Namespace) -> int:
    from radonc_assets.cli.runs import run_day  # loads Dagster: only commands that run jobs

    site = load_site(args.site)
    if args.backup not in (None, site.default_backup):
        raise site.problem(
            args.backup, f"validation runs against default_backup ({site.default_backup})"
        )
    complete = run_day(site, args.date, _sources(site, args.source), copy=False)
    return 0 if complete else 1
