"""The Part 10 encoder of the relay's file headers and the Mosaiq records, against pydicom and pynetdicom.

Its two users: the C-GET relay (:func:`file_header` with pynetdicom's implementation, here) and
the records (tests/backup/mosaiq/test_encoding.py: a whole record, written again by pydicom).
"""

import io

import pytest
from pydicom import dcmread, dcmwrite
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    generate_uid,
)
from pynetdicom.dsutils import create_file_meta, encode_file_meta

from resources.dicom.part10 import (
    Element,
    ds_text,
    element,
    element_column,
    encoded_dataset,
    file_header,
    item,
    private,
    sequence,
)
from tests.support.mosaiq_rows import assert_tags_ascending, decode_all

RT_PLAN = "1.2.840.10008.5.1.4.1.1.481.5"
SOP_CLASS = "1.2.840.10008.5.1.4.1.1.481.4"  # RT Beams Treatment Record Storage
INSTANCE = "1.2.826.0.1.3680043.10.999.1"  # odd length: padded with NUL


@pytest.mark.parametrize("instance_uid", ["1.2.3", "1.2.34", generate_uid()])
@pytest.mark.parametrize("syntax", [ImplicitVRLittleEndian, ExplicitVRLittleEndian])
def test_the_header_is_the_one_pynetdicom_encodes(instance_uid: str, syntax: str) -> None:
    meta = create_file_meta(
        sop_class_uid=RT_PLAN, sop_instance_uid=instance_uid, transfer_syntax=syntax
    )
    expected = b"\x00" * 128 + b"DICM" + encode_file_meta(meta)
    assert file_header(RT_PLAN, instance_uid, syntax) == expected


def test_the_header_and_a_data_set_read_as_a_file() -> None:
    ds = Dataset()
    ds.SOPClassUID = RT_PLAN
    ds.SOPInstanceUID = "1.2.345"
    ds.PatientID = "SYN-1"
    encoded = io.BytesIO()
    ds.save_as(encoded, implicit_vr=True, little_endian=True)
    read = dcmread(
        io.BytesIO(file_header(RT_PLAN, "1.2.345", ImplicitVRLittleEndian) + encoded.getvalue())
    )
    assert read.file_meta.MediaStorageSOPInstanceUID == "1.2.345"
    assert read.file_meta.TransferSyntaxUID == ImplicitVRLittleEndian
    assert (read.SOPInstanceUID, read.PatientID) == ("1.2.345", "SYN-1")


def test_the_header_of_another_implementation_is_the_one_pydicom_writes() -> None:
    """The records' header: their own implementation version, pydicom's class UID."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = SOP_CLASS
    ds.file_meta.MediaStorageSOPInstanceUID = INSTANCE
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.file_meta.ImplementationVersionName = "RADONC_MOSAIQ_1"
    ds.SOPInstanceUID = INSTANCE
    written = io.BytesIO()
    dcmwrite(written, ds, enforce_file_format=True)
    header = file_header(
        SOP_CLASS,
        INSTANCE,
        ExplicitVRLittleEndian,
        (PYDICOM_IMPLEMENTATION_UID, "RADONC_MOSAIQ_1"),
    )
    assert header + encoded_dataset([element("SOPInstanceUID", INSTANCE)]) == written.getvalue()


def file_of(dataset: list[Element]) -> bytes:
    return file_header(SOP_CLASS, INSTANCE, ExplicitVRLittleEndian) + encoded_dataset(dataset)


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
