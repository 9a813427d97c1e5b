"""The simulated Mosaiq: a SQLite database of what Mosaiq holds for the synthetic patients.

:func:`write_mosaiq_database` imports each patient's synthetic RT Plan (:func:`.rtplan.plan`) the
way Mosaiq does (DCM* tables, one TxField per beam, one TxFieldPoint per control point) and records
every beam of every synthetic RT Beams Treatment Record (:func:`.records.fraction_record`) as a
delivery (Dose_Hst and FLD_HST), with the patient (Patient, Ident), the prescription (Site,
SiteSetup), the appointments (Schedule) and the machine (Staff, Machine, Config, CPT). All values
are read from those DICOM objects, so the database always agrees with the DICOM data of the same
spec: Ident.IDA is the PatientID, TxField.OriginalPlanUID the plan's SOP Instance UID,
OriginalBeamNumber its BeamNumber, Dose_Hst.Tx_DtTm the beam-on date-time of the record's first
control point (local time without a zone, as Mosaiq stores it: a delivery belongs to the date of
its Tx_DtTm). The product reads the file through the SQLite3 ODBC driver.

Column types are Mosaiq's SQL Server types (pymedphys ``lib/pymedphys/_mosaiq/mock/data/
types_map.toml``; lengths are ours), declared so that the SQLite3 ODBC driver returns the Python
types pyodbc returns from SQL Server (measured with pyodbc 5.5, libsqliteodbc 0.9998, SQLite 3.40):

- int, smallint, tinyint -> ``INT``, ``SMALLINT``, ``TINYINT`` (int).
- decimal(p,s) -> ``NUMERIC(p,s)`` (float; the driver returns a ``DECIMAL`` column as str). Values
  are rounded to the scale, as SQL Server stores them.
- varchar(n) -> ``VARCHAR(n)`` (str, UTF-8). char(n) -> ``CHAR(n) COLLATE RTRIM``, the value
  padded with spaces to n as SQL Server returns it; RTRIM makes ``=`` ignore trailing spaces as
  SQL Server does. TxField.OriginalPlanUID is char in Mosaiq but stored unpadded as VARCHAR: it is
  a join key and SQLite 3.40's automatic join index ignores RTRIM (measured: the join returned no
  row), so readers must still strip it (SQL Server returns it padded).
- datetime -> ``DATETIME`` holding ``YYYY-MM-DD HH:MM:SS`` (the driver returns datetime).
- binary(n) -> ``VARBINARY(n)`` holding exactly n bytes (the driver returns ``BINARY(n)`` as a
  hex string, ``VARBINARY`` as bytes).

Enumerated values used (Mosaiq stores them as tinyint):

- TxFieldPoint.Energy_Unit_Enum 2 = MV (0 unspecified, 1 kV, 2 MV, 3 MeV): pymedphys
  ``_experimental/chartchecks/tolerance_constants.py`` ENERGY_ENUM (commit 5c32fe5c, line 51;
  the same tables are in ``site-specific/mays/tolerance_constants.py`` at ce8f4851).
- TxField.Modality_Enum 1 = X-rays (2 electrons, 6 protons): chartchecks MODALITY_ENUM (line 53).
- TxField.Type_Enum 1 = Static: pymedphys ``_mosaiq/constants.py`` FIELD_TYPES.
- Dose_Hst.Termination_Status_Enum 1 = Normal (0 unknown, 2 operator, 3 machine) and
  Termination_Verify_Status_Enum 1 = Verified (0 unspecified, 2 verified with override, 3 not
  verified): tolerance_constants.py TERMINATION_STATUS and TERMINATION_VERIFY (lines 76-83).
- TxFieldPoint.Gantry_Dir_Enum, Coll_Dir_Enum, Couch_Roll_Dir_Enum 3 = NONE (0 unspecified, 1 CW,
  2 CC): not in pymedphys; the earlier RadOncBackupSystem's Mosaiq reader maps them so, and reads
  Couch_Roll_Dir_Enum as the Patient Support Rotation Direction (written from it here).
- TxField.Beam_Type_Flag 1 = STATIC (2 DYNAMIC) and IndexReference_Enum 1 = MU, Staff.Machine_Type
  1 = a treatment machine, TxField.Mlc 1 = the field has an MLC: as the earlier system reads them
  (no public enumeration found).
- Patient.Sex "Female" / "Male": the earlier system's reader maps these words (not verified
  against a real Mosaiq). Version 0 is the current row of Site, SiteSetup, Schedule and TxField,
  history rows have Version > 0 (the earlier system keeps ``Version = 0``).

Units follow pymedphys's chart checks (``_experimental/chartchecks/helpers.py`` at 5c32fe5c,
lines 54-215): Site.Dose_Tx / Dose_Ttl and TxField.Cgray in cGy, TxField.Sad and TxFieldPoint
Coll_X1..Coll_Y2 and couch positions in cm, jaws in DICOM's signed IEC coordinates (Coll_X1 =
X1 / 10), Field_Label = the upper-case BeamName. TxFieldPoint.[Index] is the cumulative meterset
weight on a 0..100 scale (not 0..1): readers must divide by the beam's last value as pymedphys
does (``_mosaiq/delivery.py`` at ce8f4851, lines 335-341).

MLC leaf sets (TxFieldPoint.A_Leaf_Set, B_Leaf_Set): 200-byte records (pymedphys's mock database,
``_mosaiq/mock/generate.py`` line 345) of little-endian signed 16-bit integers in hundredths of a
centimetre (``delivery.py`` lines 211-235, ``struct.unpack("<h")`` then ``/ 100``); only the first
MLC_Leaves values are leaves, the rest is zero padding. pymedphys maps Mosaiq to its internal
bipolar form as ``[10 * B[::-1], -10 * A[::-1]]`` (``delivery.py`` lines 238-249) and DICOM's
MLCX Leaf/Jaw Positions to the same form as ``[X2[::-1], -X1[::-1]]``
(``_dicom/delivery/core.py`` lines 263-274; the inverse is ``utilities.py`` lines 31-39), so
A holds the X1 bank (the first N DICOM values) and B the X2 bank, each with DICOM's sign and in
DICOM's leaf order (leaf 1 at the first Leaf Position Boundary): A[i] = round(X1[i] * 10),
B[i] = round(X2[i] * 10) with X in mm.

Keys are deterministic: each key column counts up from its own million (Pat_ID1 from 1000001,
SIT_SET_ID from 2000001, ...) in generation order, so the same spec always writes the same rows
and a join on the wrong key finds nothing. Odd values readers must survive: NULL middle names
and suffixes, NULL couch positions (the plan leaves them empty), NULL TxField start and last
treatment date-times (and Fractions_Tx 0) for a patient not treated yet, NULL TerminationCode,
space-padded CHAR values (Staff.Last_Name, TxField.OriginalBeamName), a setup note with quotes and
a non-ASCII character, a superseded Site version (Version 1: a draft prescription of more
fractions) and a superseded Schedule version (Version 1: the first session first booked an hour
later).
"""

