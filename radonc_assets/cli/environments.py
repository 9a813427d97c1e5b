"""`radonc environments check [PATH]`: validate site files and show what they define."""

import argparse
from pathlib import Path

from radonc_assets.cli.output import print_table
from radonc_assets.site.config import DicomSource, MosaiqSource
from radonc_assets.site.loading import load_sites
from radonc_assets.site.paths import environments_dir


def add_parser(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Register `radonc environments`."""
    environments = subparsers.add_parser("environments", help="site configuration files")
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
    check.set_defaults(func=_check)


def _check(args: argparse.Namespace) -> int:
    path: Path = args.path or environments_dir()
    sites = load_sites(path)
    for site in sites.values():
        print(f"{site.name}: {site.description} ({site.source_file})")
        print(
            f"  calling AE {site.script_ae.aet}; timezone {site.timezone}; "
            f"default source {site.default_source}; default backup {site.default_backup}"
        )
        rows = []
        for alias, source in site.sources.items():
            if isinstance(source, DicomSource):
                where = f"{source.aet}@{source.ip}:{source.port}"
            elif isinstance(source, MosaiqSource):
                where = f"{source.db_database} via {source.odbc_driver}"
                where += f" on {source.db_server}" if source.db_server else ""
            rows.append({"role": "source", "alias": alias, "type": source.type, "where": where})
        rows += [
            {
                "role": "backup target",
                "alias": alias,
                "type": target.type,
                "where": f"{target.aet}@{target.ip}:{target.port}",
            }
            for alias, target in site.backup_targets.items()
        ]
        print_table(rows)
        print()
    print(f"{len(sites)} site(s) OK in {path}")
    return 0
