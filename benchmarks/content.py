"""What the rolling content verification costs the source per day, by archive size.

    .venv/bin/python -m benchmarks.content [--day-instances 10000] [--archived-days 1,3,6]
        [--studies 20] [--image-size 64] [--rolling-days 30]
        [--planning-instances 100000,1000000,3000000]

On the project's own servers (`demo_servers` on a `write_loopback_site` site BENCH: an
Orthanc as ARIA, the Orthanc archive; free loopback ports, a temporary folder, everything
stopped at the end): the largest of `--archived-days` synthetic days of
`--day-instances` instances each (the benchmark's days: `--studies` planning studies of
CT slices with their RT objects, a weekday each) are loaded into ARIA and into the
archive (DCMTK storescu), each day's manifest written from its files and its validation
report made against the archive (``validate_day``: every instance verified). Then, for
each size of `--archived-days` (the first that many days' reports), one day's content
verification with N = `--rolling-days` in a process of its own (``benchmarks.isolated
content``), on a ledger in its steady state: every instance last found identical on its
own slot's latest day before the day measured, so that the day's due instances are its
slot's, as every day once the first N days have passed. Each measure prints the
archive's verified instances, those due, the instances and bytes retrieved from the
source (ARIA) and from the archive, seconds (reports and ledger read, instances chosen,
compared, ledger written) and peak memory. Then, for archives larger than this machine
holds, the same day's work without the network for each of `--planning-instances`
synthetic verified instances (``benchmarks.isolated content-plan``): the ledger read,
the day's instances chosen, the ledger updated and written, and what the coverage reads
of the ledger, each timed, and the peak memory.

Writes benchmarks/results/content.json (not committed).
"""

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks.days import Day, dcmtk, generate_and_load, storescu_command
from benchmarks.isolated import MEASURED_ON, steady_ledger
from benchmarks.run import FIRST_DAY, RESULTS, isolated, sizes, write_manifests
from radonc_assets.backup.audit_files import audit_path, read_frame, write_frame
from radonc_assets.backup.content_verification import write_ledger
from radonc_assets.backup.manifest import Status
from radonc_assets.backup.validation import validate_day
from radonc_assets.devtools.demo import demo_servers, write_loopback_site
from radonc_assets.site.clients import archive_client
from radonc_assets.site.config import SiteConfig
from radonc_assets.site.loading import load_sites

SITE = "BENCH"


def write_reports(site: SiteConfig, days: list[Day]) -> None:
    """Each day's validation report against the archive, its instances ARIA's.

    Raises:
        RuntimeError: An instance of a day is not verified in the archive.
    """
    with archive_client(site) as archive:
        for day in days:
            manifest = read_frame(audit_path(site.name, day.date, "ARIA_source_studies"))
            (report,) = validate_day(archive, [manifest], [None]).reports
            if (report["status"] != Status.VERIFIED).any():
                raise RuntimeError(f"{day.key}: not every instance is verified in the archive")
            write_frame(
                report.assign(source="ARIA"), audit_path(site.name, day.date, "validation_report")
            )


def write_steady_ledger(site: SiteConfig, days: list[Day], rolling_days: int) -> int:
    """Write the :func:`steady_ledger` of `days`' verified instances before `MEASURED_ON`."""
    reports = [
        read_frame(audit_path(site.name, day.date, "validation_report")).assign(date=day.key)
        for day in days
    ]
    ledger = steady_ledger(pd.concat(reports), MEASURED_ON, rolling_days)
    write_ledger(site.name, ledger)
    return len(ledger)


