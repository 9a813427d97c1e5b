"""The census of active courses: pure, from hand-built query rows, and its SQL through the driver."""

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from radonc_assets.backup.mosaiq.queries import (
    CENSUS_COLUMNS,
    COURSE_DELIVERY_COLUMNS,
    ActiveCourse,
    CourseStatus,
    active_courses,
    census_frame,
    course_status,
    courses_window,
    fetch_course_deliveries,
)
from resources.mosaiq_db import MosaiqDatabase
from tests.support.mosaiq_rows import database, delivery_row, field_101_points, frame, tables_of

DAY = dt.date(2026, 3, 2)


def treated(days_before: int, hour: int = 9, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(DAY - dt.timedelta(days=days_before), dt.time(hour, minute))


def course_row(dhs_id: int, days_before: int, fraction: int | None, **overrides: Any) -> dict:
    """One row of the active courses query: patient 1's prostate course on LINAC1."""
    row: dict[str, Any] = {
        "DHS_ID": dhs_id,
        "Pat_ID1": 1,
        "Tx_DtTm": treated(days_before),
        "Fraction_Number": fraction,
        "MRN": "MRN-1",
        "Last_Name": "DOE",
        "First_Name": "JANE",
        "Middle_Name": None,
        "Suffix": None,
        "Sit_Set_ID": 10,
        "Site_Name": "PROSTATE",
        "Fractions_Planned": 20,
        "Plan_Label": "PROST 1",
        "Machine_Name": "LINAC1  ",  # Staff.Last_Name is a padded char column
        "Machine_Source_Name": "Agility 1",
    }
    unknown = set(overrides) - set(row)
    assert not unknown, f"not active courses columns: {unknown}"
    return row | overrides


def course(patient: int, days_before: list[int], **overrides: Any) -> list[dict]:
    """A course of `patient` with fractions 1, 2, ... on the given days, one delivery each."""
    return [
        course_row(
            patient * 1000 + n,
            days,
            n,
            Pat_ID1=patient,
            MRN=f"MRN-{patient}",
            Sit_Set_ID=patient * 10,
            **overrides,
        )
        for n, days in enumerate(days_before, 1)
    ]


def census(rows: list[dict], day: dt.date = DAY) -> tuple[ActiveCourse, ...]:
    parsed = active_courses(frame(rows, COURSE_DELIVERY_COLUMNS), day)
    assert parsed.skipped == ()
    return parsed.items


def by_mrn(courses: tuple[ActiveCourse, ...]) -> dict[str, ActiveCourse]:
    return {c.mrn: c for c in courses}


# --- what is active ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("delivered", "planned", "recent", "status"),
    [
        (10, 20, True, CourseStatus.ON_TREATMENT),
        (10, 20, False, CourseStatus.INTERRUPTED),
        (20, 20, True, CourseStatus.COMPLETED),
        (20, 20, False, None),
        (21, 20, True, CourseStatus.BEYOND_PLANNED),
        (21, 20, False, None),
        (None, 20, True, CourseStatus.FRACTIONS_UNKNOWN),
        (10, None, True, CourseStatus.FRACTIONS_UNKNOWN),
        (10, None, False, None),
    ],
)
def test_course_status(
    delivered: int | None, planned: int | None, recent: bool, status: CourseStatus | None
) -> None:
    assert course_status(delivered, planned, recent=recent) == status


def test_the_window_is_the_30_days_up_to_the_date() -> None:
    assert courses_window(DAY) == (dt.date(2026, 2, 1), dt.date(2026, 3, 3))


def test_a_census_from_hand_built_rows() -> None:
    rows = [
        *course(1, [13, 12, 11, 10, 9, 6, 5, 4, 3, 0]),  # 10 of 20, today
        *course(2, [10, 9, 8, 7, 6], Fractions_Planned=5),  # completed 6 days ago: recent
        *course(3, [11, 10, 9, 8, 7], Fractions_Planned=5),  # completed 7 days ago
        *course(4, [31, 30, 29]),  # 3 of 20, last 29 days ago: in the window
        *course(5, [32, 31, 30]),  # 3 of 20, last 30 days ago: outside it
        *course(6, [5, 4, 3, 2, 1, 0], Fractions_Planned=5),  # one fraction too many
        *course(7, [2, 1], Fractions_Planned=None),
        *course(8, [2, 1], Fractions_Planned=0),  # 0 planned is no plan
        *course(9, [12, 11], Fractions_Planned=0),
        *course(10, [1], Fraction_Number=None),  # no fraction number recorded
    ]

    courses = census(rows)

    assert {c.mrn: c.status for c in courses} == {
        "MRN-1": CourseStatus.ON_TREATMENT,
        "MRN-2": CourseStatus.COMPLETED,
        "MRN-4": CourseStatus.INTERRUPTED,
        "MRN-6": CourseStatus.BEYOND_PLANNED,
        "MRN-7": CourseStatus.FRACTIONS_UNKNOWN,
        "MRN-8": CourseStatus.FRACTIONS_UNKNOWN,
        "MRN-10": CourseStatus.FRACTIONS_UNKNOWN,
    }
    # By first treatment, then MRN.
    assert [c.mrn for c in courses] == [
        "MRN-4",
        "MRN-1",
        "MRN-2",
        "MRN-6",
        "MRN-7",
        "MRN-8",
        "MRN-10",
    ]
    first = by_mrn(courses)["MRN-1"]
    assert first == ActiveCourse(
        mrn="MRN-1",
        patient_name="DOE, JANE",
        site_name="PROSTATE",
        plan_labels=("PROST 1",),
        machines=("LINAC1",),
        fractions_delivered=10,
        fractions_planned=20,
        treatment_days=10,
        first_treatment=DAY - dt.timedelta(days=13),
        last_treatment=DAY,
        status=CourseStatus.ON_TREATMENT,
    )
    assert by_mrn(courses)["MRN-8"].fractions_planned is None
    assert by_mrn(courses)["MRN-10"].fractions_delivered is None


