"""Encryption in transit against real servers: DICOM TLS with every node, HTTPS to the
archive's REST API through a TLS terminator (stunnel), with certificates made here.

The site TLS has an ARIA (C-MOVE), a MIM (C-GET) and a restore target, each an Orthanc
with DICOM TLS only, and an Orthanc archive with DICOM TLS that requires a client
certificate, its REST API behind stunnel. The ARIA Orthanc moves to the archive over
DICOM TLS too (``UseDicomTls``): nothing of a backup or a recovery goes in clear but
stunnel's forwarding to Orthanc's HTTP port on loopback.
"""

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest

from radonc_assets.backup.audit_files import audit_path, read_frame
from radonc_assets.backup.recovery import Selection, selected_instances
from radonc_assets.backup.source_queries import day_study_state
from radonc_assets.cli.main import main
from radonc_assets.devtools.certificates import TlsCertificates, write_certificates
from radonc_assets.devtools.demo import DemoServers, load_synthetic_week
from radonc_assets.devtools.local_servers import (
    DicomTls,
    OrthancServer,
    StunnelServer,
    TlsOrthancServer,
)
from radonc_assets.site.clients import archive_client, dicom_client
from radonc_assets.site.config import SiteConfig
from radonc_assets.site.dagster_resources import DicomNodeResource, site_resources
from radonc_assets.site.loading import load_sites, toml_literal
from radonc_assets.site.naming import (
    CHAIN_CHECK,
    ORTHANC_COPIES,
    VALIDATION_REPORT,
    check_name,
    node_key,
)
from radonc_assets.site.partitions import partition_date
from resources.dicom.client import DicomClient, DicomNode
from resources.dicom.queries import QueryLevel, identifier, retrieve_identifier
from resources.errors import AssociationRejectedError, OrthancError, TlsError
from resources.tls import TlsSettings
from tests.support.sites import daily_assets

SITE = "TLS"
WEEK_END = dt.date(2026, 1, 9)
DAY = "2026-01-05"  # a planning day: studies in ARIA and MIM, no earlier course's records
SETTINGS = {"connect_timeout": 5, "network_timeout": 20}

NodeTables = dict[str, dict[str, object]]


@dataclass(frozen=True)
class TlsLab:
    """The running servers of the site TLS, its certificates and its node tables."""

    certificates: TlsCertificates
    servers: dict[str, TlsOrthancServer]
    expired: TlsOrthancServer
    plain: OrthancServer
    stunnel: StunnelServer
    nodes: NodeTables
    site: SiteConfig


def node_tables(
    certs: TlsCertificates, servers: Mapping[str, TlsOrthancServer], stunnel: StunnelServer
) -> NodeTables:
    """The nodes of the site TLS: DICOM TLS everywhere, a client certificate for the
    archive and the restore target (which require one), HTTPS to the archive's REST."""

    def address(alias: str) -> dict[str, object]:
        server = servers[alias]
        return {"aet": server.aet, "ip": "127.0.0.1", "port": server.dicom_port}

    trust = {"tls": True, "tls_ca_file": str(certs.ca)}
    client = {
        "tls_cert_file": str(certs.client.certificate),
        "tls_key_file": str(certs.client.private_key),
    }
    return {
        "ARIA": {"type": "aria", **address("ARIA"), **trust},
        "MIM": {"type": "mim", **address("MIM"), **trust},
        "ARCHIVE": {
            "type": "orthanc",
            **address("ARCHIVE"),
            **trust,
            **client,
            "rest_url": stunnel.url,
            "rest_ca_file": str(certs.ca),
        },
        "RESTORE": {"type": "dicom_scp", **address("RESTORE"), **trust, **client},
    }


