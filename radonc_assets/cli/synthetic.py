"""`radonc synthetic`: write synthetic RT patients as DICOM files (no real patient data).

With ``--mosaiq-db FILE`` it also writes the simulated Mosaiq database of the same patients (the
SQLite file a site reaches with ``odbc_driver = "SQLite3"``).
"""

import argparse
import datetime as dt
from pathlib import Path

from radonc_assets.cli.commands import add_command


def add_parsers(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Register `radonc synthetic`."""
    parser = add_command(subparsers, "synthetic")
    parser.add_argument("--patients", type=int, default=3)
    parser.add_argument("--from", dest="start", type=dt.date.fromisoformat, required=True)
    parser.add_argument("--to", dest="end", type=dt.date.fromisoformat, required=True)
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--slices", type=int, default=20, help="CT slices per patient")
    parser.add_argument("--image-size", type=int, default=64, help="CT rows and columns")
    parser.add_argument("--fractions", type=int, default=5, help="treatment sessions per patient")
    parser.add_argument(
        "--mosaiq-db",
        type=Path,
        metavar="FILE",
        help="also write the simulated Mosaiq (SQLite) database of the same patients to FILE",
    )
    parser.set_defaults(func=_synthetic)


def _synthetic(args: argparse.Namespace) -> int:
    from radonc_assets.devtools.synthetic import SyntheticSpec, write  # dev tooling
    from radonc_assets.devtools.synthetic.mosaiq import write_mosaiq_database

    if args.end < args.start:
        raise SystemExit("radonc: --to is before --from")
    spec = SyntheticSpec(
        start=args.start,
        end=args.end,
        patients=args.patients,
        seed=args.seed,
        ct_slices=args.slices,
        image_size=args.image_size,
        fractions=args.fractions,
    )
    paths = write(spec, args.out)
    print(
        f"{len(paths)} instance(s) for {args.patients} synthetic patient(s) written to {args.out}"
    )
    if args.mosaiq_db:
        mosaiq = write_mosaiq_database(spec, args.mosaiq_db)
        print(
            f"simulated Mosaiq with {mosaiq.deliveries} delivery(ies) in {mosaiq.sessions} "
            f"session(s) written to {mosaiq.path}"
        )
    return 0
