"""The simulated Mosaiq database, read back through the real unixODBC SQLite3 driver."""

import datetime
import pathlib
import struct
from collections import defaultdict
from typing import Any

import pandas as pd
import pytest
from pydicom import Dataset

from radonc_assets.cli.main import main
from radonc_assets.devtools.synthetic import SyntheticSpec, generate
from radonc_assets.devtools.synthetic.mosaiq import MosaiqSummary, write_mosaiq_database
from resources.mosaiq_db import MosaiqDatabase

MONDAY = datetime.date(2024, 1, 1)
# One simulation a day, Monday to Friday: the patients get 3, 3, 2, 1 and 0 sessions.
SPEC = SyntheticSpec(
    start=MONDAY,
    end=MONDAY + datetime.timedelta(days=4),
    patients=5,
    seed=11,
    ct_slices=1,
    image_size=8,
    fractions=3,
)
COLUMNS = {
    "Patient": "Pat_ID1 Last_Name First_Name MIddle_Name Suffix Sex Birth_DtTm",
    "Ident": "Pat_Id1 IDA",
    "Staff": "Staff_ID Last_Name Machine_Type",
    "Machine": "MAC_ID Source_Name Source_Model",
    "Config": "CFG_ID Inst_Name",
    "CPT": "Hsp_Code Short_Desc",
    "Schedule": "Sch_Id Sch_Set_Id Pat_ID1 App_DtTm Edit_DtTm Location Activity Version",
    "Site": "SIT_SET_ID SIT_ID Pat_ID1 Site_Name Version Technique Edit_DtTm Fractions Dose_Ttl "
    "Dose_Tx",
    "SiteSetup": "Sit_Set_ID Setup_Note Version",
    "DCMStudy": "DCMStudy_ID StudyInstanceUID StudyID StudyDescription Study_DtTm",
    "DCMSeries": "DCMSeries_ID DCMStudy_ID SeriesInstanceUID SeriesNumber SeriesDescription "
    "Series_DtTm",
    "DCMInstance": "DCMInstance_ID DCMSeries_ID SOPInstanceUID",
    "RtPlan": "DCMInstance_ID Label Pat_ID1",
    "TxField": "FLD_ID Pat_ID1 SIT_Set_ID Version OriginalPlanUID OriginalBeamName "
    "OriginalBeamNumber Field_Name Field_Label Start_DtTm Last_Tx_DtTm Fractions_Tx Meterset Cgray "
    "ControlPoints Sad Machine_ID_Staff_ID MachineCharID Inst_ID Modality_Enum Beam_Type_Flag "
    "Type_Enum IndexReference_Enum Mlc",
    "TxFieldPoint": "FLD_ID Point Energy Energy_Unit_Enum Gantry_Ang Gantry_Dir_Enum Coll_Ang "
    "Coll_Dir_Enum Couch_Ang Couch_Roll_Dir_Enum Couch_Vrt Couch_Lng Couch_Lat MLC_Leaves "
    "A_Leaf_Set B_Leaf_Set Coll_X1 Coll_X2 Coll_Y1 Coll_Y2 Index Create_DtTm",
    "Dose_Hst": "DHS_ID FLD_ID Pat_ID1 Tx_DtTm Fractions_Tx Meterset Dose_Addtl_Projected "
    "TerminationCode Termination_Status_Enum Termination_Verify_Status_Enum",
    "FLD_HST": "DHS_ID FLD_ID",
}
DELIVERIES = """
    SELECT i.IDA, f.OriginalPlanUID, f.OriginalBeamNumber, d.Tx_DtTm, d.Meterset, d.Fractions_Tx
    FROM Dose_Hst d
    JOIN FLD_HST h ON h.DHS_ID = d.DHS_ID AND h.FLD_ID = d.FLD_ID
    JOIN TxField f ON f.FLD_ID = d.FLD_ID AND f.Version = 0
    JOIN Ident i ON i.Pat_Id1 = d.Pat_ID1
"""
# The synthetic plan's MLCX (40 leaf pairs of 10 mm, jaws at +-40 mm) in hundredths of a cm:
# pairs 1-16 (below Y1) closed at X1, 17-24 open from X1 to X2, 25-40 (above Y2) closed at X2.
# A is the X1 bank and B the X2 bank, each with DICOM's sign and leaf order (pymedphys).
A_BANK = [-400] * 24 + [400] * 16
B_BANK = [-400] * 16 + [400] * 24
MINUS_4_CM, PLUS_4_CM = b"\x70\xfe", b"\x90\x01"  # -400 and 400 as little-endian int16


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[MosaiqSummary, MosaiqDatabase]:
    path = tmp_path_factory.mktemp("mosaiq") / "mosaiq.db"
    return write_mosaiq_database(SPEC, path), MosaiqDatabase("SQLite3", str(path))


