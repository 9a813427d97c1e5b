"""`radonc environments check|workspace`: validate site files; write the Dagster workspace.

`check` also shows what the keys of a site of the earlier system became, recommends
the ``_env_var`` form for a secret placeholder, warns about an ODBC driver that is
not installed here, says whether the Mosaiq records read the site's own deliveries
query (``mosaiq_backup_sql_query``), and validates each site's acknowledgements file.
With ``--probe`` it asks each Mosaiq source's staging node whether it relays the records
to the archive or only stores them; without it, it contacts nothing.
"""

import argparse
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from radonc_assets.backup.mosaiq.deliveries_query import SETTING, USED_NOTE, deliveries_query
from radonc_assets.cli.commands import add_command
from radonc_assets.cli.output import print_table
from radonc_assets.site.acknowledgements import load_acknowledgements
from radonc_assets.site.config import DicomSource, MosaiqSource, SiteConfig
from radonc_assets.site.errors import ConfigError, Problem
from radonc_assets.site.loading import load_site_files, read_document
from radonc_assets.site.migration import earlier_key_readings, placeholder_notes
from radonc_assets.site.odbc_drivers import driver_warnings
from radonc_assets.site.paths import environments_dir
from radonc_assets.site.workspace import workspace_yaml


def add_parsers(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Register `radonc environments`."""
    environments = add_command(subparsers, "environments")
    commands = environments.add_subparsers(dest="environments_command", required=True)
    check = commands.add_parser(
        "check", help="validate site files; print each site's sources and targets"
    )
    check.add_argument(
        "path",
        nargs="?",
        type=Path,
        help="a site file or folder (default: $RADONC_ENVIRONMENTS or environments/)",
    )
    check.add_argument(
        "--probe",
        action="store_true",
        help="contact each Mosaiq source's staging node (a C-ECHO, and a C-MOVE of nothing "
        "to the archive) and say whether it relays or only stores; without it nothing is "
        "contacted",
    )
    check.set_defaults(func=_check)
    workspace = commands.add_parser(
        "workspace",
        help="write the Dagster workspace: one code location per site file of the "
        "environments folder",
    )
    workspace.add_argument(
        "--output", type=Path, help="the file to write (default: print the workspace)"
    )
    workspace.set_defaults(func=_workspace)


def _check(args: argparse.Namespace) -> int:
    path: Path = args.path or environments_dir()
    loaded = load_site_files(path)
    # The files that loaded, as written: what the earlier system's keys became.
    documents = {file: read_document(file) for file in loaded.files if file not in loaded.failed}
    unread: list[Problem] = []
    for site in loaded.sites.values():
        print(f"{site.name}: {site.description} ({site.source_file})")
        print(
            f"  calling AE {site.script_ae.aet}; timezone {site.timezone}; "
            f"default source {site.default_source}; default backup {site.default_backup}"
        )
        rows = []
        for alias, source in site.sources.items():
            if isinstance(source, DicomSource):
                where = f"{source.aet}@{source.ip}:{source.port}" + (" (TLS)" if source.tls else "")
            elif isinstance(source, MosaiqSource):
                where = f"{source.db_database} via {source.odbc_driver}"
                where += f" on {source.db_server}" if source.db_server else ""
            rows.append({"role": "source", "alias": alias, "type": source.type, "where": where})
        rows += [
            {
                "role": "backup target",
                "alias": alias,
                "type": target.type,
                "where": f"{target.aet}@{target.ip}:{target.port}"
                + (" (TLS)" if target.tls else ""),
            }
            for alias, target in site.backup_targets.items()
        ]
        print_table(rows)
        for line in staging_lines(site, probe=args.probe):
            print(line)
        _print_migration(site, documents)
        try:
            acknowledged = load_acknowledgements(site)
        except ConfigError as exc:
            unread += exc.problems
        else:
            for alias, deliveries in acknowledged.items():
                print(f"{alias}: {len(deliveries)} delivery(ies) acknowledged")
        print()
    print(f"{len(loaded.sites)} site(s) OK in {path}")
    if loaded.failed:
        print(f"{len(loaded.failed)} file(s) did not load")
    if unread:
        print(f"{len({p.file for p in unread})} acknowledgements file(s) did not load")
    if loaded.failed or unread:
        # main prints them, one line per problem, and exits 1.
        raise ConfigError([*loaded.problems, *unread])
    return 0


def staging_lines(site: SiteConfig, *, probe: bool) -> list[str]:
    """One line per Mosaiq source with a staging node: its mode when `probe`, else how to ask.

    Only with `probe` is the node contacted (:func:`_probed_mode`).
    """
    lines = []
    for alias, source in site.mosaiq_sources.items():
        stage = source.staging_target_alias
        if stage is not None:
            mode = (
                _probed_mode(site, stage)
                if probe
                else "relay or store-only not probed (--probe contacts it)"
            )
            lines.append(f"{alias}: records through the staging node {stage}: {mode}")
    return lines


def _probed_mode(site: SiteConfig, stage: str) -> str:
    """The mode of the staging node `stage`, asked over the network (:func:`.probe_staging`).

    ``relay (C-MOVE to AET)``, ``store-only (...)`` or ``unreachable: cause``, then what
    leaves relay unconfirmed or why store-only.
    """
    # The DICOM network (pynetdicom), loaded only when a node is to be contacted.
    from radonc_assets.backup.staging import StagingMode, probe_staging
    from radonc_assets.site.clients import dicom_client

    destination = site.backup_targets[site.default_backup].aet
    found = probe_staging(dicom_client(site, stage), destination)
    if found.mode is None:
        return f"unreachable: {found.detail}"
    mode = (
        f"relay (C-MOVE to {destination})"
        if found.mode == StagingMode.RELAY
        else "store-only (C-STORE; records also stored directly to the archive)"
    )
    return f"{mode} - {found.detail}" if found.detail else mode


def _print_migration(site: SiteConfig, documents: Mapping[Path, Mapping[str, Any]]) -> None:
    """What the earlier keys became; placeholder, driver and deliveries query lines."""
    table = documents[site.source_file][site.name]
    readings = earlier_key_readings(site, table)
    if readings is not None:
        print("keys of the earlier system, as radonc-backup reads them:")
        print_table([asdict(reading) for reading in readings])
    for note in placeholder_notes(table):
        print(f"note: {note}")
    for warning in driver_warnings(site):
        print(f"warning: {warning.key}: {warning.message}")
    if site.settings.mosaiq_backup_sql_query is not None:
        print(_site_query_line(site))


def _site_query_line(site: SiteConfig) -> str:
    """One line: whether the Mosaiq records read the site's own deliveries query."""
    if not site.mosaiq_sources:
        return f"note: {SETTING} is not read: the site has no Mosaiq source"
    query = deliveries_query(site.settings.mosaiq_backup_sql_query)
    return f"warning: {query.warning}" if query.warning else f"note: {USED_NOTE}"


def _workspace(args: argparse.Namespace) -> int:
    text = workspace_yaml()
    if args.output is None:
        print(text, end="")
    else:
        args.output.write_text(text, encoding="utf-8")
        print(f"wrote {args.output}: one code location per site file of {environments_dir()}")
    return 0
