"""Typed failures of the DICOM network, Orthanc and the Mosaiq database.

Every exception carries a message a PACS administrator can act on (who refused,
why, which status). :attr:`DicomError.transient` tells the retry layer whether
trying again may help.
"""

from pynetdicom.status import (
    GENERAL_STATUS,
    QR_FIND_SERVICE_CLASS_STATUS,
    QR_GET_SERVICE_CLASS_STATUS,
    QR_MOVE_SERVICE_CLASS_STATUS,
    STORAGE_SERVICE_CLASS_STATUS,
    VERIFICATION_SERVICE_CLASS_STATUS,
    code_to_category,
)

# PS3.4 status tables of each DIMSE service, as pynetdicom keeps them.
_SERVICE_STATUS = {
    "C-ECHO": VERIFICATION_SERVICE_CLASS_STATUS,
    "C-FIND": QR_FIND_SERVICE_CLASS_STATUS,
    "C-MOVE": QR_MOVE_SERVICE_CLASS_STATUS,
    "C-GET": QR_GET_SERVICE_CLASS_STATUS,
    "C-STORE": STORAGE_SERVICE_CLASS_STATUS,
}


def status_meaning(status: int, service: str | None = None) -> str:
    """Human-readable meaning of a DIMSE status code (PS3.4 and PS3.7 Annex C).

    Args:
        status: The status code.
        service: ``C-FIND``, ``C-MOVE``, ``C-GET``, ``C-STORE`` or ``C-ECHO``, whose
            service-specific codes are looked up first.

    Returns:
        The description pynetdicom gives the code, else its category
        (``Failure``, ``Warning``...).
    """
    category, description = _SERVICE_STATUS.get(service or "", {}).get(
        status, GENERAL_STATUS.get(status, (code_to_category(status), ""))
    )
    return description or category


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


class TlsError(DicomError):
    """TLS with the peer failed: a certificate refused, or TLS files that cannot be loaded.

    Either side may refuse a certificate (unknown CA, expired, wrong host, none
    presented). Not transient: trying again does not mend a certificate.
    """


class NoPresentationContextError(DicomError):
    """The peer accepted the association but none of the contexts needed."""


class DimseStatusError(DicomError):
    """A DIMSE service finished with a failure status."""

    def __init__(self, service: str, status: int, detail: str = "") -> None:
        self.service = service
        self.status = status
        message = f"{service} failed with status 0x{status:04X} ({status_meaning(status, service)})"
        super().__init__(f"{message}: {detail}" if detail else message)
        self.transient = 0xA700 <= status <= 0xA7FF


class OrthancError(Exception):
    """The Orthanc REST API failed or answered unexpectedly."""


class MosaiqDatabaseError(Exception):
    """The Mosaiq database could not be reached or a query failed."""
