"""Every performance target of radonc-backup measured in one run, each beside its reference.

    .venv/bin/python -m benchmarks.run [--aria-instances 500,2000,10000] [--mim-instances 2000]
        [--studies 20] [--image-size 64] [--repeats 1] [--runs 5] [--backfill-days 10]
        [--extra-archived 0] [--quick]

On the project's own servers (an Orthanc as ARIA, a DCMTK dcmqrscp as MIM, an Orthanc
archive; free loopback ports, a temporary folder, everything stopped at the end), with
synthetic days of `--studies` planning studies of small CT slices (each on its own
date, generated on every core, loaded by DCMTK storescu):

- ARIA backup, whole command: ``radonc backup BENCH ARIA --date D`` as a subprocess
  (start-up, manifest, C-MOVE, validation and exit included) vs DCMTK movescu moving
  the same studies (one study-level move each) into the same archive, for each size of
  `--aria-instances`; the day's studies are deleted from the archive before each timing,
  the two alternate `--repeats` times and the best of each counts. Their time per
  instance across sizes is the cost growth; where the command's time went is read from
  the Dagster instance (each step, and the process outside the run).
- Re-run of a complete day (the ARIA day nearest 2,000 instances): the same command
  again, the day listed in full (as every run lists it), nothing to copy, validation
  included.
- MIM relay: the C-GET relay of a day's manifest into the archive, in a process of its
  own (time and peak memory, also for the first quarter of the day), vs DCMTK getscu to
  disk then storescu into the archive.
- ``radonc --help`` and ``radonc environments check SITE_FILE``: median of `--runs`.
- Backfill of `--backfill-days` empty days through ``radonc serve``'s daemon, launched
  over GraphQL as the UI does: seconds from the launch to the backfill's final status.
- Validation of everything the benchmark archived (every day above, plus
  `--extra-archived` instances stored straight into the archive): what the validation
  report does, in a process of its own (time, peak memory); also of every day but the
  largest, and when fewer than 100,000 instances were measured, the line through the
  two is extrapolated to 100,000.

Prints one table (measure, radonc, reference, ratio, target, met) and the cost growth,
and writes everything to benchmarks/results/latest.json (not committed).
"""

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import requests
from pydicom import dcmread

from benchmarks.commands import Finished, Radonc
from benchmarks.daemon import backfill, serving
from benchmarks.days import CALLING_AET, Day, dcmtk, generate_and_load, storescu_command
from radonc_assets.backup.audit_files import audit_path, read_frame, write_frame
from radonc_assets.backup.manifest import manifest_frame
from radonc_assets.devtools.demo import demo_servers, write_loopback_site
from radonc_assets.site.clients import archive_client
from radonc_assets.site.config import SiteConfig
from radonc_assets.site.loading import load_sites
from resources.dicom.queries import instance_record
from resources.orthanc import RestOrthanc

SITE = "BENCH"
FIRST_DAY = dt.date(2026, 1, 5)  # a Monday: the ARIA days, then MIM's, then the extra one
BACKFILL_START = dt.date(2026, 3, 1)  # no source holds anything from here on
RESULTS = Path(__file__).resolve().parent / "results"
T = TypeVar("T")

# The targets of issue 11.
MOVE_RATIO = 1.1  # ARIA backup / movescu, from `MOVE_TARGET_SIZE` instances on
MOVE_TARGET_SIZE = 2000
RELAY_RATIO = 0.8  # MIM relay / (getscu + storescu)
HELP_SECONDS = 0.3
CHECK_SECONDS = 0.6
RERUN_SECONDS = 2.0
RERUN_SIZE = 2000
BACKFILL_SECONDS_PER_DAY = 1.0
VALIDATION_SIZE = 100_000
VALIDATION_SECONDS = 5.0
VALIDATION_MIB = 500.0
RELAY_MIB = 200.0
FLAT = 1.1  # "flat": the larger measure at most this times the smaller


