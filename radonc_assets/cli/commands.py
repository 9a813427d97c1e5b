"""The commands of `radonc`: the function that loads each one's parsers, and its one-line help.

`radonc --help` lists the commands from here, importing no command's module; a
command's module, and what it needs (Dagster, pandas, pynetdicom), is imported only
when that command runs (:func:`radonc_assets.cli.main.build_parser`). Each module is
named by reference in a loader of its own, so that mypy checks the module and its
`add_parsers` (a string naming a module is checked by nothing before it runs).
"""

import argparse
from collections.abc import Callable
from typing import Any, Literal, NamedTuple

# Every command's name, so that mypy refuses a misspelt one (in add_command too).
CommandName = Literal[
    "backup",
    "validate",
    "recover",
    "drill",
    "query",
    "records",
    "report",
    "dicom",
    "audit",
    "environments",
    "synthetic",
    "demo",
    "serve",
]
AddParsers = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]


def _backup() -> AddParsers:
    from radonc_assets.cli import backup

    return backup.add_parsers


def _recover() -> AddParsers:
    from radonc_assets.cli import recover

    return recover.add_parsers


def _query() -> AddParsers:
    from radonc_assets.cli import query

    return query.add_parsers


def _records() -> AddParsers:
    from radonc_assets.cli import records

    return records.add_parsers


def _report() -> AddParsers:
    from radonc_assets.cli import report

    return report.add_parsers


def _dicom() -> AddParsers:
    from radonc_assets.cli import dicom

    return dicom.add_parsers


def _audit() -> AddParsers:
    from radonc_assets.cli import audit

    return audit.add_parsers


def _environments() -> AddParsers:
    from radonc_assets.cli import environments

    return environments.add_parsers


def _synthetic() -> AddParsers:
    from radonc_assets.cli import synthetic

    return synthetic.add_parsers


def _demo() -> AddParsers:
    from radonc_assets.cli import demo

    return demo.add_parsers


def _serve() -> AddParsers:
    from radonc_assets.cli import serve

    return serve.add_parsers


class Command(NamedTuple):
    """How a command is defined, and its help.

    `load` imports the command's module (of :mod:`radonc_assets.cli`) and returns its
    `add_parsers`, which adds every command that module defines (``backup`` and
    ``validate`` share one). `aliases` are the names of the earlier system's scripts it
    replaces (``python -m src.cli.get_report`` becomes ``radonc get_report`` as well as
    ``radonc report``).
    """

    load: Callable[[], AddParsers]
    help: str
    aliases: tuple[str, ...] = ()


COMMANDS: dict[CommandName, Command] = {
    "backup": Command(_backup, "back up and validate dates of a site"),
    "validate": Command(_backup, "compare sources and archive for a date"),
    "recover": Command(
        _recover, "restore from the archive into a restore target, verified by content"
    ),
    "drill": Command(
        _recover,
        "restore a random sample of the verified backups into the scratch node, verify, "
        "delete it again",
    ),
    "query": Command(
        _query, "what a source holds: DICOM studies or records (C-FIND), Mosaiq deliveries"
    ),
    "records": Command(
        _records,
        "a day's RT Beams Treatment Records generated from Mosaiq, as DICOM files (not archived)",
    ),
    "report": Command(_report, "a patient's treatment summary from Mosaiq", ("get_report",)),
    "dicom": Command(_dicom, "ad-hoc DICOM network operations", ("dicom_utils",)),
    "audit": Command(_audit, "who looked up which patient: the access log of patient data"),
    "environments": Command(_environments, "site configuration files"),
    "synthetic": Command(
        _synthetic, "generate synthetic RT patients (CT, RTSTRUCT, RTPLAN, RTDOSE, records)"
    ),
    "demo": Command(_demo, "run the local demo site on 127.0.0.1"),
    "serve": Command(_serve, "run the Dagster UI and daemon (runs, backfills, sensors, schedules)"),
}


def command_named(word: str) -> CommandName | None:
    """The command `word` names (itself, or the command of which it is an alias), or None."""
    return next((name for name, c in COMMANDS.items() if word in (name, *c.aliases)), None)


def add_command(
    subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]", name: CommandName
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
