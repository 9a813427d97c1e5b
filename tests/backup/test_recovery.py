"""Restores from the LAB archive into DICOM nodes, verified by content."""

import datetime as dt
import hashlib
import io
import random
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import requests
from pydicom import dcmread

from radonc_assets.backup.manifest import MANIFEST_COLUMNS, identities
from radonc_assets.backup.recovery import (
    RestoreStatus,
    Selection,
    drill_sample,
    restore,
    selected_instances,
    verify_restore,
)
from radonc_assets.devtools.demo import DemoServers
from radonc_assets.devtools.local_servers import DcmqrscpServer
from radonc_assets.site.clients import archive_client, dicom_client
from resources.dicom.client import DicomClient, DicomNode

DAY = "2026-01-06"  # a planning day of the lab week, backed up by `lab_courses_planned`
pytestmark = pytest.mark.usefixtures("lab_courses_planned")


@pytest.fixture
def empty_node(tmp_path: Path, lab: DemoServers) -> Iterator[DicomClient]:
    """An empty DCMTK dcmqrscp the archive does not know (no C-MOVE to it)."""
    with DcmqrscpServer(tmp_path, "EMPTY_DEST", name="empty") as server:
        yield DicomClient(
            DicomNode("EMPTY_DEST", "127.0.0.1", server.dicom_port),
            lab.site.script_ae.aet,
            connect_timeout=5,
            timeout=20,
        )


def day_rows(lab: DemoServers) -> pd.DataFrame:
    """The archive's instances of the studies of DAY."""
    archive = archive_client(lab.site).dicom
    return selected_instances(archive, Selection(date=dt.date.fromisoformat(DAY)))


def restored(lab: DemoServers, destination: DicomClient, selection: Selection) -> pd.DataFrame:
    archive = archive_client(lab.site).dicom
    rows = selected_instances(archive, selection)
    assert not rows.empty
    done = restore(archive, destination, rows)
    assert sum(result.failed for result in done.results) == 0
    report = verify_restore(archive, destination, rows)
    assert set(report["status"]) == {RestoreStatus.RESTORED}
    return report


def test_a_study_is_restored_by_a_relay_to_a_node_the_archive_does_not_know(
    lab: DemoServers, empty_node: DicomClient
) -> None:
    study = str(day_rows(lab)["study_instance_uid"].iloc[0])
    report = restored(lab, empty_node, Selection(study_uids=(study,)))
    assert set(report["study_instance_uid"]) == {study}
    archive = archive_client(lab.site).dicom
    assert restore(archive, empty_node, report).method == "relay"


def test_a_series_is_restored_by_c_move_to_the_restore_target(lab: DemoServers) -> None:
    manifest = day_rows(lab)
    destination = dicom_client(lab.site, "RESTORE")
    archive = archive_client(lab.site).dicom
    # RESTORE serves the whole session (the CLI's restores too): a series of the day it
    # does not hold yet, CT first.
    by_modality = manifest.sort_values("modality", key=lambda m: m != "CT", kind="stable")
    for series in by_modality["series_instance_uid"].unique():
        rows = selected_instances(archive, Selection(series_uids=(str(series),)))
        if set(verify_restore(archive, destination, rows)["status"]) == {RestoreStatus.MISSING}:
            break
    else:
        pytest.fail(f"RESTORE already holds every series of {DAY}")
    assert set(rows["series_instance_uid"]) == {series}
    assert len(rows) == (manifest["series_instance_uid"] == series).sum()
    assert restore(archive, destination, rows).method == "C-MOVE"
    assert set(verify_restore(archive, destination, rows)["status"]) == {RestoreStatus.RESTORED}


def test_a_patient_and_a_date_are_restored(lab: DemoServers, empty_node: DicomClient) -> None:
    patient = str(day_rows(lab)["patient_id"].iloc[0])
    by_patient = restored(lab, empty_node, Selection(patient_id=patient))
    assert set(by_patient["patient_id"]) == {patient}
    by_date = restored(lab, empty_node, Selection(date=pd.Timestamp(DAY).date()))
    assert set(by_date["study_date"]) == {DAY.replace("-", "")}


def test_other_content_in_the_destination_is_a_mismatch(
    lab: DemoServers, empty_node: DicomClient, tmp_path: Path
) -> None:
    """The destination holds an instance under the same UID with other content."""
    archive = archive_client(lab.site).dicom
    manifest = day_rows(lab)
    series = str(manifest[manifest["modality"] == "RTPLAN"]["series_instance_uid"].iloc[0])
    rows = selected_instances(archive, Selection(series_uids=(series,)))
    (uid,) = rows["sop_instance_uid"]
    orthanc = archive_client(lab.site)
    (found,) = orthanc.lookup(uid)
    original = requests.get(f"{orthanc.rest_url}{found['Path']}/file", timeout=30)
    tampered = dcmread(io.BytesIO(original.content))
    tampered.RTPlanLabel = "TAMPERED"
    path = tmp_path / "tampered.dcm"
    tampered.save_as(path)
    assert all(outcome.ok for outcome in empty_node.store([path]))

    report = verify_restore(archive, empty_node, rows)

    assert report["status"].tolist() == [RestoreStatus.MISMATCHED]
    assert "differs from the archive" in report["detail"].iloc[0]