@dataclass(frozen=True)
class Row:
    """One line of the table.

    Attributes:
        measure: What was measured.
        radonc: radonc-backup's number, with its unit.
        reference: The reference's, or empty.
        ratio: radonc / reference, or empty.
        target: The target, as issue 11 states it.
        met: ``met``, ``MISSED``, or empty where no target applies.
    """

    measure: str
    radonc: str
    reference: str
    ratio: str
    target: str
    met: str


def verdict(met: bool) -> str:
    """``met`` or ``MISSED``."""
    return "met" if met else "MISSED"


def sizes(text: str) -> list[int]:
    """A comma-separated list of instance counts."""
    return [int(part.replace("_", "")) for part in text.split(",") if part]


def timed(action: Callable[[], object]) -> float:
    """Seconds `action` takes."""
    started = time.monotonic()
    action()
    return time.monotonic() - started


def settle(archive: RestOrthanc, day: Day) -> None:
    """Delete the day's patients from the archive and sync the disks.

    Every timing starts alike: without the day, with the other days archived.
    """
    with requests.Session() as session:
        session.trust_env = False  # loopback only: never through a proxy
        for patient_id in day.patient_ids:
            for resource in archive.lookup(patient_id):
                if resource["Type"] == "Patient":
                    answer = session.delete(
                        f"{archive.rest_url}/patients/{resource['ID']}", timeout=600
                    )
                    answer.raise_for_status()
    os.sync()


def archived(archive: RestOrthanc, day: Day) -> int:
    """How many instances of the day the archive holds."""
    return len(archive.archived_uids(day.study_uids))


def movescu(site: SiteConfig, day: Day) -> None:
    """DCMTK movescu of the day's studies from ARIA to the archive.

    One study-level move each: movescu takes one query per association.
    """
    aria, target = site.node("ARIA"), site.archive()
    for uid in day.study_uids:
        dcmtk(
            "/usr/bin/movescu",
            "-S",
            "-aet",
            CALLING_AET,
            "-aec",
            aria.aet,
            "-aem",
            target.aet,
            "-k",
            "QueryRetrieveLevel=STUDY",
            "-k",
            f"StudyInstanceUID={uid}",
            aria.ip,
            str(aria.port),
        )


def retrieve(site: SiteConfig, day: Day, folder: Path) -> None:
    """DCMTK getscu of the day's studies from MIM into `folder`, one study-level get each."""
    mim = site.node("MIM")
    for uid in day.study_uids:
        dcmtk(
            "/usr/bin/getscu",
            "-S",
            "-aet",
            CALLING_AET,
            "-aec",
            mim.aet,
            "-od",
            str(folder),
            "-k",
            "QueryRetrieveLevel=STUDY",
            "-k",
            f"StudyInstanceUID={uid}",
            mim.ip,
            str(mim.port),
        )


def breakdown(radonc: Radonc, finished: Finished) -> dict[str, float]:
    """Where a whole command's time went: its run's steps, the run, and the rest."""
    steps = radonc.step_seconds(finished.run_ids()[0])
    return {**steps, "outside_run": finished.seconds - steps["run"]}


def bench_aria(
    radonc: Radonc, site: SiteConfig, archive: RestOrthanc, day: Day, repeats: int
) -> dict[str, Any]:
    """ARIA backup of `day`, whole command, vs movescu; best of `repeats` each, alternating."""
    ours: list[Finished] = []
    reference: list[float] = []
    for _ in range(repeats):
        settle(archive, day)
        reference.append(timed(lambda: movescu(site, day)))
        assert archived(archive, day) == day.instances, "movescu left instances behind"
        settle(archive, day)
        ours.append(radonc.run("backup", site.name, "ARIA", "--date", day.key))
    best = min(ours, key=lambda finished: finished.seconds)
    return {
        "instances": day.instances,
        "date": day.key,
        "radonc_s": best.seconds,
        "movescu_s": min(reference),
        "ratio": best.seconds / min(reference),
        "radonc_runs_s": [finished.seconds for finished in ours],
        "movescu_runs_s": reference,
        "peak_mib": best.peak_mib,
        "breakdown_s": breakdown(radonc, best),
    }


