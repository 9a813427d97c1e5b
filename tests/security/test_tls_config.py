"""The TLS keys of site files: read relative to the file, checked at load, passed to every
client; and the TLS settings that can never switch verification off."""

import ssl
from pathlib import Path

import pytest

from radonc_assets.devtools.certificates import write_certificates, write_encrypted_key
from radonc_assets.devtools.local_servers import free_port
from radonc_assets.site.clients import archive_client, dicom_client
from radonc_assets.site.dagster_resources import DicomNodeResource, OrthancResource, site_resources
from radonc_assets.site.errors import ConfigError
from radonc_assets.site.loading import load_sites
from resources.dicom.client import DicomClient, DicomNode
from resources.errors import TlsError
from resources.tls import TlsSettings

SITE = """\
[LAB]
default_source = "ARIA"
default_backup = "ARCHIVE"
script_ae = {{ aet = "LAB_SCU" }}

[LAB.sources]
ARIA = {{ type = "aria", aet = "LAB_ARIA", ip = "10.0.0.1", port = 104{aria} }}
MIM = {{ type = "mim", aet = "LAB_MIM", ip = "10.0.0.2", port = 104 }}

[LAB.backup_targets]
ARCHIVE = {{ type = "orthanc", aet = "LAB_ARCHIVE", ip = "10.0.0.3", port = 4242{archive} }}
"""
FILES = ("ca.crt", "client.crt", "client.key")


def write(folder: Path, aria: str = "", archive: str = "") -> Path:
    """A site file in `folder` whose ARIA and ARCHIVE tables end with these keys, and the
    files ``certs/ca.crt``, ``certs/client.crt`` and ``certs/client.key`` next to it."""
    (folder / "certs").mkdir(exist_ok=True)
    for name in FILES:
        (folder / "certs" / name).write_text("not read at load\n")
    path = folder / "lab.toml"
    path.write_text(SITE.format(aria=aria, archive=archive), encoding="utf-8")
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_sites(path)
    return [str(p).removeprefix(f"{path}: ") for p in info.value.problems]


def test_tls_keys_are_read_relative_to_the_site_file_and_reach_every_client(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path,
        aria=', tls = true, tls_ca_file = "certs/ca.crt"',
        archive=(
            ', tls = true, tls_ca_file = "certs/ca.crt", tls_cert_file = "certs/client.crt", '
            'tls_key_file = "certs/client.key", rest_url = "https://10.0.0.3:8443", '
            'rest_ca_file = "certs/ca.crt"'
        ),
    )
    site = load_sites(path)["LAB"]
    ca, cert, key = (tmp_path / "certs" / name for name in FILES)

    assert site.node("ARIA").dicom_node == DicomNode("LAB_ARIA", "10.0.0.1", 104, TlsSettings(ca))
    assert site.node("MIM").dicom_node.tls is None
    assert dicom_client(site, "ARIA").peer.tls == TlsSettings(ca)
    with archive_client(site) as archive:
        assert archive.dicom.peer.tls == TlsSettings(ca, cert, key)
        assert archive.ca_file == ca
    resources = site_resources(site)
    aria = resources["lab_aria"]
    assert isinstance(aria, DicomNodeResource)
    assert (aria.tls, aria.tls_ca_file, aria.tls_cert_file) == (True, str(ca), None)
    assert aria.get_client().peer.tls == TlsSettings(ca)
    orthanc = resources["lab_archive"]
    assert isinstance(orthanc, OrthancResource)
    assert orthanc.rest_ca_file == str(ca)
    assert orthanc.dicom.get_client().peer.tls == TlsSettings(ca, cert, key)
    with orthanc.get_client() as client:
        assert client.ca_file == ca
    mim = resources["lab_mim"]
    assert isinstance(mim, DicomNodeResource)
    assert not mim.tls


def test_tls_without_a_ca_file_trusts_the_systems_cas(tmp_path: Path) -> None:
    site = load_sites(write(tmp_path, aria=", tls = true"))["LAB"]
    assert site.node("ARIA").dicom_node.tls == TlsSettings()


