"""OrthancClient against a real Orthanc: REST fast path, DICOM fallback, authentication."""

import datetime as dt
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from pydicom import dcmread

from radonc_assets.devtools.local_servers import OrthancServer, free_port
from radonc_assets.devtools.synthetic import SyntheticSpec, write
from resources.dicom.client import DicomClient, DicomNode
from resources.dicom.queries import QueryLevel
from resources.errors import OrthancError
from resources.orthanc import DicomOrthanc, OrthancClient, RestOrthanc, orthanc_client, orthanc_id
from tests.support.sources import CALLING_AET

SPEC = SyntheticSpec(
    start=dt.date(2026, 2, 2),
    end=dt.date(2026, 2, 2),
    patients=1,
    seed=11,
    ct_slices=2,
    image_size=16,
)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return write(SPEC, tmp_path_factory.mktemp("orthanc-data"))


def uid_of(path: Path) -> str:
    return str(dcmread(path, stop_before_pixels=True).SOPInstanceUID)


def test_upload_lookup_find_statistics_delete(archive: OrthancClient, files: list[Path]) -> None:
    before = archive.statistics()["CountInstances"]
    results = [archive.upload(path.read_bytes()) for path in files]
    assert {r.status for r in results} <= {"Success", "AlreadyStored"}
    assert archive.upload(files[0].read_bytes()).already_stored

    assert archive.statistics()["CountInstances"] >= before + len(files) - sum(
        r.already_stored for r in results
    )
    lookup = archive.lookup(uid_of(files[0]))
    assert [r["Type"] for r in lookup] == ["Instance"]
    assert lookup[0]["ID"] == results[0].orthanc_id

    found = archive.find(QueryLevel.IMAGE, {"StudyDate": "20260202", "PatientID": "SYN11-0001"})
    assert {f["MainDicomTags"]["SOPInstanceUID"] for f in found} == {uid_of(p) for p in files}

    assert archive.delete_instances([uid_of(files[0])]) == 1
    assert archive.lookup(uid_of(files[0])) == []
    assert archive.upload(files[0].read_bytes()).status == "Success"


def test_dicom_fallback_without_rest(archive: OrthancClient, files: list[Path]) -> None:
    dicom_only = DicomOrthanc(archive.dicom)
    assert not dicom_only.has_rest
    dicom_only.upload(files[1].read_bytes())
    studies = dicom_only.find(QueryLevel.STUDY, {"PatientID": "SYN11-0001"})
    assert [s["MainDicomTags"]["StudyDate"] for s in studies] == ["20260202"]
    with pytest.raises(OrthancError, match="needs the REST API"):
        dicom_only.statistics()


def identity(path: Path) -> tuple[str, str, str, str]:
    ds = dcmread(path, stop_before_pixels=True)
    return ds.PatientID, ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID


def test_archived_instances_by_orthanc_identifiers(archive: OrthancClient, tmp_path: Path) -> None:
    files = write(replace(SPEC, seed=12, ct_slices=3), tmp_path)
    expected = [identity(path) for path in files]
    uploaded = [archive.upload(path.read_bytes()).orthanc_id for path in files]
    assert [orthanc_id(*ids) for ids in expected] == uploaded
    (study,) = {ids[:2] for ids in expected}
    assert [r["ID"] for r in archive.lookup(study[1])] == [orthanc_id(*study)]
    held = {ids[2:] for ids in expected}

    def listed(instances: list[tuple[str, str, str, str]]) -> set[tuple[str, str]]:
        records = archive.archived_instances(instances)
        assert {r.study_instance_uid for r in records} == {study[1]}
        return {(r.series_instance_uid, r.sop_instance_uid) for r in records}

    # Every instance, by its identifier; the ones no one expects, by their series' listing.
    assert listed(expected) == held
    assert listed(expected[:1]) == held
    # Expected in another series, or under another PatientID: the archive's series.
    assert listed([(*ids[:2], "1.2.3.4", ids[3]) for ids in expected]) == held
    assert listed([("OTHER-ID", *ids[1:]) for ids in expected]) == held
    dicom_only = DicomOrthanc(archive.dicom).archived_instances(expected)
    assert {(r.series_instance_uid, r.sop_instance_uid) for r in dicom_only} == held
    assert archive.archived_instances([]) == []


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrthancServer]:
    with OrthancServer(
        tmp_path_factory.mktemp("secured"), "SECURED", username="radonc", password="pa;ss}word"
    ) as server:
        yield server


