"""Hand-built Mosaiq rows, the frames the queries would return, and a tiny Mosaiq database.

One patient (Pat_ID1 7, MRN "MRN-7") has a plan of two fields on machine 900:
field 101 (3 control points, a 3-leaf-pair MLC) and field 102 (2 static points, jaws only).
The rows use the queries' column names (model.*_COLUMNS); `database` writes the same
data as Mosaiq tables (only the columns the queries read) for the SQLite3 ODBC driver.
"""

import datetime as dt
import sqlite3
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from pydicom import Dataset

from radonc_assets.backup.mosaiq.model import (
    APPOINTMENT_COLUMNS,
    CONTROL_POINT_COLUMNS,
    DELIVERY_COLUMNS,
    Session,
    group_sessions,
    parse_appointments,
    parse_control_points,
    parse_deliveries,
)
from radonc_assets.devtools.datasets import decode_all as decode_every_element
from radonc_assets.devtools.synthetic.mosaiq import leaf_set

DAY = dt.date(2026, 1, 5)
PLAN_UID = "1.2.826.0.1.3680043.8.498.1001"
STUDY_UID = "1.2.826.0.1.3680043.8.498.1002"

# Bank A and B of field 101 in Mosaiq's units (0.01 cm), three leaf pairs in use.
A_CP0 = (-500, -250, 0)
B_CP0 = (500, 1234, 0)
A_CP1 = (-510, -250, 0)


def delivery_row(**overrides: Any) -> dict[str, Any]:
    """One row of the deliveries query: field 101 of patient 7, delivered in full at 08:00."""
    row: dict[str, Any] = {
        "DHS_ID": 5001,
        "Pat_ID1": 7,
        "Tx_DtTm": dt.datetime.combine(DAY, dt.time(8, 0)),
        "Fraction_Number": 3,
        "Delivered_Meterset": 100.0,
        "Dose_Addtl_Projected": 120.0,
        "Termination_Code": None,
        "Termination_Status_Enum": 1,
        "Verification_Status_Enum": 1,
        "MRN": "MRN-7",
        "Last_Name": "DOE",
        "First_Name": "JANE",
        "Middle_Name": None,
        "Suffix": None,
        "Sex": "Female",
        "Birth_DtTm": dt.datetime(1960, 2, 29),
        "FLD_ID": 101,
        "Sit_Set_ID": 301,
        "Plan_UID": PLAN_UID,
        "Beam_Name": "ARC 1",
        "Beam_Number": 1,
        "Field_Name": "Left arc",
        "Field_Label": "1",
        "Field_Start_DtTm": dt.datetime(2026, 1, 1, 8, 0),
        "Planned_Meterset": 100.0,
        "Sad": 100.0,
        "Modality_Enum": 1,
        "Type_Enum": 13,
        "Machine_Staff_ID": 900,
        "Site_Name": "PROSTATE",
        "Fractions_Planned": 20,
        "Setup_Note": "Supine",
        "Plan_Label": "PROST 1",
        "Study_UID": STUDY_UID,
        "Study_ID": "S1",
        "Study_Description": "Planning CT",
        "Study_DtTm": dt.datetime(2025, 12, 20, 9, 30),
        "Machine_Name": "LINAC1",
        "Machine_Source_Name": "LINAC1",
        "Machine_Model": "Agility",
        "Institution": "TEST CLINIC",
    }
    unknown = set(overrides) - set(row)
    assert not unknown, f"not delivery columns: {unknown}"
    return row | overrides


def field_102_delivery(**overrides: Any) -> dict[str, Any]:
    """The delivery of field 102 (static, jaws only) two minutes after field 101's."""
    return (
        delivery_row(
            DHS_ID=5002,
            FLD_ID=102,
            Tx_DtTm=dt.datetime.combine(DAY, dt.time(8, 2)),
            Beam_Name="AP",
            Beam_Number=2,
            Field_Name="AP",
            Field_Label="2",
            Planned_Meterset=50.0,
            Delivered_Meterset=50.0,
            Dose_Addtl_Projected=80.0,
            Type_Enum=1,
        )
        | overrides
    )


