"""DicomClient against real servers: Orthanc and DCMTK dcmqrscp as sources, Orthanc as archive."""

import io
import threading
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.uid import RLELossless
from pynetdicom import build_context
from pynetdicom.dimse_primitives import C_FIND

from radonc_assets.cli.main import main
from radonc_assets.devtools.local_servers import free_port
from radonc_assets.devtools.synthetic import SyntheticSpec, write
from resources.dicom.client import DicomClient, DicomNode, in_parallel
from resources.dicom.queries import (
    QueryLevel,
    QueryModel,
    date_range,
    identifier,
    retrieve_identifier,
)
from resources.dicom.statuses import DimseStatusError
from resources.errors import (
    AssociationRejectedError,
    DicomTimeoutError,
    PeerUnreachableError,
)
from resources.orthanc import OrthancClient
from tests.support.sources import CALLING_AET, SOURCE_SPEC, Source, SyntheticInstance


def test_echo(source: Source) -> None:
    assert 0 < source.client().echo() < 5


def test_find_studies_by_date_range(
    source: Source, synthetic_files: list[SyntheticInstance]
) -> None:
    query = identifier(
        QueryLevel.STUDY, {"StudyDate": date_range(SOURCE_SPEC.start, SOURCE_SPEC.end)}
    )
    answers = source.client().find(query)
    assert {str(a.StudyInstanceUID) for a in answers} == {i.study_uid for i in synthetic_files}
    assert {str(a.PatientID) for a in answers} == {i.patient_id for i in synthetic_files}


def test_find_at_every_level(source: Source, synthetic_files: list[SyntheticInstance]) -> None:
    client = source.client()
    first = synthetic_files[0]
    patients = client.find(
        identifier(QueryLevel.PATIENT, {"PatientID": first.patient_id}), QueryModel.PATIENT
    )
    assert [str(p.PatientID) for p in patients] == [first.patient_id]

    series = client.find(identifier(QueryLevel.SERIES, {"StudyInstanceUID": first.study_uid}))
    expected_series = {i.series_uid for i in synthetic_files if i.study_uid == first.study_uid}
    assert {str(s.SeriesInstanceUID) for s in series} == expected_series

    images = client.find(
        identifier(
            QueryLevel.IMAGE,
            {"StudyInstanceUID": first.study_uid, "SeriesInstanceUID": first.series_uid},
        )
    )
    expected = {i.sop_instance_uid for i in synthetic_files if i.series_uid == first.series_uid}
    assert {str(i.SOPInstanceUID) for i in images} == expected


@pytest.mark.parametrize("associations", [1, 3])
def test_enumerate_instances_of_one_day(
    source: Source, synthetic_files: list[SyntheticInstance], associations: int
) -> None:
    day = synthetic_files[0].study_date
    records = source.client(associations=associations).enumerate_instances({"StudyDate": day})
    # Shared among associations, the series come back in the order they were answered.
    assert records == source.client().enumerate_instances({"StudyDate": day})
    expected = {i.sop_instance_uid: i for i in synthetic_files if i.study_date == day}
    assert {r.sop_instance_uid for r in records} == set(expected)
    assert len(records) == len(expected)
    for record in records:
        instance = expected[record.sop_instance_uid]
        assert (record.series_instance_uid, record.modality) == (
            instance.series_uid,
            instance.modality,
        )
        # dcmqrscp's index does not return SOPClassUID at IMAGE level (an optional key).
        expected_class = "" if source.kind == "dcmqrscp" else instance.sop_class_uid
        assert record.sop_class_uid == expected_class
        assert record.study_date == day


def test_enumerate_with_a_series_filter(
    source: Source, synthetic_files: list[SyntheticInstance]
) -> None:
    dates = date_range(SOURCE_SPEC.start, SOURCE_SPEC.end)
    records = source.client().enumerate_instances(
        {"StudyDate": dates}, series_keys={"Modality": "RTRECORD"}
    )
    expected = {i.sop_instance_uid for i in synthetic_files if i.modality == "RTRECORD"}
    assert expected
    assert {r.sop_instance_uid for r in records} == expected


@pytest.mark.parametrize("associations", [1, 2])
def test_move_series_to_the_archive(
    source: Source,
    synthetic_files: list[SyntheticInstance],
    archive: OrthancClient,
    associations: int,
) -> None:
    plan = next(i for i in synthetic_files if i.modality == "RTPLAN")
    ct = [i for i in synthetic_files if i.modality == "CT" and i.study_uid == plan.study_uid]
    queries = [
        retrieve_identifier(
            QueryLevel.SERIES, {"StudyInstanceUID": i.study_uid, "SeriesInstanceUID": i.series_uid}
        )
        for i in (plan, ct[0])
    ]
    archive.delete_instances(i.sop_instance_uid for i in (plan, *ct))
    results = source.client(associations=associations).move(queries, archive.dicom.peer.aet)
    # One outcome per query, in the order of the queries, whichever association sent it.
    assert [(r.status, r.completed, r.failed) for r in results] == [(0, 1, 0), (0, len(ct), 0)]
    for instance in (plan, *ct):
        assert [r["Type"] for r in archive.lookup(instance.sop_instance_uid)] == ["Instance"]


