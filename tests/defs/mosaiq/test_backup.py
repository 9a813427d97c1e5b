"""Mosaiq's records generated, archived (directly, through a staging node that relays them or
one that only stores them) and validated.

The simulated Mosaiq holds the same synthetic week as the lab's ARIA (same spec), so
the records it gives reference plans the archive holds after ARIA's backup.
"""

import datetime as dt
import shutil
import sqlite3
from pathlib import Path
from typing import NamedTuple

import dagster as dg
import pandas as pd
import pytest
from pydicom import dcmread

from radonc_assets.backup.audit_files import audit_path, read_frame, records_dir
from radonc_assets.backup.coverage import DayStatus, day_coverage
from radonc_assets.backup.mosaiq.queries import day_window, read_sessions
from radonc_assets.defs.dicom_backup.assets import site_assets as dicom_assets
from radonc_assets.defs.dicom_backup.checks import completeness_result
from radonc_assets.defs.mosaiq.assets import site_assets as mosaiq_assets
from radonc_assets.devtools.demo import DemoServers
from radonc_assets.devtools.local_servers import StorescpServer, free_port
from radonc_assets.devtools.synthetic.mosaiq import write_mosaiq_database
from radonc_assets.site.clients import archive_client
from radonc_assets.site.config import SiteConfig
from radonc_assets.site.dagster_resources import site_resources
from radonc_assets.site.loading import load_sites
from radonc_assets.site.naming import (
    CHAIN_CHECK,
    ORTHANC_COPIES,
    TREATMENT_RECORDS,
    VALIDATION_REPORT,
    check_name,
)
from radonc_assets.site.partitions import partition_date
from resources.mosaiq_db import MosaiqDatabase
from tests.support.mosaiq_queries import EARLIER_SHAPE
from tests.support.runs import assert_clear_names
from tests.support.simulated_mosaiq import WEEK, forget_records
from tests.support.sites import SiteFileWriter, variant


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
    forget_records(site, mosaiq_db, day)

    first = run(site, day)

    records = metadata(first, f"lab/mosaiq/{TREATMENT_RECORDS}")
    copies = metadata(first, f"lab/mosaiq/{ORTHANC_COPIES}")
    manifest = read_frame(audit_path("LAB", partition_date(day), f"MOSAIQ_{TREATMENT_RECORDS}"))
    assert records["records"] == len(manifest) > 0
    assert records["skipped_rows"] == 0
    assert set(manifest["modality"]) == {"RTRECORD"}
    assert set(manifest["treatment_date"]) == {day.replace("-", "")}
    files = sorted(records_dir("LAB", partition_date(day), "MOSAIQ").glob("*.dcm"))
    assert [f.stem for f in files] == sorted(manifest["sop_instance_uid"])
    assert copies["copied"] == len(manifest)
    assert copies["failed"] == copies["deferred"] == 0
    # The lab's RESTORE (dcmqrscp) knows the archive: the records are relayed.
    assert copies.get("staging_mode") == ("relay" if staging else None)
    checks = {e.check_name: e.passed for e in first.get_asset_check_evaluations()}
    assert checks[check_name("MOSAIQ")] is True
    assert checks[CHAIN_CHECK] is True
    assert_clear_names(first)  # Mosaiq's assets' metadata keys too
    report = metadata(first, f"lab/{VALIDATION_REPORT}")
    sources = {row.data["source"]: row.data for row in report["sources"].records}
    assert sources["MOSAIQ"]["held_by_source"] == sources["MOSAIQ"]["in_archive"] == len(manifest)

    archive = archive_client(site)
    held = archive.archived_uids(set(manifest["study_instance_uid"]))
    again = run(site, day)
    assert metadata(again, f"lab/mosaiq/{ORTHANC_COPIES}")["already_present"] == len(manifest)
    assert archive.archived_uids(set(manifest["study_instance_uid"])) == held
    regenerated = read_frame(audit_path("LAB", partition_date(day), f"MOSAIQ_{TREATMENT_RECORDS}"))
    assert regenerated["sop_instance_uid"].tolist() == manifest["sop_instance_uid"].tolist()


