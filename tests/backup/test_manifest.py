"""Manifests, comparison, content hashes and archive integrity: pure functions, no servers."""

import io
from pathlib import Path

import pandas as pd
import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, RLELossless

from radonc_assets.backup.content_hash import content_hash, file_hashes
from radonc_assets.backup.coverage import DayStatus, day_status
from radonc_assets.backup.integrity import altered_rows, mark_altered
from radonc_assets.backup.manifest import (
    ARCHIVE_ONLY,
    MANIFEST_COLUMNS,
    cap,
    compare,
    extras,
    manifest_frame,
    study_rows,
)
from resources.dicom.queries import InstanceRecord


def record(
    uid: str,
    *,
    study: str = "ST1",
    series: str = "SE1",
    sop_class: str = "1.2.840.10008.5.1.4.1.1.2",
    modality: str = "CT",
    series_date: str = "20260105",
) -> InstanceRecord:
    return InstanceRecord("SYN-1", study, series, uid, sop_class, modality, "20260101", series_date)


def frame(*records: InstanceRecord) -> pd.DataFrame:
    return manifest_frame(records)


def test_manifest_is_deduplicated_ordered_and_dates_records() -> None:
    manifest = frame(
        record("3", series="SE2", modality="RTRECORD", series_date="20260108"),
        record("1"),
        record("3", series="SE2", modality="RTRECORD", series_date="20260108"),
        record("2"),
    )
    assert list(manifest.columns) == MANIFEST_COLUMNS
    assert manifest["sop_instance_uid"].tolist() == ["1", "2", "3"]
    assert manifest["treatment_date"].tolist() == ["", "", "20260108"]


def test_compare_statuses_and_details() -> None:
    manifest = frame(record("a"), record("b"), record("c"), record("d", sop_class=""), record("e"))
    archive = frame(
        record("a"),
        record("b", series="SE9"),
        record("d", sop_class="1.2.3", modality="RTPLAN"),
        record("e", sop_class=""),  # Orthanc's REST API tells no SOP class: not a mismatch
        record("x"),
    )
    report = compare(manifest, archive)
    assert report[["sop_instance_uid", "status", "detail"]].values.tolist() == [
        ["a", "verified", ""],
        ["b", "mismatched", "archive has it in series SE9"],
        ["c", "missing", "not in the archive"],
        ["d", "mismatched", "archive has it modality RTPLAN"],
        ["e", "verified", ""],
    ]
    extra = extras([manifest], archive)
    assert extra["sop_instance_uid"].tolist() == ["x"]
    assert set(extra["status"]) == {"extra"}


def test_altered_files_are_marked_and_found_for_the_next_copy() -> None:
    manifest = frame(record("a"), record("b"), record("c"))
    report = compare(manifest, frame(record("a"), record("b")))
    altered = mark_altered(report, {"b": "its file changed", "c": "gone", "x": "not listed"})
    assert altered[["sop_instance_uid", "status", "detail"]].values.tolist() == [
        ["a", "verified", ""],
        ["b", "altered_in_archive", "its file changed"],
        ["c", "missing", "not in the archive"],  # only what was verified can be altered
    ]
    assert day_status(altered) == DayStatus.INCOMPLETE
    assert mark_altered(report, {}) is report

    last = pd.concat(
        [altered.assign(source="ARIA"), altered.assign(source="MIM")], ignore_index=True
    )
    assert altered_rows(last, "ARIA", manifest)["sop_instance_uid"].tolist() == ["b"]
    # What the source no longer lists is never deleted from the archive.
    assert altered_rows(last, "ARIA", frame(record("a"), record("c"))).empty
    assert altered_rows(None, "ARIA", manifest).empty


def test_file_hashes_read_the_records_a_source_generated(tmp_path: Path) -> None:
    dataset = reencoded(ct(), ExplicitVRLittleEndian)
    dataset.save_as(tmp_path / "1.2.3.4.dcm", enforce_file_format=True)
    rows = frame(record("1.2.3.4"), record("1.2.3.5"))
    assert file_hashes(tmp_path)(rows) == {"1.2.3.4": content_hash(dataset)}


def test_cap_is_deterministic_in_manifest_order() -> None:
    todo = frame(*(record(str(n), series=f"SE{n % 3}") for n in range(10))).sample(
        frac=1, random_state=3
    )
    first, rest = cap(todo, 4)
    again, _ = cap(todo.sample(frac=1, random_state=5), 4)
    assert first["sop_instance_uid"].tolist() == again["sop_instance_uid"].tolist()
    assert len(first) == 4
    assert len(rest) == 6
    assert set(first["sop_instance_uid"]).isdisjoint(rest["sop_instance_uid"])


@pytest.mark.parametrize("show", [True, False])
def test_study_rows_show_patient_id_only_when_allowed(show: bool) -> None:
    rows = study_rows(
        frame(record("1"), record("2", modality="RTPLAN", series="SE2")), show_patient_id=show
    )
    study = {"study": "…ST1", "date": "20260101", "modalities": "CT, RTPLAN", "instances": 2}
    assert rows == [({"patient": "SYN-1"} if show else {}) | study]


def test_study_rows_of_a_report_name_the_sources_and_count_each_instance_once() -> None:
    shared = frame(record("1"), record("2"))
    report = pd.concat(
        [
            shared.assign(source="ARIA", status="verified"),
            shared.assign(source="MIM", status="verified"),
            frame(record("3", study="ST2")).assign(source="", status="extra"),
        ],
        ignore_index=True,
    )

    rows = study_rows(report, show_patient_id=False)

    assert [(r["source"], r["study"], r["instances"], r["status"]) for r in rows] == [
        ("ARIA, MIM", "…ST1", 2, "2 verified"),
        (ARCHIVE_ONLY, "…ST2", 1, "1 extra"),
    ]


def ct(pixels: bytes = bytes(range(32))) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.SOPInstanceUID = "1.2.3.4"
    ds.PatientName = "SYNTHETIC^ONE"
    ds.Rows, ds.Columns, ds.BitsAllocated, ds.BitsStored, ds.HighBit = 4, 4, 16, 16, 15
    ds.SamplesPerPixel, ds.PixelRepresentation, ds.PhotometricInterpretation = 1, 0, "MONOCHROME2"
    ds.PixelData = pixels
    return ds


def reencoded(ds: Dataset, syntax: str) -> Dataset:
    ds.file_meta.TransferSyntaxUID = syntax
    buffer = io.BytesIO()
    ds.save_as(
        buffer,
        implicit_vr=syntax == ImplicitVRLittleEndian,
        little_endian=True,
        enforce_file_format=True,
    )
    return dcmread(io.BytesIO(buffer.getvalue()))


def test_content_hash_ignores_encoding_and_file_meta() -> None:
    explicit = reencoded(ct(), ExplicitVRLittleEndian)
    implicit = reencoded(ct(), ImplicitVRLittleEndian)
    implicit.file_meta.ImplementationVersionName = "OTHER"
    assert content_hash(explicit) == content_hash(implicit)


def test_content_hash_sees_changed_values_and_transcoded_pixels() -> None:
    original = ct()
    renamed = ct()
    renamed.PatientName = "SYNTHETIC^TWO"
    assert content_hash(original) != content_hash(renamed)
    compressed = ct()
    compressed.compress(RLELossless)
    assert content_hash(original) != content_hash(compressed)
