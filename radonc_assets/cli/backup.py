"""`radonc backup` and `radonc validate`, in the shape of the earlier tools.

Both run the site's Dagster job (:mod:`radonc_assets.cli.runs`). Each date is one
partition; one line per run and source summarises it; the exit code is 1 when
anything is missing, failed or deferred, and a site with ``[SITE.alerts]`` is alerted
(``--no-alert`` silences one run), since departments run nightly backups from cron. A backup whose runs are bounded by
``max_uids_per_run`` runs again until the day is complete or a run makes no
progress (``--single-run`` stops after one). Without a date, a backup catches up: the
dates of the site's window that are not complete, then today
(:func:`_catch_up`, :mod:`radonc_assets.backup.catch_up`).
"""

import argparse
import datetime as dt
from typing import TYPE_CHECKING

from radonc_assets.cli.commands import add_command
from radonc_assets.site.config import SiteConfig
from radonc_assets.site.loading import load_site

if TYPE_CHECKING:
    from radonc_assets.backup.rolling_content import ContentState


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
    # A backup without a date catches up (the dates of its window not complete).
    dates = parser.add_mutually_exclusive_group(required=not ranges)
    dates.add_argument(
        "--date",
        type=dt.date.fromisoformat,
        help="YYYY-MM-DD"
        + (
            " (without --date or --from: every date of the last catch_up_days days that is "
            "not complete, then today)"
            if ranges
            else ""
        ),
    )
    if ranges:
        dates.add_argument("--from", dest="start", type=dt.date.fromisoformat, help="first date")
        parser.add_argument("--to", dest="end", type=dt.date.fromisoformat, help="last date")


def _dates(args: argparse.Namespace, parser: argparse.ArgumentParser) -> list[dt.date] | None:
    """The dates asked for; None for a catch-up (no date at all).

    A wrong combination is one line and exit 2 (a usage error).
    """
    if args.end is not None and args.start is None:
        parser.exit(
            2,
            "radonc: --to needs --from (--from D1 --to D2; --date D; or no date to catch "
            "up on the dates not complete)\n",
        )
    if args.date:
        return [args.date]
    if args.start is None:
        return None
    if args.end is None or args.end < args.start:
        parser.exit(2, "radonc: --from needs a --to on or after it\n")
    return [args.start + dt.timedelta(days=n) for n in range((args.end - args.start).days + 1)]


def _sources(site: SiteConfig, alias: str | None) -> list[str]:
    if alias is None:
        return list(site.sources)
    if alias not in site.sources:
        raise site.problem(alias, f"not a source ({', '.join(site.sources)})")
    return [alias]


def _backup(args: argparse.Namespace) -> int:
    from radonc_assets.cli.runs import check_dates, check_secrets  # loads Dagster

    days = _dates(args, args.parser)
    site = load_site(args.site)
    aliases = _sources(site, args.source)
    if days is not None:
        check_dates(site, days)
    check_secrets(site)
    wait = args.pool_wait or site.settings.pool_wait
    if days is None:
        return _catch_up(args, site, aliases, wait)
    incomplete = sum(not _back_up(args, site, day, aliases, wait) for day in days)
    return _summary(len(days), incomplete)


def _back_up(
    args: argparse.Namespace, site: SiteConfig, day: dt.date, aliases: list[str], wait: float
) -> bool:
    """Back up `aliases` for `day` (again while runs copy and defer); whether it is complete.

    A date left incomplete is alerted unless ``--no-alert``.
    """
    from radonc_assets.cli.runs import alert_incomplete, run_day  # loads Dagster

    result = run_day(site, day, aliases, copy=True, pool_wait=wait)
    while result.deferred and result.copied and not args.single_run:
        print(f"{day} {site.name}: {result.deferred} deferred; running again")
        result = run_day(site, day, aliases, copy=True, pool_wait=wait)
    if not result.complete and not args.no_alert:
        alert_incomplete(site, day, result, "backup")
    return result.complete


