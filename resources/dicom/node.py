"""A DICOM peer and the network defaults, without pynetdicom: what site files need.

The site configuration builds :class:`DicomNode` values for every command, including
those that never open an association (``radonc --help``, ``radonc environments
check``), so this module imports nothing heavier than the TLS settings.
"""

from dataclasses import dataclass

from resources.tls import TlsSettings

# Network defaults of every DICOM client, unless a site's settings say otherwise.
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_TIMEOUT = 60.0
DEFAULT_MAX_PDU = 262144


@dataclass(frozen=True)
class DicomNode:
    """A remote application entity.

    Attributes:
        aet: Its AE title.
        host: Its host name or IP address.
        port: Its DICOM port.
        tls: DICOM TLS towards it (PS3.15 B.1), or None for plain TCP.
    """

    aet: str
    host: str
    port: int
    tls: TlsSettings | None = None

    def __str__(self) -> str:
        return f"{self.aet}@{self.host}:{self.port}"