def test_fractions_are_the_highest_fraction_number_not_the_days() -> None:
    """Two fields per fraction, two fractions a day (BID), and a fraction stopped and finished
    the next day: 5 fractions delivered on 3 days."""
    rows = [
        course_row(1, 2, 1, Tx_DtTm=treated(2, 8)),
        course_row(2, 2, 1, Tx_DtTm=treated(2, 8, 5)),
        course_row(3, 2, 2, Tx_DtTm=treated(2, 15)),
        course_row(4, 2, 2, Tx_DtTm=treated(2, 15, 5)),
        course_row(5, 1, 3),
        course_row(6, 1, 4, Tx_DtTm=treated(1, 15)),
        course_row(7, 1, 5, Tx_DtTm=treated(1, 18)),  # stopped by the machine
        course_row(8, 0, 5),  # the rest of fraction 5
    ]

    (only,) = census(rows)

    assert (only.fractions_delivered, only.treatment_days) == (5, 3)


def test_courses_are_sites_and_the_census_is_as_of_its_date() -> None:
    rows = [
        *course(1, [20, 19, 18]),
        course_row(1100, 5, 1, Sit_Set_ID=11, Site_Name="BOOST", Fractions_Planned=3),
        course_row(1101, -1, 2, Sit_Set_ID=11, Site_Name="BOOST", Fractions_Planned=3),
        course_row(1102, -1, 4, Sit_Set_ID=10),  # the day after: left out
        *course(2, [-1, -2]),  # begins after the date
    ]

    courses = census(rows)

    assert [(c.site_name, c.fractions_delivered, c.last_treatment) for c in courses] == [
        ("PROSTATE", 3, DAY - dt.timedelta(days=18)),
        ("BOOST", 1, DAY - dt.timedelta(days=5)),
    ]
    assert [c.status for c in census(rows, DAY + dt.timedelta(days=1))] == [
        CourseStatus.ON_TREATMENT,
        CourseStatus.ON_TREATMENT,
        CourseStatus.ON_TREATMENT,
    ]


def test_plans_and_machines_are_listed_by_last_use() -> None:
    rows = [
        course_row(1, 5, 1, Plan_Label="PROST 1", Machine_Name="LINAC2"),
        course_row(2, 3, 2, Plan_Label="PROST 1R"),
        course_row(3, 1, 3, Plan_Label="PROST 1", Machine_Name="LINAC2"),
        course_row(4, 0, 4, Plan_Label=None, Machine_Name=None),  # a field made in Mosaiq
    ]

    (only,) = census(rows)

    assert only.plan_labels == ("PROST 1R", "PROST 1")
    assert only.machines == ("LINAC1", "LINAC2", "Agility 1")


def test_a_repeated_delivery_counts_once_and_an_unreadable_row_is_skipped() -> None:
    rows = [
        course_row(1, 1, 1),
        course_row(1, 1, 1, Plan_Label="IMPORTED TWICE"),  # the plan's second DCMInstance
        course_row(2, 0, 2),
        course_row(3, 0, 3, Pat_ID1="x"),
        course_row(4, 0, 4, Fraction_Number=2.5),
    ]

    parsed = active_courses(frame(rows, COURSE_DELIVERY_COLUMNS), DAY)

    (only,) = parsed.items
    assert (only.plan_labels, only.fractions_delivered) == (("PROST 1",), 2)
    assert [(s.table, s.key) for s in parsed.skipped] == [
        ("Dose_Hst", "DHS_ID=3"),
        ("Dose_Hst", "DHS_ID=4"),
    ]
    assert "Pat_ID1" in parsed.skipped[0].reason
    assert "Fraction_Number" in parsed.skipped[1].reason