def test_move_to_an_unknown_destination_fails(
    source: Source, synthetic_files: list[SyntheticInstance]
) -> None:
    query = retrieve_identifier(
        QueryLevel.STUDY, {"StudyInstanceUID": synthetic_files[0].study_uid}
    )
    with pytest.raises(DimseStatusError, match="C-MOVE failed with status 0x") as info:
        source.client().move([query], "NOBODY")
    assert info.value.status in {0xA801, 0xC000}


def test_get_hands_over_every_instance_as_received(
    source: Source, synthetic_files: list[SyntheticInstance]
) -> None:
    study = synthetic_files[0].study_uid
    expected = {i.sop_instance_uid: i for i in synthetic_files if i.study_uid == study}
    received: dict[str, bytes] = {}

    def keep(encoded: bytes) -> None:
        uid = str(dcmread(io.BytesIO(encoded), stop_before_pixels=True).SOPInstanceUID)
        received[uid] = encoded

    (result,) = source.client().get(
        [retrieve_identifier(QueryLevel.STUDY, {"StudyInstanceUID": study})], keep
    )

    assert (result.status, result.completed, result.failed) == (0, len(expected), 0)
    assert set(received) == set(expected)
    for uid, encoded in received.items():
        copy = dcmread(io.BytesIO(encoded))
        original = dcmread(expected[uid].path)
        assert copy.SOPClassUID == original.SOPClassUID
        if "PixelData" in original:
            assert copy.PixelData == original.PixelData


def test_get_reports_instances_the_callback_refused(
    source: Source, synthetic_files: list[SyntheticInstance]
) -> None:
    record = next(i for i in synthetic_files if i.modality == "RTRECORD")

    def refuse(encoded: bytes) -> None:
        raise OSError("disk full")

    query = retrieve_identifier(
        QueryLevel.SERIES,
        {"StudyInstanceUID": record.study_uid, "SeriesInstanceUID": record.series_uid},
    )
    (result,) = source.client().get([query], refuse)
    assert not result.ok
    assert (result.completed, result.failed) == (0, 1)
    assert result.errors == ("OSError: disk full",)


def test_store_files_and_buffers_over_one_association(
    archive: OrthancClient, tmp_path: Path
) -> None:
    spec = SyntheticSpec(
        start=SOURCE_SPEC.start,
        end=SOURCE_SPEC.start,
        patients=1,
        seed=42,
        ct_slices=3,
        image_size=16,
    )
    files = write(spec, tmp_path / "data")
    (tmp_path / "data" / "notes.txt").write_text("not DICOM")
    progress: list[tuple[int, int]] = []

    outcomes = archive.dicom.store(
        [*files, tmp_path / "data" / "notes.txt"],
        on_progress=lambda outcomes, total: progress.append((len(outcomes), total)),
    )
    assert len(outcomes) == len(files)
    assert all(o.ok and o.status == 0 for o in outcomes)
    assert progress[-1] == (len(files), len(files))

    again = archive.dicom.store([files[0].read_bytes()])
    assert [o.status for o in again] == [0]  # a duplicate is accepted and changes nothing
    for path in files:
        uid = str(dcmread(path, stop_before_pixels=True).SOPInstanceUID)
        assert archive.lookup(uid)


def test_store_sends_the_data_sets_own_uids_like_storescu(
    archive: OrthancClient, capsys: pytest.CaptureFixture[str]
) -> None:
    """pydicom's rtplan.dcm names another instance in its file meta than in its data
    set; Orthanc refuses a C-STORE under the file meta's UID (0xA900)."""
    path = Path(get_testdata_file("rtplan.dcm"))
    header = dcmread(path, stop_before_pixels=True)
    uid = str(header.SOPInstanceUID)
    assert header.file_meta.MediaStorageSOPInstanceUID != uid
    node = archive.dicom.peer
    command = ["dicom", "store", "--aec", node.aet, "--host", node.host, "--port", str(node.port)]
    try:
        assert main([*command, "--filepath", str(path)]) == 0
        out, err = capsys.readouterr()
        assert "1 stored, 0 failed, 0 skipped" in out
        assert err.splitlines()[-1].startswith("stored: 1/1 (")
        assert [r["Type"] for r in archive.lookup(uid)] == ["Instance"]
        assert archive.lookup(str(header.file_meta.MediaStorageSOPInstanceUID)) == []
    finally:
        archive.delete_instances([uid])


def test_wrong_called_ae_is_an_association_rejection(source: Source) -> None:
    client = DicomClient(
        DicomNode("NOT_THIS_AE", source.node.host, source.node.port), CALLING_AET, retries=0
    )
    with pytest.raises(
        AssociationRejectedError, match="rejected the association: Called AE title not recognised"
    ) as info:
        client.echo()
    assert not info.value.transient


