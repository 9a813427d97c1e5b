"""DICOM Part 10 files encoded element by element: Explicit VR Little Endian (PS3.5 7.1.2).

The one encoder of the files this project writes itself, without building a pydicom
``Dataset``: the File Meta Information of an instance the C-GET relay receives
(:func:`file_header`: its data set arrives encoded, the file is that data set after
this header) and the Mosaiq RT Beams Treatment Records (``backup/mosaiq/records.py``),
whose thousands of elements pydicom's ``Dataset`` and ``dcmwrite`` build and write far
too slowly (docs/benchmarks.md). What needs a dataset reads the bytes back with
``dcmread``: pydicom then decodes an element when it is first read.

An element is a ``(tag, bytes)`` pair, its header included, so that the elements of a
dataset or item can be given in any order and sorted by tag (:func:`item`,
:func:`encoded_dataset`). Values are given as Python values and encoded as the element's
VR requires: ``None`` is an empty value (Type 2), ``str`` is text (UTF-8 where the
Specific Character Set ``ISO_IR 192`` applies), ``int`` an IS, ``float`` a DS
(:func:`ds_text`), a tuple of numbers a multi-valued IS or DS, ``bytes`` a value already
encoded (a sequence's items, or DS text made in bulk).
"""

import struct
from collections.abc import Iterable
from functools import cache
from operator import itemgetter

from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.valuerep import format_number_as_ds
from pynetdicom import PYNETDICOM_IMPLEMENTATION_UID, PYNETDICOM_IMPLEMENTATION_VERSION

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
# PS3.10 7.1: a 128-byte preamble, the prefix, then the group length of group 0002.
_PREAMBLE = b"\0" * 128 + b"DICM"
_GROUP_LENGTH = struct.Struct("<HH2sHI")
_DS = 16  # PS3.5 6.2: a DS value has at most 16 characters
# What pynetdicom writes as the implementation of a received instance's file
# (``pynetdicom.dsutils.create_file_meta``).
PYNETDICOM_IMPLEMENTATION = (PYNETDICOM_IMPLEMENTATION_UID, PYNETDICOM_IMPLEMENTATION_VERSION)


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


def encoded_dataset(elements: Iterable[Element]) -> bytes:
    """A data set (or an item's body) of `elements`, written in ascending tag order."""
    return b"".join(map(_ENCODED, sorted(elements, key=_TAG)))


def item(elements: Iterable[Element]) -> bytes:
    """A sequence item (defined length) of `elements`, written in ascending tag order."""
    body = encoded_dataset(elements)
    return _ITEM.pack(*_ITEM_TAG, len(body)) + body


def sequence(keyword: str, items: Iterable[bytes]) -> Element:
    """The sequence element `keyword` of encoded `items` (:func:`item`); none is an empty one."""
    return element(keyword, b"".join(items))


_VERSION = element("FileMetaInformationVersion", b"\0\1")
_MEDIA_HEADERS = tuple(
    map(
        _keyword_header,
        ("MediaStorageSOPClassUID", "MediaStorageSOPInstanceUID", "TransferSyntaxUID"),
    )
)


@cache
def _implementation(uid: str, version: str) -> bytes:
    """The Implementation Class UID and Version Name elements: the same for every file."""
    return (
        element("ImplementationClassUID", uid)[1] + element("ImplementationVersionName", version)[1]
    )


def file_header(
    sop_class_uid: str,
    sop_instance_uid: str,
    transfer_syntax_uid: str,
    implementation: tuple[str, str] = PYNETDICOM_IMPLEMENTATION,
) -> bytes:
    """Preamble, prefix and File Meta Information (PS3.10 7.1) of one instance.

    The elements pynetdicom writes (``pynetdicom.dsutils.create_file_meta``), in ascending
    tag order: the meta version, the Media Storage SOP Class and Instance UIDs, the
    Transfer Syntax, and the implementation's class UID and version name.

    Args:
        sop_class_uid: The instance's SOP Class UID (for a C-STORE, the request's Affected
            SOP Class UID).
        sop_instance_uid: Its SOP Instance UID.
        transfer_syntax_uid: The transfer syntax its data set is encoded in (for a C-STORE,
            that of the presentation context).
        implementation: Implementation Class UID and Version Name of what wrote the file;
            pynetdicom's by default, as for an instance it received.

    Returns:
        The bytes that, followed by the encoded data set, make the file.
    """
    uids = (sop_class_uid, sop_instance_uid, transfer_syntax_uid)
    group = b"".join(
        (
            _VERSION[1],
            *[
                _encoded(h, uid.encode("ascii"))
                for h, uid in zip(_MEDIA_HEADERS, uids, strict=True)
            ],
            _implementation(*implementation),
        )
    )
    return _PREAMBLE + _GROUP_LENGTH.pack(0x0002, 0x0000, b"UL", 4, len(group)) + group