def test_a_query_without_a_contract_column_is_an_error() -> None:
    rows = frame([course_row(1, 0, 1)], COURSE_DELIVERY_COLUMNS).drop(columns="Site_Name")
    with pytest.raises(ValueError, match="Site_Name"):
        active_courses(rows, DAY)


def test_the_census_file() -> None:
    courses = census(
        [
            *course(1, [1, 0]),
            *course(2, [0], Fractions_Planned=None),
            course_row(
                3000, 0, 1, Pat_ID1=3, MRN="3", Sit_Set_ID=30, Plan_Label="C", Machine_Name="L2"
            ),
            course_row(3001, 0, 2, Pat_ID1=3, MRN="3", Sit_Set_ID=30, Plan_Label="D"),
        ]
    )

    census_file = census_frame(courses)

    assert list(census_file.columns) == list(CENSUS_COLUMNS)
    assert census_file.to_dict(orient="records")[1] == {
        "mrn": "3",
        "patient_name": "DOE, JANE",
        "site_name": "PROSTATE",
        "plan_label": "C, D",
        "fractions_delivered": 2,
        "fractions_planned": 20,
        "treatment_days": 1,
        "machine": "L2, LINAC1",
        "first_treatment": DAY.isoformat(),
        "last_treatment": DAY.isoformat(),
        "status": "on_treatment",
    }
    assert census_file["fractions_planned"].isna().tolist() == [False, False, True]
    assert census_frame([]).columns.tolist() == list(CENSUS_COLUMNS)


# --- the SQL through the SQLite3 ODBC driver -----------------------------------------------------


def delivery(patient: int, dhs_id: int, when: dt.datetime, fraction: int) -> dict[str, Any]:
    """A delivery row of field 101's kind for `patient`'s own course, field and plan."""
    return delivery_row(
        DHS_ID=dhs_id,
        Pat_ID1=patient,
        MRN=f"MRN-{patient}",
        Tx_DtTm=when,
        Fraction_Number=fraction,
        FLD_ID=100 + patient,
        Sit_Set_ID=300 + patient,
        Plan_UID=f"1.2.826.0.1.3680043.8.498.{patient}",
        Plan_Label=f"PLAN {patient}",
    )


@pytest.fixture
def mosaiq(tmp_path: Path) -> MosaiqDatabase:
    """Courses around the window of DAY: [2026-02-01, 2026-03-03)."""
    deliveries = [
        delivery(1, 11, dt.datetime(2026, 1, 10, 9), 1),  # before the window
        delivery(1, 12, dt.datetime(2026, 3, 2, 23, 59), 2),
        delivery(1, 13, dt.datetime(2026, 3, 3, 0, 0), 3),  # after the date
        delivery(2, 21, dt.datetime(2026, 1, 31, 23, 59, 59), 1),  # the day before the window
        delivery(3, 31, dt.datetime(2026, 2, 1, 0, 0), 1),  # the window's first midnight
        delivery(4, 41, dt.datetime(2026, 3, 3, 0, 0), 1),  # after the date
    ]
    tables = tables_of(deliveries, field_101_points())
    # A superseded site version must be ignored.
    tables["Site"].append({**tables["Site"][0], "Version": 1, "Fractions": 25})
    return MosaiqDatabase("SQLite3", str(database(tmp_path / "mosaiq.db", tables)))


def test_the_query_returns_whole_courses_treated_in_the_window(mosaiq: MosaiqDatabase) -> None:
    found = fetch_course_deliveries(mosaiq, DAY)

    assert list(found.columns) == list(COURSE_DELIVERY_COLUMNS)
    assert found["DHS_ID"].tolist() == [11, 12, 31]
    first = found.iloc[0].to_dict()
    assert first["Tx_DtTm"] == dt.datetime(2026, 1, 10, 9)
    assert (first["MRN"], first["Sit_Set_ID"], first["Site_Name"]) == ("MRN-1", 301, "PROSTATE")
    assert (first["Fractions_Planned"], first["Plan_Label"]) == (20, "PLAN 1")
    assert (first["Machine_Name"], first["Machine_Source_Name"]) == ("LINAC1", "LINAC1")


def test_the_census_of_the_simulated_courses(mosaiq: MosaiqDatabase) -> None:
    courses = active_courses(fetch_course_deliveries(mosaiq, DAY), DAY).items

    assert [(c.mrn, c.fractions_delivered, c.first_treatment, c.status) for c in courses] == [
        ("MRN-1", 2, dt.date(2026, 1, 10), CourseStatus.ON_TREATMENT),
        ("MRN-3", 1, dt.date(2026, 2, 1), CourseStatus.INTERRUPTED),
    ]