@pytest.mark.parametrize(
    ("aria", "archive", "problem"),
    [
        pytest.param(
            ', tls_ca_file = "certs/ca.crt"',
            "",
            "sources.ARIA: Value error, tls_ca_file without tls = true: set it, or remove them",
            id="files-without-tls",
        ),
        pytest.param(
            ', tls = true, tls_cert_file = "certs/client.crt"',
            "",
            "sources.ARIA: Value error, tls_cert_file and tls_key_file go together",
            id="certificate-without-key",
        ),
        pytest.param(
            ', tls = true, tls_ca_file = "certs/missing.crt"',
            "",
            "sources.ARIA.tls_ca_file: Value error, no such file: {folder}/certs/missing.crt",
            id="missing-file",
        ),
        pytest.param(
            ', tls = "yes"',
            "",
            'sources.ARIA.tls: Input should be a valid boolean, not the string "yes"',
            id="tls-not-a-boolean",
        ),
        pytest.param(
            "",
            ', rest_url = "http://10.0.0.3:8042", rest_ca_file = "certs/ca.crt"',
            "backup_targets.ARCHIVE: Value error, rest_ca_file needs an https:// rest_url",
            id="rest-ca-file-with-http",
        ),
        pytest.param(
            "",
            ', rest_url = "https://10.0.0.3:8443", rest_ca_file = "certs/missing.crt"',
            "backup_targets.ARCHIVE.rest_ca_file: Value error, no such file: "
            "{folder}/certs/missing.crt",
            id="missing-rest-ca-file",
        ),
        pytest.param(
            "",
            ', verify = false, rest_url = "https://10.0.0.3:8443"',
            "backup_targets.ARCHIVE.verify: Extra inputs are not permitted",
            id="no-way-to-switch-verification-off",
        ),
    ],
)
def test_tls_key_problems_are_named(tmp_path: Path, aria: str, archive: str, problem: str) -> None:
    path = write(tmp_path, aria=aria, archive=archive)
    assert problems(path) == [f"site LAB: {problem.format(folder=tmp_path.resolve())}"]


def test_a_client_certificate_needs_its_key() -> None:
    with pytest.raises(ValueError, match="both its certificate and key files"):
        TlsSettings(cert_file=Path("client.crt"))


def test_the_context_always_verifies_the_peer(tmp_path: Path) -> None:
    context = TlsSettings().context()
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2


def test_tls_files_that_cannot_be_loaded_fail_before_connecting(tmp_path: Path) -> None:
    ca = tmp_path / "ca.crt"
    ca.write_text("not a certificate\n")
    peer = DicomNode("NOWHERE", "127.0.0.1", free_port(), TlsSettings(ca))
    with pytest.raises(TlsError) as info:
        DicomClient(peer, "LAB_SCU", retries=3, backoff=60).echo()
    assert str(info.value).startswith(
        f"{peer}: cannot load the TLS files (CA file {ca}, no client certificate): "
    )
    assert not info.value.transient


def test_a_missing_tls_file_at_run_time_is_a_tls_error(tmp_path: Path) -> None:
    peer = DicomNode("NOWHERE", "127.0.0.1", free_port(), TlsSettings(tmp_path / "gone.crt"))
    with pytest.raises(TlsError, match=r"cannot load the TLS files .*No such file"):
        DicomClient(peer, "LAB_SCU", retries=0).echo()


def test_a_key_of_another_certificate_is_refused(tmp_path: Path) -> None:
    certs = write_certificates(tmp_path)
    settings = TlsSettings(certs.ca, certs.client.certificate, certs.server.private_key)
    with pytest.raises(TlsError, match=r"cannot load the TLS files .*key values mismatch"):
        settings.context()


def test_an_encrypted_key_is_refused_instead_of_prompting(tmp_path: Path) -> None:
    certs = write_certificates(tmp_path)
    key = write_encrypted_key(certs.client.private_key, tmp_path / "encrypted.key", b"secret")
    peer = DicomNode(
        "NOWHERE", "127.0.0.1", free_port(), TlsSettings(certs.ca, certs.client.certificate, key)
    )
    with pytest.raises(TlsError) as info:
        DicomClient(peer, "LAB_SCU", retries=0).echo()
    assert str(info.value).startswith(f"{peer}: the key file {key} is encrypted: ")
