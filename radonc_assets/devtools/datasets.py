"""Helpers on pydicom datasets for the tests and benchmarks."""

from pydicom import Dataset


def decode_all(ds: Dataset) -> None:
    """Have pydicom decode every element of `ds`, in every item, as reading each would.

    A dataset read from bytes keeps its elements encoded until they are read; this reads
    them all (and so raises or warns, as pydicom's validation is set, on a bad value).
    """
    for elem in ds:
        if elem.VR == "SQ":
            for nested in elem.value:
                decode_all(nested)
