"""Entry point of the `radonc` command line."""

import argparse
import logging
import os
import signal
import sys
from collections.abc import Sequence
from types import FrameType

from radonc_assets.cli import (
    backup,
    demo,
    dicom,
    environments,
    query,
    records,
    recover,
    report,
    serve,
    synthetic,
)
from radonc_assets.site.config import ConfigError
from radonc_assets.site.errors import RunRefusedError
from resources.errors import DicomError, MosaiqDatabaseError, OrthancError

# Exit status after Ctrl-C or SIGTERM (128 + SIGINT, as shells report it).
INTERRUPTED = 130
EXPECTED_FAILURES = (ConfigError, DicomError, OrthancError, MosaiqDatabaseError, RunRefusedError)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command."""
    parser = argparse.ArgumentParser(
        prog="radonc", description="Verified backup of ARIA, MIM and Mosaiq into Orthanc."
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    backup.add_parsers(commands)
    recover.add_parsers(commands)
    for module in (query, records, report, dicom, environments, synthetic, demo, serve):
        module.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run `radonc`; expected failures print one line and exit non-zero, without a traceback."""
    args = build_parser().parse_args(argv)
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
    their ACSE timeout).
    """
    status = main()
    if status == INTERRUPTED:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    sys.exit(status)


if __name__ == "__main__":
    run()
