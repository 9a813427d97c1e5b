"""`radonc records`: a day's RT Beams Treatment Records from Mosaiq as DICOM files, not archived.

The records are those the site's ``treatment_records`` asset makes: the same sessions,
settings (UID root, private creator) and so the same UIDs and bytes. The other Mosaiq
commands (`radonc report`, `radonc query` of a Mosaiq source) share the helpers here:
the default Mosaiq source, the sessions of a window, and files readable by their owner only.
"""

import argparse
import datetime as dt
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from radonc_assets.backup.mosaiq.model import Parsed, Session, SkippedRow
from radonc_assets.backup.mosaiq.queries import Window, day_window, read_sessions
from radonc_assets.backup.mosaiq.records import encode_record, record_settings
from radonc_assets.cli.commands import add_command
from radonc_assets.cli.output import print_table
from radonc_assets.site.access_log import Access, logged
from radonc_assets.site.clients import mosaiq_database
from radonc_assets.site.config import SiteConfig
from radonc_assets.site.loading import load_site
from radonc_assets.site.private_files import private_dir, write_private

# Mosaiq keeps metersets to 3 decimals; doses in Gy have 4 (cGy to 2).
_DECIMALS = 4


def add_parsers(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Register `radonc records`."""
    records = add_command(subparsers, "records")
    records.add_argument("site")
    add_mosaiq_argument(records)
    records.add_argument("--date", type=dt.date.fromisoformat, required=True, help="YYYY-MM-DD")
    records.add_argument(
        "--out", type=Path, required=True, help="folder of the SOPInstanceUID.dcm files"
    )
    records.set_defaults(func=_records)


def add_mosaiq_argument(parser: argparse.ArgumentParser) -> None:
    """The optional MOSAIQ positional argument of the Mosaiq commands."""
    parser.add_argument(
        "mosaiq", nargs="?", help="Mosaiq source alias (default: the site's only one)"
    )


def mosaiq_alias(site: SiteConfig, alias: str | None) -> str:
    """`alias`, or else the only Mosaiq source of `site`.

    Raises:
        ConfigError: No alias, and the site has no Mosaiq source or several (naming them).
    """
    if alias is not None:
        return alias
    aliases = list(site.mosaiq_sources)
    if len(aliases) == 1:
        return aliases[0]
    if aliases:
        raise site.problem(None, f"several Mosaiq sources: name one of {', '.join(aliases)}")
    raise site.problem(None, f"no Mosaiq source (sources: {', '.join(site.sources)})")


def read_mosaiq_sessions(
    site: SiteConfig, alias: str, window: Window, *, mrn: str | None = None
) -> Parsed[Session]:
    """The sessions of `window` in the Mosaiq source `alias` of `site`, and the rows left out.

    Everyone's, through the site's own deliveries query when the records can read it (as
    the ``treatment_records`` asset reads them: :func:`.read_sessions`), a ``warning:``
    line saying why when it is set but not read; or one patient's (`mrn`, a plain value
    that is never part of the SQL text) through ``deliveries.sql``.

    Raises:
        ConfigError: `alias` is not a Mosaiq source, its driver is missing, its password unset.
        MosaiqDatabaseError: The database cannot be read.
    """
    db = mosaiq_database(site, alias)
    site_query = site.settings.mosaiq_backup_sql_query if mrn is None else None
    sessions = read_sessions(db, window, mrn=mrn, site_query=site_query)
    if sessions.query.warning:
        print(f"warning: {sessions.query.warning}")
    return sessions


def print_skipped(skipped: Sequence[SkippedRow]) -> None:
    """How many Mosaiq rows were left out, and each with its reason."""
    print(f"{len(skipped)} Mosaiq row(s) skipped" + (":" if skipped else ""))
    if skipped:
        print_table([asdict(row) for row in skipped])


def decimal_text(value: float) -> str:
    """A meterset or dose as text: at most 4 decimals, no trailing zeros (``6``, ``122.1``)."""
    return f"{value:.{_DECIMALS}f}".rstrip("0").rstrip(".")


def save_private(path: Path, data: bytes) -> None:
    """Write `data` to `path` readable by its owner only (it identifies patients).

    See :func:`~radonc_assets.site.private_files.write_private`.

    Raises:
        SystemExit: The file cannot be written (one line).
    """
    try:
        write_private(path, data)
    except OSError as exc:
        raise SystemExit(f"radonc: cannot write {path}: {exc.strerror or exc}") from exc


def _records(args: argparse.Namespace) -> int:
    site = load_site(args.site)
    alias = mosaiq_alias(site, args.mosaiq)
    settings = record_settings(site)
    out: Path = args.out
    with logged(Access("records", site.name, alias, {"date": str(args.date)})) as access:
        parsed = read_mosaiq_sessions(site, alias, day_window(args.date))
        try:
            private_dir(out)
        except OSError as exc:
            raise SystemExit(f"radonc: cannot create {out}: {exc.strerror or exc}") from exc
        patients = len({session.patient.pat_id1 for session in parsed.items})
        access.patients, access.instances = patients, len(parsed.items)
        access.written = str(out.resolve())
        rows = []
        for session in parsed.items:
            record = encode_record(session, settings)
            save_private(out / f"{record.uids.instance}.dcm", record.data)
            rows.append(
                {
                    "MRN": session.patient.mrn,
                    "Patient": session.patient.display_name,
                    "Plan": session.plan.label,
                    "Treated": f"{session.deliveries[0].treated_at:%Y-%m-%d %H:%M}",
                    "Machine": session.machine.name,
                    "Beams": len(session.deliveries),
                    "SOPInstanceUID": record.uids.instance,
                }
            )
    print_table(rows)
    deliveries = sum(len(session.deliveries) for session in parsed.items)
    print(
        f"{len(rows)} record(s) of {args.date} from {alias} ({deliveries} deliveries, "
        f"{patients} patient(s)) written to {out}, not archived"
    )
    print_skipped(parsed.skipped)
    return 0