# --- a staging node that only stores, or is down -------------------------------------------------

STAGED_DAY = "2026-01-09"


@pytest.mark.usefixtures("lab_courses_planned")
def test_a_store_only_staging_node_receives_the_records_and_the_day_is_complete(
    lab: DemoServers, site_file: SiteFileWriter, mosaiq_db: Path, tmp_path: Path
) -> None:
    """The earlier system's staging node, a C-STORE destination only (DCMTK storescp): it
    receives the records, the archive gets them too, and the day is complete."""
    with StorescpServer(tmp_path, "LAB_RESTORE") as stage:
        path = variant(
            lab, site_file, mosaiq=mosaiq_db, staging=True, ports={"restore": stage.dicom_port}
        )
        site = load_sites(path)["LAB"]
        forget_records(site, mosaiq_db, STAGED_DAY)

        result = run(site, STAGED_DAY)

    manifest = read_frame(
        audit_path("LAB", partition_date(STAGED_DAY), f"MOSAIQ_{TREATMENT_RECORDS}")
    )
    received = {str(dcmread(f).SOPInstanceUID) for f in stage.received.iterdir()}
    assert received == set(manifest["sop_instance_uid"])
    copies = metadata(result, f"lab/mosaiq/{ORTHANC_COPIES}")
    assert copies["copied"] == len(manifest) > 0
    assert copies["failed"] == copies["deferred"] == 0
    assert copies["staging_mode"] == "store-only"
    assert copies["staging_node"] == f"LAB_RESTORE@127.0.0.1:{stage.dicom_port}"
    assert "accepted none of the proposed presentation contexts" in str(
        copies["staging_mode_reason"]
    )
    held = archive_client(site).archived_uids(set(manifest["study_instance_uid"]))
    assert set(manifest["sop_instance_uid"]) <= held
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks[check_name("MOSAIQ")] is True
    day = dt.date.fromisoformat(STAGED_DAY)
    assert day_coverage("LAB", day, "MOSAIQ").status == DayStatus.COMPLETE


@pytest.mark.usefixtures("lab_courses_planned")
def test_a_staging_node_down_fails_the_records_with_its_cause(
    lab: DemoServers, site_file: SiteFileWriter, mosaiq_db: Path
) -> None:
    down = free_port()  # nothing listens there
    path = variant(lab, site_file, mosaiq=mosaiq_db, staging=True, ports={"restore": down})
    site = load_sites(path)["LAB"]
    forget_records(site, mosaiq_db, STAGED_DAY)

    result = run(site, STAGED_DAY)

    manifest = read_frame(
        audit_path("LAB", partition_date(STAGED_DAY), f"MOSAIQ_{TREATMENT_RECORDS}")
    )
    copies = metadata(result, f"lab/mosaiq/{ORTHANC_COPIES}")
    assert copies["failed"] == len(manifest) > 0
    assert copies["copied"] == 0
    assert copies["staging_mode"] == "unknown"
    rows = read_frame(audit_path("LAB", partition_date(STAGED_DAY), f"MOSAIQ_{ORTHANC_COPIES}"))
    assert set(rows["outcome"]) == {"failed"}
    cause = f"the staging node LAB_RESTORE@127.0.0.1:{down} could not take it: cannot connect to"
    assert all(reason.startswith(cause) for reason in rows["reason"])
    assert not archive_client(site).archived_uids(set(manifest["study_instance_uid"])) & set(
        manifest["sop_instance_uid"]
    )
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks[check_name("MOSAIQ")] is False
    assert checks[check_name("ARIA")] is True
    day = dt.date.fromisoformat(STAGED_DAY)
    assert day_coverage("LAB", day, "MOSAIQ").status == DayStatus.INCOMPLETE


# --- every delivery accounted for ----------------------------------------------------------------


