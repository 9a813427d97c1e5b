"""TLS for DICOM associations and the archive's REST API: contexts and readable failures.

:class:`TlsSettings` says whom a client trusts (a CA file, else the system's
certificate authorities) and which client certificate it presents, if any. Its
:meth:`~TlsSettings.context` always verifies the peer's certificate and host name:
there is no way to switch verification off.

pynetdicom (measured with 3.0.4) catches the :class:`ssl.SSLError` of a failed
handshake, logs it and reports the association as "cannot connect"; a certificate the
peer refuses after a TLS 1.3 handshake (no client certificate, an unknown CA) surfaces
in its reading thread as an aborted association. :class:`TlsWatch` keeps that error:
it is what pynetdicom's ``tls_args`` get instead of the context, wraps each socket
with the context into a :class:`WatchedSocket`, which keeps the first TLS error it
raises, and :func:`describe_tls_error` makes one line of it.
"""

import re
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from resources.errors import TlsError

# "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: ... (_ssl.c:1006)"
_OPENSSL_TEXT = re.compile(r"^\[[^\]]*\]\s*(?P<text>.*?)(?:\s*\(_ssl\.c:\d+\))?$")


@dataclass(frozen=True)
class TlsSettings:
    """TLS towards one peer: the certificates trusted, and our client certificate.

    Attributes:
        ca_file: PEM file of the certificate authorities that may sign the peer's
            certificate; None: the system's (``/etc/ssl/certs``).
        cert_file: PEM file of the client certificate presented to the peer (with
            `key_file`), for peers that require one.
        key_file: PEM file of its private key, not encrypted: a service has nobody to
            type a passphrase (protect it by its file mode instead).

    Raises:
        ValueError: Only one of `cert_file` and `key_file` is given.
    """

    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None

    def __post_init__(self) -> None:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("a client certificate needs both its certificate and key files")

    def context(self) -> ssl.SSLContext:
        """A client context: the peer's certificate and host name verified, TLS 1.2 or later.

        Raises:
            TlsError: A file cannot be read or holds no usable certificate or key.
        """
        try:
            context = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
            if self.cert_file and self.key_file:
                context.load_cert_chain(self.cert_file, self.key_file, password=self._passphrase)
        except (OSError, ValueError) as exc:
            # ssl.SSLError is an OSError: a file that is not PEM, a key of another certificate.
            problem = describe_tls_error(exc) if isinstance(exc, ssl.SSLError) else str(exc)
            raise TlsError(f"cannot load the TLS files ({self.describe()}): {problem}") from exc
        context.sslsocket_class = WatchedSocket
        return context

    def _passphrase(self) -> str:
        """Called by OpenSSL for an encrypted key, instead of prompting on the terminal."""
        raise TlsError(
            f"the key file {self.key_file} is encrypted: give an unencrypted key, readable by "
            "radonc-backup's user only (e.g. openssl pkey -in KEY -out KEY.unencrypted)"
        )

    def describe(self) -> str:
        """The files in use, for messages: ``CA file /etc/radonc/ca.pem, no client certificate``."""
        client = (
            f"client certificate {self.cert_file}" if self.cert_file else "no client certificate"
        )
        return f"{trusted(self.ca_file)}, {client}"


def trusted(ca_file: Path | None) -> str:
    """The CAs a client trusts, for messages: ``CA file /etc/radonc/ca.pem``, or the system's."""
    return f"CA file {ca_file}" if ca_file else "the system's CAs"


class WatchedSocket(ssl.SSLSocket):
    """An SSL socket keeping the first TLS error of its handshake, or alert of its reads.

    A connection the peer resets during the handshake is kept too: a DICOM server
    without TLS on that port does that (Orthanc 1.10, measured). A handshake that
    times out is not: the peer may be busy, and that failure stays a connection one.
    Of the reads, only the alerts the peer sends are kept (a certificate it refused
    after a TLS 1.3 handshake): a connection dropped later, after a rejection or an
    abort, is no TLS failure.
    """

    tls_error: ssl.SSLError | ConnectionError | None = None

    def do_handshake(self, block: bool = False) -> None:
        """The handshake; its TLS error or reset is kept, then raised."""
        try:
            super().do_handshake(block)
        except (ssl.SSLError, ConnectionError) as exc:
            self._keep(exc)
            raise

    def read(self, len: int = 1024, buffer: Any = None) -> bytes:
        """A read; an alert of the peer is kept, then raised."""
        try:
            return super().read(len, buffer)
        except ssl.SSLError as exc:
            if _is_alert(exc):
                self._keep(exc)
            raise

    def _keep(self, exc: ssl.SSLError | ConnectionError) -> None:
        if self.tls_error is None:
            self.tls_error = exc


class TlsWatch:
    """What pynetdicom gets as the ``ssl.SSLContext`` of one association.

    pynetdicom calls only ``wrap_socket`` on it; the sockets made are kept, so that
    :attr:`error` tells why TLS failed after pynetdicom dropped the exception.

    Args:
        context: A context of :meth:`TlsSettings.context` (its sockets are
            :class:`WatchedSocket`), shared by any number of associations.
    """

    def __init__(self, context: ssl.SSLContext) -> None:
        self._context = context
        self._sockets: list[ssl.SSLSocket] = []

    def wrap_socket(
        self, sock: socket.socket, server_side: bool = False, server_hostname: str | None = None
    ) -> ssl.SSLSocket:
        """Wrap `sock` with the context, keeping the result."""
        wrapped = self._context.wrap_socket(
            sock, server_side=server_side, server_hostname=server_hostname
        )
        self._sockets.append(wrapped)
        return wrapped

    def tls_args(self, server_hostname: str) -> tuple[ssl.SSLContext, str]:
        """The ``tls_args`` of pynetdicom: this watch in the place of the context, and the host."""
        return cast(ssl.SSLContext, self), server_hostname

    @property
    def error(self) -> ssl.SSLError | ConnectionError | None:
        """The first TLS error of the sockets made, if any."""
        errors = (getattr(sock, "tls_error", None) for sock in self._sockets)
        return next((error for error in errors if error is not None), None)


def _is_alert(exc: ssl.SSLError) -> bool:
    """Whether `exc` is an alert the peer sent (``TLSV13_ALERT_CERTIFICATE_REQUIRED``)."""
    return "_ALERT_" in str(exc.reason or "")


def describe_tls_error(
    exc: ssl.SSLError | ConnectionError, settings: TlsSettings | None = None
) -> str:
    """One line of what went wrong, without OpenSSL's decoration.

    ``certificate verify failed: certificate has expired`` for a certificate we refused,
    ``the peer refused the connection: tlsv13 alert certificate required`` for an alert
    the peer sent; then the files in use, from `settings`.
    """
    if not isinstance(exc, ssl.SSLError):
        text = f"the peer closed the connection ({exc.strerror}): does it speak TLS on that port?"
    elif isinstance(exc, ssl.SSLCertVerificationError):
        text = f"certificate verify failed: {exc.verify_message}"
    else:
        match = _OPENSSL_TEXT.match(str(exc))
        text = match.group("text") if match else str(exc)
        if _is_alert(exc):
            text = f"the peer refused the connection: {text}"
    return f"{text} ({settings.describe()})" if settings else text