def arguments() -> argparse.Namespace:
    """The command line's options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--day-instances", type=int, default=10000, help="per day (10000)")
    parser.add_argument(
        "--archived-days",
        type=sizes,
        default=[1, 3, 6],
        metavar="N,N,...",
        help="archive sizes, in days (default 1,3,6)",
    )
    parser.add_argument("--studies", type=int, default=20, help="planning studies per day (20)")
    parser.add_argument("--image-size", type=int, default=64, help="CT rows = columns (64)")
    parser.add_argument("--rolling-days", type=int, default=30, help="N (30)")
    parser.add_argument(
        "--planning-instances",
        type=sizes,
        default=[100_000, 1_000_000, 3_000_000],
        metavar="N,N,...",
        help="synthetic archive sizes for the work without the network",
    )
    return parser.parse_args()


def main() -> int:
    """Load the archive, measure one day's verification at each size, print the table."""
    args = arguments()
    started = time.monotonic()
    results: dict[str, Any] = {
        "started": dt.datetime.now().isoformat(timespec="seconds"),
        "command": " ".join(["python -m benchmarks.content", *sys.argv[1:]]),
        "measures": [],
    }
    with tempfile.TemporaryDirectory(prefix="radonc-content-") as tmp:
        work = Path(tmp)
        site_file = write_loopback_site(
            work / "environments", SITE, settings={"network_timeout": 120.0}
        )
        os.environ.update(
            RADONC_ENVIRONMENTS=str(site_file.parent), RADONC_DATA_DIR=str(work / "data")
        )
        site = load_sites(site_file)[SITE]
        dates = (FIRST_DAY + dt.timedelta(days=n) for n in range(366))
        weekdays = [date for date in dates if date.weekday() < 5]
        days = [
            Day(
                date,
                args.day_instances,
                args.studies,
                1000 * (i + 1),
                args.image_size,
                work / date.isoformat(),
            )
            for i, date in enumerate(weekdays[: max(args.archived_days)])
        ]
        with demo_servers(site, work / "servers"):
            generate_and_load([(site.node("ARIA").dicom_node, days)])
            for day in days:
                dcmtk(*storescu_command(site.archive().dicom_node, [day.folder]))
            write_manifests(site, days)
            write_reports(site, days)
            results["load_s"] = time.monotonic() - started
            print(f"[{results['load_s']:6.0f} s] {len(days)} days loaded", flush=True)
            for count in args.archived_days:
                archived = days[:count]
                rows = write_steady_ledger(site, archived, args.rolling_days)
                measure = isolated(
                    "content",
                    SITE,
                    "--rolling-days",
                    str(args.rolling_days),
                    "--on",
                    MEASURED_ON.isoformat(),
                    *(day.key for day in archived),
                )
                measure["ledger_rows_before"] = rows
                results["measures"].append(measure)
                print(json.dumps(measure), flush=True)
        results["planning"] = [
            isolated(
                "content-plan",
                SITE,
                "--rolling-days",
                str(args.rolling_days),
                "--instances",
                str(count),
            )
            for count in args.planning_instances
        ]
    results["wall_s"] = time.monotonic() - started
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "content.json").write_text(json.dumps(results, indent=2) + "\n")
    print(
        f"\n{'archived':>10} {'due':>7} {'seconds':>8} {'inst/s':>7} "
        f"{'source MB':>10} {'archive MB':>11} {'peak MiB':>9}"
    )
    for m in results["measures"]:
        print(
            f"{m['instances']:>10,} {m['due']:>7,} {m['seconds']:>8.1f} "
            f"{m['due'] / m['seconds']:>7.1f} {m['source_bytes'] / 1e6:>10.1f} "
            f"{m['archive_bytes'] / 1e6:>11.1f} {m['peak_mib']:>9.0f}"
        )
    steps = ["read_ledger", "choose", "update", "write_ledger", "coverage_state"]
    print(f"\n{'instances':>10} {'due':>7} " + " ".join(f"{s:>14}" for s in steps) + " peak MiB")
    for m in results["planning"]:
        print(
            f"{m['instances']:>10,} {m['due']:>7,} "
            + " ".join(f"{m[f'{s}_s']:>13.2f}s" for s in steps)
            + f" {m['peak_mib']:>8.0f}"
        )
    print(f"\nwhole benchmark: {results['wall_s']:.0f} s; results in {RESULTS / 'content.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
