"""The records' own Explicit VR Little Endian encoder, checked against pydicom's reader and writer."""

import io
import random

import pytest
from pydicom import Dataset, dcmread, dcmwrite
from pydicom.dataelem import RawDataElement
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from radonc_assets.backup.mosaiq.encoding import (
    Element,
    ds_text,
    element,
    element_column,
    item,
    part10_file,
    private,
    sequence,
    tenths_of_mm,
)
from radonc_assets.backup.mosaiq.records import RecordSettings, encode_record
from tests.support.mosaiq_rows import decode_all, session

SOP_CLASS = "1.2.840.10008.5.1.4.1.1.481.4"  # RT Beams Treatment Record Storage
INSTANCE = "1.2.826.0.1.3680043.10.999.1"  # odd length: padded with NUL


def file_of(dataset: list[Element]) -> bytes:
    meta = [
        element("FileMetaInformationVersion", b"\0\1"),
        element("MediaStorageSOPClassUID", SOP_CLASS),
        element("MediaStorageSOPInstanceUID", INSTANCE),
        element("TransferSyntaxUID", ExplicitVRLittleEndian),
    ]
    return part10_file(meta, dataset)


def assert_no_raw_element(ds: Dataset) -> None:
    for tag in tuple(ds.keys()):
        elem = ds.get_item(tag)
        assert not isinstance(elem, RawDataElement), tag
        if elem.VR == "SQ":
            for nested in elem.value:
                assert_no_raw_element(nested)


def assert_tags_ascending(ds: Dataset) -> None:
    """pydicom keeps the elements in the order it read them: the file's order."""
    tags = list(ds.keys())
    assert tags == sorted(tags)
    for elem in ds:
        if elem.VR == "SQ":
            for nested in elem.value:
                assert_tags_ascending(nested)


def test_values_of_each_vr_read_back_as_written() -> None:
    note = "line one\nline two " + "x" * 70_000  # UT: a 4-byte length
    data = file_of(
        [
            element("SpecificCharacterSet", "ISO_IR 192"),
            element("PatientName", "Ñúñez^José"),  # UTF-8, 13 bytes: padded with a space
            element("PatientID", "MRN-1"),
            element("PatientBirthDate", None),
            element("SOPInstanceUID", INSTANCE),
            element("SOPClassUID", SOP_CLASS),
            element("InstanceNumber", 3),
            element("SourceAxisDistance", 1000.0),
            element("LeafJawPositions", (-40.0, 65.5)),
            element("TreatmentDate", "20260105"),
            sequence(
                "ReferencedRTPlanSequence",
                [item([element("ReferencedSOPInstanceUID", INSTANCE)])],
            ),
            sequence("ReferencedStructureSetSequence", []),
            private(0x30090010, "LO", "TEST CREATOR"),
            private(0x30091021, "UT", note),
            private(0x30091022, "IS", 5001),
        ]
    )
    ds = dcmread(io.BytesIO(data))
    decode_all(ds)
    assert_tags_ascending(ds)
    assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert ds.file_meta.MediaStorageSOPInstanceUID == INSTANCE
    assert ds.PatientName == "Ñúñez^José"
    assert ds["PatientBirthDate"].is_empty
    assert ds.SOPInstanceUID == INSTANCE
    assert ds.InstanceNumber == 3
    assert ds.SourceAxisDistance == 1000.0
    assert list(ds.LeafJawPositions) == [-40.0, 65.5]
    assert ds.ReferencedRTPlanSequence[0].ReferencedSOPInstanceUID == INSTANCE
    assert len(ds.ReferencedStructureSetSequence) == 0
    block = ds.private_block(0x3009, "TEST CREATOR")
    assert block[0x21].value == note
    assert block[0x22].value == 5001


def test_pydicom_encodes_a_whole_record_to_the_same_bytes() -> None:
    """Every element decoded by pydicom and written again by it: not one byte differs."""
    record = encode_record(session(), RecordSettings(private_creator="TEST MOSAIQ"))
    ds = dcmread(io.BytesIO(record.data))
    decode_all(ds)
    assert_no_raw_element(ds)  # so that dcmwrite encodes every value itself
    assert_tags_ascending(ds)
    again = io.BytesIO()
    dcmwrite(again, ds, enforce_file_format=True)
    assert again.getvalue() == record.data


def test_elements_of_a_column_are_those_of_each_value() -> None:
    values = [181.0, 181.0, None, "CW", 7, (1.5, -2.0), b"12.5"]
    keyword = "LeafJawPositions"
    assert element_column(keyword, values) == [element(keyword, value) for value in values]


def test_value_too_long_for_its_vr_and_unknown_keyword() -> None:
    with pytest.raises(ValueError, match="longer than LO allows"):
        element("StudyDescription", "x" * 70_000)
    with pytest.raises(KeyError, match="NotAKeyword"):
        element("NotAKeyword", "x")
    with pytest.raises(UnicodeEncodeError):
        element("PatientSex", "Ñ")  # CS: the character set does not apply, ASCII only
    assert element("PatientID", "Ñ")[1].endswith("Ñ".encode())  # LO: UTF-8 (ISO_IR 192)


def test_leaf_positions_in_tenths_of_mm_as_ds_text() -> None:
    extremes = [-32768, -1, 0, 1, 5, -5, 1234, 32767]
    rng = random.Random(7)
    rows = [extremes, [rng.randint(-32768, 32767) for _ in range(160)], [0]]
    for values in rows:
        (text,) = tenths_of_mm([int16s(values)])
        assert text == "\\".join(ds_text(value / 10) for value in values).encode("ascii")
    assert tenths_of_mm([int16s([-500, 1]), int16s([0, 99])]) == [b"-50.0\\0.1", b"0.0\\9.9"]
    assert tenths_of_mm([]) == []
    with pytest.raises(ValueError, match="differ in length"):
        tenths_of_mm([int16s([1, 2]), int16s([1])])


def int16s(values: list[int]) -> bytes:
    return b"".join(value.to_bytes(2, "little", signed=True) for value in values)


def test_ds_text_is_at_most_16_characters() -> None:
    assert ds_text(7.000000000000001) == "7"
    assert ds_text(-0.0) == "0.0"
    assert ds_text(123.4) == "123.4"
    for value in (1 / 3, 1e300, -1e-300, 123456789.123456789):
        assert len(ds_text(value)) <= 16
        assert float(ds_text(value)) == pytest.approx(value, rel=1e-6, abs=1e-6)


def test_uids_and_even_lengths() -> None:
    uid = str(generate_uid())
    _, encoded = element("SOPInstanceUID", uid)
    assert len(encoded) % 2 == 0
    assert encoded.endswith(b"\0") == (len(uid) % 2 == 1)
