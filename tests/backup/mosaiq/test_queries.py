"""The Mosaiq SQL through the real unixODBC SQLite3 driver, and the check of a site's query:
which deliveries query the records read (the shipped one or the site's) and why."""

import datetime as dt
import re
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from radonc_assets.backup.mosaiq import queries
from radonc_assets.backup.mosaiq.accounting import WINDOW_DELIVERY_COLUMNS
from radonc_assets.backup.mosaiq.deliveries_query import (
    DELIVERY_COLUMNS,
    SETTING,
    DeliveriesQuery,
    deliveries_query,
)
from radonc_assets.backup.mosaiq.model import (
    APPOINTMENT_COLUMNS,
    CONTROL_POINT_COLUMNS,
    SUMMARY_COLUMNS,
)
from radonc_assets.backup.mosaiq.queries import (
    control_points_sql,
    date_window,
    day_window,
    fetch_appointments,
    fetch_control_points,
    fetch_deliveries,
    fetch_treatment_summary,
    fetch_window_deliveries,
    load_sql,
    read_sessions,
)
from resources.errors import MosaiqDatabaseError
from resources.mosaiq_db import MosaiqDatabase
from resources.mosaiq_sql import SiteQueryError, validate_site_query
from tests.support.mosaiq_queries import DOSE_HST_ONLY, EARLIER_SHAPE, SHIPPED_FOR_THE_WINDOW
from tests.support.mosaiq_rows import (
    DAY,
    appointment_row,
    database,
    delivery_row,
    field_101_points,
    field_102_delivery,
    field_102_points,
    tables_of,
)

SQL_FILES = sorted(
    path.name.removesuffix(".sql")
    for path in resources.files("radonc_assets.backup.mosaiq").joinpath("sql").iterdir()
    if path.name.endswith(".sql")
)
HOSTILE_MRNS = ["x' OR '1'='1", "MRN-7'; DROP TABLE Dose_Hst; --", "MRN-7' --", '" OR ""="', "%"]


def at(hour: int, minute: int = 0, day: dt.date = DAY) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute))


@pytest.fixture
def mosaiq(tmp_path: Path) -> MosaiqDatabase:
    """Patient 7's two fields on DAY, a delivery at each midnight edge, and patient O'Brien."""
    deliveries = [
        delivery_row(),
        field_102_delivery(),
        delivery_row(DHS_ID=5003, Tx_DtTm=at(0, 0), Fraction_Number=2),
        delivery_row(DHS_ID=5004, Tx_DtTm=at(0, 0, DAY + dt.timedelta(days=1)), Fraction_Number=4),
        delivery_row(DHS_ID=5005, Tx_DtTm=dt.datetime(2026, 1, 4, 23, 59, 59), Fraction_Number=1),
        delivery_row(
            DHS_ID=6001, Pat_ID1=8, MRN="O'BRIEN", Last_Name="O'BRIEN", Plan_UID="1.2.3.9"
        ),
    ]
    appointments = [
        appointment_row(),
        appointment_row(Sch_Id=8002, Pat_ID1=8, App_DtTm=at(9)),
        appointment_row(Sch_Id=8003, App_DtTm=at(7, 55, DAY + dt.timedelta(days=1))),
    ]
    tables = tables_of(deliveries, [*field_101_points(), *field_102_points()], appointments)
    # A superseded appointment (Version 1) and site version must be ignored.
    tables["Schedule"].append(
        {**tables["Schedule"][0], "Sch_Id": 8999, "Version": 1, "Activity": "OLD"}
    )
    tables["Site"].append(
        {**tables["Site"][0], "Version": 1, "Site_Name": "DRAFT", "Fractions": 25}
    )
    return MosaiqDatabase("SQLite3", str(database(tmp_path / "mosaiq.db", tables)))


# --- the SQL files -------------------------------------------------------------------------------


def test_every_query_is_a_package_file() -> None:
    assert SQL_FILES == [
        "active_courses",
        "appointments",
        "control_points",
        "deliveries",
        "new_deliveries",
        "treatment_summary",
        "window_deliveries",
    ]


