"""Benchmarks against DCMTK on the same servers and data; prints ratios side by side.

    .venv/bin/python -m benchmarks.run [--patients 8] [--slices 128] [--validation-instances 10000]

(a) ARIA-type backup of one day (Dagster: manifest by C-FIND, C-MOVE, confirmation)
    vs DCMTK movescu moving the same studies from the same Orthanc source to the
    same empty archive.
(b) MIM-type relay (C-GET relayed to the archive as it arrives) from dcmqrscp vs
    DCMTK getscu to disk followed by storescu into the archive; peak memory of the
    relay (a process of its own) for two day sizes.
(c) Validation of N archived instances (C-FIND per study, compared in memory) vs
    one C-FIND per instance, the latter timed on a sample and scaled to N.

Servers run on free loopback ports under a temporary folder; everything stops at
the end. Results are also written to benchmarks/results/latest.json.
"""

import argparse
import datetime as dt
import functools
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import requests
from pydicom import dcmread

from radonc_assets.backup.audit_files import audit_path, read_frame, write_frame
from radonc_assets.backup.manifest import compare, manifest_frame
from radonc_assets.defs.dicom_backup.assets import site_assets
from radonc_assets.devtools.demo import demo_servers
from radonc_assets.devtools.local_servers import free_port
from radonc_assets.devtools.synthetic import SyntheticSpec, write
from radonc_assets.site.clients import archive_client, dicom_client
from radonc_assets.site.config import SiteConfig
from radonc_assets.site.loading import load_sites
from radonc_assets.site.naming import asset_key
from radonc_assets.site.resources import site_resources
from resources.dicom.queries import InstanceRecord, QueryLevel, identifier
from resources.orthanc import OrthancClient

DAY = dt.date(2026, 1, 5)  # a Monday
REPEATS = 2
RESULTS = Path(__file__).resolve().parent / "results"
SITE = """
[BENCH]
default_source = "ARIA"
default_backup = "ARCHIVE"
backfill_start = "2026-01-01"
script_ae = {{ aet = "BENCH_SCU" }}
[BENCH.sources]
ARIA = {{ type = "aria", aet = "BENCH_ARIA", ip = "127.0.0.1", port = {aria} }}
MIM = {{ type = "mim", aet = "BENCH_MIM", ip = "127.0.0.1", port = {mim} }}
[BENCH.backup_targets]
ARCHIVE = {{ type = "orthanc", aet = "BENCH_ARCHIVE", ip = "127.0.0.1", port = {archive}, rest_url = "http://127.0.0.1:{http}" }}
[BENCH.settings]
max_uids_per_run = 100000
network_timeout = 120
"""


def timed(action: Callable[[], object]) -> float:
    """Seconds `action` takes."""
    started = time.monotonic()
    action()
    return time.monotonic() - started


def dcmtk(*args: str) -> None:
    """Run a DCMTK tool (by absolute path: pynetdicom's scripts shadow the names)."""
    subprocess.run(args, check=True, capture_output=True, env={**os.environ, "TCP_NODELAY": "1"})


def storescu(site: SiteConfig, folder: Path) -> None:
    """DCMTK storescu of every file under `folder` into the site's archive."""
    target = site.archive()
    dcmtk(
        "/usr/bin/storescu",
        "-aet",
        "BENCH_SCU",
        "-aec",
        target.aet,
        "+sd",
        "+r",
        target.ip,
        str(target.port),
        str(folder),
    )


def empty_archive(archive: OrthancClient) -> None:
    """Delete everything the archive holds."""
    assert archive.rest_url
    for patient in requests.get(f"{archive.rest_url}/patients", timeout=60).json():
        requests.delete(f"{archive.rest_url}/patients/{patient}", timeout=600).raise_for_status()


def study_keys(manifest_studies: list[str]) -> list[list[str]]:
    """DCMTK ``-k`` options selecting each study of a manifest."""
    return [
        ["-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={uid}"]
        for uid in manifest_studies
    ]


def settle(archive: OrthancClient) -> None:
    """An empty archive and no pending disk writes, so each timing starts alike."""
    empty_archive(archive)
    os.sync()


