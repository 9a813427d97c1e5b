"""Mosaiq's records generated, archived (directly and through a staging SCP) and validated.

The simulated Mosaiq holds the same synthetic week as the lab's ARIA (same spec), so
the records it gives reference plans the archive holds after ARIA's backup.
"""

import datetime as dt
from pathlib import Path

import dagster as dg
import pytest

from radonc_assets.backup.audit_files import audit_path, read_frame, records_dir
from radonc_assets.backup.mosaiq.queries import day_window, read_sessions
from radonc_assets.defs.dicom_backup.assets import site_assets as dicom_assets
from radonc_assets.defs.mosaiq.assets import site_assets as mosaiq_assets
from radonc_assets.devtools.demo import DemoServers
from radonc_assets.devtools.synthetic import SyntheticSpec
from radonc_assets.devtools.synthetic.mosaiq import write_mosaiq_database
from radonc_assets.site.clients import archive_client
from radonc_assets.site.config import SiteConfig
from radonc_assets.site.loading import load_sites
from radonc_assets.site.naming import CHAIN_CHECK, check_name
from radonc_assets.site.resources import site_resources
from resources.mosaiq_db import MosaiqDatabase
from tests.backup.test_mosaiq_queries import EARLIER_SHAPE
from tests.conftest import LAB_WEEK_END, SiteFileWriter, variant

# The lab's week, as load_synthetic_week writes it.
WEEK = SyntheticSpec(start=LAB_WEEK_END - dt.timedelta(days=6), end=LAB_WEEK_END, patients=3)


@pytest.fixture(scope="module")
def mosaiq_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("mosaiq") / "mosaiq.db"
    write_mosaiq_database(WEEK, path)
    return path


def run(site: SiteConfig, day: str) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [*dicom_assets(site), *mosaiq_assets(site)],
        partition_key=day,
        resources=site_resources(site),
        raise_on_error=False,
    )


def metadata(result: dg.ExecuteInProcessResult, key: str) -> dict[str, object]:
    (event,) = [
        m
        for m in result.get_asset_materialization_events()
        if m.asset_key == dg.AssetKey.from_user_string(key)
    ]
    return {k: v.value for k, v in event.materialization.metadata.items()}


@pytest.mark.parametrize(("staging", "day"), [(False, "2026-01-07"), (True, "2026-01-08")])
@pytest.mark.usefixtures("lab_courses_planned")
def test_records_are_generated_archived_and_validated(
    lab: DemoServers, site_file: SiteFileWriter, mosaiq_db: Path, staging: bool, day: str
) -> None:
    site = load_sites(variant(lab, site_file, mosaiq=mosaiq_db, staging=staging))["LAB"]

    first = run(site, day)

    records = metadata(first, "lab/mosaiq/treatment_records")
    copies = metadata(first, "lab/mosaiq/orthanc_copies")
    manifest = read_frame(audit_path("LAB", day, "MOSAIQ_treatment_records"))
    assert records["records"] == len(manifest) > 0
    assert records["skipped_rows"] == 0
    assert set(manifest["modality"]) == {"RTRECORD"}
    assert set(manifest["treatment_date"]) == {day.replace("-", "")}
    files = sorted(records_dir("LAB", day, "MOSAIQ").glob("*.dcm"))
    assert [f.stem for f in files] == sorted(manifest["sop_instance_uid"])
    assert copies["copied"] + copies["already_present"] == len(manifest)
    assert copies["failed"] == copies["deferred"] == 0
    checks = {e.check_name: e.passed for e in first.get_asset_check_evaluations()}
    assert checks[check_name("MOSAIQ")] is True
    assert checks[CHAIN_CHECK] is True

    archive = archive_client(site)
    held = archive.archived_uids(set(manifest["study_instance_uid"]))
    again = run(site, day)
    assert metadata(again, "lab/mosaiq/orthanc_copies")["already_present"] == len(manifest)
    assert archive.archived_uids(set(manifest["study_instance_uid"])) == held
    regenerated = read_frame(audit_path("LAB", day, "MOSAIQ_treatment_records"))
    assert regenerated["sop_instance_uid"].tolist() == manifest["sop_instance_uid"].tolist()


@pytest.mark.usefixtures("lab_courses_planned")
def test_an_earlier_site_query_stops_no_source(
    lab: DemoServers, site_file: SiteFileWriter, mosaiq_db: Path
) -> None:
    """The earlier system's query shape loads; every source backs up and the day is
    verified, Mosaiq's records read through the shipped query, which their metadata says."""
    day = "2026-01-07"
    path = variant(
        lab, site_file, mosaiq=mosaiq_db, settings={"mosaiq_backup_sql_query": EARLIER_SHAPE}
    )
    site = load_sites(path)["LAB"]

    result = run(site, day)

    assert result.success
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert all(checks[check_name(alias)] for alias in ("ARIA", "MIM", "MOSAIQ"))
    for alias in ("aria", "mim", "mosaiq"):
        copies = metadata(result, f"lab/{alias}/orthanc_copies")
        assert copies["failed"] == copies["deferred"] == 0
    records = metadata(result, "lab/mosaiq/treatment_records")
    shipped = read_sessions(
        MosaiqDatabase("SQLite3", str(mosaiq_db)), day_window(dt.date(2026, 1, 7))
    )
    assert records["records"] == len(shipped.items) > 0
    assert records["deliveries_query"] == "deliveries.sql"
    warning = str(records["deliveries_query_warning"])
    assert warning.startswith("settings.mosaiq_backup_sql_query is not used (the query holds")