@pytest.mark.parametrize("name", SQL_FILES)
def test_sql_stays_in_the_subset_both_engines_accept(name: str) -> None:
    text = load_sql(name)
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    comments = "\n".join(line for line in text.splitlines() if line.lstrip().startswith("--"))
    # The SQLite3 ODBC driver refuses a statement separator even in a comment, and reads quotes
    # and markers in comments as SQL (measured): comments hold none, code holds no literal.
    assert not re.search(r"[;'\"?]", comments)
    assert not re.search(r"[;'\"`]", code)
    for word in (
        "CONVERT",
        "DATEADD",
        "TOP",
        "LIMIT",
        "ISNULL",
        "IFNULL",
        "GETDATE",
        "NOW",
        "||",
        "+ '",
    ):
        assert word not in code.upper().split(), word
    assert "[Index]" in code or "Index" not in code


def test_only_markers_are_put_into_the_control_points_query() -> None:
    sql = control_points_sql(3)
    assert "IN (?, ?, ?)" in sql
    assert "{" not in sql
    with pytest.raises(ValueError, match="between 1 and 500"):
        control_points_sql(0)
    with pytest.raises(ValueError, match="between 1 and 500"):
        control_points_sql(501)


def test_windows_are_dates() -> None:
    assert day_window(DAY) == (DAY, dt.date(2026, 1, 6))
    assert date_window(DAY, DAY) == (DAY, dt.date(2026, 1, 6))
    assert date_window() == (dt.date(1900, 1, 1), dt.date(9999, 12, 31))


# --- against the SQLite3 ODBC driver --------------------------------------------------------------


def test_deliveries_of_a_day_include_its_midnight_and_not_the_next(mosaiq: MosaiqDatabase) -> None:
    found = fetch_deliveries(mosaiq, day_window(DAY))
    assert list(found.columns) == list(DELIVERY_COLUMNS)
    assert found["DHS_ID"].tolist() == [5003, 5001, 6001, 5002]
    first = found.iloc[1].to_dict()
    assert first["Tx_DtTm"] == at(8)
    assert first["Site_Name"] == "PROSTATE"
    assert first["Fractions_Planned"] == 20
    assert first["Plan_Label"] == "PROST 1"
    assert first["Study_UID"].endswith(".1002")
    assert first["Machine_Name"] == "LINAC1"
    assert first["Institution"] == "TEST CLINIC"


def test_the_window_deliveries_are_every_dose_hst_row(mosaiq: MosaiqDatabase) -> None:
    found = fetch_window_deliveries(mosaiq, day_window(DAY))
    assert list(found.columns) == list(WINDOW_DELIVERY_COLUMNS)
    assert found[["DHS_ID", "MRN", "FLD_ID", "TxField_ID"]].values.tolist() == [
        [5003, "MRN-7", 101, 101],
        [5001, "MRN-7", 101, 101],
        [6001, "O'BRIEN", 101, 101],
        [5002, "MRN-7", 102, 102],
    ]
    mine = fetch_window_deliveries(mosaiq, day_window(DAY), mrn="O'BRIEN")
    assert mine["DHS_ID"].tolist() == [6001]


def test_control_points_come_back_with_their_leaf_records(mosaiq: MosaiqDatabase) -> None:
    found = fetch_control_points(mosaiq, [102, 101, 101])
    assert list(found.columns) == list(CONTROL_POINT_COLUMNS)
    assert list(zip(found["FLD_ID"], found["Point"], strict=True)) == [
        (101, 0),
        (101, 1),
        (101, 2),
        (102, 0),
        (102, 1),
    ]
    assert found.iloc[0]["A_Leaf_Set"] == field_101_points()[0]["A_Leaf_Set"]
    assert found.iloc[2]["Meterset_Index"] == 100.0
    assert fetch_control_points(mosaiq, []).empty


