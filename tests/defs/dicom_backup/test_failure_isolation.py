"""A failure stays local: one refused instance fails alone (the rest of the day is copied,
the files are written), and one source down costs the others nothing.

The archive (Orthanc with its default ``UnknownSopClassAccepted: false``) refuses an
instance of a private SOP class that the source (an Orthanc accepting unknown
classes) holds, once in a series of its own and once inside the CT series.
"""

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from pydicom import dcmread
from pydicom.uid import generate_uid

from radonc_assets.backup.audit_files import audit_path, read_frame
from radonc_assets.definitions import site_definitions
from radonc_assets.defs.dicom_backup.assets import site_assets
from radonc_assets.devtools.demo import DemoServers
from radonc_assets.devtools.local_servers import OrthancServer, free_ports
from radonc_assets.devtools.synthetic import SyntheticSpec, write
from radonc_assets.site.asset_keys import asset_key, op_name
from radonc_assets.site.clients import dicom_client
from radonc_assets.site.config import SiteConfig
from radonc_assets.site.dagster_resources import site_resources
from radonc_assets.site.loading import load_sites
from radonc_assets.site.naming import (
    ORTHANC_COPIES,
    SOURCE_STUDIES,
    VALIDATION_REPORT,
    backup_job_name,
    check_name,
)
from radonc_assets.site.partitions import partition_date
from tests.support.sites import SiteFileWriter, variant

DAYS = {"aria": dt.date(2026, 4, 6), "mim": dt.date(2026, 4, 7)}
PRIVATE_CLASS = "1.2.826.0.1.3680043.9.7433.99.1"  # a private SOP class (synthetic root)


@pytest.fixture(scope="module")
def private_source(
    lab: DemoServers, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OrthancServer]:
    """A source that accepts unknown SOP classes and knows the lab's archive."""
    archive = lab.site.archive()
    with OrthancServer(
        tmp_path_factory.mktemp("private"),
        "PRIV_SRC",
        peers=[archive.dicom_node],
        options={"UnknownSopClassAccepted": True},
        name="private-source",
    ) as server:
        yield server


def private_day(folder: Path, day: dt.date, seed: int) -> tuple[list[Path], set[str]]:
    """A day of one synthetic patient plus two private-class instances.

    Returns:
        The files, and the SOP Instance UIDs of the private ones.
    """
    spec = SyntheticSpec(start=day, end=day, patients=1, seed=seed, ct_slices=4, fractions=1)
    files = write(spec, folder)
    ct = next(p for p in files if p.name.startswith("CT_"))
    private: set[str] = set()
    for name, own_series in (("private-alone", True), ("private-in-ct", False)):
        ds = dcmread(ct)
        ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = PRIVATE_CLASS
        uid = generate_uid(entropy_srcs=[name, str(seed)])
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = uid
        if own_series:
            ds.SeriesInstanceUID = generate_uid(entropy_srcs=[name, str(seed), "series"])
        path = folder / f"{name}.dcm"
        ds.save_as(path)
        files.append(path)
        private.add(str(ds.SOPInstanceUID))
    return files, private


def site_with_source(
    lab: DemoServers, site_file: SiteFileWriter, server: OrthancServer, kind: str
) -> SiteConfig:
    """LAB with the private source as its ARIA (C-MOVE) or as its MIM (C-GET relay)."""
    path = variant(lab, site_file, ports={kind: server.dicom_port}, aets={kind: server.aet})
    return load_sites(path)["LAB"]


@pytest.mark.parametrize("kind", ["aria", "mim"])
def test_a_refused_instance_fails_alone(
    kind: str,
    lab: DemoServers,
    private_source: OrthancServer,
    site_file: SiteFileWriter,
    tmp_path: Path,
) -> None:
    site = site_with_source(lab, site_file, private_source, kind)
    alias = kind.upper()
    # a day and a patient per path, so that each copies its own
    day = DAYS[kind]
    files, private = private_day(tmp_path / "day", day, seed=41 if kind == "aria" else 42)
    assert all(o.ok for o in dicom_client(site, alias).store(files))

    result = dg.materialize(
        site_assets(site),
        partition_key=day.isoformat(),
        resources=site_resources(site),
        selection=[f"lab/{kind}/{SOURCE_STUDIES}", f"lab/{kind}/{ORTHANC_COPIES}"],
        raise_on_error=False,
    )

    assert result.success
    copies = read_frame(audit_path("LAB", day, f"{alias}_{ORTHANC_COPIES}"))
    assert len(copies) == len(files), copies[
        ["modality", "sop_class_uid", "outcome", "reason"]
    ].to_string()
    refused = copies[copies["sop_instance_uid"].isin(private)]
    others = copies[~copies["sop_instance_uid"].isin(private)]
    assert len(others) == len(files) - len(private)
    assert set(others["outcome"]) == {"copied"}
    assert refused["outcome"].tolist() == ["failed", "failed"]
    print(
        f"\n{kind}: {(others['outcome'] == 'copied').sum()} copied, "
        f"{(others['outcome'] == 'already_present').sum()} already present, "
        f"{len(refused)} refused and failed, of {len(copies)}"
    )
    if kind == "aria":
        # Orthanc, as C-MOVE SCP, fails the whole request when the archive accepts no
        # presentation context for one instance: 0xC000 with no sub-operation counts.
        assert refused["reason"].str.contains(r"C-MOVE from PRIV_SRC@.*status 0xC000").all()
    else:
        # Orthanc 1.10 accepts no private class with our SCP role ("Store Failed:
        # Refused: SOPClassNotSupported" in its log) and answers 0xA702.
        assert (
            refused["reason"]
            .str.startswith(
                f"the source did not accept SOP class {PRIVATE_CLASS} with our SCP role, so it "
                "cannot send it by C-GET; C-GET from PRIV_SRC@"
            )
            .all()
        )
        assert refused["reason"].str.contains("status 0xA702").all()


def test_a_source_down_costs_no_other_source_its_verified_day(
    lab: DemoServers, site_file: SiteFileWriter
) -> None:
    """The nightly job with MIM down (nothing listening): ARIA is copied and its check
    passes; MIM's step records it unreachable with the cause instead of failing the run's
    other steps; the report fails the date, MIM's check saying why."""
    (nowhere,) = free_ports(1)
    site = load_sites(variant(lab, site_file, ports={"mim": nowhere}))["LAB"]
    day = "2026-01-06"
    job = site_definitions(site).resolve_job_def(backup_job_name(site))
    result = job.execute_in_process(
        partition_key=day, instance=dg.DagsterInstance.ephemeral(), raise_on_error=False
    )

    failed = [e.step_key for e in result.get_step_failure_events()]
    assert failed == [op_name(asset_key(site, VALIDATION_REPORT))]
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert evaluations[check_name("ARIA")].passed
    mim = evaluations[check_name("MIM")]
    assert not mim.passed
    assert mim.metadata["verdict"].value == "unreachable"
    assert str(mim.metadata["cause"].value).startswith(
        f"MIM could not be listed: cannot connect to 127.0.0.1:{nowhere}"
    )
    listing = [
        e.materialization.metadata
        for e in result.get_asset_materialization_events()
        if e.asset_key == asset_key(site, "MIM", SOURCE_STUDIES)
    ]
    assert [m["listing"].value for m in listing] == ["unreachable"]
    report = read_frame(audit_path("LAB", partition_date(day), VALIDATION_REPORT))
    assert report[report["source"] == "MIM"]["status"].tolist() == ["unreachable"]
    aria = report[report["source"] == "ARIA"]
    assert len(aria) > 0
    assert set(aria["status"]) == {"verified"}