@pytest.fixture(scope="module")
def database(written: tuple[MosaiqSummary, MosaiqDatabase]) -> MosaiqDatabase:
    return written[1]


@pytest.fixture(scope="module")
def dicom() -> dict[str, list[Dataset]]:
    by_modality: dict[str, list[Dataset]] = defaultdict(list)
    for ds in generate(SPEC):
        by_modality[ds.Modality].append(ds)
    return by_modality


def _plans(dicom: dict[str, list[Dataset]]) -> dict[str, Dataset]:
    return {plan.PatientID: plan for plan in dicom["RTPLAN"]}


def _devices(control_point: Dataset) -> dict[str, list[float]]:
    return {
        device.RTBeamLimitingDeviceType: [float(v) for v in device.LeafJawPositions]
        for device in control_point.BeamLimitingDevicePositionSequence
    }


def _everything(database: MosaiqDatabase) -> dict[str, list[tuple[Any, ...]]]:
    content = {}
    for table, columns in COLUMNS.items():
        quoted = ", ".join(f'"{column}"' for column in columns.split())
        frame = database.query(f'SELECT {quoted} FROM "{table}" ORDER BY {quoted}')
        content[table] = list(frame.itertuples(index=False, name=None))
    return content


def test_tables_and_columns_are_mosaiqs(database: MosaiqDatabase) -> None:
    for table, columns in COLUMNS.items():
        assert list(database.query(f'SELECT * FROM "{table}"').columns) == columns.split(), table


@pytest.mark.parametrize(
    ("table", "python_types"),
    [
        ("Dose_Hst", {"Tx_DtTm": datetime.datetime, "Meterset": float, "FLD_ID": int}),
        ("TxField", {"Last_Tx_DtTm": datetime.datetime, "Cgray": float, "OriginalBeamName": str}),
        ("TxFieldPoint", {"A_Leaf_Set": bytearray, "Index": float, "Gantry_Dir_Enum": int}),
        ("Patient", {"Birth_DtTm": datetime.datetime, "MIddle_Name": str}),
    ],
)
def test_columns_read_back_with_the_python_types_of_sql_server(
    database: MosaiqDatabase, table: str, python_types: dict[str, type]
) -> None:
    # pyodbc's own column types (pandas would turn them into numpy types).
    with database.connect() as connection:
        cursor = connection.cursor().execute(f'SELECT * FROM "{table}"')
        described = {column[0]: column[1] for column in cursor.description}

    assert {name: described[name] for name in python_types} == python_types


