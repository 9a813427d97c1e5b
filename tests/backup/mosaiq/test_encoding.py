"""The records' encoding (resources.dicom.part10 and the leaf positions' text), against pydicom.

The encoder's own elements are checked in tests/resources/dicom/test_part10.py, with the relay's use.
"""

import io
import random

import pytest
from pydicom import Dataset, dcmread, dcmwrite
from pydicom.dataelem import RawDataElement

from radonc_assets.backup.mosaiq.mlc import tenths_of_mm
from radonc_assets.backup.mosaiq.records import RecordSettings, encode_record
from resources.dicom.part10 import ds_text
from tests.support.mosaiq_rows import assert_tags_ascending, decode_all, session


def assert_no_raw_element(ds: Dataset) -> None:
    for tag in tuple(ds.keys()):
        elem = ds.get_item(tag)
        assert not isinstance(elem, RawDataElement), tag
        if elem.VR == "SQ":
            for nested in elem.value:
                assert_no_raw_element(nested)


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