import datetime
import itertools
import sqlite3
import struct
from collections import defaultdict
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import TypeAlias

from pydicom import Dataset
from pydicom.valuerep import DA, TM

from radonc_assets.backup.mosaiq.units import CGY_PER_GY, LEAF_UNITS_PER_MM, MM_PER_CM
from radonc_assets.devtools.synthetic.patient import INSTITUTION, Patient, SyntheticSpec, patients
from radonc_assets.devtools.synthetic.records import fraction_record
from radonc_assets.devtools.synthetic.rtplan import MACHINE, MACHINE_MODEL, plan

_Value: TypeAlias = int | float | str | bytes | datetime.datetime | None
_Row: TypeAlias = dict[str, _Value]


@dataclass(frozen=True)
class Table:
    """One table of the simulated Mosaiq.

    Attributes:
        name: Table name, spelled as in Mosaiq.
        columns: (name, declared type) of each column, in order.
        key: The primary key's columns.
    """

    name: str
    columns: tuple[tuple[str, str], ...]
    key: tuple[str, ...]


_NAME = "VARCHAR(64)"
_UID = "VARCHAR(64)"
_MU = "NUMERIC(10,3)"
_CGY = "NUMERIC(10,3)"
_CM = "NUMERIC(6,1)"
_ANGLE = "NUMERIC(4,1)"  # as pymedphys's mock TxFieldPoint (mock/generate.py line 347)
_ENUM = "TINYINT"

