"""Certificates for TLS tests and demonstrations: a CA and the certificates it signs.

:func:`write_certificates` writes, as PEM files, a certificate authority, a server
certificate for the loopback address (also usable as a client certificate: Orthanc
presents the one certificate both ways), a client certificate, an expired server
certificate, and a second, unrelated CA. Keys are ECDSA P-256 (fast to make; OpenSSL
and DCMTK take them), private keys are written with mode 0600.
"""

import datetime as dt
import ipaddress
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

LOGGER = logging.getLogger(__name__)

_PRIVATE_MODE = 0o600
# Long enough for any test run or demo, short enough to be obviously for tests only.
_VALIDITY = dt.timedelta(days=30)
# Backdated a little: a peer whose clock is slightly behind still accepts them.
_CLOCK_SKEW = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class KeyPair:
    """A certificate and its private key, as PEM files."""

    certificate: Path
    private_key: Path


@dataclass(frozen=True)
class TlsCertificates:
    """The files :func:`write_certificates` wrote.

    Attributes:
        ca: The CA certificate that signed `server`, `client` and `expired`.
        server: A certificate for the hosts given (IP and DNS names in its Subject
            Alternative Name), for server and client authentication.
        client: A client certificate (client authentication only).
        expired: A server certificate for the same hosts whose validity ended yesterday.
        other_ca: The certificate of a second CA, which signed none of them.
    """

    ca: Path
    server: KeyPair
    client: KeyPair
    expired: KeyPair
    other_ca: Path


def write_certificates(
    folder: Path, hosts: Sequence[str] = ("127.0.0.1", "localhost")
) -> TlsCertificates:
    """Write a CA, the certificates it signs and an unrelated CA into `folder`.

    Args:
        folder: Where the PEM files go (created if needed).
        hosts: IP addresses and host names the server certificates are valid for.

    Returns:
        The files written.
    """
    folder.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("radonc-backup test CA")
    ca = _certificate(ca_name, ca_key, ca_name, ca_key, now - _CLOCK_SKEW, now + _VALIDITY, ca=True)
    other_key = ec.generate_private_key(ec.SECP256R1())
    other_name = _name("radonc-backup unrelated CA")
    other_ca = _certificate(
        other_name, other_key, other_name, other_key, now - _CLOCK_SKEW, now + _VALIDITY, ca=True
    )
    both_ways = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]

    def signed(
        stem: str, usages: list[x509.ObjectIdentifier], start: dt.datetime, end: dt.datetime
    ) -> KeyPair:
        key = ec.generate_private_key(ec.SECP256R1())
        certificate = _certificate(
            _name(f"radonc-backup test {stem}"),
            key,
            ca_name,
            ca_key,
            start,
            end,
            hosts=hosts if ExtendedKeyUsageOID.SERVER_AUTH in usages else (),
            usages=usages,
        )
        return KeyPair(
            _write_certificate(folder / f"{stem}.crt", certificate),
            _write_key(folder / f"{stem}.key", key),
        )

    written = TlsCertificates(
        ca=_write_certificate(folder / "ca.crt", ca),
        server=signed("server", both_ways, now - _CLOCK_SKEW, now + _VALIDITY),
        client=signed(
            "client", [ExtendedKeyUsageOID.CLIENT_AUTH], now - _CLOCK_SKEW, now + _VALIDITY
        ),
        expired=signed(
            "expired", both_ways, now - dt.timedelta(days=30), now - dt.timedelta(days=1)
        ),
        other_ca=_write_certificate(folder / "other-ca.crt", other_ca),
    )
    LOGGER.debug("Wrote test certificates for %s into %s", ", ".join(hosts), folder)
    return written


def write_encrypted_key(key: Path, target: Path, passphrase: bytes) -> Path:
    """Write `key` (a PEM private key) to `target`, encrypted with `passphrase`.

    Returns:
        The file written.
    """
    private_key = serialization.load_pem_private_key(key.read_bytes(), password=None)
    target.touch(mode=_PRIVATE_MODE)
    target.write_bytes(
        private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(passphrase),
        )
    )
    return target


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(
    subject: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
    not_before: dt.datetime,
    not_after: dt.datetime,
    *,
    ca: bool = False,
    hosts: Sequence[str] = (),
    usages: Sequence[x509.ObjectIdentifier] = (),
) -> x509.Certificate:
    """A certificate of `subject` signed by `issuer` (a CA's when `ca`, else a leaf's)."""
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=not ca,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    )
    if usages:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(usages)), critical=False)
    if hosts:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([_general_name(host) for host in hosts]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _general_name(host: str) -> x509.GeneralName:
    """An IP address or a DNS name of a Subject Alternative Name."""
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def _write_certificate(path: Path, certificate: x509.Certificate) -> Path:
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return path


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> Path:
    path.touch(mode=_PRIVATE_MODE)
    path.chmod(_PRIVATE_MODE)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path
