"""DIMSE status codes: their meaning from pynetdicom's PS3.4 tables, and the failure they raise."""

from pynetdicom.status import (
    GENERAL_STATUS,
    QR_FIND_SERVICE_CLASS_STATUS,
    QR_GET_SERVICE_CLASS_STATUS,
    QR_MOVE_SERVICE_CLASS_STATUS,
    STORAGE_SERVICE_CLASS_STATUS,
    VERIFICATION_SERVICE_CLASS_STATUS,
    code_to_category,
)

from resources.errors import DicomError

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


class DimseStatusError(DicomError):
    """A DIMSE service finished with a failure status."""

    def __init__(self, service: str, status: int, detail: str = "") -> None:
        self.service = service
        self.status = status
        message = f"{service} failed with status 0x{status:04X} ({status_meaning(status, service)})"
        super().__init__(f"{message}: {detail}" if detail else message)
        self.transient = 0xA700 <= status <= 0xA7FF
