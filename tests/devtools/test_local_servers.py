"""Tests of radonc_assets.devtools.local_servers against real Orthanc, dcmqrscp and
PostgreSQL processes."""

import contextlib
import os
import pwd
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
import requests
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, RTPlanStorage, generate_uid
from pynetdicom import AE
from pynetdicom.sop_class import Verification

from radonc_assets.devtools.local_servers import (
    LOOPBACK,
    DcmqrscpServer,
    OrthancServer,
    PostgresServer,
    StorescpServer,
    free_port,
)
from resources.dicom.client import DicomClient, DicomNode
from resources.dicom.queries import QueryLevel, retrieve_identifier
from resources.errors import NoPresentationContextError

ECHOSCU = Path("/usr/bin/echoscu")


@pytest.fixture
def http() -> Iterator[requests.Session]:
    """A requests session that never goes through a proxy."""
    with requests.Session() as session:
        session.trust_env = False
        yield session


def process_state(pid: int) -> str | None:
    """Return the state letter of a process (R, S, T, Z, ...), None when it does not exist."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def wait_for_state(pid: int, state: str, seconds: float = 5.0) -> bool:
    """Wait until a process is in a state (SIGSTOP takes effect asynchronously)."""
    deadline = time.monotonic() + seconds
    while process_state(pid) != state:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def is_running(pid: int) -> bool:
    """Whether a process exists and is not a zombie (PID 1 may not reap orphans here)."""
    return process_state(pid) not in (None, "Z")


def group_members(pgid: int) -> set[int]:
    """The running (non-zombie) processes of a process group."""
    members = set()
    for stat_path in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_path.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.add(int(stat_path.parent.name))
    return members


def echo(aet: str, port: int) -> int:
    """C-ECHO with DCMTK's echoscu; return its exit code."""
    command = [str(ECHOSCU), "-to", "5", "-aec", aet, LOOPBACK, str(port)]
    return subprocess.run(command, capture_output=True, timeout=15, check=False).returncode


def write_rt_plan(path: Path) -> Dataset:
    """Write a minimal RT Plan instance (no real patient data) and return it."""
    dataset = Dataset()
    dataset.SOPClassUID = RTPlanStorage
    dataset.SOPInstanceUID = generate_uid()
    dataset.StudyInstanceUID = generate_uid()
    dataset.SeriesInstanceUID = generate_uid()
    dataset.PatientID = "LOCAL-SERVERS-1"
    dataset.PatientName = "Test^LocalServers"
    dataset.StudyDate = "20240102"
    dataset.Modality = "RTPLAN"
    dataset.RTPlanLabel = "TEST"
    dataset.file_meta = FileMetaDataset()
    dataset.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset.save_as(path, enforce_file_format=True)
    return dataset


def test_free_port_can_be_bound() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind((LOOPBACK, port))


def test_orthanc_runs_as_configured_and_stops(tmp_path: Path, http: requests.Session) -> None:
    with OrthancServer(tmp_path, "LS_ORTHANC") as orthanc:
        pid = orthanc.pid
        assert pid is not None
        system = http.get(f"{orthanc.url}/system", timeout=5)
        assert system.status_code == 200
        assert system.json()["DicomAet"] == "LS_ORTHANC"
        assert system.json()["DicomPort"] == orthanc.dicom_port
        # Only the built-in Orthanc Explorer, none of the system's plugins.
        assert http.get(f"{orthanc.url}/plugins", timeout=5).json() == ["explorer.js"]
        assert echo("LS_ORTHANC", orthanc.dicom_port) == 0
        assert echo("WRONG_AET", orthanc.dicom_port) != 0

        orthanc.suspend()
        assert wait_for_state(pid, "T")
        with pytest.raises(requests.Timeout):
            http.get(f"{orthanc.url}/system", timeout=0.5)
        orthanc.resume()
        assert http.get(f"{orthanc.url}/system", timeout=5).status_code == 200

        # Stopping must also work on a suspended (hung) server.
        orthanc.suspend()
        started = time.monotonic()
        orthanc.stop()
        assert time.monotonic() - started < 10
    assert not is_running(pid)
    assert orthanc.pid is None
    orthanc.stop()


