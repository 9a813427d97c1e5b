"""Entry point of the `radonc` command line."""

import argparse
import logging
import sys
from collections.abc import Sequence

from radonc_assets.cli import backup, demo, dicom, environments, query, synthetic
from radonc_assets.site.config import ConfigError
from resources.errors import DicomError, MosaiqDatabaseError, OrthancError

EXPECTED_FAILURES = (ConfigError, DicomError, OrthancError, MosaiqDatabaseError)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command."""
    parser = argparse.ArgumentParser(
        prog="radonc", description="Verified backup of ARIA, MIM and Mosaiq into Orthanc."
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    backup.add_parsers(commands)
    for module in (query, dicom, environments, synthetic, demo):
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
    try:
        return int(args.func(args))
    except EXPECTED_FAILURES as exc:
        print(f"radonc: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
