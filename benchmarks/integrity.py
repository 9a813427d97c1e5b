"""What the archive integrity check adds to a day's validation.

    .venv/bin/python -m benchmarks.integrity [--instances 2000,10000] [--studies 20]
        [--image-size 64] [--workers 1,2,4,8] [--repeats 3]

On the project's own servers (``demo_servers`` on a loopback site BENCH, as
``benchmarks.run``), each day of `--instances` synthetic instances (`--studies` planning
studies of CT slices with their RT Structure Set, Plan and Dose) is stored straight into
the archive by DCMTK storescu and its manifest written as ARIA's. Then, for each day:

- its validation as the ``validation_report`` asset makes it (``benchmarks.isolated
  validate``, in a process of its own), `--repeats` times: the whole validation's seconds
  and, of them, the archive integrity check's (``validate_day``'s ``integrity_seconds``:
  Orthanc's MD5 check of every instance with the default concurrency); the best counts;
- ``OrthancClient.altered_files`` over the day with each of `--workers` requests in
  flight, in this process: seconds and milliseconds per instance, best of `--repeats`.

Prints a table and writes ``benchmarks/results/integrity.json`` (not committed). The demo's
archive runs with ``MaximumStorageCacheSize`` 0: every check reads the file from disk
(from the kernel's page cache here), as a production archive does for files out of its
storage cache.
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

from benchmarks.days import Day, generate_and_load
from benchmarks.run import RESULTS, SITE, isolated, sizes, write_manifests
from radonc_assets.backup.audit_files import audit_path, read_frame
from radonc_assets.backup.manifest import identities
from radonc_assets.devtools.demo import demo_servers, write_loopback_site
from radonc_assets.site.clients import archive_client
from radonc_assets.site.config import SiteConfig
from radonc_assets.site.loading import load_sites

FIRST_DAY = dt.date(2026, 1, 5)


def validation(site: SiteConfig, day: Day, work: Path, repeats: int) -> dict[str, Any]:
    """The best of `repeats` validations of `day` (by their whole time), in their own process."""
    runs = [
        isolated(
            "validate",
            site.name,
            "--report",
            str(work / f"validation_report_{day.key}.csv"),
            f"ARIA:{day.key}",
        )
        for _ in range(repeats)
    ]
    best = min(runs, key=lambda run: float(run["seconds"]))
    if best["integrity"] != "orthanc_md5":
        raise RuntimeError(f"the archive was checked by {best['integrity']}, not orthanc_md5")
    return best


def concurrency(site: SiteConfig, day: Day, workers: list[int], repeats: int) -> dict[int, float]:
    """Seconds of the MD5 check of every instance of `day`, best of `repeats`, per `workers`."""
    manifest = read_frame(audit_path(site.name, day.date, "ARIA_source_studies"))
    expected = list(identities([manifest]))
    seconds = {}
    with archive_client(site) as archive:
        for count in workers:
            times = []
            for _ in range(repeats):
                started = time.monotonic()
                altered = archive.altered_files(expected, workers=count)
                times.append(time.monotonic() - started)
                if altered:
                    raise RuntimeError(f"{len(altered)} files altered: {sorted(altered)[:3]}")
            seconds[count] = min(times)
    return seconds


def arguments() -> argparse.Namespace:
    """The command line's options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--instances", type=sizes, default=[2000, 10000], metavar="N,N,...", help="(2000,10000)"
    )
    parser.add_argument("--studies", type=int, default=20, help="planning studies per day (20)")
    parser.add_argument("--image-size", type=int, default=64, help="CT rows = columns (64)")
    parser.add_argument(
        "--workers", type=sizes, default=[1, 2, 4, 8], metavar="N,N,...", help="(1,2,4,8)"
    )
    parser.add_argument("--repeats", type=int, default=3, help="best of (3)")
    return parser.parse_args()


def main() -> int:
    """Measure; print the table; write the results file."""
    args = arguments()
    results: dict[str, Any] = {
        "started": dt.datetime.now().isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "load_average": os.getloadavg(),
        "command": " ".join(["python -m benchmarks.integrity", *sys.argv[1:]]),
        "days": [],
    }
    with tempfile.TemporaryDirectory(prefix="radonc-integrity-") as tmp:
        work = Path(tmp)
        site_file = write_loopback_site(work / "environments", SITE)
        os.environ.update(
            RADONC_ENVIRONMENTS=str(site_file.parent), RADONC_DATA_DIR=str(work / "data")
        )
        site = load_sites(site_file)[SITE]
        days = [
            Day(
                FIRST_DAY + dt.timedelta(days=i),
                n,
                args.studies,
                1000 * (i + 1),
                args.image_size,
                work / f"day{i}",
            )
            for i, n in enumerate(args.instances)
        ]
        with demo_servers(site, work / "servers"):
            generate_and_load([(site.archive().dicom_node, days)])
            write_manifests(site, days)
            for day in days:
                validated = validation(site, day, work, args.repeats)
                results["days"].append(
                    {
                        "instances": day.instances,
                        "image_size": args.image_size,
                        "validation_s": validated["seconds"],
                        "integrity_s": validated["integrity_s"],
                        "workers_s": concurrency(site, day, args.workers, args.repeats),
                    }
                )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "integrity.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"load average at the start: {', '.join(f'{n:.1f}' for n in results['load_average'])}")
    print(
        f"{'instances':>10} {'validation':>11} {'integrity':>10} {'share':>6}  "
        + "  ".join(f"{f'{w} workers':>18}" for w in args.workers)
    )
    for measured in results["days"]:
        n = measured["instances"]
        print(
            f"{n:>10,} {measured['validation_s']:10.2f}s {measured['integrity_s']:9.2f}s "
            f"{measured['integrity_s'] / measured['validation_s']:6.0%}  "
            + "  ".join(
                f"{s:7.2f}s {1000 * s / n:5.2f} ms/i" for s in measured["workers_s"].values()
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
