"""`radonc audit`: the access log of patient data, as a table.

One row per access (:mod:`radonc_assets.site.access_log`): a site's log with its rotated
files, or every log under the data folder without SITE, oldest first. Reading it is
itself an access to identifiers (it names the patients asked for): it is logged too,
in the site's log (without SITE, in the log of commands without a site).
"""

import argparse
import datetime as dt
from typing import Any

from radonc_assets.cli.commands import add_command
from radonc_assets.cli.output import print_table
from radonc_assets.site.access_log import (
    Access,
    entry_time,
    log_path,
    logged,
    read_entries,
    site_logs,
)
from radonc_assets.site.paths import data_dir

COLUMNS = [
    "time",
    "user",
    "host",
    "command",
    "site",
    "source",
    "asked",
    "patients",
    "instances",
    "rows",
    "written",
    "outcome",
]


def add_parsers(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Register `radonc audit`."""
    audit = add_command(subparsers, "audit")
    audit.add_argument("site", nargs="?", help="this site's log (default: every log)")
    audit.add_argument(
        "--since",
        type=dt.date.fromisoformat,
        help="accesses from this date on (YYYY-MM-DD, UTC)",
    )
    audit.add_argument("--mrn", help="accesses that asked for this MRN (PatientID)")
    audit.set_defaults(func=_audit)


def _audit(args: argparse.Namespace) -> int:
    logs = site_logs()
    if args.site and args.site.lower() not in logs:
        named = ", ".join(name or "(no site)" for name in logs) or "none"
        raise SystemExit(
            f"radonc: no access log of site {args.site} under {data_dir()} (logs: {named})"
        )
    paths = [log_path(args.site)] if args.site else list(logs.values())
    asked = {"since": str(args.since or ""), "mrn": args.mrn or ""}
    with logged(Access("audit", args.site, str(data_dir()), asked)) as access:
        entries = sorted(
            (entry for path in paths for entry in read_entries(path) if _wanted(entry, args)),
            key=entry_time,
        )
        access.rows = len(entries)
    print_table([_row(entry) for entry in entries], COLUMNS)
    where = f"site {args.site}" if args.site else f"{len(paths)} log(s)"
    print(f"{len(entries)} access(es) in the access log of {where} under {data_dir()}")
    return 0


def _wanted(entry: dict[str, Any], args: argparse.Namespace) -> bool:
    since: dt.date | None = args.since
    if since and entry_time(entry) < dt.datetime.combine(since, dt.time(), dt.UTC):
        return False
    return not args.mrn or entry.get("asked", {}).get("mrn") == args.mrn


def _row(entry: dict[str, Any]) -> dict[str, str]:
    """An entry as table cells: the Dagster user beside the system's, `asked` as key=value."""
    user = str(entry.get("user", ""))
    if entry.get("dagster_user"):
        user += f" (dagster: {entry['dagster_user']})"
    command = str(entry.get("command", ""))
    if entry.get("launched_by"):
        command += f" ({entry['launched_by']})"
    asked = entry.get("asked") or {}
    return {
        column: "" if entry.get(column) is None else str(entry[column]) for column in COLUMNS
    } | {
        "user": user,
        "command": command,
        "asked": " ".join(f"{key}={value}" for key, value in asked.items()),
    }
