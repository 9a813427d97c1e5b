"""A source's `retrieve`, not its type, decides how it is copied: the lab's MIM (a
dcmqrscp, which answers both) backed up by C-MOVE straight into the archive (after its
listing, or series by series while it is listed) and by the C-GET relay gives the same
manifest, the same verified instances and the same verdict."""

import datetime as dt
from typing import Any

import dagster as dg
import pytest
import requests

from radonc_assets.backup.audit_files import audit_path, read_frame
from radonc_assets.backup.manifest import IDENTITY
from radonc_assets.backup.source_queries import day_instances
from radonc_assets.devtools.demo import MIM_ONLY_MODALITIES, DemoServers
from radonc_assets.site.asset_keys import asset_key
from radonc_assets.site.clients import archive_client, dicom_client
from radonc_assets.site.config import SiteConfig
from radonc_assets.site.dagster_resources import site_resources
from radonc_assets.site.loading import load_sites
from radonc_assets.site.naming import ORTHANC_COPIES, SOURCE_STUDIES, VALIDATION_REPORT
from resources.orthanc import orthanc_id
from tests.support.sites import SiteFileWriter, daily_assets, variant

DAY = "2026-01-08"  # a planning study: MIM holds its CT, structures, MR and registration
pytestmark = pytest.mark.usefixtures("lab_courses_planned")
# Unbounded (no max_uids_per_run), a C-MOVE source's series are moved while it is listed.
WAYS = {
    "c-get": ("c-get", {}),
    "c-move": ("c-move", {}),
    "c-move while listing": ("c-move", {"max_uids_per_run": None}),
}


def backup_by(
    lab: DemoServers, site_file: SiteFileWriter, retrieve: str, settings: dict[str, None]
) -> dict[str, Any]:
    """Back up DAY with the lab's MIM copied by `retrieve`, the day's studies having left
    the archive first; what the backup found and where MIM's own instances came from."""
    path = variant(lab, site_file, retrieve={"mim": retrieve}, settings=settings)
    site = load_sites(path)["LAB"]
    own = {
        record.sop_instance_uid
        for alias in site.dicom_sources
        for record in day_instances(
            dicom_client(site, alias), site.dicom_sources[alias], dt.date.fromisoformat(DAY)
        )
        if record.study_date == DAY.replace("-", "")
    }
    archive_client(site).delete_instances(own)
    result = dg.materialize(
        daily_assets(site), partition_key=DAY, resources=site_resources(site), raise_on_error=False
    )
    assert result.success
    manifest = read_frame(audit_path("LAB", dt.date.fromisoformat(DAY), f"MIM_{SOURCE_STUDIES}"))
    report = read_frame(audit_path("LAB", dt.date.fromisoformat(DAY), VALIDATION_REPORT))
    mim = report[report["source"] == "MIM"]
    (copies,) = [
        m.materialization.metadata
        for m in result.get_asset_materialization_events()
        if m.asset_key == asset_key(site, "MIM", ORTHANC_COPIES)
    ]
    return {
        "manifest": manifest,
        "statuses": sorted(zip(mim["sop_instance_uid"], mim["status"], strict=True)),
        "checks": {e.check_name: e.passed for e in result.get_asset_check_evaluations()},
        "failed": copies["failed"].value,
        "moved_while_listing": copies["series_moved_while_enumerating"].value,
        "senders": senders(site, manifest[manifest["modality"].isin(MIM_ONLY_MODALITIES)]),
    }


def senders(site: SiteConfig, rows: Any) -> set[tuple[str, str]]:
    """How `rows` (manifest rows) reached the archive: Orthanc's Origin and RemoteAET."""
    url = site.archive().rest_url
    found = set()
    for row in rows.itertuples(index=False):
        instance = orthanc_id(*(str(getattr(row, column)) for column in IDENTITY))
        answer = requests.get(f"{url}/instances/{instance}/metadata?expand", timeout=10)
        answer.raise_for_status()
        metadata = answer.json()
        found.add((metadata["Origin"], metadata.get("RemoteAET", "")))
    return found


def test_mim_by_c_move_and_by_c_get_backs_up_the_same(
    lab: DemoServers, site_file: SiteFileWriter
) -> None:
    by = {way: backup_by(lab, site_file, *how) for way, how in WAYS.items()}

    get = by["c-get"]
    assert set(get["manifest"]["modality"]) == {"CT", "RTSTRUCT", "MR", "REG"}
    assert {status for _, status in get["statuses"]} == {"verified"}
    assert len(get["statuses"]) == len(get["manifest"])
    assert all(get["checks"].values())
    assert get["failed"] == 0
    for way in ("c-move", "c-move while listing"):
        move = by[way]
        assert get["manifest"].equals(move["manifest"]), way
        assert get["statuses"] == move["statuses"], way
        assert get["checks"] == move["checks"], way
        assert move["failed"] == 0, way
        # The MR and registration only MIM holds: relayed by this process (through the
        # archive's REST API), or sent by MIM itself over DICOM to the archive's AE title.
        assert move["senders"] == {("DicomProtocol", lab.site.node("MIM").aet)}, way
    assert get["senders"] == {("RestApi", "")}
    assert get["moved_while_listing"] == by["c-move"]["moved_while_listing"] == 0
    assert by["c-move while listing"]["moved_while_listing"] > 0