def point_row(**overrides: Any) -> dict[str, Any]:
    """Control point 0 of field 101."""
    row: dict[str, Any] = {
        "FLD_ID": 101,
        "Point": 0,
        "Meterset_Index": 0.0,
        "Energy": 6,
        "Energy_Unit_Enum": 2,
        "Gantry_Ang": 350.0,
        "Gantry_Dir_Enum": 1,
        "Coll_Ang": 0.0,
        "Coll_Dir_Enum": 3,
        "Couch_Ang": 0.0,
        "Couch_Roll_Dir_Enum": None,
        "Couch_Vrt": None,
        "Couch_Lng": 50.0,
        "Couch_Lat": -1.5,
        "MLC_Leaves": 3,
        "A_Leaf_Set": leaf_set(A_CP0),
        "B_Leaf_Set": leaf_set(B_CP0),
        "Coll_X1": -5.0,
        "Coll_X2": 5.0,
        "Coll_Y1": -4.0,
        "Coll_Y2": 6.0,
    }
    unknown = set(overrides) - set(row)
    assert not unknown, f"not control point columns: {unknown}"
    return row | overrides


def field_101_points() -> list[dict[str, Any]]:
    """An arc of field 101: gantry 350 -> 10 -> 30 (through 0), [Index] 0, 50, 100."""
    return [
        point_row(),
        point_row(
            Point=1,
            Meterset_Index=50.0,
            Gantry_Ang=10.0,
            A_Leaf_Set=leaf_set(A_CP1),
        ),
        point_row(Point=2, Meterset_Index=100.0, Gantry_Ang=30.0, Gantry_Dir_Enum=3),
    ]


def field_102_points() -> list[dict[str, Any]]:
    """Field 102: two static points, jaws only, [Index] on a 0..1 scale."""
    static = {
        "FLD_ID": 102,
        "Gantry_Ang": 0.0,
        "Gantry_Dir_Enum": 3,
        "MLC_Leaves": 0,
        "A_Leaf_Set": None,
        "B_Leaf_Set": None,
    }
    return [
        point_row(Point=0, Meterset_Index=0.0, **static),
        point_row(Point=1, Meterset_Index=1.0, **static),
    ]


def appointment_row(**overrides: Any) -> dict[str, Any]:
    """Patient 7's treatment appointment at 07:55 on machine 900."""
    return {
        "Sch_Id": 8001,
        "Pat_ID1": 7,
        "App_DtTm": dt.datetime.combine(DAY, dt.time(7, 55)),
        "Location": 900,
        "Activity": "TX",
        "Activity_Description": "Treatment delivery",
    } | overrides


