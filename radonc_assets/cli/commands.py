"""The commands of `radonc`: the module that defines each, and its one-line help.

`radonc --help` lists the commands from here, importing no command's module; a
command's module, and what it needs (Dagster, pandas, pynetdicom), is imported only
when that command runs (:func:`radonc_assets.cli.main.build_parser`).
"""

import argparse
from typing import Any, NamedTuple


class Command(NamedTuple):
    """Where a command is defined (a module of :mod:`radonc_assets.cli`), and its help.

    `aliases` are the names of the earlier system's scripts it replaces
    (``python -m src.cli.get_report`` becomes ``radonc get_report`` as well as ``radonc report``).
    """

    module: str
    help: str
    aliases: tuple[str, ...] = ()


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
    "report": Command("report", "a patient's treatment summary from Mosaiq", ("get_report",)),
    "dicom": Command("dicom", "ad-hoc DICOM network operations", ("dicom_utils",)),
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


def command_named(word: str) -> str | None:
    """The command `word` names (itself, or the command of which it is an alias), or None."""
    if word in COMMANDS:
        return word
    return next((name for name, c in COMMANDS.items() if word in c.aliases), None)


def add_command(
    subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]", name: str
) -> argparse.ArgumentParser:
    """The sub-parser of command `name`, with its help and aliases from :data:`COMMANDS`."""
    command = COMMANDS[name]
    return subparsers.add_parser(name, help=command.help, aliases=command.aliases)


def add_with_earlier_spelling(
    parser: argparse.ArgumentParser,
    option: str,
    earlier: str,
    **options: Any,
) -> argparse.Action:
    """Option `option` of `parser`, also accepted as the earlier tools spelt it.

    The earlier spelling (``--study_date`` for ``--study-date``) sets the same value
    and is left out of ``--help``.

    Args:
        parser: The command's parser.
        option: The option as ``--help`` shows it.
        earlier: The earlier tools' spelling of it.
        options: The keywords of :meth:`argparse.ArgumentParser.add_argument`.
    """
    action = parser.add_argument(option, **options)
    parser.add_argument(earlier, **{**options, "dest": action.dest, "help": argparse.SUPPRESS})
    return action
