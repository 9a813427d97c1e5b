"""Typed failures of the DICOM network, Orthanc and the Mosaiq database.

Every exception carries a message a PACS administrator can act on (who refused,
why, which status). :attr:`DicomError.transient` tells the retry layer whether
trying again may help.
"""


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


class OrthancError(Exception):
    """The Orthanc REST API failed or answered unexpectedly."""


class MosaiqDatabaseError(Exception):
    """The Mosaiq database could not be reached or a query failed."""


class MosaiqQueryError(MosaiqDatabaseError):
    """The Mosaiq database was reached but refused or could not finish a query."""
