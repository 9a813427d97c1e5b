"""Explicit VR Little Endian encoding of the records, element by element (PS3.5 7.1.2).

A record holds some 3,000 elements and 30,000 values (two beams of 100 control points
and 80 leaf pairs): built and written through pydicom's ``Dataset`` and ``dcmwrite``,
it is far slower than the target of 500 records a second on one core
(``python -m benchmarks.mosaiq``; docs/benchmarks.md, "Mosaiq records"). The records
are therefore encoded here, with defined lengths everywhere, and read back with
``dcmread`` only where a dataset is wanted: pydicom then decodes an element when it is
first read.

An element is a ``(tag, bytes)`` pair, its header included, so that the elements of a
dataset or item can be given in any order and sorted by tag (:func:`item`,
:func:`part10_file`). Values are given as Python values and encoded as the element's VR
requires: ``None`` is an empty value (Type 2), ``str`` is text (UTF-8 where the
Specific Character Set ``ISO_IR 192`` applies), ``int`` an IS, ``float`` a DS
(:func:`ds_text`), a tuple of numbers a multi-valued IS or DS, ``bytes`` a value already
encoded (a sequence's items, or :func:`tenths_of_mm`).
"""

import struct
from collections.abc import Iterable, Sequence
from functools import cache
from operator import itemgetter

import numpy as np
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.valuerep import format_number_as_ds

Element = tuple[int, bytes]
_TAG, _ENCODED = itemgetter(0), itemgetter(1)
Value = str | int | float | bytes | tuple[int | float, ...] | None

