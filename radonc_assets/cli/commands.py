"""The commands of `radonc`: the module that defines each, and its one-line help.

`radonc --help` lists the commands from here, importing no command's module; a
command's module, and what it needs (Dagster, pandas, pynetdicom), is imported only
when that command runs (:func:`radonc_assets.cli.main.build_parser`).
"""

import argparse
from typing import NamedTuple


class Command(NamedTuple):
    """Where a command is defined (a module of :mod:`radonc_assets.cli`), and its help."""

    module: str
    help: str


COMMANDS = {
    "backup": Command("backup", "back up and validate dates of a site"),
    "validate": Command("backup", "compare sources and archive for a date"),
    "recover": Command(
        "recover", "restore from the archive into a restore target, verified by content"
    ),
    "drill": Command(
        "recover",
        "restore a random sample of the verified backups into the scratch node, verify, "
        "delete it again",
    ),
    "query": Command(
        "query", "what a source holds: DICOM studies or records (C-FIND), Mosaiq deliveries"
    ),
    "records": Command(
        "records",
        "a day's RT Beams Treatment Records generated from Mosaiq, as DICOM files (not archived)",
    ),
    "report": Command("report", "a patient's treatment summary from Mosaiq"),
    "dicom": Command("dicom", "ad-hoc DICOM network operations"),
    "audit": Command("audit", "who looked up which patient: the access log of patient data"),
    "environments": Command("environments", "site configuration files"),
    "synthetic": Command(
        "synthetic", "generate synthetic RT patients (CT, RTSTRUCT, RTPLAN, RTDOSE, records)"
    ),
    "demo": Command("demo", "run the local demo site on 127.0.0.1"),
    "serve": Command(
        "serve", "run the Dagster UI and daemon (runs, backfills, sensors, schedules)"
    ),
}


def add_command(
    subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]", name: str
) -> argparse.ArgumentParser:
    """The sub-parser of command `name`, with its help from :data:`COMMANDS`."""
    return subparsers.add_parser(name, help=COMMANDS[name].help)