def bench_move(site: SiteConfig, archive: OrthancClient, day: str) -> dict[str, float]:
    """(a): our ARIA backup of the day vs movescu, each into an empty archive.

    Each is run `REPEATS` times, alternating, and the best time of each is kept.
    """
    aria, target = site.node("ARIA"), site.archive()
    selection = [
        asset_key(site, "ARIA", "source_studies"),
        asset_key(site, "ARIA", "orthanc_copies"),
    ]
    assert backup_manifest(site, "ARIA", day)
    studies = sorted(
        set(read_frame(audit_path(site.name, day, "ARIA_source_studies"))["study_instance_uid"])
    )

    def backup() -> None:
        dg.materialize(
            site_assets(site),
            partition_key=day,
            resources=site_resources(site),
            selection=selection,
        )

    def movescu() -> None:
        for keys in study_keys(studies):  # movescu takes one query per association
            dcmtk(
                "/usr/bin/movescu",
                "-S",
                "-aet",
                "BENCH_SCU",
                "-aec",
                aria.aet,
                "-aem",
                target.aet,
                *keys,
                aria.ip,
                str(aria.port),
            )

    ours, reference = [], []
    for _ in range(REPEATS):
        settle(archive)
        reference.append(timed(movescu))
        settle(archive)
        ours.append(timed(backup))
    copies = read_frame(audit_path(site.name, day, "ARIA_orthanc_copies"))
    assert (copies["outcome"] == "copied").all(), copies["outcome"].value_counts()
    return {
        "instances": len(copies),
        "ours_s": min(ours),
        "movescu_s": min(reference),
        "ratio": min(ours) / min(reference),
    }