def bench_rerun(radonc: Radonc, site: SiteConfig, day: Day, repeats: int) -> dict[str, Any]:
    """The backup of a day already complete in the archive, whole command; best of `repeats`.

    The day is listed in full again, as every run lists it; nothing is copied.
    """
    runs = [radonc.run("backup", site.name, "ARIA", "--date", day.key) for _ in range(repeats)]
    best = min(runs, key=lambda finished: finished.seconds)
    assert "0 copied" in best.output, best.output
    return {
        "instances": day.instances,
        "seconds": best.seconds,
        "runs_s": [finished.seconds for finished in runs],
        "breakdown_s": breakdown(radonc, best),
    }


def isolated(*argv: str) -> dict[str, Any]:
    """Run ``benchmarks.isolated ARGV`` in a process of its own; its measures.

    Raises:
        RuntimeError: It failed (with what it printed to stderr).
    """
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.isolated", *argv], capture_output=True, text=True
    )
    if done.returncode:
        raise RuntimeError(f"benchmarks.isolated {argv[0]} failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def bench_relay(
    radonc: Radonc, site: SiteConfig, archive: RestOrthanc, day: Day, work: Path
) -> dict[str, Any]:
    """MIM relay of `day` (and of its first quarter) vs getscu to disk then storescu."""
    # The manifest, as the backup makes it: validated before any copy, hence exit 1.
    radonc.run("validate", site.name, "MIM", site.default_backup, "--date", day.key, expect=1)
    manifest_path = audit_path(site.name, day.date, "MIM_source_studies")
    manifest = read_frame(manifest_path)
    assert len(manifest) == day.instances, f"MIM manifest: {len(manifest)} instances"
    quarter = write_frame(manifest.head(len(manifest) // 4), work / "quarter.csv")
    relays = {}
    for name, path in (("quarter", quarter), ("day", manifest_path)):
        settle(archive, day)
        relays[name] = isolated("relay", site.name, "--alias", "MIM", "--manifest", str(path))
    settle(archive, day)
    folder = work / "getscu"
    folder.mkdir()
    getscu = timed(lambda: retrieve(site, day, folder))
    store = timed(lambda: dcmtk(*storescu_command(site.archive().dicom_node, [folder])))
    assert archived(archive, day) == day.instances, "getscu and storescu left instances behind"
    reference = getscu + store
    return {
        "instances": day.instances,
        "date": day.key,
        "relay_s": relays["day"]["seconds"],
        "getscu_s": getscu,
        "storescu_s": store,
        "ratio": relays["day"]["seconds"] / reference,
        "peak_mib": relays["day"]["peak_mib"],
        "before_relay_mib": relays["day"]["before_mib"],
        "quarter_instances": relays["quarter"]["instances"],
        "quarter_peak_mib": relays["quarter"]["peak_mib"],
    }


def write_manifests(site: SiteConfig, days: Sequence[Day]) -> None:
    """Write each day's manifest, made from its files, as ARIA's of its date.

    For the days stored straight into the archive, for the validation to count.
    """
    for day in days:
        files = sorted(day.folder.rglob("*.dcm"))
        manifest = manifest_frame(
            instance_record(ds, ds, ds)
            for ds in (dcmread(path, stop_before_pixels=True) for path in files)
        )
        write_frame(manifest, audit_path(site.name, day.date, "ARIA_source_studies"))


def bench_validation(
    site: SiteConfig, days: Sequence[tuple[str, Day]], work: Path
) -> dict[str, Any]:
    """Validation of `days` (source alias, day) as one, in a process of its own.

    Also of every day but the largest: the line through the two measures is extrapolated
    to `VALIDATION_SIZE` instances, for the time and for the peak memory.
    """
    largest = max(days, key=lambda alias_day: alias_day[1].instances)
    part, whole = (
        isolated(
            "validate",
            site.name,
            "--report",
            str(work / "validation_report.csv"),
            *(f"{alias}:{day.key}" for alias, day in subset),
        )
        for subset in ([d for d in days if d is not largest], days)
    )

    def extrapolated(key: str) -> float:
        slope = (whole[key] - part[key]) / (whole["instances"] - part["instances"])
        return float(whole[key] + slope * (VALIDATION_SIZE - whole["instances"]))

    return {
        **whole,
        "part": part,
        "extrapolated_instances": VALIDATION_SIZE,
        "extrapolated_s": extrapolated("seconds"),
        "extrapolated_peak_mib": extrapolated("peak_mib"),
    }


def bench_startup(radonc: Radonc, site_file: Path, runs: int) -> dict[str, float]:
    """Median wall-clock time of `radonc --help` and `radonc environments check`."""
    return {
        "help_s": radonc.median(runs, "--help"),
        "check_s": radonc.median(runs, "environments", "check", str(site_file)),
        "runs": runs,
    }


def bench_backfill(radonc: Radonc, site: SiteConfig, days: int, work: Path) -> dict[str, Any]:
    """Backfill of `days` empty days through `radonc serve`'s daemon."""
    dates = [(BACKFILL_START + dt.timedelta(days=n)).isoformat() for n in range(days)]
    with serving(radonc, work / "serve.log") as served:
        measured = backfill(served, site, dates, timeout=max(600.0, 60.0 * days))
        ready = served.ready_seconds
    return {
        **measured,
        "days": days,
        "first": dates[0],
        "last": dates[-1],
        "per_day_s": measured["seconds"] / days,
        "serve_ready_s": ready,
    }


def rows(results: dict[str, Any]) -> list[Row]:
    """The table of `results`."""
    table = []
    for aria in results["aria"]:
        applies = aria["instances"] >= MOVE_TARGET_SIZE
        table.append(
            Row(
                f"ARIA backup, whole command, {aria['instances']:,} instances",
                f"{aria['radonc_s']:.1f} s",
                f"{aria['movescu_s']:.1f} s",
                f"{aria['ratio']:.2f}x",
                f"<= {MOVE_RATIO}x movescu" if applies else "(cost growth)",
                verdict(aria["ratio"] <= MOVE_RATIO) if applies else "",
            )
        )
    mim = results["mim"]
    table.append(
        Row(
            f"MIM relay, {mim['instances']:,} instances",
            f"{mim['relay_s']:.1f} s",
            f"{mim['getscu_s'] + mim['storescu_s']:.1f} s",
            f"{mim['ratio']:.2f}x",
            f"<= {RELAY_RATIO}x getscu+storescu",
            verdict(mim["ratio"] <= RELAY_RATIO),
        )
    )
    startup = results["startup"]
    for label, seconds, target in (
        ("radonc --help", startup["help_s"], HELP_SECONDS),
        ("radonc environments check", startup["check_s"], CHECK_SECONDS),
    ):
        table.append(
            Row(
                f"{label} (median of {startup['runs']})",
                f"{seconds:.2f} s",
                "",
                "",
                f"<= {target} s",
                verdict(seconds <= target),
            )
        )
    rerun = results["rerun"]
    table.append(
        Row(
            f"re-run of a complete {rerun['instances']:,}-instance day, listed in full",
            f"{rerun['seconds']:.1f} s",
            "",
            "",
            f"<= {RERUN_SECONDS} s",
            verdict(rerun["seconds"] <= RERUN_SECONDS),
        )
    )
    fill = results["backfill"]
    table.append(
        Row(
            f"backfill of {fill['days']} empty days ({fill['status']}), per day",
            f"{fill['per_day_s']:.1f} s",
            "",
            "",
            f"<= {BACKFILL_SECONDS_PER_DAY} s",
            verdict(
                fill["status"] == "COMPLETED_SUCCESS"
                and fill["per_day_s"] <= BACKFILL_SECONDS_PER_DAY
            ),
        )
    )
    check = results["validation"]
    measured = check["instances"] >= VALIDATION_SIZE
    table += [
        Row(
            f"validation of {check['instances']:,} archived instances",
            f"{check['seconds']:.1f} s",
            "",
            "",
            f"< {VALIDATION_SECONDS} s for {VALIDATION_SIZE:,}",
            verdict(check["seconds"] < VALIDATION_SECONDS) if measured else "",
        ),
        Row(
            "  its peak memory",
            f"{check['peak_mib']:.0f} MB",
            "",
            "",
            f"< {VALIDATION_MIB:.0f} MB for {VALIDATION_SIZE:,}",
            verdict(check["peak_mib"] < VALIDATION_MIB) if measured else "",
        ),
    ]
    if not measured:
        table += [
            Row(
                f"  EXTRAPOLATED to {VALIDATION_SIZE:,} (line through "
                f"{check['part']['instances']:,} and {check['instances']:,})",
                f"{check['extrapolated_s']:.1f} s",
                "",
                "",
                f"< {VALIDATION_SECONDS} s",
                verdict(check["extrapolated_s"] < VALIDATION_SECONDS),
            ),
            Row(
                f"  EXTRAPOLATED peak memory, {VALIDATION_SIZE:,} (the same)",
                f"{check['extrapolated_peak_mib']:.0f} MB",
                "",
                "",
                f"< {VALIDATION_MIB:.0f} MB",
                verdict(check["extrapolated_peak_mib"] < VALIDATION_MIB),
            ),
        ]
    memory = spread([mim["peak_mib"], mim["quarter_peak_mib"]])
    table += [
        Row(
            f"relay peak memory, {mim['quarter_instances']:,} instances",
            f"{mim['quarter_peak_mib']:.0f} MB",
            "",
            "",
            f"< {RELAY_MIB:.0f} MB",
            verdict(mim["quarter_peak_mib"] < RELAY_MIB),
        ),
        Row(
            f"relay peak memory, {mim['instances']:,} instances",
            f"{mim['peak_mib']:.0f} MB",
            "",
            f"{memory:.2f}x",
            f"< {RELAY_MIB:.0f} MB, flat (<= {FLAT}x)",
            verdict(mim["peak_mib"] < RELAY_MIB and memory <= FLAT),
        ),
    ]
    growth = spread([a["radonc_s"] / a["instances"] for a in results["aria"]])
    table.append(
        Row(
            "cost growth: ARIA backup s/instance, largest / smallest",
            "",
            "",
            f"{growth:.2f}x",
            f"flat (<= {FLAT}x)",
            verdict(growth <= FLAT),
        )
    )
    return table


def spread(values: Sequence[float]) -> float:
    """The largest of `values` over the smallest: 1.0 when flat."""
    return max(values) / min(values)


def print_table(table: Sequence[Row]) -> None:
    """Print the rows in aligned columns."""
    header = Row("measure", "radonc", "reference", "ratio", "target", "")
    widths = [max(len(getattr(row, f)) for row in [header, *table]) for f in Row.__annotations__]
    for row in [header, *table]:
        cells = [getattr(row, f) for f in Row.__annotations__]
        print(
            "  ".join(
                cell.ljust(width) if i in (0, 4) else cell.rjust(width)
                for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
            ).rstrip()
        )


def print_details(results: dict[str, Any]) -> None:
    """The cost growth table, and where each whole command's time went."""
    print("\ncost growth, ARIA backup (whole command) and movescu")
    print(
        f"{'instances':>10} {'radonc':>9} {'ms/inst':>8} {'movescu':>9} {'ms/inst':>8} {'ratio':>6}"
    )
    for a in results["aria"]:
        print(
            f"{a['instances']:>10,} {a['radonc_s']:8.1f}s {1000 * a['radonc_s'] / a['instances']:8.2f}"
            f" {a['movescu_s']:8.1f}s {1000 * a['movescu_s'] / a['instances']:8.2f} {a['ratio']:5.2f}x"
        )
    print("\nwhere the whole command's time went (s; outside_run: start-up, imports, exit)")
    for label, measured in [
        *((f"backup {a['instances']:,}", a) for a in results["aria"]),
        (f"re-run {results['rerun']['instances']:,}", results["rerun"]),
    ]:
        parts = ", ".join(f"{k} {v:.2f}" for k, v in measured["breakdown_s"].items())
        print(f"  {label}: {parts}")
    print(
        "  peak memory of the backups (MB): "
        + ", ".join(f"{a['instances']:,}: {a['peak_mib']:.0f}" for a in results["aria"])
    )
    mim, check, fill = results["mim"], results["validation"], results["backfill"]
    print(
        f"\nMIM relay: getscu {mim['getscu_s']:.1f} s + storescu {mim['storescu_s']:.1f} s; "
        f"the relay process held {mim['before_relay_mib']:.0f} MB before relaying"
    )
    print(
        f"validation: {check['instances']:,} instances in {check['studies']} studies, "
        f"{check['seconds']:.1f} s (the archive integrity check, {check['integrity']}: "
        f"{check['integrity_s']:.1f} s), peak {check['peak_mib']:.0f} MB; every day but the "
        f"largest, {check['part']['instances']:,} instances in {check['part']['studies']} "
        f"studies, {check['part']['seconds']:.1f} s, peak {check['part']['peak_mib']:.0f} MB; "
        f"the process held {check['before_mib']:.0f} MB before validating"
    )
    print(
        f"backfill: {fill['days']} days ({fill['first']} to {fill['last']}), runs "
        f"{fill['runs']}, {fill['seconds']:.0f} s from the launch to {fill['status']} (the "
        f"last run ended {fill['launched_to_last_run_end_s']:.0f} s after the launch, "
        f"{fill['launched_to_last_run_end_s'] / fill['days']:.1f} s a day; Dagster's backfill "
        "daemon looks at a backfill every 30 s); a run "
        f"took {fill['run_median_s']:.1f} s from its start to its end and waited "
        f"{fill['queued_median_s']:.1f} s in the queue; {fill['gap_median_s']:.1f} s from "
        f"one run's end to the next one's start (medians); radonc serve was ready "
        f"{fill['serve_ready_s']:.0f} s after its start"
    )


def plan_days(args: argparse.Namespace, work: Path) -> tuple[list[Day], Day, list[Day]]:
    """ARIA's days, MIM's day and the extra archived day, each on a weekday of its own."""
    dates = (FIRST_DAY + dt.timedelta(days=n) for n in range(366))
    weekdays = (date for date in dates if date.weekday() < 5)
    counts = [*args.aria_instances, args.mim_instances, args.extra_archived]
    days = [
        # Seeds 1000 apart: at most 999 studies a day, and no two days share a patient.
        Day(date, n, args.studies, 1000 * (i + 1), args.image_size, work / date.isoformat())
        for i, (n, date) in enumerate(zip(counts, weekdays, strict=False))
    ]
    aria = days[: len(args.aria_instances)]
    return aria, days[len(aria)], days[len(aria) + 1 :] if args.extra_archived else []


def arguments() -> argparse.Namespace:
    """The command line's options; with ``--quick``, small defaults (options given win)."""
    quick_option = argparse.ArgumentParser(add_help=False)
    quick_option.add_argument(
        "--quick",
        action="store_true",
        help="small defaults: ARIA 100,400; MIM 400; 3 backfill days; median of 3",
    )
    quick = quick_option.parse_known_args()[0].quick
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], parents=[quick_option])
    parser.add_argument(
        "--aria-instances",
        type=sizes,
        default=[100, 400] if quick else [500, 2000, 10000],
        metavar="N,N,...",
        help="instances of each ARIA day (default 500,2000,10000)",
    )
    parser.add_argument(
        "--mim-instances", type=int, default=400 if quick else 2000, help="(default 2000)"
    )
    parser.add_argument(
        "--studies", type=int, default=20, help="planning studies per day (default 20)"
    )
    parser.add_argument("--image-size", type=int, default=64, help="CT rows = columns (64)")
    parser.add_argument(
        "--repeats", type=int, default=1, help="best of, for the ARIA and re-run rows (1)"
    )
    parser.add_argument(
        "--runs", type=int, default=3 if quick else 5, help="median of, for start-up (5)"
    )
    parser.add_argument(
        "--backfill-days", type=int, default=3 if quick else 10, help="(default 10)"
    )
    parser.add_argument(
        "--extra-archived",
        type=int,
        default=0,
        help="instances stored straight into the archive, for the validation only (0)",
    )
    return parser.parse_args()