def write_site(folder: Path, nodes: NodeTables, **changes: Mapping[str, object]) -> Path:
    """The site file of the site TLS in `folder`: `nodes`, with `changes` by alias (a
    None value removes a key)."""
    changed = {
        alias: {
            key: value
            for key, value in {**table, **changes.get(alias, {})}.items()
            if value is not None
        }
        for alias, table in nodes.items()
    }

    def inline(table: Mapping[str, object]) -> str:
        return "{ " + ", ".join(f"{k} = {toml_literal(v)}" for k, v in table.items()) + " }"

    def tables(types: Sequence[str]) -> list[str]:
        return [f"{a} = {inline(t)}" for a, t in changed.items() if t["type"] in types]

    lines = [
        f"[{SITE}]",
        'default_source = "ARIA"',
        'default_backup = "ARCHIVE"',
        'backfill_start = "2026-01-01"',
        f'script_ae = {{ aet = "{SITE}_SCU" }}',
        f"[{SITE}.sources]",
        *tables(("aria", "mim")),
        f"[{SITE}.backup_targets]",
        *tables(("orthanc", "dicom_scp")),
        f"[{SITE}.settings]",
        *(f"{key} = {toml_literal(value)}" for key, value in SETTINGS.items()),
    ]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "tls.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def stop_all(servers: Sequence[OrthancServer | StunnelServer]) -> None:
    """Stop the servers together: each Orthanc takes seconds to shut down."""
    with ThreadPoolExecutor(len(servers)) as pool:
        list(pool.map(lambda server: server.stop(), servers))


@pytest.fixture(scope="module")
def tls_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsLab]:
    """The site TLS running, its sources loaded over DICOM TLS with a synthetic week."""
    folder = tmp_path_factory.mktemp("tls")
    certs = write_certificates(folder / "certs")
    server_tls = DicomTls(certs.server.certificate, certs.server.private_key, certs.ca)
    # The sources verify a client certificate when one is presented, as many PACS do.
    source_tls = DicomTls(certs.server.certificate, certs.server.private_key, certs.ca, False)
    workdir = folder / "servers"
    archive = TlsOrthancServer(workdir, "TLS_ARCHIVE", server_tls, name="archive")
    to_archive = DicomNode(archive.aet, "127.0.0.1", archive.dicom_port)
    servers = {
        "ARCHIVE": archive,
        "ARIA": TlsOrthancServer(workdir, "TLS_ARIA", source_tls, peers=[to_archive], name="aria"),
        "MIM": TlsOrthancServer(workdir, "TLS_MIM", source_tls, name="mim"),
        "RESTORE": TlsOrthancServer(workdir, "TLS_RESTORE", server_tls, name="restore"),
    }
    expired = TlsOrthancServer(
        workdir,
        "TLS_EXPIRED",
        DicomTls(certs.expired.certificate, certs.expired.private_key, certs.ca),
        name="expired",
    )
    plain = OrthancServer(workdir, "TLS_PLAIN", name="plain")
    stunnel = StunnelServer(
        workdir, certs.server.certificate, certs.server.private_key, archive.http_port
    )
    with ExitStack() as stack:
        stack.callback(stop_all, [*servers.values(), expired, plain, stunnel])
        for server in [*servers.values(), expired, plain, stunnel]:
            server.start()
        nodes = node_tables(certs, servers, stunnel)
        site = load_sites(write_site(folder / "site", nodes))[SITE]
        load_synthetic_week(DemoServers(site, dict(servers)), folder / "synthetic", WEEK_END, 2)
        yield TlsLab(certs, servers, expired, plain, stunnel, nodes, site)


@dataclass(frozen=True)
class Backup:
    """The backup of DAY over TLS, and the data folder of its manifests and reports."""

    result: dg.ExecuteInProcessResult
    data_dir: Path


@pytest.fixture(scope="module")
def backed_up(tls_lab: TlsLab, tmp_path_factory: pytest.TempPathFactory) -> Backup:
    """DAY backed up over TLS: its daily assets materialized with the site's resources."""
    data_dir = tmp_path_factory.mktemp("tls-data")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RADONC_DATA_DIR", str(data_dir))
        result = dg.materialize(
            daily_assets(tls_lab.site),
            partition_key=DAY,
            resources=site_resources(tls_lab.site),
            raise_on_error=False,
        )
    return Backup(result, data_dir)