def test_one_delivery_per_beam_per_session_as_in_the_treatment_records(
    written: tuple[MosaiqSummary, MosaiqDatabase], dicom: dict[str, list[Dataset]]
) -> None:
    summary, database = written
    expected = sorted(
        (
            record.PatientID,
            record.ReferencedRTPlanSequence[0].ReferencedSOPInstanceUID,
            int(beam.ReferencedBeamNumber),
            datetime.datetime.strptime(record.TreatmentDate, "%Y%m%d").date(),
            float(beam.DeliveredPrimaryMeterset),
            int(beam.CurrentFractionNumber),
        )
        for record in dicom["RTRECORD"]
        for beam in record.TreatmentSessionBeamSequence
    )

    rows = database.query(DELIVERIES)
    actual = sorted(
        (ida, plan_uid, beam, moment.date(), meterset, fraction)
        for ida, plan_uid, beam, moment, meterset, fraction in rows.itertuples(index=False)
    )

    assert actual == expected
    assert summary.deliveries == len(expected) == len(rows)
    assert summary.sessions == len(dicom["RTRECORD"]) == 9
    assert summary.patients == SPEC.patients


def test_a_date_window_finds_that_days_deliveries(
    database: MosaiqDatabase, dicom: dict[str, list[Dataset]]
) -> None:
    wednesday = MONDAY + datetime.timedelta(days=2)
    window = (
        datetime.datetime.combine(wednesday, datetime.time()),
        datetime.datetime.combine(wednesday + datetime.timedelta(days=1), datetime.time()),
    )
    expected = sum(
        len(record.TreatmentSessionBeamSequence)
        for record in dicom["RTRECORD"]
        if record.TreatmentDate == "20240103"
    )

    rows = database.query(DELIVERIES + " WHERE d.Tx_DtTm >= ? AND d.Tx_DtTm < ?", window)

    assert len(rows) == expected > 0
    assert {moment.date() for moment in rows.Tx_DtTm} == {wednesday}


def test_patients_are_the_dicom_patients(
    database: MosaiqDatabase, dicom: dict[str, list[Dataset]]
) -> None:
    rows = database.query(
        "SELECT i.IDA, p.Last_Name, p.First_Name, p.MIddle_Name, p.Suffix, p.Sex, p.Birth_DtTm "
        "FROM Patient p JOIN Ident i ON i.Pat_Id1 = p.Pat_ID1"
    )
    sex = {"F": "Female", "M": "Male"}
    expected = {
        plan.PatientID: (
            plan.PatientName.family_name,
            plan.PatientName.given_name,
            None,
            None,
            sex[plan.PatientSex],
            datetime.datetime.strptime(plan.PatientBirthDate, "%Y%m%d"),
        )
        for plan in dicom["RTPLAN"]
    }

    assert {row[0]: tuple(row[1:]) for row in rows.itertuples(index=False)} == expected


def test_plan_import_and_fields_follow_the_rt_plan(
    database: MosaiqDatabase, dicom: dict[str, list[Dataset]]
) -> None:
    imported = database.query(
        "SELECT i.IDA, s.StudyInstanceUID, e.SeriesInstanceUID, d.SOPInstanceUID, r.Label "
        "FROM RtPlan r JOIN DCMInstance d ON d.DCMInstance_ID = r.DCMInstance_ID "
        "JOIN DCMSeries e ON e.DCMSeries_ID = d.DCMSeries_ID "
        "JOIN DCMStudy s ON s.DCMStudy_ID = e.DCMStudy_ID JOIN Ident i ON i.Pat_Id1 = r.Pat_ID1"
    )
    assert {row[0]: tuple(row[1:]) for row in imported.itertuples(index=False)} == {
        plan.PatientID: (
            plan.StudyInstanceUID,
            plan.SeriesInstanceUID,
            plan.SOPInstanceUID,
            plan.RTPlanLabel,
        )
        for plan in dicom["RTPLAN"]
    }

    plans = _plans(dicom)
    fields = database.query(
        "SELECT i.IDA, f.* FROM TxField f JOIN Ident i ON i.Pat_Id1 = f.Pat_ID1 "
        "WHERE f.Version = 0 ORDER BY f.FLD_ID"
    )
    assert len(fields) == sum(len(plan.BeamSequence) for plan in plans.values())
    for field in fields.itertuples(index=False):
        plan = plans[field.IDA]
        beam = plan.BeamSequence[field.OriginalBeamNumber - 1]
        (fraction_group,) = plan.FractionGroupSequence
        reference = fraction_group.ReferencedBeamSequence[field.OriginalBeamNumber - 1]
        assert field.OriginalPlanUID == plan.SOPInstanceUID
        assert field.OriginalBeamName.rstrip() == beam.BeamName
        assert field.Meterset == pytest.approx(float(reference.BeamMeterset))
        assert field.ControlPoints == beam.NumberOfControlPoints
        points = database.query(
            "SELECT * FROM TxFieldPoint WHERE FLD_ID = ? ORDER BY Point", [field.FLD_ID]
        )
        first = beam.ControlPointSequence[0]
        jaws = _devices(first)
        assert list(points.Point) == list(range(beam.NumberOfControlPoints))
        assert set(points.Gantry_Ang) == {float(first.GantryAngle)}
        assert set(points.Energy) == {int(first.NominalBeamEnergy)}
        assert set(points.Energy_Unit_Enum) == {2}  # MV
        assert {(p.Coll_X1, p.Coll_X2, p.Coll_Y1, p.Coll_Y2) for p in points.itertuples()} == {
            tuple(v / 10 for v in jaws["ASYMX"] + jaws["ASYMY"])
        }


