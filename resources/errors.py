"""Typed failures of the DICOM network, Orthanc and the Mosaiq database.

Every exception carries a message a PACS administrator can act on (who refused,
why, which status). :attr:`DicomError.transient` tells the retry layer whether
trying again may help.
"""

# PS3.7 C: the general status codes and the Q/R and storage specific ones we meet.
_STATUS_MEANINGS: dict[int, str] = {
    0x0000: "success",
    0x0001: "warning: requested optional attributes are not supported",
    0x0107: "warning: attribute list error",
    0x0116: "warning: attribute value out of range",
    0x0117: "invalid SOP instance",
    0x0122: "SOP class not supported",
    0x0124: "not authorised",
    0x0210: "duplicate invocation",
    0x0211: "unrecognised operation",
    0x0212: "mistyped argument",
    0x0213: "resource limitation",
    0xA700: "out of resources",
    0xA701: "out of resources: unable to calculate number of matches",
    0xA702: "out of resources: unable to perform sub-operations",
    0xA801: "move destination unknown",
    0xA900: "identifier does not match SOP class",
    0xB000: "warning: sub-operations complete, one or more failures or warnings",
    0xB006: "warning: element discarded",
    0xB007: "warning: data set does not match SOP class",
    0xC000: "unable to process",
    0xFE00: "cancelled",
    0xFF00: "pending",
    0xFF01: "pending: optional keys not supported",
}


def status_meaning(status: int) -> str:
    """Human-readable meaning of a DIMSE status code (PS3.7 Annex C)."""
    if status in _STATUS_MEANINGS:
        return _STATUS_MEANINGS[status]
    for low, high, meaning in (
        (0xA700, 0xA7FF, "out of resources"),
        (0xA900, 0xA9FF, "data set does not match SOP class"),
        (0xC000, 0xCFFF, "unable to process"),
    ):
        if low <= status <= high:
            return meaning
    return "unknown status"


class DicomError(Exception):
    """Base class of DICOM network failures."""

    transient = False


class PeerUnreachableError(DicomError):
    """No TCP connection could be made (nothing listening, no route, connect timeout)."""

    transient = True


class AssociationRejectedError(DicomError):
    """The peer answered the association request with A-ASSOCIATE-RJ."""

    def __init__(self, message: str, *, permanent: bool = True) -> None:
        super().__init__(message)
        self.transient = not permanent


class AssociationAbortedError(DicomError):
    """The association was aborted (A-ABORT or a dropped connection)."""

    transient = True


class DicomTimeoutError(DicomError):
    """The peer did not answer within the configured timeout."""

    transient = True


class NoPresentationContextError(DicomError):
    """The peer accepted the association but none of the contexts needed."""


class DimseStatusError(DicomError):
    """A DIMSE service finished with a failure status."""

    def __init__(self, service: str, status: int, detail: str = "") -> None:
        self.service = service
        self.status = status
        message = f"{service} failed with status 0x{status:04X} ({status_meaning(status)})"
        super().__init__(f"{message}: {detail}" if detail else message)
        self.transient = 0xA700 <= status <= 0xA7FF


class OrthancError(Exception):
    """The Orthanc REST API failed or answered unexpectedly."""


class MosaiqDatabaseError(Exception):
    """The Mosaiq database could not be reached or a query failed."""