def bench_relay(site: SiteConfig, archive: OrthancClient, day: str, work: Path) -> dict[str, float]:
    """(b): our C-GET relay vs getscu to disk then storescu, each into an empty archive."""
    mim = site.node("MIM")
    assert backup_manifest(site, "MIM", day)
    manifest_path = audit_path(site.name, day, "MIM_source_studies")
    manifest = read_frame(manifest_path)
    quarter = write_frame(manifest.head(len(manifest) // 4), work / "quarter.csv")
    settle(archive)
    small = relay_process(site, quarter)
    settle(archive)
    relay = relay_process(site, manifest_path)
    studies = sorted(set(manifest["study_instance_uid"]))
    settle(archive)
    folder = work / "getscu"
    folder.mkdir()
    get_seconds = 0.0
    for keys in study_keys(studies):
        get_seconds += timed(
            functools.partial(
                dcmtk,
                "/usr/bin/getscu",
                "-S",
                "-aet",
                "BENCH_SCU",
                "-aec",
                mim.aet,
                "-od",
                str(folder),
                *keys,
                mim.ip,
                str(mim.port),
            )
        )
    store_seconds = timed(lambda: storescu(site, folder))
    assert len(archive.archived_instances(studies)) == len(manifest)
    reference = get_seconds + store_seconds
    return {
        "instances": len(manifest),
        "ours_s": relay["seconds"],
        "getscu_s": get_seconds,
        "storescu_s": store_seconds,
        "ratio": relay["seconds"] / reference,
        "peak_mib": relay["peak_mib"],
        "quarter_day_instances": len(manifest) // 4,
        "quarter_day_peak_mib": small["peak_mib"],
        "before_relay_mib": relay["before_relay_mib"],
    }


def backup_manifest(site: SiteConfig, alias: str, day: str) -> bool:
    """Materialize the manifest of `alias` for `day`; True on success."""
    result = dg.materialize(
        site_assets(site),
        partition_key=day,
        resources=site_resources(site),
        selection=[asset_key(site, alias, "source_studies")],
    )
    return result.success


def relay_process(site: SiteConfig, manifest: Path) -> dict[str, float]:
    """Relay `manifest` in a process of its own (`relay_once`); its measures."""
    mim, target = site.node("MIM"), site.archive()
    output = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.relay_once",
            "--manifest",
            str(manifest),
            "--source",
            f"{mim.aet}@{mim.port}",
            "--archive",
            f"{target.aet}@{target.port}",
            "--archive-url",
            str(target.rest_url),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(json.loads(output.stdout.strip().splitlines()[-1]))


def bench_validation(
    site: SiteConfig, archive: OrthancClient, count: int, work: Path
) -> dict[str, float]:
    """(c): validating `count` archived instances vs one C-FIND per instance."""
    patients = max(1, count // 200)
    spec = SyntheticSpec(
        start=DAY, end=DAY, patients=patients, seed=5, ct_slices=197, image_size=16, fractions=1
    )
    files = write(spec, work / "validation")
    storescu(site, work / "validation")
    manifest = manifest_frame(
        InstanceRecord(
            str(ds.PatientID),
            str(ds.StudyInstanceUID),
            str(ds.SeriesInstanceUID),
            str(ds.SOPInstanceUID),
            str(ds.SOPClassUID),
            str(ds.Modality),
            str(ds.StudyDate),
            str(ds.get("SeriesDate", "")),
        )
        for ds in (dcmread(p, stop_before_pixels=True) for p in files)
    )
    write_frame(manifest, work / "validation.csv")
    studies = sorted(set(manifest["study_instance_uid"]))

    def validate() -> None:
        report = compare(manifest, manifest_frame(archive.archived_instances(studies)))
        assert (report["status"] == "verified").all()

    ours = timed(validate)
    sample = manifest.head(1000)
    queries = [
        identifier(
            QueryLevel.IMAGE,
            {
                "StudyInstanceUID": str(r.study_instance_uid),
                "SeriesInstanceUID": str(r.series_instance_uid),
                "SOPInstanceUID": str(r.sop_instance_uid),
            },
        )
        for r in sample.itertuples(index=False)
    ]
    per_instance = timed(lambda: archive.dicom.find_all(queries)) / len(sample)
    return {
        "instances": len(manifest),
        "ours_s": ours,
        "per_instance_cfind_s_estimated": per_instance * len(manifest),
        "speedup": per_instance * len(manifest) / ours,
    }


def main() -> int:
    """Run every benchmark and print each against its DCMTK reference."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=8)
    parser.add_argument("--slices", type=int, default=128)
    parser.add_argument("--image-size", type=int, default=512)
    parser.add_argument("--validation-instances", type=int, default=10000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="radonc-bench-") as tmp:
        work = Path(tmp)
        os.environ["RADONC_DATA_DIR"] = str(work / "data")
        ports = {name: free_port() for name in ("aria", "mim", "archive", "http")}
        (work / "sites").mkdir()
        (work / "sites" / "bench.toml").write_text(SITE.format(**ports))
        site = load_sites(work / "sites")["BENCH"]
        day = DAY.isoformat()
        with demo_servers(site, work / "servers"):
            spec = SyntheticSpec(
                start=DAY,
                end=DAY,
                patients=args.patients,
                ct_slices=args.slices,
                image_size=args.image_size,
                fractions=1,
            )
            files = write(spec, work / "day")
            for alias in ("ARIA", "MIM"):
                outcomes = dicom_client(site, alias).store(files)
                assert all(o.ok for o in outcomes)
            archive = archive_client(site)
            results = {
                "a_move": bench_move(site, archive, day),
                "b_relay": bench_relay(site, archive, day, work),
            }
            empty_archive(archive)
            results["c_validation"] = bench_validation(
                site, archive, args.validation_instances, work
            )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(results, indent=2))
    a, b, c = results["a_move"], results["b_relay"], results["c_validation"]
    print(f"{'benchmark':34} {'radonc':>9} {'reference':>10} {'ratio':>7}  target")
    print(
        f"{'(a) ARIA backup, ' + str(int(a['instances'])) + ' instances':34} {a['ours_s']:8.1f}s {a['movescu_s']:9.1f}s {a['ratio']:6.2f}x  <= 1.2x movescu"
    )
    ref_b = b["getscu_s"] + b["storescu_s"]
    print(
        f"{'(b) MIM relay, ' + str(int(b['instances'])) + ' instances':34} {b['ours_s']:8.1f}s {ref_b:9.1f}s {b['ratio']:6.2f}x  < 1.0x getscu+storescu"
    )
    print(
        f"{'    relay peak memory, whole day':34} {b['peak_mib']:7.0f}MB {'':>10} {'':>7}  < 300 MB (process before relay: {b['before_relay_mib']:.0f} MB)"
    )
    print(f"{'    relay peak memory, quarter day':34} {b['quarter_day_peak_mib']:7.0f}MB")
    print(
        f"{'(c) validate ' + str(int(c['instances'])) + ' instances':34} {c['ours_s']:8.1f}s {c['per_instance_cfind_s_estimated']:9.1f}s {1 / c['speedup']:6.3f}x  < 10 s and >= 20x faster"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
