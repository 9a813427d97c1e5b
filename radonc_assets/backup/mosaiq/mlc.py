"""MLC leaf and jaw positions: Mosaiq's TxFieldPoint columns to DICOM LeafJawPositions (mm).

Mosaiq stores each bank of a control point in ``A_Leaf_Set`` / ``B_Leaf_Set``: a
fixed-width record of little-endian signed 16-bit integers in hundredths of a
centimetre, of which only the first ``MLC_Leaves`` are in use; the rest is padding.
Zero bytes inside the used part are data (a leaf at 0, or the high byte of a
small value), so the used length comes from ``MLC_Leaves``, never from stripping.

The sign and leaf order follow pymedphys (pymedphys/pymedphys, commit ce8f48518):
``_mosaiq/delivery.py`` decodes with ``struct.unpack("<h")`` / 100 (cm) and
``collimation_to_bipolar_mm`` turns the banks into its delivery format as
``mlc = [10 * B[::-1], -10 * A[::-1]]`` (mm, leaves reversed, bank A negated) and
the jaws as ``[10 * Coll_Y2, -10 * Coll_Y1]``; ``_dicom/delivery/utilities.py``
writes that format to DICOM as ``mlc_dd2dcm``: ``[-mlc[::-1, 1], mlc[::-1, 0]]``
and ``jaw_dd2dcm``: ``[-jaw[1], jaw[0]]``. Composed, the reversals and negations
cancel: DICOM bank A (X1, the first N values of the MLCX item) is ``10 * A`` in
Mosaiq's leaf order, bank B (X2) is ``10 * B``, and ASYMY is
``[10 * Coll_Y1, 10 * Coll_Y2]`` (Mosaiq keeps signed IEC positions). ASYMX,
which pymedphys does not read, follows the same rule: ``[10 * Coll_X1, 10 * Coll_X2]``.

The records write the positions as DS text (:func:`tenths_of_mm`) straight from Mosaiq's
int16 values, through a table of every possible text.
"""

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np

from radonc_assets.backup.mosaiq.units import LEAF_UNITS_PER_MM, MM_PER_CM
from resources.dicom.part10 import ds_text

_BYTES_PER_LEAF = 2
# Leaf positions are little-endian int16 in 0.1 mm: the DS text of each possible value.
_INT16_VALUES = 1 << 16
_INT16_OFFSET = 1 << 15
_ROW_END = _INT16_VALUES  # the table's extra entry, which ends a row


class LeafRecordError(ValueError):
    """A leaf record that cannot hold the leaves Mosaiq says are in use."""


@dataclass(frozen=True)
class LeafPositions:
    """The MLCX Leaf/Jaw Positions of one control point, exactly as Mosaiq keeps them.

    PS3.3 C.8.8.14 (RT Beams Module), Leaf/Jaw Positions (300A,011C): 2N values, leaf pairs
    in IEC order, the X1 bank first. See the module docstring for the pymedphys convention.

    Attributes:
        tenths_mm: Little-endian signed 16-bit values in 0.1 mm (Mosaiq's 0.01 cm): all of
            bank A, then all of bank B. Kept encoded: a record of 80 leaf pairs over 100
            control points holds 32,000 of them, turned to text in one pass
            (:func:`tenths_of_mm`).
    """

    tenths_mm: bytes

    def __len__(self) -> int:
        """The number of positions: twice the leaf pairs."""
        return len(self.tenths_mm) // _BYTES_PER_LEAF

    @property
    def mm(self) -> tuple[float, ...]:
        """The positions in mm."""
        values = struct.unpack(f"<{len(self)}h", self.tenths_mm)
        return tuple(value / LEAF_UNITS_PER_MM for value in values)


def used_leaf_set(record: bytes, leaves: int) -> bytes:
    """The first `leaves` positions of one bank, as stored (little-endian int16, 0.01 cm).

    Args:
        record: ``A_Leaf_Set`` or ``B_Leaf_Set`` of one control point, padding included.
        leaves: ``MLC_Leaves``: how many values are in use.

    Raises:
        LeafRecordError: `leaves` is negative or the record is too short for it.
    """
    needed = _BYTES_PER_LEAF * leaves
    if leaves < 0:
        raise LeafRecordError(f"MLC_Leaves is negative ({leaves})")
    # pymedphys `mosaiq_mlc_missing_byte_workaround`: records of an odd length were seen
    # with their final zero byte missing; restore it. Any other shortfall is an error.
    if len(record) == needed - 1:
        record += b"\0"
    if len(record) < needed:
        raise LeafRecordError(
            f"a leaf record of {len(record)} bytes cannot hold {leaves} leaves ({needed} bytes)"
        )
    return record[:needed]


def leaf_positions(a_record: bytes, b_record: bytes, leaves: int) -> LeafPositions:
    """The MLCX positions of one control point from its two leaf records.

    Raises:
        LeafRecordError: A record too short for `leaves`.
    """
    return LeafPositions(used_leaf_set(a_record, leaves) + used_leaf_set(b_record, leaves))


def jaw_positions_mm(first_cm: float | None, second_cm: float | None) -> tuple[float, float] | None:
    """An ASYMX or ASYMY pair (mm) from ``Coll_X1, Coll_X2`` or ``Coll_Y1, Coll_Y2`` (cm).

    None when either jaw is unknown: a pair is written whole or not at all.
    """
    if first_cm is None or second_cm is None:
        return None
    return (first_cm * MM_PER_CM, second_cm * MM_PER_CM)


@cache
def _tenths_table() -> np.ndarray:
    """Every int16's DS text in mm (value / 10), each with a trailing backslash, then a row end."""
    texts = [ds_text((i - _INT16_OFFSET) / LEAF_UNITS_PER_MM) + "\\" for i in range(_INT16_VALUES)]
    return np.array([*texts, "\n"], dtype=np.bytes_)  # NUL-padded to the longest


def tenths_of_mm(rows: Sequence[bytes]) -> list[bytes]:
    """DS values (mm) of rows of little-endian int16 positions in 0.1 mm, one value per row.

    What an MLC's Leaf/Jaw Positions hold (Mosaiq keeps 0.01 cm): each row, of any length,
    becomes ``ds_text(v / 10)`` of its values joined by backslashes, looked up in a table of
    the 65,536 possible texts in one pass over all the rows (an 80-pair MLC over 100 control
    points is 16,000 values).
    """
    if not rows:
        return []
    width = len(rows[0]) // 2
    if any(len(row) != 2 * width for row in rows):
        raise ValueError("the rows of positions differ in length")
    values = np.frombuffer(b"".join(rows), dtype="<i2").reshape(len(rows), width)
    indices = np.full((len(rows), width + 1), _ROW_END, dtype=np.intp)
    indices[:, :width] = values
    indices[:, :width] += _INT16_OFFSET
    # Each row ends "...\\\n": drop the padding, split the rows, drop each row's last separator.
    text = _tenths_table()[indices].tobytes().translate(None, b"\0")
    return text.split(b"\\\n")[:-1]