def test_peer_that_is_down_fails_fast() -> None:
    client = DicomClient(
        DicomNode("DOWN", "127.0.0.1", free_port()), CALLING_AET, connect_timeout=2, retries=0
    )
    started = time.monotonic()
    with pytest.raises(
        PeerUnreachableError, match=r"cannot connect to 127\.0\.0\.1:\d+ for DOWN"
    ) as info:
        client.echo()
    assert time.monotonic() - started < 2.5
    assert info.value.transient


def test_hung_peer_times_out_within_the_configured_timeout(source: Source) -> None:
    client = source.client(timeout=1.5)
    source.server.suspend()
    try:
        started = time.monotonic()
        with pytest.raises(
            DicomTimeoutError, match=r"did not answer the association request within 1\.5 s"
        ):
            client.echo()
        elapsed = time.monotonic() - started
    finally:
        source.server.resume()
    assert 1.4 < elapsed < 4
    assert source.client().echo() > 0  # the server works again once resumed


def test_instance_counts_per_modality(
    source: Source, synthetic_files: list[SyntheticInstance]
) -> None:
    dates = date_range(SOURCE_SPEC.start, SOURCE_SPEC.end)
    records = source.client().enumerate_instances({"StudyDate": dates})
    assert Counter(r.modality for r in records) == Counter(i.modality for i in synthetic_files)


def test_a_response_taken_by_the_reactor_goes_back_to_the_queue(archive: OrthancClient) -> None:
    """pynetdicom's reactor can take a response meant for the running operation
    (a race, about once per 2,000 queries): it must be requeued, not dropped."""
    response = C_FIND()
    response.MessageIDBeingRespondedTo = 1
    response.AffectedSOPClassUID = QueryModel.STUDY.find_uid
    response.Status = 0xFF00
    assert response.is_valid_response
    with archive.dicom.associate([build_context(QueryModel.STUDY.find_uid)]) as assoc:
        assoc._serve_request(response, 1)
        assert assoc.dimse.get_msg(block=False) == (1, response)


def test_transient_failures_are_retried_with_backoff(source: Source) -> None:
    client = source.client(timeout=0.8, retries=2)
    client.backoff = 0.4
    source.server.suspend()
    resume = threading.Timer(1.0, source.server.resume)
    resume.start()
    try:
        started = time.monotonic()
        assert client.echo() > 0  # attempt 1 times out; the server is back for a retry
        elapsed = time.monotonic() - started
    finally:
        resume.join()
    assert 1.0 < elapsed < 5


def test_permanent_failures_are_not_retried(archive: OrthancClient) -> None:
    wrong = DicomNode("NOT_THIS_AE", archive.dicom.peer.host, archive.dicom.peer.port)
    client = DicomClient(wrong, CALLING_AET, retries=3)
    client.backoff = 5.0
    started = time.monotonic()
    with pytest.raises(AssociationRejectedError):
        client.echo()
    assert time.monotonic() - started < 5  # no backoff sleep


def test_get_keeps_the_stored_transfer_syntax(archive: OrthancClient, tmp_path: Path) -> None:
    """A compressed instance arrives compressed, PixelData identical: never transcoded."""
    spec = SyntheticSpec(
        start=SOURCE_SPEC.start,
        end=SOURCE_SPEC.start,
        seed=43,
        patients=1,
        ct_slices=1,
        image_size=32,
    )
    ct = next(p for p in write(spec, tmp_path) if p.name.startswith("CT_"))
    original = dcmread(ct)
    original.compress(RLELossless)
    original.save_as(tmp_path / "rle.dcm")
    assert [o.status for o in archive.dicom.store([tmp_path / "rle.dcm"])] == [0]

    received: list[bytes] = []
    query = retrieve_identifier(
        QueryLevel.IMAGE,
        {
            "StudyInstanceUID": original.StudyInstanceUID,
            "SeriesInstanceUID": original.SeriesInstanceUID,
            "SOPInstanceUID": original.SOPInstanceUID,
        },
    )
    (result,) = archive.dicom.get([query], received.append)
    assert result.completed == 1
    (copy,) = [dcmread(io.BytesIO(b)) for b in received]
    assert copy.file_meta.TransferSyntaxUID == RLELossless
    assert copy.PixelData == original.PixelData


def test_shares_come_back_in_order_and_a_failed_share_raises() -> None:
    def tenfold(part: Sequence[int]) -> list[int]:
        if 5 in part:
            raise ValueError("share with 5")
        return [x * 10 for x in part]

    assert in_parallel(list(range(5)), 3, tenfold) == [0, 10, 20, 30, 40]
    assert in_parallel([1], 4, tenfold) == [10]
    # Nothing to share: `work` (an association) is not called at all.
    assert in_parallel([], 2, lambda part: pytest.fail("called for no items")) == []
    with pytest.raises(ValueError, match="share with 5"):
        in_parallel(list(range(7)), 3, tenfold)