def test_leaf_sets_decode_to_the_plans_leaf_positions(
    database: MosaiqDatabase, dicom: dict[str, list[Dataset]]
) -> None:
    plans = _plans(dicom)
    points = database.query(
        "SELECT i.IDA, f.OriginalBeamNumber, p.MLC_Leaves, p.A_Leaf_Set, p.B_Leaf_Set "
        "FROM TxFieldPoint p JOIN TxField f ON f.FLD_ID = p.FLD_ID "
        "JOIN Ident i ON i.Pat_Id1 = f.Pat_ID1"
    )
    assert len(points) > 0
    for ida, beam_number, leaves, a_set, b_set in points.itertuples(index=False):
        assert leaves == 40
        # Fixed-width records: 80 bytes of leaves, then zero padding that is part of the value.
        assert bytes(a_set) == MINUS_4_CM * 24 + PLUS_4_CM * 16 + bytes(120)
        assert bytes(b_set) == MINUS_4_CM * 16 + PLUS_4_CM * 24 + bytes(120)
        a_bank = list(struct.unpack_from(f"<{leaves}h", a_set))
        b_bank = list(struct.unpack_from(f"<{leaves}h", b_set))
        assert (a_bank, b_bank) == (A_BANK, B_BANK)

        beam = plans[ida].BeamSequence[beam_number - 1]
        mlc = _devices(beam.ControlPointSequence[0])["MLCX"]
        assert [v / 10 for v in a_bank + b_bank] == mlc  # 0.01 cm -> mm


def test_index_normalises_to_the_plans_meterset_weights(
    database: MosaiqDatabase, dicom: dict[str, list[Dataset]]
) -> None:
    plans = _plans(dicom)
    points = database.query(
        "SELECT i.IDA, f.OriginalBeamNumber, p.FLD_ID, p.[Index] FROM TxFieldPoint p "
        "JOIN TxField f ON f.FLD_ID = p.FLD_ID JOIN Ident i ON i.Pat_Id1 = f.Pat_ID1 "
        "ORDER BY p.FLD_ID, p.Point"
    )
    for (ida, beam_number, _), field in points.groupby(["IDA", "OriginalBeamNumber", "FLD_ID"]):
        index = list(field.Index)
        beam = plans[ida].BeamSequence[beam_number - 1]
        final = float(beam.FinalCumulativeMetersetWeight)

        assert index == sorted(index)
        assert index[-1] != 1  # a scale readers must divide away, as pymedphys does
        assert [value / index[-1] for value in index] == [
            float(point.CumulativeMetersetWeight) / final for point in beam.ControlPointSequence
        ]