def _summary(backed_up: int, incomplete: int) -> int:
    print(
        f"{backed_up} date(s) backed up; {incomplete} incomplete"
        + (" (see the Dagster UI)" if incomplete else "")
    )
    return 1 if incomplete else 0


def _catch_up(args: argparse.Namespace, site: SiteConfig, aliases: list[str], wait: float) -> int:
    """Back up the dates of the site's catch-up window that are not complete, oldest first.

    Each past date of the window (``catch_up_days``, from ``backfill_start``) is checked
    source by source (:func:`~radonc_assets.backup.catch_up.check_source`): complete
    ones cost one listing and no run; the others are backed up, their sources that need
    it. Today always runs: it is not over. One line per date, then the summary line.
    """
    from radonc_assets.backup.content_verification import read_ledger
    from radonc_assets.backup.rolling_content import content_state
    from radonc_assets.cli.runs import check_dates
    from radonc_assets.site.partitions import DEFAULT_BACKFILL_START, site_today

    today = site_today(site).date()
    check_dates(site, [today])
    first = max(
        today - dt.timedelta(days=site.catch_up_days), site.backfill_start or DEFAULT_BACKFILL_START
    )
    rolling = site.settings.rolling_content_days
    content = content_state(read_ledger(site.name), today, rolling) if rolling else None
    backed_up = incomplete = 0
    for day in (first + dt.timedelta(days=n) for n in range((today - first).days)):
        ran, complete = _catch_up_day(args, site, day, aliases, wait, content)
        backed_up += ran
        incomplete += not complete
    print(f"{today} {site.name}: today, not over: backing up", flush=True)
    complete = _back_up(args, site, today, aliases, wait)
    _print_backed_up(site, today, complete)
    return _summary(backed_up + 1, incomplete + (not complete))


def _catch_up_day(
    args: argparse.Namespace,
    site: SiteConfig,
    day: dt.date,
    aliases: list[str],
    wait: float,
    content: "ContentState | None",
) -> tuple[bool, bool]:
    """Check the past date `day` of `aliases`, and back up what needs it.

    Returns:
        Whether it ran a backup, and whether the date is complete.
    """
    from radonc_assets.backup.catch_up import CheckOutcome, chains_complete, check_source
    from radonc_assets.cli.runs import DayResult, alert_incomplete, wait_for_sources

    # A listing check waits, as a run does, for a source another run is copying from.
    wait_for_sources(site, aliases, wait)
    checks = [check_source(site, day, alias, content) for alias in aliases]
    unreachable = [c for c in checks if c.outcome == CheckOutcome.UNREACHABLE]
    run = [c for c in checks if c.outcome == CheckOutcome.RUN]
    reasons = [f"{c.alias} {c.detail}" for c in run]
    # The chains span the sources: they decide a date only with all of them (run_day).
    if set(aliases) == set(site.sources) and not chains_complete(site, day):
        run = [c for c in checks if c.outcome != CheckOutcome.UNREACHABLE]
        reasons.append("treatment chains not complete when last validated")
    for check in unreachable:
        print(f"{day} {site.name} {check.alias}: UNREACHABLE for its listing check: {check.detail}")
    if unreachable and not args.no_alert:
        problems = tuple(f"{c.alias}: UNREACHABLE: {c.detail}" for c in unreachable)
        sources = tuple(c.alias for c in unreachable)
        alert_incomplete(site, day, DayResult(False, 0, 0, problems, sources), "backup")
    if run:
        print(f"{day} {site.name}: backing up: {'; '.join(reasons)}", flush=True)
        complete = _back_up(args, site, day, [c.alias for c in run], wait) and not unreachable
        _print_backed_up(site, day, complete)
        return True, complete
    if unreachable:
        print(f"{day} {site.name}: not complete: its sources could not all be listed; not run")
        return False, False
    print(
        f"{day} {site.name}: complete, skipped after its listing check ("
        + "; ".join(c.detail for c in checks)
        + ")"
    )
    return False, True


def _print_backed_up(site: SiteConfig, day: dt.date, complete: bool) -> None:
    print(f"{day} {site.name}: backed up: {'complete' if complete else 'INCOMPLETE'}")


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
