"""Generated instances stored into the archive directly, or through a staging node: one
that relays them (C-MOVE to the archive) or one that only stores them."""

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from pydicom import dcmread

from radonc_assets.backup.manifest import manifest_frame, not_in
from radonc_assets.backup.transfers import store_records
from radonc_assets.devtools.demo import DemoServers
from radonc_assets.devtools.local_servers import (
    DcmqrscpServer,
    OrthancServer,
    StorescpServer,
    free_port,
)
from radonc_assets.devtools.synthetic import SyntheticSpec, write
from radonc_assets.site.clients import archive_client, dicom_client
from resources.dicom.client import DicomClient, DicomNode
from resources.dicom.queries import InstanceRecord, instance_record


def records(folder: Path, seed: int) -> tuple[dict[str, Path], list[InstanceRecord]]:
    """A synthetic patient's RT Beams Treatment Records, by SOPInstanceUID."""
    spec = SyntheticSpec(
        start=dt.date(2026, 5, 4), end=dt.date(2026, 5, 8), patients=1, seed=seed, ct_slices=1
    )
    files = [p for p in write(spec, folder) if p.name.startswith("RTRECORD_")]
    found = [instance_record(*[dcmread(path, stop_before_pixels=True)] * 3) for path in files]
    return {r.sop_instance_uid: p for r, p in zip(found, files, strict=True)}, found


@pytest.mark.parametrize(("staged", "seed"), [(False, 51), (True, 52)])
def test_records_reach_the_archive_once(
    lab: DemoServers, tmp_path: Path, staged: bool, seed: int
) -> None:
    files, found = records(tmp_path, seed)
    manifest = manifest_frame(found)
    archive = archive_client(lab.site)
    staging = dicom_client(lab.site, "RESTORE") if staged else None

    transfer = store_records(files, archive, manifest, manifest, staging)

    assert len(files) >= 4
    assert {outcome for outcome, _ in transfer.outcomes.values()} == {"copied"}
    # The lab's RESTORE (dcmqrscp) knows the archive: it relays.
    assert transfer.metadata.get("staging_mode") == ("relay" if staged else None)
    assert {sent_by(lab, uid) for uid in files} == ({"LAB_RESTORE"} if staged else {""})
    assert set(transfer.outcomes) == set(files)
    present = archive.archived_uids(set(manifest["study_instance_uid"]))
    assert not_in(manifest, present).empty
    again = store_records(files, archive, manifest, manifest, staging)
    assert {outcome for outcome, _ in again.outcomes.values()} == {"copied"}
    assert len(archive.archived_uids(set(manifest["study_instance_uid"]))) == len(present)


def sent_by(lab: DemoServers, uid: str) -> str:
    """The AE title that stored the instance `uid` into the lab's archive (Orthanc's
    ``RemoteAET``; empty for a REST upload)."""
    rest = lab.site.archive().rest_url
    with requests.Session() as http:
        http.trust_env = False
        (found,) = http.post(f"{rest}/tools/lookup", data=uid, timeout=10).json()
        answer = http.get(f"{rest}/instances/{found['ID']}/metadata?expand", timeout=10)
    return str(answer.json().get("RemoteAET", ""))


def test_an_orthanc_staging_node_that_knows_the_archive_relays(
    lab: DemoServers, tmp_path: Path
) -> None:
    files, found = records(tmp_path / "records", 61)
    manifest = manifest_frame(found)
    archive = archive_client(lab.site)
    with OrthancServer(tmp_path, "LAB_STAGE", peers=[lab.site.archive().dicom_node]) as stage:
        staging = staging_client(lab, stage.dicom_port)

        transfer = store_records(files, archive, manifest, manifest, staging)

    assert transfer.outcomes == {uid: ("copied", "") for uid in files}
    assert transfer.metadata == {"staging_node": str(staging.peer), "staging_mode": "relay"}
    # The archive received them from the staging node, not from radonc-backup.
    assert {sent_by(lab, uid) for uid in files} == {"LAB_STAGE"}


StagingServer = StorescpServer | DcmqrscpServer | OrthancServer


@pytest.fixture(params=["storescp", "dcmqrscp", "orthanc"])
def store_only(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StagingServer]:
    """A staging node that takes C-STORE but cannot C-MOVE to the archive: storescp has no
    Query/Retrieve service; this dcmqrscp and this Orthanc do not know the archive."""
    server: StagingServer
    if request.param == "storescp":
        server = StorescpServer(tmp_path, "LAB_STAGE")
    elif request.param == "dcmqrscp":
        server = DcmqrscpServer(tmp_path, "LAB_STAGE")
    else:
        server = OrthancServer(tmp_path, "LAB_STAGE")
    with server:
        yield server


def held_by(server: StagingServer) -> int:
    """How many instances the staging server holds."""
    if isinstance(server, StorescpServer):
        return len(list(server.received.iterdir()))
    if isinstance(server, DcmqrscpServer):
        return len(list((server.directory / "storage").glob("*.dcm")))
    with requests.Session() as http:
        http.trust_env = False
        return len(http.get(f"{server.url}/instances", timeout=10).json())


def staging_client(lab: DemoServers, port: int) -> DicomClient:
    return DicomClient(
        DicomNode("LAB_STAGE", "127.0.0.1", port), lab.site.script_ae.aet, retries=0, timeout=20
    )


# Why each store-only node cannot relay, as it answers (measured); the seed of its records.
SEEDS = {StorescpServer: 53, DcmqrscpServer: 55, OrthancServer: 57}
CANNOT_RELAY = {
    StorescpServer: "accepted none of the proposed presentation contexts",
    DcmqrscpServer: "C-MOVE to LAB_ARCHIVE answered 0xA801 (Move destination unknown)",
    OrthancServer: "C-MOVE to LAB_ARCHIVE answered 0xC000",
}


def test_a_store_only_staging_node_gets_the_records_and_so_does_the_archive(
    lab: DemoServers, tmp_path: Path, store_only: StagingServer
) -> None:
    files, found = records(tmp_path / "records", SEEDS[type(store_only)])
    manifest = manifest_frame(found)
    archive = archive_client(lab.site)
    assert not archive.archived_uids(set(manifest["study_instance_uid"]))
    staging = staging_client(lab, store_only.dicom_port)

    transfer = store_records(files, archive, manifest, manifest, staging)

    assert transfer.outcomes == {uid: ("copied", "") for uid in files}
    assert transfer.metadata["staging_mode"] == "store-only"
    assert transfer.metadata["staging_node"] == str(staging.peer)
    assert CANNOT_RELAY[type(store_only)] in transfer.metadata["staging_mode_reason"]
    assert held_by(store_only) == len(files)
    present = archive.archived_uids(set(manifest["study_instance_uid"]))
    assert not_in(manifest, present).empty
    assert {sent_by(lab, uid) for uid in files} == {""}  # uploaded by radonc-backup
    archive.delete_instances(files)


def test_records_fail_with_their_cause_when_the_staging_node_is_down(
    lab: DemoServers, tmp_path: Path
) -> None:
    files, found = records(tmp_path, 59)
    manifest = manifest_frame(found)
    archive = archive_client(lab.site)
    staging = staging_client(lab, free_port())  # nothing listens there

    transfer = store_records(files, archive, manifest, manifest, staging)

    assert set(transfer.outcomes) == set(files)
    for outcome, reason in transfer.outcomes.values():
        assert outcome == "failed"
        assert reason.startswith(
            f"the staging node {staging.peer} could not take it: cannot connect to "
        )
    assert transfer.metadata["staging_mode"] == "unknown"
    assert not archive.archived_uids(set(manifest["study_instance_uid"]))