def test_control_points_are_read_in_batches(
    mosaiq: MosaiqDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[str] = []
    query = mosaiq.query

    def counting(sql: str, params: Sequence[Any] = ()) -> pd.DataFrame:
        sent.append(sql)
        return query(sql, params)

    monkeypatch.setattr(queries, "CONTROL_POINT_BATCH", 1)
    monkeypatch.setattr(mosaiq, "query", counting)
    found = fetch_control_points(mosaiq, [101, 102, 103])
    assert len(sent) == 3
    assert all("IN (?)" in sql for sql in sent)
    assert sorted(set(found["FLD_ID"])) == [101, 102]


def test_appointments_are_current_versions_with_their_activity(mosaiq: MosaiqDatabase) -> None:
    found = fetch_appointments(mosaiq, day_window(DAY))
    assert list(found.columns) == list(APPOINTMENT_COLUMNS)
    assert found[["Sch_Id", "Activity", "Activity_Description"]].values.tolist() == [
        [8001, "TX", "Treatment delivery"],
        [8002, "TX", "Treatment delivery"],
    ]


def test_patient_queries_take_the_mrn_as_a_value(mosaiq: MosaiqDatabase) -> None:
    window = date_window(DAY, DAY)
    assert fetch_deliveries(mosaiq, window, mrn="O'BRIEN")["DHS_ID"].tolist() == [6001]
    assert fetch_deliveries(mosaiq, date_window(), mrn="MRN-7")["DHS_ID"].tolist() == [
        5005,
        5003,
        5001,
        5002,
        5004,
    ]
    assert fetch_appointments(mosaiq, window, mrn="O'BRIEN")["Sch_Id"].tolist() == [8002]


@pytest.mark.parametrize("mrn", HOSTILE_MRNS)
def test_an_mrn_of_quotes_or_sql_is_a_plain_value_matching_nothing(
    mosaiq: MosaiqDatabase, mrn: str
) -> None:
    window = date_window()
    assert fetch_deliveries(mosaiq, window, mrn=mrn).empty
    assert fetch_appointments(mosaiq, window, mrn=mrn).empty
    assert fetch_treatment_summary(mosaiq, mrn, window).empty
    assert read_sessions(mosaiq, window, mrn=mrn).items == ()
    assert len(fetch_deliveries(mosaiq, window)) == 6  # nothing was dropped or changed


def test_treatment_summary_per_site(mosaiq: MosaiqDatabase) -> None:
    summary = fetch_treatment_summary(mosaiq, "MRN-7", date_window(DAY, DAY))
    assert list(summary.columns) == list(SUMMARY_COLUMNS)
    assert summary.to_dict("records") == [
        {
            "PatientName": "DOE, JANE",
            "PatientMRN": "MRN-7",
            "StartDate": DAY,
            "EndDate": DAY,
            "TotalDose": 3.2,  # 120 + 80 + 120 cGy
            "NumberOfFractions": 2,  # fractions 2 and 3
            "TargetVolume": "PROSTATE",
        }
    ]


def test_sessions_of_a_day(mosaiq: MosaiqDatabase) -> None:
    parsed = read_sessions(mosaiq, day_window(DAY))
    assert parsed.skipped == ()
    assert parsed.not_converted == ()
    # By date, then Pat_ID1 (7 before 8).
    assert [[d.dhs_id for d in s.deliveries] for s in parsed.items] == [[5003, 5001, 5002], [6001]]
    mine = parsed.items[0]
    assert mine.appointment is not None
    assert mine.appointment.activity == "TX"
    assert [len(d.field.control_points) for d in mine.deliveries] == [3, 3, 2]


def test_sessions_of_one_patient(mosaiq: MosaiqDatabase) -> None:
    parsed = read_sessions(mosaiq, date_window(DAY, DAY + dt.timedelta(days=1)), mrn="MRN-7")
    assert [s.date for s in parsed.items] == [DAY, DAY + dt.timedelta(days=1)]
    assert [s.appointment.sch_id if s.appointment else None for s in parsed.items] == [8001, 8003]


def test_rows_that_cannot_be_used_are_reported_not_raised(tmp_path: Path) -> None:
    points = [*field_101_points(), *field_102_points()]
    points[3] = {**points[3], "Gantry_Ang": None}  # field 102's first point
    tables = tables_of([delivery_row(), field_102_delivery()], points)
    mosaiq = MosaiqDatabase("SQLite3", str(database(tmp_path / "odd.db", tables)))
    parsed = read_sessions(mosaiq, day_window(DAY))
    assert [[d.dhs_id for d in s.deliveries] for s in parsed.items] == [[5001]]
    assert [(s.table, s.key) for s in parsed.skipped] == [
        ("TxFieldPoint", "FLD_ID=102"),
        ("Dose_Hst", "DHS_ID=5002"),
    ]
    assert [(n.dhs_id, n.reason, n.session) for n in parsed.not_converted] == [
        (
            "5002",
            "field FLD_ID=102 has no usable control points: "
            "the first control point has no Gantry_Ang",
            parsed.items[0].key,
        )
    ]


def test_every_delivery_of_the_window_is_accounted_for(tmp_path: Path) -> None:
    """Field 102 has no control points; delivery 7001's field is not in TxField, so the
    deliveries query (an INNER JOIN) does not return it: both are listed, 5002 with the
    session whose record then has one beam."""
    tables = tables_of([delivery_row(), field_102_delivery()], field_101_points())
    tables["Dose_Hst"].append({**tables["Dose_Hst"][0], "DHS_ID": 7001, "FLD_ID": 999})
    mosaiq = MosaiqDatabase("SQLite3", str(database(tmp_path / "lost.db", tables)))
    parsed = read_sessions(mosaiq, day_window(DAY))
    assert [[d.dhs_id for d in s.deliveries] for s in parsed.items] == [[5001]]
    assert [(n.dhs_id, n.mrn, n.fld_id, n.field, n.reason) for n in parsed.not_converted] == [
        (
            "7001",
            "MRN-7",
            "999",
            "",
            "not returned by the deliveries query: TxField has no field FLD_ID=999",
        ),
        ("5002", "MRN-7", "102", "AP", "field FLD_ID=102 has no usable control points"),
    ]
    assert [n.treated_at for n in parsed.not_converted] == [at(8), at(8, 2)]
    assert parsed.not_converted[1].session == parsed.items[0].key
    assert [(s.table, s.key) for s in parsed.skipped] == [
        ("Dose_Hst", "DHS_ID=5002"),
        ("Dose_Hst", "DHS_ID=7001"),
    ]


# --- a site's own query --------------------------------------------------------------------------


def test_site_query_replaces_the_deliveries_query(mosaiq: MosaiqDatabase) -> None:
    # The shipped query for everyone, restricted to one machine: one SELECT, two markers.
    site_sql = SHIPPED_FOR_THE_WINDOW.replace(
        "WHERE Dose_Hst.Tx_DtTm", "WHERE TxField.Machine_ID_Staff_ID = 900 AND Dose_Hst.Tx_DtTm"
    )
    parsed = read_sessions(mosaiq, day_window(DAY), site_query=site_sql)
    assert len(parsed.items) == 2
    assert parsed.not_converted == ()
    assert parsed.query == DeliveriesQuery(site_sql=site_sql.strip())
    assert (parsed.query.name, parsed.query.warning) == (SETTING, None)
    other_machine = site_sql.replace("= 900 AND", "= 901 AND")
    parsed = read_sessions(mosaiq, day_window(DAY), site_query=other_machine)
    assert parsed.items == ()
    assert {n.reason for n in parsed.not_converted} == {
        "not returned by the site's mosaiq_backup_sql_query"
    }
    assert [n.dhs_id for n in parsed.not_converted] == ["5003", "5001", "6001", "5002"]
    with pytest.raises(ValueError, match="not with an MRN"):
        read_sessions(mosaiq, day_window(DAY), mrn="MRN-7", site_query=site_sql)


def test_without_a_site_query_the_shipped_one_is_read(mosaiq: MosaiqDatabase) -> None:
    parsed = read_sessions(mosaiq, day_window(DAY))
    assert parsed.query == DeliveriesQuery()
    assert (parsed.query.name, parsed.query.warning) == ("deliveries.sql", None)


@pytest.mark.parametrize(
    ("sql", "problem"),
    [
        (EARLIER_SHAPE, """the query holds a quote ("'")"""),
        (EARLIER_SHAPE.replace(" AND Edit_ID <> 'QA'", ""), "the query has 1 ? markers, not 2"),
        (
            "DELETE FROM Dose_Hst WHERE Tx_DtTm >= ? AND Tx_DtTm < ?",
            "the query must be a single SELECT",
        ),
        (
            "SELECT DHS_ID, Pat_ID1 FROM Dose_Hst WHERE Tx_DtTm >= ? AND Tx_DtTm < ?",
            "the query names no column " + ", ".join(DELIVERY_COLUMNS[3:]),  # Tx_DtTm: WHERE
        ),
        (
            SHIPPED_FOR_THE_WINDOW.replace("AS Fraction_Number,", "AS Fraction_No,"),
            "the query names no column Fraction_Number",
        ),
    ],
)
def test_a_query_the_records_cannot_read_is_not_used(sql: str, problem: str) -> None:
    query = deliveries_query(sql)
    assert query.site_sql is None
    assert query.problem is not None
    assert query.problem.startswith(problem)
    assert query.name == "deliveries.sql"
    assert query.warning == (
        f"{SETTING} is not used ({query.problem}): the Mosaiq records read the shipped "
        "deliveries query instead; one they can read is a single SELECT with exactly 2 ? "
        "markers (the start and end of the day), no quotes, returning the 41 columns of "
        "deliveries.sql (docs/mosaiq.md)"
    )
    assert "\n" not in query.warning


def test_the_docs_show_the_warning() -> None:
    warning = deliveries_query("SELECT * FROM Dose_Hst WHERE Tx_DtTm >= ?").warning
    docs = Path(__file__).resolve().parents[3] / "docs" / "mosaiq.md"
    assert f"\n    warning: {warning}\n" in docs.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "sql",
    [
        SHIPPED_FOR_THE_WINDOW,
        SHIPPED_FOR_THE_WINDOW.lower(),  # names in any case: the result is checked when read
        DOSE_HST_ONLY,  # * : the result decides when it is read
        None,
    ],
)
def test_a_query_the_records_can_read_is_used(sql: str | None) -> None:
    query = deliveries_query(sql)
    assert query == DeliveriesQuery(site_sql=sql.strip() if sql else None)
    assert query.warning is None


