"""The census of active courses, materialized against a simulated Mosaiq (no DICOM server),
and its metadata table."""

import datetime as dt
from pathlib import Path

import dagster as dg
import pytest

from radonc_assets.backup.audit_files import audit_path, read_frame
from radonc_assets.backup.mosaiq.queries import (
    CENSUS_COLUMNS,
    ActiveCourse,
    CourseStatus,
    census_frame,
)
from radonc_assets.defs.mosaiq.assets import CENSUS_TABLE_COLUMNS, census_rows, site_assets
from radonc_assets.devtools.synthetic import SyntheticSpec
from radonc_assets.devtools.synthetic.mosaiq import write_mosaiq_database
from radonc_assets.devtools.synthetic.patient import patients
from radonc_assets.devtools.synthetic.rtplan import MACHINE
from radonc_assets.site.asset_keys import asset_key
from radonc_assets.site.config import SiteConfig
from radonc_assets.site.dagster_resources import site_resources
from radonc_assets.site.loading import load_sites
from radonc_assets.site.naming import ACTIVE_COURSES
from radonc_assets.site.partitions import partition_date
from tests.support.sites import SiteFileWriter

# Two weeks, 3 patients of 5 fractions each (a synthetic plan plans SPEC.fractions).
SPEC = SyntheticSpec(start=dt.date(2026, 1, 5), end=dt.date(2026, 1, 16), patients=3, fractions=5)
SESSIONS = {
    "SYN00-0001": ["2026-01-06", "2026-01-07", "2026-01-08", "2026-01-09", "2026-01-12"],
    "SYN00-0002": ["2026-01-09", "2026-01-12", "2026-01-13", "2026-01-14", "2026-01-15"],
    "SYN00-0003": ["2026-01-14", "2026-01-15", "2026-01-16"],
}


@pytest.fixture(scope="module")
def mosaiq_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("mosaiq") / "mosaiq.db"
    write_mosaiq_database(SPEC, path)
    return path


def lab(site_file: SiteFileWriter, mosaiq_db: Path) -> SiteConfig:
    return load_sites(site_file("LAB", mosaiq=mosaiq_db))["LAB"]


def census(site: SiteConfig, day: str) -> dict[str, object]:
    """Materialize the census alone; its metadata."""
    key = asset_key(site, "MOSAIQ", ACTIVE_COURSES)
    result = dg.materialize(
        site_assets(site), partition_key=day, resources=site_resources(site), selection=[key]
    )
    (event,) = result.get_asset_materialization_events()
    assert event.asset_key == key
    return {k: v.value for k, v in event.materialization.metadata.items()}


def test_the_spec_treats_as_the_expectations_say() -> None:
    assert {
        p.patient_id: [day.isoformat() for day in p.sessions] for p in patients(SPEC)
    } == SESSIONS


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        ("2026-01-05", {}),  # planning day: nobody treated yet
        ("2026-01-13", {"SYN00-0001": ("5", "completed"), "SYN00-0002": ("3", "on_treatment")}),
        # 0001 finished 8 days before: no longer listed.
        ("2026-01-20", {"SYN00-0002": ("5", "completed"), "SYN00-0003": ("3", "on_treatment")}),
    ],
)
def test_the_census_of_a_day(
    site_file: SiteFileWriter,
    mosaiq_db: Path,
    day: str,
    expected: dict[str, tuple[str, str]],
) -> None:
    site = lab(site_file, mosaiq_db)

    metadata = census(site, day)

    rows = read_frame(audit_path("LAB", partition_date(day), f"MOSAIQ_{ACTIVE_COURSES}"))
    assert list(rows.columns) == list(CENSUS_COLUMNS)
    assert {r.mrn: (r.fractions_delivered, r.status) for r in rows.itertuples()} == expected
    for row in rows.itertuples():
        sessions = [s for s in SESSIONS[row.mrn] if s <= day]
        assert (row.first_treatment, row.last_treatment) == (sessions[0], sessions[-1])
        assert row.treatment_days == str(len(sessions))
        assert row.patient_name.startswith("SYNTHETIC, PATIENT")
        assert (row.site_name, row.plan_label, row.machine) == (
            "SYNTHETIC THORAX",
            "SYN PLAN",
            MACHINE,
        )
        assert row.fractions_planned == str(SPEC.fractions)  # Site version 0, not the draft
    statuses = [status for _, status in expected.values()]
    assert metadata["courses"] == metadata["patients"] == len(expected)
    assert metadata["on_treatment"] == statuses.count("on_treatment")
    assert metadata["completed"] == statuses.count("completed")
    assert metadata["interrupted"] == metadata["beyond_planned"] == 0
    assert metadata["skipped_rows"] == 0
    assert metadata["census"] == str(
        audit_path("LAB", partition_date(day), f"MOSAIQ_{ACTIVE_COURSES}")
    )
    table = metadata["census_table"]
    assert isinstance(table, dg.TableMetadataValue)
    assert [record.data["site"] for record in table.records] == ["SYNTHETIC THORAX"] * len(expected)
    # No MRN or name unless the site allows it.
    assert CENSUS_TABLE_COLUMNS[:2] == ("MRN", "patient")
    assert [column.name for column in table.schema.columns] == list(CENSUS_TABLE_COLUMNS[2:])


def test_patients_appear_in_the_metadata_only_when_the_site_allows_it(
    site_file: SiteFileWriter, mosaiq_db: Path
) -> None:
    site = lab(site_file, mosaiq_db).model_copy(update={"phi_in_metadata": True})

    table = census(site, "2026-01-13")["census_table"]

    assert isinstance(table, dg.TableMetadataValue)
    assert [column.name for column in table.schema.columns] == list(CENSUS_TABLE_COLUMNS)
    assert table.records[0].data == {
        "MRN": "SYN00-0001",
        "patient": "SYNTHETIC, PATIENT001",
        "site": "SYNTHETIC THORAX",
        "plan": "SYN PLAN",
        "machine": "SYN_LINAC1",
        "fractions": "5 / 5",
        "first": "2026-01-06",
        "last": "2026-01-12",
        "status": "completed",
    }
    assert len(table.records) == 2


def test_the_metadata_table_is_short_and_keeps_its_columns() -> None:
    course = ActiveCourse(
        mrn="MRN-1",
        patient_name="DOE, JANE",
        site_name="PROSTATE",
        plan_labels=("A|B",),
        machines=("LINAC1",),
        fractions_delivered=3,
        fractions_planned=None,
        treatment_days=3,
        first_treatment=dt.date(2026, 1, 5),
        last_treatment=dt.date(2026, 1, 7),
        status=CourseStatus.FRACTIONS_UNKNOWN,
    )

    rows = census_rows(census_frame([course] * 3), show_patient=False, limit=2)

    assert (
        rows
        == [
            {
                "site": "PROSTATE",
                "plan": "A|B",
                "machine": "LINAC1",
                "fractions": "3 / ?",
                "first": "2026-01-05",
                "last": "2026-01-07",
                "status": "fractions_unknown",
            }
        ]
        * 2
    )
    assert census_rows(census_frame([]), show_patient=True) == []