def test_rest_credentials(secured: OrthancServer, archive: OrthancClient) -> None:
    dicom = DicomClient(archive.dicom.peer, CALLING_AET)
    right = RestOrthanc(dicom, secured.url, username="radonc", password="pa;ss}word")
    assert right.system()["DicomAet"] == "SECURED"
    wrong = RestOrthanc(dicom, secured.url, username="radonc", password="nope")
    with pytest.raises(OrthancError, match=r"refused the credentials \(401\)"):
        wrong.system()


def test_unreachable_rest_api(archive: OrthancClient) -> None:
    down = RestOrthanc(archive.dicom, f"http://127.0.0.1:{free_port()}", timeout=2)
    with pytest.raises(OrthancError, match=r"cannot reach Orthanc at http://127\.0\.0\.1:"):
        down.system()


def test_altered_files_seen_after_a_restart(tmp_path: Path, files: list[Path]) -> None:
    """Orthanc's MD5 check of its stored files: a byte flipped in one file and another
    file deleted on its disk are hidden by its storage cache (the default, 128 MB) until
    it restarts; then each is named with what is wrong."""
    with OrthancServer(tmp_path, "INTEGRITY", name="integrity") as server:
        node = DicomNode("INTEGRITY", "127.0.0.1", server.dicom_port)
        client = RestOrthanc(DicomClient(node, CALLING_AET), server.url)
        for path in files:
            client.upload(path.read_bytes())
        expected = [identity(path) for path in files]
        flipped, deleted, gone = (ids[3] for ids in expected[:3])
        assert client.altered_files(expected) == {}

        path = server.stored_file(orthanc_id(*expected[0]))
        data = bytearray(path.read_bytes())
        data[-1] ^= 0x01
        path.write_bytes(bytes(data))
        server.stored_file(orthanc_id(*expected[1])).unlink()
        assert client.altered_files(expected) == {}  # served from the storage cache
        server.restart()

        assert client.delete_instances([gone]) == 1
        altered = client.altered_files(expected, workers=2)
        assert altered == {
            flipped: f"the archive's file {path.name} changed after it was stored (its MD5 is no "
            "longer the one the archive recorded then)",
            deleted: altered[deleted],
            gone: "not in the archive any more (deleted since it was listed)",
        }
        assert altered[deleted].startswith(
            "the archive cannot read its stored file: The path does not point to a regular file"
        )
        # Held under another PatientID than the one expected: found by its UID.
        assert list(client.altered_files([("OTHER-ID", *expected[0][1:])])) == [flipped]
        with pytest.raises(OrthancError, match="needs the REST API"):
            DicomOrthanc(client.dicom).altered_files(expected)

        # Files stored while Orthanc records no MD5 cannot be verified.
        server.options["StoreMD5ForAttachments"] = False
        server.restart()
        client.upload(files[2].read_bytes())
        assert client.altered_files(expected[2:3]) == {
            gone: "the archive recorded no MD5 of its file (StoreMD5ForAttachments is off): "
            "it cannot tell whether the file is the one it stored"
        }


def test_the_configuration_picks_the_client(archive: RestOrthanc) -> None:
    assert isinstance(orthanc_client(archive.dicom), DicomOrthanc)
    with orthanc_client(archive.dicom, archive.rest_url, timeout=5) as rest:
        assert isinstance(rest, RestOrthanc)
        assert rest.statistics()["CountInstances"] == archive.statistics()["CountInstances"]