def test_a_site_query_whose_result_lacks_columns_falls_back_to_the_shipped_one(
    mosaiq: MosaiqDatabase,
) -> None:
    assert deliveries_query(DOSE_HST_ONLY).site_sql == DOSE_HST_ONLY  # it passes statically

    parsed = read_sessions(mosaiq, day_window(DAY), site_query=DOSE_HST_ONLY)

    shipped = read_sessions(mosaiq, day_window(DAY))
    assert (parsed.items, parsed.skipped) == (shipped.items, shipped.skipped)
    assert len(parsed.items) == 2
    dose_hst = set(fetch_deliveries(mosaiq, day_window(DAY)).columns) & set(
        mosaiq.query(DOSE_HST_ONLY, day_window(DAY)).columns
    )
    missing = [column for column in DELIVERY_COLUMNS if column not in dose_hst]
    assert "Fraction_Number" in missing
    assert "DHS_ID" not in missing
    assert parsed.query == DeliveriesQuery(problem=f"its result has no column {', '.join(missing)}")
    assert parsed.query.warning is not None
    assert parsed.query.warning.startswith(
        f"{SETTING} is not used (its result has no column {missing[0]}, "
    )


def test_a_site_query_the_database_refuses_falls_back_to_the_shipped_one(
    mosaiq: MosaiqDatabase,
) -> None:
    sql = "SELECT * FROM Earlier_Deliveries WHERE Tx_DtTm >= ? AND Tx_DtTm < ?"
    parsed = read_sessions(mosaiq, day_window(DAY), site_query=sql)
    assert len(parsed.items) == 2
    assert parsed.query.site_sql is None
    assert parsed.query.problem is not None
    assert parsed.query.problem.startswith(
        f"the database refused it: query on {mosaiq.description} failed: "
    )
    assert "Earlier_Deliveries" in parsed.query.problem