SCHEMA: tuple[Table, ...] = (
    Table(
        "Patient",
        (
            ("Pat_ID1", "INT"),
            ("Last_Name", _NAME),
            ("First_Name", _NAME),
            ("MIddle_Name", _NAME),
            ("Suffix", "VARCHAR(16)"),
            ("Sex", "VARCHAR(16)"),
            ("Birth_DtTm", "DATETIME"),
        ),
        ("Pat_ID1",),
    ),
    Table("Ident", (("Pat_Id1", "INT"), ("IDA", _NAME)), ("Pat_Id1",)),
    Table(
        "Staff",
        (("Staff_ID", "INT"), ("Last_Name", "CHAR(32)"), ("Machine_Type", _ENUM)),
        ("Staff_ID",),
    ),
    Table(
        "Machine",
        (("MAC_ID", "INT"), ("Source_Name", _NAME), ("Source_Model", _NAME)),
        ("MAC_ID",),
    ),
    Table("Config", (("CFG_ID", "INT"), ("Inst_Name", _NAME)), ("CFG_ID",)),
    Table("CPT", (("Hsp_Code", "VARCHAR(16)"), ("Short_Desc", _NAME)), ("Hsp_Code",)),
    Table(
        "Schedule",
        (
            ("Sch_Id", "INT"),
            ("Sch_Set_Id", "INT"),
            ("Pat_ID1", "INT"),
            ("App_DtTm", "DATETIME"),
            ("Edit_DtTm", "DATETIME"),
            ("Location", "INT"),
            ("Activity", "VARCHAR(16)"),
            ("Version", "SMALLINT"),
        ),
        ("Sch_Id",),
    ),
    Table(
        "Site",
        (
            ("SIT_SET_ID", "INT"),
            ("SIT_ID", "INT"),
            ("Pat_ID1", "INT"),
            ("Site_Name", _NAME),
            ("Version", "SMALLINT"),
            ("Technique", "VARCHAR(32)"),
            ("Edit_DtTm", "DATETIME"),
            ("Fractions", "SMALLINT"),
            ("Dose_Ttl", _CGY),
            ("Dose_Tx", _CGY),
        ),
        ("SIT_ID",),
    ),
    Table(
        "SiteSetup",
        (("Sit_Set_ID", "INT"), ("Setup_Note", "VARCHAR(255)"), ("Version", "SMALLINT")),
        ("Sit_Set_ID", "Version"),
    ),
    Table(
        "DCMStudy",
        (
            ("DCMStudy_ID", "INT"),
            ("StudyInstanceUID", _UID),
            ("StudyID", "VARCHAR(16)"),
            ("StudyDescription", _NAME),
            ("Study_DtTm", "DATETIME"),
        ),
        ("DCMStudy_ID",),
    ),
    Table(
        "DCMSeries",
        (
            ("DCMSeries_ID", "INT"),
            ("DCMStudy_ID", "INT"),
            ("SeriesInstanceUID", _UID),
            ("SeriesNumber", "INT"),
            ("SeriesDescription", _NAME),
            ("Series_DtTm", "DATETIME"),
        ),
        ("DCMSeries_ID",),
    ),
    Table(
        "DCMInstance",
        (("DCMInstance_ID", "INT"), ("DCMSeries_ID", "INT"), ("SOPInstanceUID", _UID)),
        ("DCMInstance_ID",),
    ),
    Table(
        "RtPlan",
        (("DCMInstance_ID", "INT"), ("Label", "VARCHAR(16)"), ("Pat_ID1", "INT")),
        ("DCMInstance_ID",),
    ),
    Table(
        "TxField",
        (
            ("FLD_ID", "INT"),
            ("Pat_ID1", "INT"),
            ("SIT_Set_ID", "INT"),
            ("Version", "SMALLINT"),
            ("OriginalPlanUID", _UID),
            ("OriginalBeamName", "CHAR(64)"),
            ("OriginalBeamNumber", "INT"),
            ("Field_Name", _NAME),
            ("Field_Label", "VARCHAR(16)"),
            ("Start_DtTm", "DATETIME"),
            ("Last_Tx_DtTm", "DATETIME"),
            ("Fractions_Tx", "SMALLINT"),
            ("Meterset", _MU),
            ("Cgray", _CGY),
            ("ControlPoints", "SMALLINT"),
            ("Sad", _CM),
            ("Machine_ID_Staff_ID", "INT"),
            ("MachineCharID", "INT"),
            ("Inst_ID", "INT"),
            ("Modality_Enum", _ENUM),
            ("Beam_Type_Flag", _ENUM),
            ("Type_Enum", _ENUM),
            ("IndexReference_Enum", _ENUM),
            ("Mlc", "SMALLINT"),
        ),
        ("FLD_ID",),
    ),
    Table(
        "TxFieldPoint",
        (
            ("FLD_ID", "INT"),
            ("Point", "SMALLINT"),
            ("Energy", "SMALLINT"),
            ("Energy_Unit_Enum", _ENUM),
            ("Gantry_Ang", _ANGLE),
            ("Gantry_Dir_Enum", _ENUM),
            ("Coll_Ang", _ANGLE),
            ("Coll_Dir_Enum", _ENUM),
            ("Couch_Ang", _ANGLE),
            ("Couch_Roll_Dir_Enum", _ENUM),
            ("Couch_Vrt", _CM),
            ("Couch_Lng", _CM),
            ("Couch_Lat", _CM),
            ("MLC_Leaves", "SMALLINT"),
            ("A_Leaf_Set", "VARBINARY(200)"),
            ("B_Leaf_Set", "VARBINARY(200)"),
            ("Coll_X1", _CM),
            ("Coll_X2", _CM),
            ("Coll_Y1", _CM),
            ("Coll_Y2", _CM),
            ("Index", "NUMERIC(9,3)"),  # as pymedphys's mock TxFieldPoint (generate.py line 344)
            ("Create_DtTm", "DATETIME"),
        ),
        ("FLD_ID", "Point"),
    ),
    Table(
        "Dose_Hst",
        (
            ("DHS_ID", "INT"),
            ("FLD_ID", "INT"),
            ("Pat_ID1", "INT"),
            ("Tx_DtTm", "DATETIME"),
            ("Fractions_Tx", "SMALLINT"),
            ("Meterset", _MU),
            ("Dose_Addtl_Projected", _CGY),
            ("TerminationCode", "VARCHAR(16)"),
            ("Termination_Status_Enum", _ENUM),
            ("Termination_Verify_Status_Enum", _ENUM),
        ),
        ("DHS_ID",),
    ),
    Table("FLD_HST", (("DHS_ID", "INT"), ("FLD_ID", "INT")), ("DHS_ID",)),
)
_TABLES = {table.name: table for table in SCHEMA}

