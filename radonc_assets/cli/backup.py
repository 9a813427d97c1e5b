"""`radonc backup` and `radonc validate`, in the shape of the earlier tools.

Both run the site's Dagster job (:mod:`radonc_assets.cli.runs`). Each date is one
partition; one line per run and source summarises it; the exit code is 1 when
anything is missing, failed or deferred, and a site with ``[SITE.alerts]`` is alerted
(``--no-alert`` silences one run), since departments run nightly backups from cron. A backup whose runs are bounded by
``max_uids_per_run`` runs again until the day is complete or a run makes no
progress (``--single-run`` stops after one).
"""

import argparse
import datetime as dt

from radonc_assets.cli.commands import add_command
from radonc_assets.cli.output import warn
from radonc_assets.site.config import SiteConfig
from radonc_assets.site.loading import load_site


def add_parsers(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Register `radonc backup` and `radonc validate`."""
    backup = add_command(subparsers, "backup")
    backup.add_argument("site")
    backup.add_argument("source", nargs="?", help="one DICOM source (default: all of them)")
    _date_options(backup, ranges=True)
    backup.add_argument(
        "--single-run",
        action="store_true",
        help="one run per date, even when max_uids_per_run leaves instances for the next",
    )
    backup.set_defaults(func=_backup, parser=backup)

    validate = add_command(subparsers, "validate")
    validate.add_argument("site")
    validate.add_argument("source", nargs="?", help="report this source (default: all)")
    validate.add_argument("backup", nargs="?", help="the archive (must be default_backup)")
    _date_options(validate, ranges=False)
    validate.set_defaults(func=_validate)
    for parser in (backup, validate):
        parser.add_argument(
            "--no-alert",
            action="store_true",
            help="send no alert for this run, even when the site has [SITE.alerts]",
        )
        parser.add_argument(
            "--pool-wait",
            type=float,
            metavar="SECONDS",
            help="how long to wait for a source held by another run (default: the site's "
            "pool_wait setting, 600 s)",
        )


def _date_options(parser: argparse.ArgumentParser, *, ranges: bool) -> None:
    dates = parser.add_mutually_exclusive_group(required=True)
    dates.add_argument("--date", type=dt.date.fromisoformat, help="YYYY-MM-DD")
    if ranges:
        dates.add_argument("--from", dest="start", type=dt.date.fromisoformat, help="first date")
        parser.add_argument("--to", dest="end", type=dt.date.fromisoformat, help="last date")


def _dates(args: argparse.Namespace, parser: argparse.ArgumentParser) -> list[dt.date]:
    if args.date:
        if args.end is not None:
            warn(f"--to {args.end} is ignored with --date (--from D1 --to D2 gives a range)")
        return [args.date]
    if args.end is None or args.end < args.start:
        parser.error("--from needs a --to on or after it")
    return [args.start + dt.timedelta(days=n) for n in range((args.end - args.start).days + 1)]


def _sources(site: SiteConfig, alias: str | None) -> list[str]:
    if alias is None:
        return list(site.sources)
    if alias not in site.sources:
        raise site.problem(alias, f"not a source ({', '.join(site.sources)})")
    return [alias]


def _backup(args: argparse.Namespace) -> int:
    from radonc_assets.cli.runs import (  # loads Dagster
        alert_incomplete,
        check_dates,
        check_secrets,
        run_day,
    )

    days = _dates(args, args.parser)
    site = load_site(args.site)
    aliases = _sources(site, args.source)
    check_dates(site, days)
    check_secrets(site)
    wait = args.pool_wait or site.settings.pool_wait
    incomplete = 0
    for day in days:
        result = run_day(site, day, aliases, copy=True, pool_wait=wait)
        while result.deferred and result.copied and not args.single_run:
            print(f"{day} {site.name}: {result.deferred} deferred; running again")
            result = run_day(site, day, aliases, copy=True, pool_wait=wait)
        incomplete += not result.complete
        if not result.complete and not args.no_alert:
            alert_incomplete(site, day, result, "backup")
    print(
        f"{len(days)} date(s) backed up; {incomplete} incomplete"
        + (" (see the Dagster UI)" if incomplete else "")
    )
    return 1 if incomplete else 0


def _validate(args: argparse.Namespace) -> int:
    from radonc_assets.cli.runs import (  # loads Dagster
        alert_incomplete,
        check_dates,
        check_secrets,
        run_day,
    )

    site = load_site(args.site)
    if args.backup not in (None, site.default_backup):
        raise site.problem(
            args.backup, f"validation runs against default_backup ({site.default_backup})"
        )
    aliases = _sources(site, args.source)
    check_dates(site, [args.date])
    check_secrets(site)
    wait = args.pool_wait or site.settings.pool_wait
    result = run_day(site, args.date, aliases, copy=False, pool_wait=wait)
    if not result.complete and not args.no_alert:
        alert_incomplete(site, args.date, result, "validate")
    return 0 if result.complete else 1