def test_orthanc_authentication(tmp_path: Path, http: requests.Session) -> None:
    with OrthancServer(tmp_path, "LS_AUTH", username="backup", password="s3cret") as orthanc:
        url = f"{orthanc.url}/system"
        assert http.get(url, timeout=5).status_code == 401
        assert http.get(url, auth=("backup", "wrong"), timeout=5).status_code == 401
        assert http.get(url, auth=("backup", "s3cret"), timeout=5).status_code == 200


def test_orthanc_needs_username_and_password_together(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="together"):
        OrthancServer(tmp_path, "LS_AUTH", username="backup")


def test_dcmqrscp_echo_and_stop_kills_forked_children(tmp_path: Path) -> None:
    server = DcmqrscpServer(tmp_path, "LS_QR").start()
    try:
        pid = server.pid
        assert pid is not None
        assert echo("LS_QR", server.dicom_port) == 0
        assert echo("WRONG_AET", server.dicom_port) != 0
        # An open association is served by a forked child of dcmqrscp.
        association = AE(ae_title="LS_TEST")
        association.add_requested_context(Verification)
        assoc = association.associate(LOOPBACK, server.dicom_port, ae_title="LS_QR")
        assert assoc.is_established
        deadline = time.monotonic() + 5
        while len(group_members(pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        children = group_members(pid) - {pid}
        assert children
    finally:
        server.stop()
    assoc.abort()
    assert not is_running(pid)
    assert not any(is_running(child) for child in children)
    assert not group_members(pid)


def test_storescp_receives_a_store_has_no_move_and_stops_by_its_pid(tmp_path: Path) -> None:
    plan = write_rt_plan(tmp_path / "plan.dcm")
    server = StorescpServer(tmp_path, "LS_STORE").start()
    try:
        pid = server.pid
        assert pid is not None
        client = DicomClient(DicomNode("LS_STORE", LOOPBACK, server.dicom_port), "LS_TEST")
        (stored,) = client.store([tmp_path / "plan.dcm"])
        assert stored.ok
        study = retrieve_identifier(QueryLevel.STUDY, {"StudyInstanceUID": plan.StudyInstanceUID})
        with pytest.raises(NoPresentationContextError):
            client.move([study], "ANYWHERE")
    finally:
        server.stop()
    (received,) = server.received.iterdir()
    assert dcmread(received).SOPInstanceUID == plan.SOPInstanceUID
    assert not is_running(pid)
    assert not group_members(pid)


@pytest.mark.parametrize("role", ["orthanc-http", "orthanc-dicom", "dcmqrscp"])
def test_start_fails_fast_when_port_is_taken(
    tmp_path: Path, role: str, request: pytest.FixtureRequest
) -> None:
    with socket.socket() as taken:
        taken.bind((LOOPBACK, 0))
        taken.listen()
        port = taken.getsockname()[1]
        server: OrthancServer | DcmqrscpServer
        if role == "orthanc-http":
            server = OrthancServer(tmp_path, "LS_BUSY", http_port=port)
        elif role == "orthanc-dicom":
            server = OrthancServer(tmp_path, "LS_BUSY", dicom_port=port)
        else:
            server = DcmqrscpServer(tmp_path, "LS_BUSY", dicom_port=port)
        request.addfinalizer(server.stop)
        started = time.monotonic()
        with pytest.raises(RuntimeError, match="exited with code") as raised:
            server.start(timeout=10)
    assert time.monotonic() - started < 10
    assert "in use" in str(raised.value)
    assert server.log_tail().splitlines()[-1] in str(raised.value)
    assert server.pid is None


def test_start_times_out_with_log_tail(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    orthanc = OrthancServer(tmp_path, "LS_SLOW")
    request.addfinalizer(orthanc.stop)
    # Orthanc needs about 60 ms to answer: with no time at all the first probe fails.
    with pytest.raises(RuntimeError, match="not ready within 0 s") as raised:
        orthanc.start(timeout=0)
    assert str(orthanc.log_path) in str(raised.value)
    assert orthanc.pid is None


def test_peers_store_and_move_between_servers(tmp_path: Path, http: requests.Session) -> None:
    qr_port = free_port()
    orthanc = OrthancServer(tmp_path, "LS_ARCHIVE", peers=[DicomNode("LS_QR", LOOPBACK, qr_port)])
    peer = DicomNode(orthanc.aet, LOOPBACK, orthanc.dicom_port)
    plan = write_rt_plan(tmp_path / "plan.dcm")
    with orthanc, DcmqrscpServer(tmp_path, "LS_QR", dicom_port=qr_port, peers=[peer]):
        uploaded = http.post(
            f"{orthanc.url}/instances", data=(tmp_path / "plan.dcm").read_bytes(), timeout=10
        )
        instance_id = uploaded.json()["ID"]
        # Orthanc -> dcmqrscp (C-STORE to the "ls_qr" modality) ...
        stored = http.post(f"{orthanc.url}/modalities/ls_qr/store", json=[instance_id], timeout=30)
        assert stored.status_code == 200, stored.text
        assert http.delete(f"{orthanc.url}/instances/{instance_id}", timeout=10).ok
        # ... and back by a C-MOVE that dcmqrscp sends to its HostTable peer.
        moved = http.post(
            f"{orthanc.url}/modalities/ls_qr/move",
            json={
                "Level": "Study",
                "Resources": [{"StudyInstanceUID": plan.StudyInstanceUID}],
                "TargetAet": orthanc.aet,
            },
            timeout=30,
        )
        assert moved.status_code == 200, moved.text
        tags = http.get(f"{orthanc.url}/instances/{instance_id}/simplified-tags", timeout=10)
        assert tags.json()["SOPInstanceUID"] == plan.SOPInstanceUID


def children_of(pid: int) -> set[int]:
    """The running (non-zombie) child processes of a process."""
    children = set()
    for stat_path in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_path.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            children.add(int(stat_path.parent.name))
    return children


def test_postgres_runs_on_loopback_with_its_database_and_leaves_nothing_behind(
    tmp_path: Path,
) -> None:
    started = time.monotonic()
    server = PostgresServer(tmp_path).start()  # tmp_path is private to root under pytest
    try:
        assert time.monotonic() - started < 5
        assert server.pid is not None
        assert server.cluster is not None
        cluster = server.cluster
        postmaster = int((cluster / "data" / "postmaster.pid").read_text().split()[0])
        # The postmaster's own processes (checkpointer, writers...) are in sessions of their
        # own: they are not in the server's process group, and must end with it.
        workers = children_of(postmaster)
        assert workers
        owner = Path(f"/proc/{postmaster}").stat().st_uid
        assert owner == (pwd.getpwnam("postgres").pw_uid if os.geteuid() == 0 else os.geteuid())

        server.create_database("other")
        for database in (server.database, "other"):
            connection = psycopg2.connect(server.url(database))
            with contextlib.closing(connection), connection.cursor() as cursor:
                cursor.execute(
                    "SELECT current_user, current_database(), "
                    "current_setting('listen_addresses'), inet_server_addr()::text"
                )
                assert cursor.fetchone() == ("dagster", database, LOOPBACK, f"{LOOPBACK}/32")
        assert server.instance_env()["DAGSTER_PG_PORT"] == str(server.port)

        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < 5
    finally:
        server.stop()
    assert not any(is_running(pid) for pid in (postmaster, *workers))
    assert not cluster.exists()
    assert server.pid is None


def test_postgres_start_fails_fast_when_its_port_is_taken(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    with socket.socket() as taken:
        taken.bind((LOOPBACK, 0))
        taken.listen()
        server = PostgresServer(tmp_path, port=taken.getsockname()[1])
        request.addfinalizer(server.stop)
        started = time.monotonic()
        with pytest.raises(RuntimeError, match="exited with code") as raised:
            server.start(timeout=10)
    assert time.monotonic() - started < 10
    assert "in use" in str(raised.value)
    assert server.pid is None