# Mosaiq's leaf records: int16 values zero-padded to 200 bytes; [Index] from 0 to 100.
LEAF_SET_BYTES = 200
INDEX_SCALE = 100.0

_SITE_NAME = "SYNTHETIC THORAX"  # the phantom's PTV lies between the lungs (geometry.py)
_TECHNIQUE = "3D"
_TREATMENT_ACTIVITY = "TX"
_CPT = {"TX": "Treatment delivery", "SIM": "CT simulation", "PORT": "Port films"}
_SETUP_NOTE = "Supine, arms up; knee rest B."
_ODD_SETUP_NOTE = (
    'Supine, arms up; knee rest "B" and the patient\'s own pillow. Tattoos at 0° / 90°.'
)
# The ManufacturerModelName of the synthetic treatment records (records.py).
_DRAFT_EXTRA_FRACTIONS = 5
_REBOOKING = datetime.timedelta(hours=1)

_SEX = {"F": "Female", "M": "Male", "O": "Other"}
_ROTATION = {"CW": 1, "CC": 2, "NONE": 3}
_ENERGY_UNIT = {"PHOTON": 2, "ELECTRON": 3}
_MODALITY = {"PHOTON": 1, "ELECTRON": 2, "PROTON": 6}
_FIELD_TYPE = {"STATIC": 1}
_BEAM_TYPE = {"STATIC": 1, "DYNAMIC": 2}
_INDEX_REFERENCE = {"MU": 1}
_TERMINATION = {"UNKNOWN": 0, "NORMAL": 1, "OPERATOR": 2, "MACHINE": 3}
_VERIFIED = 1
_TREATMENT_MACHINE_TYPE = 1
_MLC_DEVICES = ("MLCX", "MLCY")

_KEYS = (
    "Pat_ID1",
    "SIT_SET_ID",
    "SIT_ID",
    "FLD_ID",
    "DHS_ID",
    "Sch_Set_Id",
    "Sch_Id",
    "DCMStudy_ID",
    "DCMSeries_ID",
    "DCMInstance_ID",
    "Staff_ID",
    "CFG_ID",
)


@dataclass(frozen=True)
class MosaiqSummary:
    """What :func:`write_mosaiq_database` wrote.

    Attributes:
        path: The database file.
        patients: Patient (and Ident) rows.
        fields: TxField rows, one per planned beam.
        control_points: TxFieldPoint rows, one per planned control point.
        deliveries: Dose_Hst rows (each with its FLD_HST row), one per beam per session.
        sessions: Treatment sessions, each a current (Version 0) Schedule row.
    """

    path: Path
    patients: int
    fields: int
    control_points: int
    deliveries: int
    sessions: int


@dataclass(frozen=True)
class _Delivery:
    """One beam of one session of a synthetic RT Beams Treatment Record."""

    beam_number: int
    beam_on: datetime.datetime
    fraction: int
    meterset: float
    termination: str


@dataclass(frozen=True)
class _Facility:
    """The Staff_ID of each treatment machine (by name) and the institution's CFG_ID."""

    machines: dict[str, int]
    institution: int