def frame(rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> pd.DataFrame:
    """The DataFrame a query returns for `rows`, built as MosaiqDatabase.query builds it."""
    return pd.DataFrame.from_records(
        [tuple(row[c] for c in columns) for row in rows], columns=list(columns)
    )


def sessions(
    deliveries: Iterable[Mapping[str, Any]] | None = None,
    points: Iterable[Mapping[str, Any]] | None = None,
    appointments: Iterable[Mapping[str, Any]] | None = None,
) -> tuple[Session, ...]:
    """The sessions of the given rows (by default: both fields of patient 7 on DAY)."""
    deliveries = [delivery_row(), field_102_delivery()] if deliveries is None else deliveries
    points = [*field_101_points(), *field_102_points()] if points is None else points
    appointments = [appointment_row()] if appointments is None else appointments
    by_field, _ = parse_control_points(frame(points, CONTROL_POINT_COLUMNS))
    parsed = parse_deliveries(frame(deliveries, DELIVERY_COLUMNS), by_field)
    booked = parse_appointments(frame(appointments, APPOINTMENT_COLUMNS))
    return group_sessions(parsed.items, booked.items)


def session(**kwargs: Any) -> Session:
    """The single session of the given rows."""
    (only,) = sessions(**kwargs)
    return only


# The Mosaiq tables and the columns the queries read, with SQLite types the SQLite3 ODBC driver
# returns as pyodbc returns SQL Server's: TIMESTAMP -> datetime, BLOB -> bytes, REAL -> float.
TABLES: dict[str, dict[str, str]] = {
    "Patient": {
        "Pat_ID1": "INTEGER",
        "Last_Name": "TEXT",
        "First_Name": "TEXT",
        "MIddle_Name": "TEXT",
        "Suffix": "TEXT",
        "Sex": "TEXT",
        "Birth_DtTm": "TIMESTAMP",
    },
    "Ident": {"Pat_Id1": "INTEGER", "IDA": "TEXT"},
    "Staff": {"Staff_ID": "INTEGER", "Last_Name": "TEXT"},
    "Machine": {"MAC_ID": "INTEGER", "Source_Name": "TEXT", "Source_Model": "TEXT"},
    "Config": {"CFG_ID": "INTEGER", "Inst_Name": "TEXT"},
    "CPT": {"Hsp_Code": "TEXT", "Short_Desc": "TEXT"},
    "Schedule": {
        "Sch_Id": "INTEGER",
        "Pat_ID1": "INTEGER",
        "App_DtTm": "TIMESTAMP",
        "Location": "INTEGER",
        "Activity": "TEXT",
        "Version": "INTEGER",
    },
    "Site": {
        "SIT_SET_ID": "INTEGER",
        "Site_Name": "TEXT",
        "Version": "INTEGER",
        "Fractions": "INTEGER",
    },
    "SiteSetup": {"Sit_Set_ID": "INTEGER", "Setup_Note": "TEXT", "Version": "INTEGER"},
    "DCMStudy": {
        "DCMStudy_ID": "INTEGER",
        "StudyInstanceUID": "TEXT",
        "StudyID": "TEXT",
        "StudyDescription": "TEXT",
        "Study_DtTm": "TIMESTAMP",
    },
    "DCMSeries": {"DCMSeries_ID": "INTEGER", "DCMStudy_ID": "INTEGER"},
    "DCMInstance": {
        "DCMInstance_ID": "INTEGER",
        "DCMSeries_ID": "INTEGER",
        "SOPInstanceUID": "TEXT",
    },
    "RtPlan": {"DCMInstance_ID": "INTEGER", "Label": "TEXT", "Pat_ID1": "INTEGER"},
    "TxField": {
        "FLD_ID": "INTEGER",
        "SIT_Set_ID": "INTEGER",
        "OriginalPlanUID": "TEXT",
        "OriginalBeamName": "TEXT",
        "OriginalBeamNumber": "INTEGER",
        "Field_Name": "TEXT",
        "Field_Label": "TEXT",
        "Start_DtTm": "TIMESTAMP",
        "Meterset": "REAL",
        "Sad": "REAL",
        "Machine_ID_Staff_ID": "INTEGER",
        "Inst_ID": "INTEGER",
        "Modality_Enum": "INTEGER",
        "Type_Enum": "INTEGER",
    },
    "TxFieldPoint": {
        "FLD_ID": "INTEGER",
        "Point": "INTEGER",
        "Energy": "INTEGER",
        "Energy_Unit_Enum": "INTEGER",
        "Gantry_Ang": "REAL",
        "Gantry_Dir_Enum": "INTEGER",
        "Coll_Ang": "REAL",
        "Coll_Dir_Enum": "INTEGER",
        "Couch_Ang": "REAL",
        "Couch_Roll_Dir_Enum": "INTEGER",
        "Couch_Vrt": "REAL",
        "Couch_Lng": "REAL",
        "Couch_Lat": "REAL",
        "MLC_Leaves": "INTEGER",
        "A_Leaf_Set": "BLOB",
        "B_Leaf_Set": "BLOB",
        "Coll_X1": "REAL",
        "Coll_X2": "REAL",
        "Coll_Y1": "REAL",
        "Coll_Y2": "REAL",
        "Index": "REAL",
    },
    "Dose_Hst": {
        "DHS_ID": "INTEGER",
        "FLD_ID": "INTEGER",
        "Pat_ID1": "INTEGER",
        "Tx_DtTm": "TIMESTAMP",
        "Fractions_Tx": "INTEGER",
        "Meterset": "REAL",
        "Dose_Addtl_Projected": "REAL",
        "TerminationCode": "TEXT",
        "Termination_Status_Enum": "INTEGER",
        "Termination_Verify_Status_Enum": "INTEGER",
    },
    "FLD_HST": {"DHS_ID": "INTEGER", "FLD_ID": "INTEGER"},
}


def _stored(value: object) -> object:
    """A value as the SQLite3 ODBC driver reads it back (date-times as ISO text)."""
    return value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value


def database(path: Path, tables: Mapping[str, Iterable[Mapping[str, Any]]]) -> Path:
    """Write a Mosaiq database of the given rows (by table; missing columns are NULL)."""
    with sqlite3.connect(path) as db:
        for name, types in TABLES.items():
            declared = ", ".join(f'"{column}" {kind}' for column, kind in types.items())
            db.execute(f'CREATE TABLE "{name}" ({declared})')
        for name, rows in tables.items():
            columns = list(TABLES[name])
            quoted = ", ".join(f'"{c}"' for c in columns)
            markers = ", ".join("?" * len(columns))
            db.executemany(
                f'INSERT INTO "{name}" ({quoted}) VALUES ({markers})',
                [tuple(_stored(row.get(c)) for c in columns) for row in rows],
            )
    return path


def tables_of(
    deliveries: Iterable[Mapping[str, Any]],
    points: Iterable[Mapping[str, Any]],
    appointments: Iterable[Mapping[str, Any]] = (),
) -> dict[str, list[dict[str, Any]]]:
    """The Mosaiq table rows that the queries turn back into `deliveries`, `points` and
    `appointments` (query rows as the helpers above build them)."""
    tables: dict[str, list[dict[str, Any]]] = {name: [] for name in TABLES}
    seen: dict[str, set[object]] = {name: set() for name in TABLES}

    def add(table: str, key: object, row: dict[str, Any]) -> None:
        if key not in seen[table]:
            seen[table].add(key)
            tables[table].append(row)

    for d in deliveries:
        add(
            "Patient",
            d["Pat_ID1"],
            {
                "Pat_ID1": d["Pat_ID1"],
                "Last_Name": d["Last_Name"],
                "First_Name": d["First_Name"],
                "MIddle_Name": d["Middle_Name"],
                "Suffix": d["Suffix"],
                "Sex": d["Sex"],
                "Birth_DtTm": d["Birth_DtTm"],
            },
        )
        add("Ident", d["Pat_ID1"], {"Pat_Id1": d["Pat_ID1"], "IDA": d["MRN"]})
        add(
            "Staff",
            d["Machine_Staff_ID"],
            {"Staff_ID": d["Machine_Staff_ID"], "Last_Name": d["Machine_Name"]},
        )
        add(
            "Machine",
            d["Machine_Staff_ID"],
            {
                "MAC_ID": d["Machine_Staff_ID"],
                "Source_Name": d["Machine_Source_Name"],
                "Source_Model": d["Machine_Model"],
            },
        )
        add("Config", 1, {"CFG_ID": 1, "Inst_Name": d["Institution"]})
        add(
            "Site",
            d["Sit_Set_ID"],
            {
                "SIT_SET_ID": d["Sit_Set_ID"],
                "Site_Name": d["Site_Name"],
                "Version": 0,
                "Fractions": d["Fractions_Planned"],
            },
        )
        add(
            "SiteSetup",
            d["Sit_Set_ID"],
            {"Sit_Set_ID": d["Sit_Set_ID"], "Setup_Note": d["Setup_Note"], "Version": 0},
        )
        add(
            "DCMStudy",
            d["Study_UID"],
            {
                "DCMStudy_ID": 1,
                "StudyInstanceUID": d["Study_UID"],
                "StudyID": d["Study_ID"],
                "StudyDescription": d["Study_Description"],
                "Study_DtTm": d["Study_DtTm"],
            },
        )
        add("DCMSeries", 1, {"DCMSeries_ID": 1, "DCMStudy_ID": 1})
        instance = len(tables["DCMInstance"]) + 1  # one imported plan per plan UID
        add(
            "DCMInstance",
            d["Plan_UID"],
            {"DCMInstance_ID": instance, "DCMSeries_ID": 1, "SOPInstanceUID": d["Plan_UID"]},
        )
        add(
            "RtPlan",
            d["Plan_UID"],
            {"DCMInstance_ID": instance, "Label": d["Plan_Label"], "Pat_ID1": d["Pat_ID1"]},
        )
        add(
            "TxField",
            d["FLD_ID"],
            {
                "FLD_ID": d["FLD_ID"],
                "SIT_Set_ID": d["Sit_Set_ID"],
                "OriginalPlanUID": d["Plan_UID"],
                "OriginalBeamName": d["Beam_Name"],
                "OriginalBeamNumber": d["Beam_Number"],
                "Field_Name": d["Field_Name"],
                "Field_Label": d["Field_Label"],
                "Start_DtTm": d["Field_Start_DtTm"],
                "Meterset": d["Planned_Meterset"],
                "Sad": d["Sad"],
                "Machine_ID_Staff_ID": d["Machine_Staff_ID"],
                "Inst_ID": 1,
                "Modality_Enum": d["Modality_Enum"],
                "Type_Enum": d["Type_Enum"],
            },
        )
        add(
            "Dose_Hst",
            d["DHS_ID"],
            {
                "DHS_ID": d["DHS_ID"],
                "FLD_ID": d["FLD_ID"],
                "Pat_ID1": d["Pat_ID1"],
                "Tx_DtTm": d["Tx_DtTm"],
                "Fractions_Tx": d["Fraction_Number"],
                "Meterset": d["Delivered_Meterset"],
                "Dose_Addtl_Projected": d["Dose_Addtl_Projected"],
                "TerminationCode": d["Termination_Code"],
                "Termination_Status_Enum": d["Termination_Status_Enum"],
                "Termination_Verify_Status_Enum": d["Verification_Status_Enum"],
            },
        )
    for p in points:
        add(
            "TxFieldPoint",
            (p["FLD_ID"], p["Point"]),
            {
                **{c: p[c] for c in CONTROL_POINT_COLUMNS if c != "Meterset_Index"},
                "Index": p["Meterset_Index"],
            },
        )
    for a in appointments:
        add(
            "Schedule",
            a["Sch_Id"],
            {
                "Sch_Id": a["Sch_Id"],
                "Pat_ID1": a["Pat_ID1"],
                "App_DtTm": a["App_DtTm"],
                "Location": a["Location"],
                "Activity": a["Activity"],
                "Version": 0,
            },
        )
        add(
            "CPT",
            a["Activity"],
            {"Hsp_Code": a["Activity"], "Short_Desc": a["Activity_Description"]},
        )
    return tables


def decode_all(ds: Dataset) -> None:
    """Decode every element, in every item, with pydicom's value validation as errors."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        decode_every_element(ds)


def assert_tags_ascending(ds: Dataset) -> None:
    """pydicom keeps the elements in the order it read them: the file's order."""
    tags = list(ds.keys())
    assert tags == sorted(tags)
    for elem in ds:
        if elem.VR == "SQ":
            for nested in elem.value:
                assert_tags_ascending(nested)
