"""Entry point of the `radonc` command line."""

import argparse
import gc
import importlib
import logging
import os
import signal
import sys
from collections.abc import Sequence
from types import FrameType

from radonc_assets.cli.commands import COMMANDS, add_command
from radonc_assets.site.errors import ConfigError, RunRefusedError
from resources.errors import DicomError, MosaiqDatabaseError, OrthancError

# Exit status after Ctrl-C or SIGTERM (128 + SIGINT, as shells report it).
INTERRUPTED = 130
EXPECTED_FAILURES = (ConfigError, DicomError, OrthancError, MosaiqDatabaseError, RunRefusedError)


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
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    named = (
        next((arg for arg in argv if not arg.startswith("-")), None) if argv is not None else None
    )
    wanted = {c.module for c in COMMANDS.values()} if argv is None else set()
    if named in COMMANDS:
        wanted.add(COMMANDS[named].module)
    for module in dict.fromkeys(c.module for c in COMMANDS.values()):
        if module in wanted:
            importlib.import_module(f"radonc_assets.cli.{module}").add_parsers(commands)
    for name in COMMANDS:
        if name not in commands.choices:
            add_command(commands, name)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run `radonc`; expected failures print one line and exit non-zero, without a traceback."""
    arguments = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(arguments).parse_args(arguments)
    logging.basicConfig(
        level=logging.DEBUG
        if args.verbose > 1
        else logging.INFO
        if args.verbose
        else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:
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
    # again while the interpreter shuts down (0.7 s of every command that loaded
    # Dagster and pandas, measured).
    gc.freeze()
    sys.exit(status)


if __name__ == "__main__":
    run()