def test_a_copy_altered_in_the_archive_since_the_backup_is_reported(
    lab: DemoServers, empty_node: DicomClient
) -> None:
    """A byte of a plan's file changed on the archive's disk: restored as the archive holds
    it, the copy is reported as altered, not as restored."""
    orthanc = archive_client(lab.site)
    manifest = day_rows(lab)
    series = str(manifest[manifest["modality"] == "RTPLAN"]["series_instance_uid"].iloc[0])
    rows = selected_instances(orthanc.dicom, Selection(series_uids=(series,)))
    (uid,) = rows["sop_instance_uid"]
    (found,) = orthanc.lookup(uid)
    md5 = requests.get(
        f"{orthanc.rest_url}{found['Path']}/attachments/dicom/md5", timeout=30
    ).text.strip('"\n')
    storage = lab.servers["ARCHIVE"].directory / "storage"
    (path,) = [
        f
        for f in storage.rglob("*")
        if f.is_file() and hashlib.md5(f.read_bytes()).hexdigest() == md5
    ]
    original = path.read_bytes()
    label = str(dcmread(io.BytesIO(original)).RTPlanLabel).encode()
    assert original.count(label) == 1
    try:
        path.write_bytes(original.replace(label, b"X" * len(label)))
        altered = orthanc.altered_files(identities([rows]))
        assert restore(orthanc.dicom, empty_node, rows).method == "relay"
        report = verify_restore(orthanc.dicom, empty_node, rows, altered)
    finally:
        path.write_bytes(original)

    assert list(altered) == [uid]
    assert report["status"].tolist() == [RestoreStatus.ALTERED]
    assert "changed after it was stored" in report["detail"].iloc[0]
    assert orthanc.altered_files(identities([rows])) == {}  # the file as stored again


def reports(*rows: tuple[str, str, str, str, str]) -> pd.DataFrame:
    """Validation report rows (source, study, sop, modality, status)."""
    frame = pd.DataFrame(
        [
            {
                **dict.fromkeys(MANIFEST_COLUMNS, ""),
                "source": source,
                "study_instance_uid": study,
                "series_instance_uid": f"{study}.1",
                "sop_instance_uid": sop,
                "modality": modality,
                "status": status,
            }
            for source, study, sop, modality, status in rows
        ]
    )
    return frame.assign(detail="", day="2026-01-06")


def test_a_drill_draws_studies_per_source_among_verified_instances() -> None:
    frame = reports(
        ("ARIA", "1.1", "1.1.1", "CT", "verified"),
        ("ARIA", "1.1", "1.1.2", "RTPLAN", "verified"),
        ("ARIA", "1.2", "1.2.1", "CT", "verified"),
        ("ARIA", "1.3", "1.3.1", "CT", "missing"),
        ("MIM", "1.1", "1.1.1", "CT", "verified"),
        ("MIM", "1.4", "1.4.1", "MR", "verified"),
        ("", "1.5", "1.5.1", "CT", "extra"),
    )

    everything = drill_sample(frame, random.Random(0), 5)
    one_each = drill_sample(frame, random.Random(0), 1)
    plans = drill_sample(frame, random.Random(0), 5, ["RTPLAN", "MR"])

    # Never an unverified or extra instance; the CT both sources hold drawn once.
    assert sorted(everything["sop_instance_uid"]) == ["1.1.1", "1.1.2", "1.2.1", "1.4.1"]
    assert list(everything.columns) == [*MANIFEST_COLUMNS, "source"]
    assert one_each.groupby("source")["study_instance_uid"].nunique().max() == 1
    assert set(one_each["source"]) <= {"ARIA", "MIM"}
    assert sorted(plans["sop_instance_uid"]) == ["1.1.2", "1.4.1"]
    assert drill_sample(frame, random.Random(0), 1, ["RTDOSE"]).empty
    assert drill_sample(pd.DataFrame(), random.Random(0), 1).empty


def test_a_drill_sample_is_random_and_reproducible_from_its_seed() -> None:
    frame = reports(*(("ARIA", f"1.{n}", f"1.{n}.1", "CT", "verified") for n in range(50)))

    first = drill_sample(frame, random.Random("run-1"), 3)
    again = drill_sample(frame, random.Random("run-1"), 3)
    other = drill_sample(frame, random.Random("run-2"), 3)

    assert first.equals(again)
    assert len(first) == 3
    assert set(first["sop_instance_uid"]) != set(other["sop_instance_uid"])


def test_a_selection_is_exactly_one_thing() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        Selection()
    with pytest.raises(ValueError, match="exactly one"):
        Selection(patient_id="P", series_uids=("1.2",))
    assert str(Selection(series_uids=("1.2", "1.3"))) == "2 series"