def test_an_unreachable_database_is_not_a_refused_query(tmp_path: Path) -> None:
    missing = MosaiqDatabase("SQLite3", str(tmp_path / "none.db"))
    with pytest.raises(MosaiqDatabaseError, match="cannot connect"):
        read_sessions(missing, day_window(DAY), site_query=DOSE_HST_ONLY)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM Dose_Hst WHERE Tx_DtTm >= ? AND Tx_DtTm < ?",
        "  select d.DHS_ID, [Index] from Dose_Hst d where d.Tx_DtTm >= ? and d.Tx_DtTm < ?\n",
        "SELECT Sit_Set_ID, Update_DtTm FROM Site WHERE Edit_DtTm BETWEEN ? AND ?",
        "SELECT a FROM t WHERE x >= ? AND x < ? UNION SELECT a FROM u WHERE 1 = 0",
    ],
)
def test_site_query_accepted(sql: str) -> None:
    assert validate_site_query(sql) == sql.strip()


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("", "empty"),
        ("SELECT 1 WHERE ? < ?; DROP TABLE Dose_Hst", "statement separator"),
        ("SELECT 1 WHERE ? < ? -- hidden", "comment"),
        ("SELECT 1 WHERE ? < ? /* hidden */", "comment"),
        ("SELECT * FROM Ident WHERE IDA = 'MRN-7' AND ? < ?", "quote"),
        ('SELECT * FROM Ident WHERE IDA = "MRN-7" AND ? < ?', "quote"),
        ("SELECT * FROM Ident WHERE IDA = N'x' AND ? < ?", "quote"),
        ("SELECT * INTO Copy FROM Dose_Hst WHERE ? < ?", "may only read: it uses INTO"),
        ("DELETE FROM Dose_Hst WHERE ? < ?", "single SELECT"),
        ("WITH d AS (SELECT 1) SELECT * FROM d WHERE ? < ?", "single SELECT"),
        ("SELECT 1 WHERE ? < ? UNION SELECT 1 FROM OPENROWSET(x)", "OPENROWSET"),
        ("SELECT 1 WHERE ? < ? AND EXEC xp_cmdshell", "EXEC"),
        ("SELECT @@VERSION WHERE ? < ?", "variable"),
        ("SELECT [Index FROM t WHERE ? < ?", "unbalanced"),
        ("SELECT * FROM Dose_Hst WHERE Tx_DtTm >= ?", "1 ? markers, not 2"),
        ("SELECT * FROM Dose_Hst", "0 ? markers, not 2"),
        ("SELECT 1\x00 WHERE ? < ?", "control characters"),
    ],
)
def test_site_query_refused(sql: str, reason: str) -> None:
    with pytest.raises(SiteQueryError, match=re.escape(reason)):
        validate_site_query(sql)


def test_the_columns_a_query_must_name() -> None:
    columns = ("DHS_ID", "Fraction_Number")
    for sql in (
        "SELECT DHS_ID, Fractions_Tx AS [Fraction_Number] FROM Dose_Hst WHERE a >= ? AND a < ?",
        "SELECT dhs_id, fractions_tx AS fraction_number FROM Dose_Hst WHERE a >= ? AND a < ?",
        "SELECT d.* FROM Dose_Hst d WHERE a >= ? AND a < ?",
    ):
        assert validate_site_query(sql, columns=columns) == sql
    with pytest.raises(SiteQueryError, match=r"^the query names no column Fraction_Number$"):
        validate_site_query("SELECT DHS_ID FROM Dose_Hst WHERE a >= ? AND a < ?", columns=columns)


def test_bracketed_identifiers_may_hold_any_word() -> None:
    sql = "SELECT [Set], [Update] FROM [Delete] WHERE [?] = 1 AND a >= ? AND a < ?"
    assert validate_site_query(sql) == sql