def test_the_check_counts_deliveries_apart_from_instances() -> None:
    report = pd.DataFrame(
        {
            "sop_instance_uid": ["1.2.1", "1.2.2", "", "", ""],
            "dhs_id": ["", "", "5002", "5003", "5004"],
            "status": ["verified", "missing", "not_converted", "not_converted", "acknowledged"],
        }
    )
    result = completeness_result("MOSAIQ", report)
    assert not result.passed
    assert result.description == (
        "3 of 5 instances and deliveries not verified: 1 missing, 2 not_converted "
        "(not_converted: Mosaiq deliveries that made no record, named in the report with "
        "their reason; acknowledge them in the site's acknowledgements file)"
    )
    metadata = {key: value.value for key, value in result.metadata.items()}
    assert metadata["instances"] == 2
    assert metadata["acknowledged"] == 1
    assert metadata["offending_uids"] == ["1.2.2"]
    assert metadata["offending_deliveries"] == ["DHS_ID=5002", "DHS_ID=5003"]
    assert completeness_result("MOSAIQ", report.iloc[[0, 4]]).passed  # verified, acknowledged


LOST_DAY = "2026-01-07"


class Delivered(NamedTuple):
    dhs_id: str
    fld_id: str
    mrn: str


@pytest.fixture(scope="module")
def lost_beam(tmp_path_factory: pytest.TempPathFactory, mosaiq_db: Path) -> tuple[Path, Delivered]:
    """The lab's week with the control points of one field deleted: the second beam of the
    first session of LOST_DAY (a session of three beams) cannot become part of a record."""
    path = tmp_path_factory.mktemp("mosaiq") / "lost_beam.db"
    shutil.copy(mosaiq_db, path)
    with sqlite3.connect(path) as db:
        row = db.execute(
            "SELECT Dose_Hst.DHS_ID, COALESCE(FLD_HST.FLD_ID, Dose_Hst.FLD_ID), Ident.IDA "
            "FROM Dose_Hst LEFT JOIN FLD_HST ON FLD_HST.DHS_ID = Dose_Hst.DHS_ID "
            "JOIN Ident ON Ident.Pat_Id1 = Dose_Hst.Pat_ID1 "
            "WHERE Dose_Hst.Tx_DtTm >= ? AND Dose_Hst.Tx_DtTm < ? "
            "ORDER BY Dose_Hst.Tx_DtTm LIMIT 1 OFFSET 1",
            (LOST_DAY, "2026-01-08"),
        ).fetchone()
        db.execute("DELETE FROM TxFieldPoint WHERE FLD_ID = ?", (row[1],))
    return path, Delivered(*(str(value) for value in row))