@dataclass(frozen=True)
class _Chart:
    """One patient's keys in the simulated Mosaiq and the moment the plan was imported."""

    pat_id: int
    site_set: int
    planned_at: datetime.datetime


class _Keys:
    """Deterministic surrogate keys: each key column counts up from its own million."""

    def __init__(self) -> None:
        self._counters = {
            name: itertools.count(1_000_000 * rank + 1) for rank, name in enumerate(_KEYS, 1)
        }

    def next(self, name: str) -> int:
        """Return the next key of column `name`."""
        return next(self._counters[name])


def write_mosaiq_database(spec: SyntheticSpec, path: Path) -> MosaiqSummary:
    """Write the simulated Mosaiq database of `spec`'s synthetic patients.

    The file is written beside `path` and then renamed over it, so a reader never sees a partial
    database and a previous file is replaced whole. The same spec always writes the same rows.

    Args:
        spec: The synthetic data set (the same spec as its DICOM files).
        path: The SQLite database file to write (for ``odbc_driver = "SQLite3"``).

    Returns:
        How many rows of each kind were written.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.partial")
    partial.unlink(missing_ok=True)
    counts: dict[str, int] = defaultdict(int)
    sessions = 0
    keys = _Keys()
    facility = _Facility(machines={MACHINE: keys.next("Staff_ID")}, institution=keys.next("CFG_ID"))
    with closing(sqlite3.connect(partial)) as db, db:
        for table in SCHEMA:
            db.execute(_create_table(table))
        _insert(db, _facility_rows(facility), counts)
        for patient in patients(spec):
            _insert(db, _patient_rows(patient, keys, facility), counts)
            sessions += len(patient.sessions)
    partial.replace(path)
    return MosaiqSummary(
        path=path,
        patients=counts["Patient"],
        fields=counts["TxField"],
        control_points=counts["TxFieldPoint"],
        deliveries=counts["Dose_Hst"],
        sessions=sessions,
    )


def _create_table(table: Table) -> str:
    """Return the CREATE TABLE statement of `table` (identifiers quoted: ``Index`` is reserved)."""
    columns = [
        f'"{name}" {sql_type}' + (" COLLATE RTRIM" if sql_type.startswith("CHAR(") else "")
        for name, sql_type in table.columns
    ]
    key = ", ".join(f'"{name}"' for name in table.key)
    return f'CREATE TABLE "{table.name}" ({", ".join(columns)}, PRIMARY KEY ({key}))'


def _insert(db: sqlite3.Connection, rows: dict[str, list[_Row]], counts: dict[str, int]) -> None:
    """Insert `rows` (by table name) and add their number to `counts`."""
    for name, table_rows in rows.items():
        table = _TABLES[name]
        columns = ", ".join(f'"{column}"' for column, _ in table.columns)
        markers = ", ".join("?" * len(table.columns))
        db.executemany(
            f'INSERT INTO "{name}" ({columns}) VALUES ({markers})',
            [
                tuple(_stored(sql_type, row[column]) for column, sql_type in table.columns)
                for row in table_rows
            ],
        )
        counts[name] += len(table_rows)


def _stored(sql_type: str, value: _Value) -> _Value:
    """Return `value` as SQL Server stores it in a column of `sql_type`, in SQLite's terms."""
    if value is None:
        return None
    if isinstance(value, datetime.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")  # the text the ODBC driver reads as TIMESTAMP
    base, _, size = sql_type.rstrip(")").partition("(")
    if base == "NUMERIC":
        return round(float(value), int(size.split(",")[1]))
    if base == "CHAR":
        return str(value).ljust(int(size))
    return value


def _facility_rows(facility: _Facility) -> dict[str, list[_Row]]:
    """Return the Staff and Machine rows of each machine, the institution and the activity codes.

    A machine is a Staff row (its Last_Name is the machine name, pymedphys ``delivery.py``
    line 125) and a Machine row with the same key (the earlier system joins them so).
    """
    machines = facility.machines.items()
    return {
        "Staff": [
            {"Staff_ID": staff, "Last_Name": name, "Machine_Type": _TREATMENT_MACHINE_TYPE}
            for name, staff in machines
        ],
        "Machine": [
            {"MAC_ID": staff, "Source_Name": name, "Source_Model": MACHINE_MODEL}
            for name, staff in machines
        ],
        "Config": [{"CFG_ID": facility.institution, "Inst_Name": INSTITUTION}],
        "CPT": [{"Hsp_Code": code, "Short_Desc": text} for code, text in _CPT.items()],
    }


def _patient_rows(patient: Patient, keys: _Keys, facility: _Facility) -> dict[str, list[_Row]]:
    """Return every row of one patient, read from its synthetic RT Plan and treatment records."""
    rt_plan = plan(patient)
    records = [fraction_record(patient, session) for session in range(len(patient.sessions))]
    chart = _Chart(
        pat_id=keys.next("Pat_ID1"),
        site_set=keys.next("SIT_SET_ID"),
        planned_at=_moment(rt_plan.RTPlanDate, rt_plan.RTPlanTime),
    )
    name = rt_plan.PatientName
    rows: dict[str, list[_Row]] = {
        "Patient": [
            {
                "Pat_ID1": chart.pat_id,
                "Last_Name": name.family_name,
                "First_Name": name.given_name,
                "MIddle_Name": name.middle_name or None,
                "Suffix": name.name_suffix or None,
                "Sex": _SEX[rt_plan.PatientSex],
                "Birth_DtTm": _moment(rt_plan.PatientBirthDate, "000000"),
            }
        ],
        "Ident": [{"Pat_Id1": chart.pat_id, "IDA": rt_plan.PatientID}],
        "Site": _site_rows(rt_plan, keys, chart),
        "SiteSetup": [
            {
                "Sit_Set_ID": chart.site_set,
                "Setup_Note": _ODD_SETUP_NOTE if patient.index == 0 else _SETUP_NOTE,
                "Version": 0,
            }
        ],
        **_plan_import_rows(rt_plan, keys, chart),
        "TxField": [],
        "TxFieldPoint": [],
        "Dose_Hst": [],
        "FLD_HST": [],
        "Schedule": _appointment_rows(records, keys, chart, facility),
    }
    deliveries = [
        _Delivery(
            beam_number=int(beam.ReferencedBeamNumber),
            beam_on=_moment(
                beam.ControlPointDeliverySequence[0].TreatmentControlPointDate,
                beam.ControlPointDeliverySequence[0].TreatmentControlPointTime,
            ),
            fraction=int(beam.CurrentFractionNumber),
            meterset=float(beam.DeliveredPrimaryMeterset),
            termination=str(beam.TreatmentTerminationStatus),
        )
        for record in records
        for beam in record.TreatmentSessionBeamSequence
    ]
    references = {
        int(reference.ReferencedBeamNumber): reference
        for reference in rt_plan.FractionGroupSequence[0].ReferencedBeamSequence
    }
    field_ids: dict[int, int] = {}
    for beam in rt_plan.BeamSequence:
        number = int(beam.BeamNumber)
        field_ids[number] = keys.next("FLD_ID")
        treated = [delivery.beam_on for delivery in deliveries if delivery.beam_number == number]
        rows["TxField"].append(
            _field_row(
                rt_plan, beam, references[number], field_ids[number], treated, chart, facility
            )
        )
        rows["TxFieldPoint"] += _field_points(beam, field_ids[number], chart.planned_at)
    for delivery in deliveries:
        reference = references[delivery.beam_number]
        dhs_id = keys.next("DHS_ID")
        rows["Dose_Hst"].append(
            {
                "DHS_ID": dhs_id,
                "FLD_ID": field_ids[delivery.beam_number],
                "Pat_ID1": chart.pat_id,
                "Tx_DtTm": delivery.beam_on,
                "Fractions_Tx": delivery.fraction,
                "Meterset": delivery.meterset,
                "Dose_Addtl_Projected": float(reference.BeamDose)
                * CGY_PER_GY
                * delivery.meterset
                / float(reference.BeamMeterset),
                "TerminationCode": None,
                "Termination_Status_Enum": _TERMINATION[delivery.termination],
                "Termination_Verify_Status_Enum": _VERIFIED,
            }
        )
        rows["FLD_HST"].append({"DHS_ID": dhs_id, "FLD_ID": field_ids[delivery.beam_number]})
    return rows


def _site_rows(rt_plan: Dataset, keys: _Keys, chart: _Chart) -> list[_Row]:
    """Return the superseded draft prescription (Version 1) and the current one (Version 0)."""
    (dose_reference,) = rt_plan.DoseReferenceSequence
    fractions = int(rt_plan.FractionGroupSequence[0].NumberOfFractionsPlanned)
    per_fraction = float(dose_reference.TargetPrescriptionDose) * CGY_PER_GY / fractions
    return [
        {
            "SIT_SET_ID": chart.site_set,
            "SIT_ID": keys.next("SIT_ID"),
            "Pat_ID1": chart.pat_id,
            "Site_Name": _SITE_NAME,
            "Version": version,
            "Technique": _TECHNIQUE,
            "Edit_DtTm": edited,
            "Fractions": planned,
            "Dose_Ttl": per_fraction * planned,
            "Dose_Tx": per_fraction,
        }
        for version, planned, edited in (
            (1, fractions + _DRAFT_EXTRA_FRACTIONS, chart.planned_at - _REBOOKING),
            (0, fractions, chart.planned_at),
        )
    ]


def _plan_import_rows(rt_plan: Dataset, keys: _Keys, chart: _Chart) -> dict[str, list[_Row]]:
    """Return the DCMStudy, DCMSeries, DCMInstance and RtPlan rows of the imported RT Plan."""
    study = keys.next("DCMStudy_ID")
    series = keys.next("DCMSeries_ID")
    instance = keys.next("DCMInstance_ID")
    return {
        "DCMStudy": [
            {
                "DCMStudy_ID": study,
                "StudyInstanceUID": rt_plan.StudyInstanceUID,
                "StudyID": rt_plan.StudyID,
                "StudyDescription": rt_plan.StudyDescription,
                "Study_DtTm": _moment(rt_plan.StudyDate, rt_plan.StudyTime),
            }
        ],
        "DCMSeries": [
            {
                "DCMSeries_ID": series,
                "DCMStudy_ID": study,
                "SeriesInstanceUID": rt_plan.SeriesInstanceUID,
                "SeriesNumber": int(rt_plan.SeriesNumber),
                "SeriesDescription": rt_plan.SeriesDescription,
                "Series_DtTm": _moment(rt_plan.SeriesDate, rt_plan.SeriesTime),
            }
        ],
        "DCMInstance": [
            {
                "DCMInstance_ID": instance,
                "DCMSeries_ID": series,
                "SOPInstanceUID": rt_plan.SOPInstanceUID,
            }
        ],
        "RtPlan": [
            {"DCMInstance_ID": instance, "Label": rt_plan.RTPlanLabel, "Pat_ID1": chart.pat_id}
        ],
    }


def _field_row(
    rt_plan: Dataset,
    beam: Dataset,
    reference: Dataset,
    field_id: int,
    treated: Sequence[datetime.datetime],
    chart: _Chart,
    facility: _Facility,
) -> _Row:
    """Return the TxField row of a planned beam, treated at the beam-on moments `treated`."""
    number = int(beam.BeamNumber)
    machine = facility.machines[beam.TreatmentMachineName]
    devices = {device.RTBeamLimitingDeviceType for device in beam.BeamLimitingDeviceSequence}
    return {
        "FLD_ID": field_id,
        "Pat_ID1": chart.pat_id,
        "SIT_Set_ID": chart.site_set,
        "Version": 0,
        "OriginalPlanUID": rt_plan.SOPInstanceUID,
        "OriginalBeamName": beam.BeamName,
        "OriginalBeamNumber": number,
        "Field_Name": f"SYNTHETIC FIELD {number}",
        "Field_Label": str(beam.BeamName).upper(),
        "Start_DtTm": min(treated, default=None),
        "Last_Tx_DtTm": max(treated, default=None),
        "Fractions_Tx": len(treated),
        "Meterset": float(reference.BeamMeterset),
        "Cgray": float(reference.BeamDose) * CGY_PER_GY,
        "ControlPoints": int(beam.NumberOfControlPoints),
        "Sad": float(beam.SourceAxisDistance) / MM_PER_CM,
        "Machine_ID_Staff_ID": machine,
        "MachineCharID": machine,
        "Inst_ID": facility.institution,
        "Modality_Enum": _MODALITY[beam.RadiationType],
        "Beam_Type_Flag": _BEAM_TYPE[beam.BeamType],
        "Type_Enum": _FIELD_TYPE[beam.BeamType],
        "IndexReference_Enum": _INDEX_REFERENCE[beam.PrimaryDosimeterUnit],
        "Mlc": int(not devices.isdisjoint(_MLC_DEVICES)),
    }


def _field_points(beam: Dataset, field_id: int, planned_at: datetime.datetime) -> list[_Row]:
    """Return the TxFieldPoint rows of a planned beam, one per control point.

    PS3.3 C.8.8.14: a control point after the first lists only what changes, so each row carries
    the settings and device positions in force at its control point.
    """
    leaf_pairs = next(
        int(device.NumberOfLeafJawPairs)
        for device in beam.BeamLimitingDeviceSequence
        if device.RTBeamLimitingDeviceType == "MLCX"
    )
    final_weight = float(beam.FinalCumulativeMetersetWeight)
    settings = Dataset()
    positions: dict[str, list[float]] = {}
    points: list[_Row] = []
    for point in beam.ControlPointSequence:
        for element in point:
            if element.keyword == "BeamLimitingDevicePositionSequence":
                positions |= {
                    device.RTBeamLimitingDeviceType: [float(v) for v in device.LeafJawPositions]
                    for device in element.value
                }
            else:
                settings[element.tag] = element
        x_jaws, y_jaws, mlc = positions["ASYMX"], positions["ASYMY"], positions["MLCX"]
        points.append(
            {
                "FLD_ID": field_id,
                "Point": int(settings.ControlPointIndex),
                "Energy": round(float(settings.NominalBeamEnergy)),
                "Energy_Unit_Enum": _ENERGY_UNIT[beam.RadiationType],
                "Gantry_Ang": float(settings.GantryAngle),
                "Gantry_Dir_Enum": _ROTATION[settings.GantryRotationDirection],
                "Coll_Ang": float(settings.BeamLimitingDeviceAngle),
                "Coll_Dir_Enum": _ROTATION[settings.BeamLimitingDeviceRotationDirection],
                "Couch_Ang": float(settings.PatientSupportAngle),
                "Couch_Roll_Dir_Enum": _ROTATION[settings.PatientSupportRotationDirection],
                "Couch_Vrt": _cm(settings.TableTopVerticalPosition),
                "Couch_Lng": _cm(settings.TableTopLongitudinalPosition),
                "Couch_Lat": _cm(settings.TableTopLateralPosition),
                "MLC_Leaves": leaf_pairs,
                "A_Leaf_Set": _leaf_set(mlc[:leaf_pairs]),
                "B_Leaf_Set": _leaf_set(mlc[leaf_pairs:]),
                "Coll_X1": x_jaws[0] / MM_PER_CM,
                "Coll_X2": x_jaws[1] / MM_PER_CM,
                "Coll_Y1": y_jaws[0] / MM_PER_CM,
                "Coll_Y2": y_jaws[1] / MM_PER_CM,
                "Index": INDEX_SCALE * float(settings.CumulativeMetersetWeight) / final_weight,
                "Create_DtTm": planned_at,
            }
        )
    return points


def leaf_set(values: Sequence[int], width: int = LEAF_SET_BYTES) -> bytes:
    """A Mosaiq leaf record: `values` (0.01 cm) as little-endian int16, zero-padded to `width`."""
    return struct.pack(f"<{len(values)}h", *values).ljust(width, b"\0")


def _leaf_set(positions_mm: Sequence[float]) -> bytes:
    """Encode one MLC bank (mm) as a Mosaiq leaf set.

    Raises:
        ValueError: More leaves than the record holds.
    """
    if 2 * len(positions_mm) > LEAF_SET_BYTES:
        raise ValueError(f"{len(positions_mm)} leaves do not fit in {LEAF_SET_BYTES} bytes")
    return leaf_set([round(mm * LEAF_UNITS_PER_MM) for mm in positions_mm])


def _appointment_rows(
    records: Sequence[Dataset], keys: _Keys, chart: _Chart, facility: _Facility
) -> list[_Row]:
    """Return one treatment appointment per session; the first was first booked an hour later."""
    rows: list[_Row] = []
    for session, record in enumerate(records):
        appointment = _moment(record.TreatmentDate, record.TreatmentTime)
        versions = [(0, appointment, chart.planned_at)]
        if session == 0:
            versions = [
                (0, appointment, chart.planned_at + _REBOOKING),
                (1, appointment + _REBOOKING, chart.planned_at),
            ]
        series = keys.next("Sch_Set_Id")
        rows += [
            {
                "Sch_Id": keys.next("Sch_Id"),
                "Sch_Set_Id": series,
                "Pat_ID1": chart.pat_id,
                "App_DtTm": booked_for,
                "Edit_DtTm": edited,
                "Location": facility.machines[
                    record.TreatmentMachineSequence[0].TreatmentMachineName
                ],
                "Activity": _TREATMENT_ACTIVITY,
                "Version": version,
            }
            for version, booked_for, edited in versions
        ]
    return rows


def _moment(date: str, time: str) -> datetime.datetime:
    """Return the local date-time of a DICOM DA and TM pair (no zone, as Mosaiq stores it)."""
    return datetime.datetime.combine(DA(date), TM(time))


def _cm(millimetres: float | None) -> float | None:
    """Convert an optional DICOM position (mm) to Mosaiq's centimetres; empty stays NULL."""
    return None if millimetres is None else float(millimetres) / MM_PER_CM
