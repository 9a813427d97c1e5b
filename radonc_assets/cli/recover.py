"""`radonc recover` and `radonc drill`: restores from the archive, verified by content.

`recover` runs the site's recovery job (the ``[site, "recoveries"]`` asset, recorded in
the Dagster instance like a restore launched from the UI) into a restore target; `drill`
runs its restore drill (``[site, "recovery_drills"]``) into the scratch node, as the weekly
schedule does. Both print what was restored and how, list what did not arrive intact,
and exit 1 when anything did not.
"""

import argparse
import datetime as dt

from radonc_assets.cli.commands import add_command
from radonc_assets.site.loading import load_site


def add_parsers(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Register `radonc recover` and `radonc drill`."""
    parser = add_command(subparsers, "recover")
    parser.add_argument("site")
    parser.add_argument(
        "--to", required=True, dest="destination", help="a dicom_scp target of the site"
    )
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--patient-id", help="every study of this patient")
    what.add_argument(
        "--study-uid", action="append", dest="study_uids", help="a study (repeatable)"
    )
    what.add_argument(
        "--series-uid", action="append", dest="series_uids", help="a series (repeatable)"
    )
    what.add_argument("--date", type=dt.date.fromisoformat, help="the studies of YYYY-MM-DD")
    parser.set_defaults(func=_recover)
    drill = add_command(subparsers, "drill")
    drill.add_argument("site")
    drill.set_defaults(func=_drill)


def _recover(args: argparse.Namespace) -> int:
    from radonc_assets.cli.runs import run_recovery  # loads Dagster

    site = load_site(args.site)
    targets = site.restore_targets
    if args.destination not in targets:
        raise site.problem(
            args.destination,
            f"not a restore target (dicom_scp targets: {', '.join(targets) or 'none'})",
        )
    config = {
        "destination": args.destination,
        "patient_id": args.patient_id,
        "study_uids": args.study_uids or [],
        "series_uids": args.series_uids or [],
        "date": args.date.isoformat() if args.date else None,
    }
    return run_recovery(site, config)


def _drill(args: argparse.Namespace) -> int:
    from radonc_assets.cli.runs import run_drill  # loads Dagster

    site = load_site(args.site)
    if site.drill.scratch is None:
        raise site.problem("drill.scratch", "not set: the site has no scratch node to drill on")
    return run_drill(site, site.drill.scratch)