# PS3.5 7.1.2: these VRs have a 2-byte reserved field and a 4-byte length.
_LONG_VRS = frozenset(
    {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"}
)
# PS3.5 6.1.2.3, C.12.1.1.2: the VRs whose text the Specific Character Set applies to.
_TEXT_VRS = frozenset({"LO", "LT", "PN", "SH", "ST", "UC", "UT"})
_MAX_SHORT_LENGTH = 0xFFFE
_SHORT_LENGTH = struct.Struct("<H")
_LONG_LENGTH = struct.Struct("<2xI")
_ITEM = struct.Struct("<HHI")
_ITEM_TAG = (0xFFFE, 0xE000)
_PREAMBLE = b"\0" * 128 + b"DICM"
_GROUP_LENGTH = struct.Struct("<HH2sHI")
_DS = 16  # PS3.5 6.2: a DS value has at most 16 characters
# Leaf positions are little-endian int16 in 0.1 mm: the DS text of each possible value.
_INT16_VALUES = 1 << 16
_INT16_OFFSET = 1 << 15
_ROW_END = _INT16_VALUES  # the table's extra entry, which ends a row


def ds_text(value: float) -> str:
    """A DS value's text, at most 16 characters (PS3.5 6.2).

    Python's shortest round-trip text when it fits: a clean value (an MLC position, 0.1 mm
    steps) fits, a float carrying arithmetic noise never does (its text has 16 or more
    digits), and is rounded to 1e-6 (sub-micrometre, sub-microMU) instead, so
    ``7.000000000000001`` (0.7 cm in mm) is written ``7``.
    """
    text = repr(value + 0.0)  # + 0.0 turns -0.0 into 0.0
    if len(text) <= _DS:
        return text
    rounded = round(value, 6) + 0.0
    text = f"{rounded:.6f}".rstrip("0").rstrip(".")
    return text if len(text) <= _DS else format_number_as_ds(rounded)


# An element's header: its tag, VR, encoded tag and VR, whether its length takes 4 bytes
# (PS3.5 7.1.2) and what pads an odd value to even length (PS3.5 7.1.1: NUL for UI and OB).
_Header = tuple[int, str, bytes, bool, bytes]


def _header(tag: int, vr: str) -> _Header:
    prefix = struct.pack("<HH2s", tag >> 16, tag & 0xFFFF, vr.encode("ascii"))
    return tag, vr, prefix, vr in _LONG_VRS, b"\0" if vr in ("UI", "OB") else b" "


@cache
def _keyword_header(keyword: str) -> _Header:
    tag = tag_for_keyword(keyword)
    if tag is None:
        raise KeyError(f"{keyword} is not a DICOM keyword")
    return _header(tag, dictionary_VR(tag))


def element(keyword: str, value: Value) -> Element:
    """The element of a DICOM dictionary `keyword` holding `value` (see the module docstring).

    Raises:
        KeyError: `keyword` is not in pydicom's dictionary.
        ValueError: A value its VR cannot hold (non-ASCII text outside the text VRs, a value
            too long for a 2-byte length).
    """
    header = _keyword_header(keyword)
    return header[0], _encoded(header, _value_bytes(header[1], value))


def element_column(keyword: str, values: Iterable[Value]) -> list[Element]:
    """The elements of `keyword` holding each of `values`: :func:`element`, by the column.

    What a control point holds, for all of a beam's points at once: a value met again (an
    angle, a direction) is encoded once.
    """
    header = _keyword_header(keyword)
    tag, vr = header[:2]
    encoded: dict[Value, Element] = {}
    column = []
    for value in values:
        if isinstance(value, bytes):
            column.append((tag, _encoded(header, value)))
            continue
        known = encoded.get(value)
        if known is None:
            known = encoded[value] = (tag, _encoded(header, _value_bytes(vr, value)))
        column.append(known)
    return column


def private(tag: int, vr: str, value: Value) -> Element:
    """A private element (or a Private Creator) of `vr` holding `value`."""
    return tag, _encoded(_header(tag, vr), _value_bytes(vr, value))


def _value_bytes(vr: str, value: Value) -> bytes:
    if isinstance(value, float):
        return ds_text(value).encode("ascii")
    if value is None:
        return b""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8" if vr in _TEXT_VRS else "ascii")
    if isinstance(value, tuple):
        return "\\".join(_number_text(v) for v in value).encode("ascii")
    return _number_text(value).encode("ascii")


def _number_text(value: int | float) -> str:
    return ds_text(value) if isinstance(value, float) else str(value)


def _encoded(header: _Header, value: bytes) -> bytes:
    _, vr, prefix, long, padding = header
    if len(value) & 1:
        value += padding
    if long:
        return prefix + _LONG_LENGTH.pack(len(value)) + value
    if len(value) > _MAX_SHORT_LENGTH:
        raise ValueError(f"a {vr} value of {len(value)} bytes is longer than {vr} allows")
    return prefix + _SHORT_LENGTH.pack(len(value)) + value


def item(elements: Iterable[Element]) -> bytes:
    """A sequence item (defined length) of `elements`, written in ascending tag order."""
    body = b"".join(map(_ENCODED, sorted(elements, key=_TAG)))
    return _ITEM.pack(*_ITEM_TAG, len(body)) + body


def sequence(keyword: str, items: Iterable[bytes]) -> Element:
    """The sequence element `keyword` of encoded `items` (:func:`item`); none is an empty one."""
    return element(keyword, b"".join(items))


def part10_file(meta: Iterable[Element], dataset: Iterable[Element]) -> bytes:
    """A DICOM file (PS3.10): preamble, File Meta Information with its group length, dataset."""
    group = b"".join(map(_ENCODED, sorted(meta, key=_TAG)))
    length = _GROUP_LENGTH.pack(0x0002, 0x0000, b"UL", 4, len(group))
    return b"".join((_PREAMBLE, length, group, *map(_ENCODED, sorted(dataset, key=_TAG))))


@cache
def _tenths_table() -> np.ndarray:
    """Every int16's DS text in mm (value / 10), each with a trailing backslash, then a row end."""
    texts = [ds_text((i - _INT16_OFFSET) / 10) + "\\" for i in range(_INT16_VALUES)]
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
