"""Entry point of the `radonc` command line."""

import argparse
import gc
import logging
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from types import FrameType
from typing import Any

from radonc_assets.cli.commands import COMMANDS, add_command, command_named
from radonc_assets.site.errors import ConfigError, RunRefusedError
from resources.errors import DicomError, MosaiqDatabaseError, OrthancError

# Exit status after Ctrl-C or SIGTERM (128 + SIGINT, as shells report it).
INTERRUPTED = 130
EXPECTED_FAILURES = (ConfigError, DicomError, OrthancError, MosaiqDatabaseError, RunRefusedError)
# The earlier tools' --log_level, as steps of verbosity: -v is INFO, -vv DEBUG.
LOG_LEVEL_STEPS = {"DEBUG": 2, "INFO": 1, "WARNING": 0, "ERROR": -1}
# Where the verbosity given to each parser (before and after the command) is counted.
VERBOSITY = "verbosity"
DISTRIBUTION = "radonc-backup"


class _Verbosity(argparse.Action):
    """Adds a step of verbosity (``-v``) or a ``--log_level``'s steps to its parser's count.

    Each parser counts in a name of its own: argparse copies a command's values over
    those parsed before the command, and ``radonc -v report ... -v`` counts two.
    """

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        steps = values if isinstance(values, int) else 1
        setattr(namespace, self.dest, getattr(namespace, self.dest, 0) + steps)


def log_level_steps(value: str) -> int:
    """The verbosity of a ``--log_level`` value (any case).

    Raises:
        argparse.ArgumentTypeError: Not one of :data:`LOG_LEVEL_STEPS`.
    """
    steps = LOG_LEVEL_STEPS.get(value.upper())
    if steps is None:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a level (valid: {', '.join(LOG_LEVEL_STEPS)}, any case)"
        )
    return steps


def _add_verbosity_options(parser: argparse.ArgumentParser, dest: str) -> None:
    parser.add_argument(
        "-v",
        "--verbose",
        action=_Verbosity,
        nargs=0,
        dest=dest,
        default=argparse.SUPPRESS,
        help="more logging: -v radonc's progress, -vv also the DICOM library's detail",
    )
    parser.add_argument(
        "--log_level",
        action=_Verbosity,
        type=log_level_steps,
        dest=dest,
        default=argparse.SUPPRESS,
        metavar="LEVEL",
        help="DEBUG (as -vv), INFO (as -v), WARNING (the default) or ERROR; "
        "the earlier tools' option",
    )


def _parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """`parser` and every parser of its commands and their sub-commands."""
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            # An alias maps to its command's parser again.
            for command in dict.fromkeys(action.choices.values()):
                yield from _parsers(command)


def verbosity(args: argparse.Namespace) -> int:
    """The steps of verbosity given before and after the command, added up."""
    return sum(value for name, value in vars(args).items() if name.startswith(VERBOSITY))


def installed_version() -> str:
    """The version of the installed package (``unknown`` when it is not installed)."""
    # Imported here: importlib.metadata would cost every start of radonc (docs/benchmarks.md).
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        return "unknown"


class _Version(argparse.Action):
    """``--version``: prints :func:`installed_version`, looked up only when asked, and exits."""

    def __init__(self, option_strings: Sequence[str], dest: str, **options: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **options)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        print(f"{parser.prog} {installed_version()}")
        parser.exit()


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The argument parser: every command, defined in full only where needed.

    Args:
        argv: The arguments it will parse. Only the module of the command they name is
            imported, the others' commands are listed with their help alone, so that
            `radonc --help` or a command that needs no Dagster starts fast. None: every
            command in full.
    """
    parser = argparse.ArgumentParser(
        prog="radonc", description="Verified backup of ARIA, MIM and Mosaiq into Orthanc."
    )
    parser.add_argument("--version", action=_Version, help="print the installed version and exit")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    # The first argument that names a command (an option's value, as --log_level's, does not).
    named = (
        next((c for c in map(command_named, argv) if c is not None), None)
        if argv is not None
        else None
    )
    wanted = {c.load for c in COMMANDS.values()} if argv is None else set()
    if named is not None:
        wanted.add(COMMANDS[named].load)
    for load in dict.fromkeys(c.load for c in COMMANDS.values()):
        if load in wanted:
            load()(commands)
    for name in COMMANDS:
        if name not in commands.choices:
            add_command(commands, name)
    # -v and --log_level before the command, after it, or both.
    for number, each in enumerate(_parsers(parser)):
        _add_verbosity_options(each, f"{VERBOSITY}_{number}")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run `radonc`; expected failures print one line and exit non-zero, without a traceback."""
    arguments = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(arguments).parse_args(arguments)
    steps = verbosity(args)
    logging.basicConfig(
        level=logging.DEBUG
        if steps > 1
        else logging.INFO
        if steps == 1
        else logging.WARNING
        if steps == 0
        else logging.ERROR,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if steps <= 0:
        # We report network failures ourselves, in one line.
        logging.getLogger("pynetdicom").setLevel(logging.CRITICAL)
    # A process started in the background by a shell ignores SIGINT, and Python leaves
    # SIGTERM to the default action (no clean-up): both stop radonc cleanly here.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        return int(args.func(args))
    except EXPECTED_FAILURES as exc:
        print(f"radonc: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("radonc: stopped", file=sys.stderr)
        return INTERRUPTED


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def run() -> None:
    """The `radonc` console script: :func:`main`, then exit with its status.

    After Ctrl-C or SIGTERM the command has cleaned up (its run marked failed, its
    servers stopped); the process then exits at once, without waiting for network
    threads of an interrupted association (pynetdicom's would keep it alive until
    their ACSE timeout). Otherwise it exits with its objects frozen out of the
    garbage collector (:func:`gc.freeze`), which shutdown would traverse again.
    """
    status = main()
    if status == INTERRUPTED:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    # What the command loaded lives until exit; frozen, the collector does not walk it
    # again while the interpreter shuts down (most of the exit of every command that
    # loaded Dagster and pandas; docs/benchmarks.md).
    gc.freeze()
    sys.exit(status)


if __name__ == "__main__":
    run()
