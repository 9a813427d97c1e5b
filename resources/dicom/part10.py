"""The DICOM File Format (PS3.10) header of a received instance, encoded directly.

A C-STORE's data set arrives encoded; a file is that data set after a 128-byte
preamble, ``DICM`` and the File Meta Information (PS3.10 7.1), which this module
encodes without building a pydicom data set, which pynetdicom's ``encoded_dataset()``
does for every relayed instance at a far greater cost (docs/benchmarks.md, "Figures
behind design choices").
"""

import struct

from pynetdicom import PYNETDICOM_IMPLEMENTATION_UID, PYNETDICOM_IMPLEMENTATION_VERSION

_PREAMBLE = b"\x00" * 128 + b"DICM"
# (0002,0001) File Meta Information Version, OB: 00 01.
_VERSION = struct.pack("<HH2sHI", 0x0002, 0x0001, b"OB", 0, 2) + b"\x00\x01"


def _short(element: int, vr: bytes, value: bytes) -> bytes:
    """A group 0002 element of a 2-byte-length VR, its value padded to even length."""
    return struct.pack("<HH2sH", 0x0002, element, vr, len(value)) + value


def file_header(sop_class_uid: str, sop_instance_uid: str, transfer_syntax_uid: str) -> bytes:
    """Preamble, prefix and File Meta Information of an instance received by C-STORE.

    The elements pynetdicom writes (``pynetdicom.dsutils.create_file_meta``): the
    meta version, the Media Storage SOP Class and Instance UIDs (the request's
    Affected ones), the Transfer Syntax of the presentation context, and
    pynetdicom's implementation UID and version name, in Explicit VR Little Endian.

    Args:
        sop_class_uid: The C-STORE request's Affected SOP Class UID.
        sop_instance_uid: Its Affected SOP Instance UID.
        transfer_syntax_uid: The transfer syntax the data set was encoded in.

    Returns:
        The bytes that, followed by the encoded data set, make the file.
    """
    uids = (sop_class_uid, sop_instance_uid, transfer_syntax_uid, PYNETDICOM_IMPLEMENTATION_UID)
    body = _VERSION + b"".join(
        _short(element, b"UI", _even(uid.encode("ascii"), b"\x00"))
        for element, uid in zip((0x0002, 0x0003, 0x0010, 0x0012), uids, strict=True)
    )
    body += _short(0x0013, b"SH", _even(PYNETDICOM_IMPLEMENTATION_VERSION.encode("ascii"), b" "))
    length = struct.pack("<HH2sHI", 0x0002, 0x0000, b"UL", 4, len(body))
    return _PREAMBLE + length + body


def _even(value: bytes, padding: bytes) -> bytes:
    """`value` padded to an even length (PS3.5 7.1.1: UI with NUL, SH with a space)."""
    return value + padding if len(value) % 2 else value