def test_odd_values_readers_must_survive(database: MosaiqDatabase) -> None:
    notes = list(database.query("SELECT Setup_Note FROM SiteSetup ORDER BY Sit_Set_ID").Setup_Note)
    staff = database.query(
        "SELECT Staff_ID, Last_Name FROM Staff WHERE Last_Name = ?", ["SYN_LINAC1"]
    )
    untreated = database.query(
        "SELECT f.Start_DtTm, f.Last_Tx_DtTm, f.Fractions_Tx FROM TxField f "
        "JOIN Ident i ON i.Pat_Id1 = f.Pat_ID1 WHERE i.IDA = ?",
        ["SYN11-0005"],
    )
    sites = database.query("SELECT Pat_ID1, Version, Fractions FROM Site")
    appointments = database.query("SELECT Pat_ID1, Version FROM Schedule")

    assert (
        notes[0]
        == 'Supine, arms up; knee rest "B" and the patient\'s own pillow. Tattoos at 0° / 90°.'
    )
    assert len(staff) == 1
    assert staff.Last_Name[0] != "SYN_LINAC1"  # CHAR: padded with spaces, as SQL Server returns it
    assert staff.Last_Name[0].rstrip() == "SYN_LINAC1"
    assert len(untreated) > 0
    assert untreated.Start_DtTm.isna().all()
    assert untreated.Last_Tx_DtTm.isna().all()
    assert set(untreated.Fractions_Tx) == {0}
    assert database.query("SELECT * FROM TxFieldPoint WHERE Couch_Vrt IS NULL").shape[0] > 0
    # Superseded rows: only Version 0 is the current prescription and the current appointment.
    current = sites[sites.Version == 0]
    assert len(current) == SPEC.patients
    assert set(current.Fractions) == {SPEC.fractions}
    assert (sites.Version > 0).sum() == SPEC.patients
    assert (appointments.Version == 0).sum() == 9
    assert (appointments.Version > 0).sum() == 4  # the four treated patients' first sessions


def test_same_spec_writes_the_same_database(
    tmp_path: pathlib.Path, written: tuple[MosaiqSummary, MosaiqDatabase]
) -> None:
    summary, database = written
    again = tmp_path / "again.db"
    write_mosaiq_database(SPEC, again)
    other = tmp_path / "other.db"
    write_mosaiq_database(SyntheticSpec(start=SPEC.start, end=SPEC.end, seed=12), other)

    assert _everything(MosaiqDatabase("SQLite3", str(again))) == _everything(database)
    assert summary.path.read_bytes() == again.read_bytes()
    other_ids = set(MosaiqDatabase("SQLite3", str(other)).query("SELECT IDA FROM Ident").IDA)
    assert other_ids.isdisjoint(database.query("SELECT IDA FROM Ident").IDA)


def test_rewriting_replaces_the_file(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "mosaiq.db"
    write_mosaiq_database(SPEC, path)
    smaller = write_mosaiq_database(
        SyntheticSpec(start=SPEC.start, end=SPEC.end, patients=1, seed=SPEC.seed), path
    )

    assert smaller.patients == 1
    assert len(MosaiqDatabase("SQLite3", str(path)).query("SELECT * FROM Patient")) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mosaiq.db"]


def test_radonc_synthetic_writes_the_mosaiq_database_too(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "demo" / "mosaiq.db"

    code = main(
        [
            "synthetic",
            "--from",
            SPEC.start.isoformat(),
            "--to",
            SPEC.end.isoformat(),
            "--patients",
            "2",
            "--slices",
            "1",
            "--image-size",
            "8",
            "--out",
            str(tmp_path / "dicom"),
            "--mosaiq-db",
            str(path),
        ]
    )

    assert code == 0
    assert f"written to {path}" in capsys.readouterr().out
    frame: pd.DataFrame = MosaiqDatabase("SQLite3", str(path)).query("SELECT IDA FROM Ident")
    assert list(frame.IDA) == ["SYN00-0001", "SYN00-0002"]