@pytest.mark.usefixtures("lab_courses_planned")
def test_a_delivery_that_made_no_record_fails_the_day_until_acknowledged(
    lab: DemoServers, site_file: SiteFileWriter, lost_beam: tuple[Path, Delivered]
) -> None:
    database, lost = lost_beam
    site = load_sites(variant(lab, site_file, mosaiq=database))["LAB"]

    first = run(site, LOST_DAY)

    # The session's record holds its other two beams; the lost one is listed with it.
    manifest = read_frame(
        audit_path("LAB", partition_date(LOST_DAY), f"MOSAIQ_{TREATMENT_RECORDS}")
    )
    (record,) = manifest[manifest["patient_id"] == lost.mrn]["sop_instance_uid"]
    beams = dcmread(records_dir("LAB", partition_date(LOST_DAY), "MOSAIQ") / f"{record}.dcm")
    assert len(beams.TreatmentSessionBeamSequence) == 2
    reason = f"field FLD_ID={lost.fld_id} has no usable control points"
    (listed,) = read_frame(
        audit_path("LAB", partition_date(LOST_DAY), "MOSAIQ_not_converted")
    ).to_dict("records")
    assert listed["dhs_id"] == lost.dhs_id
    assert listed["patient_id"] == lost.mrn
    assert listed["treated_at"].startswith(f"{LOST_DAY} ")
    assert listed["fld_id"] == lost.fld_id
    assert listed["field"] != ""
    assert listed["reason"] == reason
    assert listed["session_record"] == record
    records = metadata(first, f"lab/mosaiq/{TREATMENT_RECORDS}")
    assert records["not_converted"] == 1
    (shown,) = records["not_converted_deliveries"]
    assert shown["dhs_id"] == lost.dhs_id
    assert "patient_id" not in shown  # no PHI without phi_in_metadata

    # The day is incomplete for MOSAIQ only: the check, the report, the coverage.
    checks = {e.check_name: e for e in first.get_asset_check_evaluations()}
    assert checks[check_name("ARIA")].passed
    assert checks[check_name("MIM")].passed
    mosaiq = checks[check_name("MOSAIQ")]
    assert not mosaiq.passed
    assert mosaiq.description is not None
    assert mosaiq.description.startswith(
        f"1 of {len(manifest) + 1} instances and deliveries not verified: 1 not_converted"
    )
    assert mosaiq.metadata["offending_deliveries"].value == [f"DHS_ID={lost.dhs_id}"]
    report = read_frame(audit_path("LAB", partition_date(LOST_DAY), VALIDATION_REPORT))
    (row,) = report[report["dhs_id"] == lost.dhs_id][
        ["source", "patient_id", "treatment_date", "status", "detail"]
    ].to_dict("records")
    assert row == {
        "source": "MOSAIQ",
        "patient_id": lost.mrn,
        "treatment_date": LOST_DAY.replace("-", ""),
        "status": "not_converted",
        "detail": f"{reason}; missing from the record of its session, {record}",
    }
    day = dt.date.fromisoformat(LOST_DAY)
    coverage = day_coverage("LAB", day, "MOSAIQ")
    assert coverage.status == DayStatus.INCOMPLETE
    assert coverage.counts["not_converted"] == 1
    assert day_coverage("LAB", day, "ARIA").status == DayStatus.COMPLETE

    # A physicist acknowledges it: the day is complete, the delivery still listed.
    acknowledgements = site.source_file.with_name("lab.acknowledgements.toml")
    acknowledgements.write_text(
        f'[[MOSAIQ]]\ndhs_id = {lost.dhs_id}\nwho = "A. Physicist"\n'
        'why = "Field re-imported without control points: the beam was delivered as planned"\n'
        "when = 2026-01-08\n"
    )
    again = run(site, LOST_DAY)
    checks = {e.check_name: e for e in again.get_asset_check_evaluations()}
    assert checks[check_name("MOSAIQ")].passed
    assert checks[check_name("MOSAIQ")].metadata["acknowledged"].value == 1
    report = read_frame(audit_path("LAB", partition_date(LOST_DAY), VALIDATION_REPORT))
    (row,) = report[report["dhs_id"] == lost.dhs_id][["status", "detail"]].to_dict("records")
    assert row == {
        "status": "acknowledged",
        "detail": f"{reason}; missing from the record of its session, {record}; acknowledged "
        "by A. Physicist on 2026-01-08: Field re-imported without control points: the beam "
        "was delivered as planned",
    }
    coverage = day_coverage("LAB", day, "MOSAIQ")
    assert coverage.status == DayStatus.COMPLETE
    assert coverage.counts["acknowledged"] == 1


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
        copies = metadata(result, f"lab/{alias}/{ORTHANC_COPIES}")
        assert copies["failed"] == copies["deferred"] == 0
    records = metadata(result, f"lab/mosaiq/{TREATMENT_RECORDS}")
    shipped = read_sessions(
        MosaiqDatabase("SQLite3", str(mosaiq_db)), day_window(dt.date(2026, 1, 7))
    )
    assert records["records"] == len(shipped.items) > 0
    assert records["deliveries_query"] == "deliveries.sql"
    warning = str(records["deliveries_query_warning"])
    assert warning.startswith("settings.mosaiq_backup_sql_query is not used (the query holds")