@pytest.fixture
def environments(tls_lab: TlsLab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The site file of TLS as the command line's environments, a Dagster home of its own."""
    monkeypatch.setenv("RADONC_ENVIRONMENTS", str(tls_lab.site.source_file.parent))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    return tls_lab.site.source_file


def one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    return err.strip()


@pytest.mark.usefixtures("environments")
def test_echo_find_store_and_get_over_tls(
    tls_lab: TlsLab, capsys: pytest.CaptureFixture[str]
) -> None:
    site = tls_lab.site
    assert main(["dicom", "echo", "--site", SITE, "--node", "ARCHIVE"]) == 0
    archive = site.node("ARCHIVE").dicom_node
    assert capsys.readouterr().out.startswith(f"C-ECHO {archive}: success (")

    aria = dicom_client(site, "ARIA")
    studies = aria.find(identifier(QueryLevel.STUDY, {"StudyDate": DAY.replace("-", "")}))
    assert studies
    received: list[bytes] = []
    study = {"StudyInstanceUID": str(studies[0].StudyInstanceUID)}
    (got,) = dicom_client(site, "MIM").get(
        [retrieve_identifier(QueryLevel.STUDY, study)], received.append
    )
    assert got.ok
    assert len(received) == got.completed > 0
    outcomes = dicom_client(site, "RESTORE").store(received)
    assert all(o.ok for o in outcomes)
    assert len(outcomes) == len(received)
    # The sensors poll a source through its resource's client: over TLS too.
    resource = site_resources(site)[node_key(site, "ARIA")]
    assert isinstance(resource, DicomNodeResource)
    assert resource.tls
    aria_source = site.dicom_sources["ARIA"]
    state = day_study_state(resource.get_client(retries=0), aria_source, dt.date.fromisoformat(DAY))
    assert state.studies


def test_a_day_is_backed_up_over_tls(
    tls_lab: TlsLab, backed_up: Backup, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tls_lab.site
    monkeypatch.setenv("RADONC_DATA_DIR", str(backed_up.data_dir))
    assert backed_up.result.success
    checks = {e.check_name: e.passed for e in backed_up.result.get_asset_check_evaluations()}
    assert checks == {check_name("ARIA"): True, check_name("MIM"): True, CHAIN_CHECK: True}
    aria = read_frame(audit_path(SITE, partition_date(DAY), f"ARIA_{ORTHANC_COPIES}"))
    mim = read_frame(audit_path(SITE, partition_date(DAY), f"MIM_{ORTHANC_COPIES}"))
    assert set(aria["outcome"]) <= {"copied", "already_present"}
    # moved by the ARIA Orthanc into the archive, whose DICOM port takes TLS only
    assert (aria["outcome"] == "copied").sum() > 0
    assert set(mim["outcome"]) <= {"copied", "already_present"}
    assert (mim["outcome"] == "copied").sum() > 0  # MR and REG: only MIM holds them
    report = read_frame(audit_path(SITE, partition_date(DAY), VALIDATION_REPORT))
    assert set(report["status"]) == {"verified"}
    # The REST API answered through stunnel, over HTTPS verified against the site's CA.
    with archive_client(site) as archive:
        assert archive.rest_url == tls_lab.stunnel.url
        assert archive.held_uids(QueryLevel.IMAGE, report["sop_instance_uid"]) == set(
            report["sop_instance_uid"]
        )


@pytest.mark.usefixtures("backed_up", "environments")
def test_a_series_is_recovered_over_tls(
    tls_lab: TlsLab, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = dicom_client(tls_lab.site, "ARCHIVE")
    rows = selected_instances(archive, Selection(date=dt.date.fromisoformat(DAY)))
    series = str(rows[rows["modality"] == "CT"]["series_instance_uid"].iloc[0])
    slices = int((rows["series_instance_uid"] == series).sum())

    assert main(["recover", SITE, "--to", "RESTORE", "--series-uid", series]) == 0

    out = capsys.readouterr().out.splitlines()
    # The archive does not know the restore target as a move destination: the instances
    # come to us by C-GET and go on by C-STORE, both over TLS.
    assert out[1].startswith(
        f"{SITE}: 1 series: {slices} of {slices} instances restored intact to RESTORE by relay"
    ), out


def test_a_wrong_ca_fails_in_one_line(
    tls_lab: TlsLab,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    other = str(tls_lab.certificates.other_ca)
    path = write_site(tmp_path, tls_lab.nodes, ARCHIVE={"tls_ca_file": other})
    monkeypatch.setenv("RADONC_ENVIRONMENTS", str(path))

    assert main(["dicom", "echo", "--site", SITE, "--node", "ARCHIVE"]) == 1

    archive = tls_lab.servers["ARCHIVE"]
    assert one_line(capsys) == (
        f"radonc: TLS handshake with TLS_ARCHIVE@127.0.0.1:{archive.dicom_port} failed: "
        "certificate verify failed: self-signed certificate in certificate chain "
        f"(CA file {other}, client certificate {tls_lab.certificates.client.certificate})"
    )


def test_an_expired_server_certificate_fails_in_one_line(tls_lab: TlsLab) -> None:
    certs = tls_lab.certificates
    port = tls_lab.expired.dicom_port
    expired = DicomNode("TLS_EXPIRED", "127.0.0.1", port, TlsSettings(certs.ca))
    with pytest.raises(TlsError) as info:
        DicomClient(expired, "TLS_SCU").echo()
    assert str(info.value) == (
        f"TLS handshake with {expired} failed: certificate verify failed: certificate has "
        f"expired (CA file {certs.ca}, no client certificate)"
    )


def test_the_archive_requires_a_client_certificate(tls_lab: TlsLab, tmp_path: Path) -> None:
    assert dicom_client(tls_lab.site, "ARCHIVE").echo() > 0  # the site's presents one

    path = write_site(
        tmp_path, tls_lab.nodes, ARCHIVE={"tls_cert_file": None, "tls_key_file": None}
    )
    without = dicom_client(load_sites(path)[SITE], "ARCHIVE")
    with pytest.raises(TlsError) as info:
        without.echo()
    assert str(info.value) == (
        f"TLS handshake with {without.peer} failed: the peer refused the connection: tlsv13 "
        f"alert certificate required (CA file {tls_lab.certificates.ca}, no client certificate)"
    )


def test_tls_to_a_port_without_tls_is_named(tls_lab: TlsLab) -> None:
    ca = tls_lab.certificates.ca
    plain = DicomNode("TLS_PLAIN", "127.0.0.1", tls_lab.plain.dicom_port, TlsSettings(ca))
    with pytest.raises(TlsError) as info:
        DicomClient(plain, "TLS_SCU", retries=0).echo()
    assert str(info.value) == (
        f"TLS handshake with {plain} failed: the peer closed the connection (Connection reset "
        f"by peer): does it speak TLS on that port? (CA file {ca}, no client certificate)"
    )


def test_a_rejection_over_tls_stays_a_rejection(tls_lab: TlsLab) -> None:
    archive = tls_lab.site.node("ARCHIVE").dicom_node
    wrong = DicomNode("NOT_THE_ARCHIVE", archive.host, archive.port, archive.tls)
    with pytest.raises(AssociationRejectedError, match="Called AE title not recognised"):
        DicomClient(wrong, "TLS_SCU", retries=0).echo()


def test_https_with_a_wrong_ca_fails_in_one_line(tls_lab: TlsLab, tmp_path: Path) -> None:
    other = tls_lab.certificates.other_ca
    path = write_site(tmp_path, tls_lab.nodes, ARCHIVE={"rest_ca_file": str(other)})
    with archive_client(load_sites(path)[SITE]) as archive, pytest.raises(OrthancError) as info:
        archive.statistics()
    assert str(info.value) == (
        f"TLS handshake with {tls_lab.stunnel.url} failed: certificate verify failed: "
        f"unable to get local issuer certificate (CA file {other})"
    )