def main() -> int:
    """Run every benchmark; print the table; write the results file."""
    args = arguments()
    started = time.monotonic()
    phases: dict[str, float] = {}

    def phase(name: str, action: Callable[[], T]) -> T:
        began = time.monotonic()
        value = action()
        phases[name] = time.monotonic() - began
        print(f"[{time.monotonic() - started:6.0f} s] {name}: {phases[name]:.0f} s", flush=True)
        return value

    results: dict[str, Any] = {
        "started": dt.datetime.now().isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "command": " ".join(["python -m benchmarks.run", *sys.argv[1:]]),
        "phases_s": phases,
    }
    with tempfile.TemporaryDirectory(prefix="radonc-bench-") as tmp:
        work = Path(tmp)
        site_file = write_loopback_site(
            work / "environments", SITE, settings={"network_timeout": 120.0}
        )
        radonc = Radonc(site_file.parent, work / "dagster_home", work / "data", work / "logs")
        # The isolated steps read the site and its manifests from the same folders.
        os.environ.update(
            RADONC_ENVIRONMENTS=str(radonc.environments), RADONC_DATA_DIR=str(radonc.data_dir)
        )
        site = load_sites(site_file)[SITE]
        aria_days, mim_day, extra = plan_days(args, work)
        with demo_servers(site, work / "servers"):
            archive = archive_client(site)
            assert isinstance(archive, RestOrthanc)  # the demo's archive has its REST API
            phase(
                "generate and load",
                lambda: generate_and_load(
                    [
                        (site.node("ARIA").dicom_node, aria_days),
                        (site.node("MIM").dicom_node, [mim_day]),
                        (site.archive().dicom_node, extra),
                    ]
                ),
            )
            results["startup"] = phase(
                "startup", lambda: bench_startup(radonc, site_file, args.runs)
            )
            results["aria"] = phase(
                "aria",
                lambda: [bench_aria(radonc, site, archive, d, args.repeats) for d in aria_days],
            )
            rerun_day = min(aria_days, key=lambda d: abs(d.instances - RERUN_SIZE))
            results["rerun"] = phase(
                "rerun", lambda: bench_rerun(radonc, site, rerun_day, args.repeats)
            )
            results["mim"] = phase("mim", lambda: bench_relay(radonc, site, archive, mim_day, work))
            phase("extra manifests", lambda: write_manifests(site, extra))
            archived_days = [
                *(("ARIA", d) for d in aria_days),
                ("MIM", mim_day),
                *(("ARIA", d) for d in extra),
            ]
            results["validation"] = phase(
                "validation", lambda: bench_validation(site, archived_days, work)
            )
            results["backfill"] = phase(
                "backfill", lambda: bench_backfill(radonc, site, args.backfill_days, work)
            )
    results["wall_s"] = time.monotonic() - started
    table = rows(results)
    results["table"] = [row.__dict__ for row in table]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(results, indent=2) + "\n")
    print()
    print_table(table)
    print_details(results)
    print(f"\nwhole benchmark: {results['wall_s']:.0f} s; results in {RESULTS / 'latest.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
