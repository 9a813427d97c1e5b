"""The File Meta Information encoded directly, against pynetdicom's and pydicom's."""

import io

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, generate_uid
from pynetdicom.dsutils import create_file_meta, encode_file_meta

from resources.dicom.part10 import file_header

RT_PLAN = "1.2.840.10008.5.1.4.1.1.481.5"


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
