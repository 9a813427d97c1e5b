"""The typed model of what the Mosaiq queries return, built from their DataFrames by pure functions.

The queries (:mod:`.queries`) return one DataFrame each; the ``*_COLUMNS`` tuples here
are their contract, and :data:`.deliveries_query.DELIVERY_COLUMNS` that of the
deliveries, which the shipped query and a site's own query share. Parsing never raises
on a row: NULLs become ``None`` or empty text, odd values either still make a valid
record or the row is left out with a :class:`SkippedRow` saying why (for the asset's
metadata). Only a frame missing a contract column raises, because that is a broken
query, not odd data.

Units become DICOM's on the way in (cm -> mm, cGy -> Gy); enumerations become DICOM
terms through :mod:`.enums`; a field's control points become :class:`ControlPoint`
with the cumulative meterset weight normalised to end at 1.
"""

import contextlib
import datetime as dt
import decimal
import logging
import math
import re
from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Generic, TypeVar

import pandas as pd
from pydicom.uid import RE_VALID_UID

from radonc_assets.backup.mosaiq import enums
from radonc_assets.backup.mosaiq.deliveries_query import DELIVERY_COLUMNS
from radonc_assets.backup.mosaiq.mlc import (
    LeafPositions,
    LeafRecordError,
    jaw_positions_mm,
    leaf_positions,
)
from radonc_assets.backup.mosaiq.units import CGY_PER_GY, DEGREES, MM_PER_CM

LOGGER = logging.getLogger(__name__)

_UID_LENGTH = 64

CONTROL_POINT_COLUMNS = (
    "FLD_ID",
    "Point",
    "Meterset_Index",
    "Energy",
    "Energy_Unit_Enum",
    "Gantry_Ang",
    "Gantry_Dir_Enum",
    "Coll_Ang",
    "Coll_Dir_Enum",
    "Couch_Ang",
    "Couch_Roll_Dir_Enum",
    "Couch_Vrt",
    "Couch_Lng",
    "Couch_Lat",
    "MLC_Leaves",
    "A_Leaf_Set",
    "B_Leaf_Set",
    "Coll_X1",
    "Coll_X2",
    "Coll_Y1",
    "Coll_Y2",
)
APPOINTMENT_COLUMNS = (
    "Sch_Id",
    "Pat_ID1",
    "App_DtTm",
    "Location",
    "Activity",
    "Activity_Description",
)
SUMMARY_QUERY_COLUMNS = (
    "MRN",
    "Last_Name",
    "First_Name",
    "Middle_Name",
    "Suffix",
    "Sit_Set_ID",
    "Site_Name",
    "First_Tx_DtTm",
    "Last_Tx_DtTm",
    "Dose_cGy",
    "Fractions",
)
# What `radonc report` prints, in the earlier system's column names.
SUMMARY_COLUMNS = (
    "PatientName",
    "PatientMRN",
    "StartDate",
    "EndDate",
    "TotalDose",
    "NumberOfFractions",
    "TargetVolume",
)

Row = Mapping[Hashable, object]
_INTEGER_TEXT = re.compile(r"^\s*[+-]?\d+\s*$")
# SQL Server int, which also bounds DICOM IS values (PS3.5 6.2).
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1
_T = TypeVar("_T")
_V = TypeVar("_V")


class RowError(ValueError):
    """A row value that cannot be used; the message is the reason the row is skipped."""


@dataclass(frozen=True)
class SkippedRow:
    """A source row left out of the records, and why.

    Attributes:
        table: The Mosaiq table the row stands for (``Dose_Hst``, ``TxFieldPoint``, ``Schedule``).
        key: Its key, e.g. ``DHS_ID=12``.
        reason: What was wrong, in words an operator can act on.
    """

    table: str
    key: str
    reason: str


def row_key(column: str, value: object) -> str:
    """The :attr:`SkippedRow.key` of a row whose key `column` holds `value`: ``DHS_ID=12``."""
    return f"{column}={value}"


@dataclass(frozen=True)
class Patient:
    """A patient: ``Patient`` and its MRN (``Ident.IDA``); names stripped of Mosaiq's padding."""

    pat_id1: int
    mrn: str
    last_name: str = ""
    first_name: str = ""
    middle_name: str = ""
    suffix: str = ""
    sex: str = ""
    birth_date: dt.date | None = None

    @property
    def display_name(self) -> str:
        """``Last, First Middle Suffix`` for reports."""
        return display_name(self.last_name, self.first_name, self.middle_name, self.suffix)


def display_name(last: str, first: str, middle: str = "", suffix: str = "") -> str:
    """A patient's name for reports: ``Last, First Middle Suffix``, empty parts left out."""
    given = " ".join(part for part in (first, middle, suffix) if part)
    return ", ".join(part for part in (last, given) if part)


@dataclass(frozen=True)
class Study:
    """The DICOM study of an imported plan, as Mosaiq's ``DCMStudy`` knows it."""

    uid: str
    study_id: str = ""
    description: str = ""
    started: dt.datetime | None = None


@dataclass(frozen=True)
class Plan:
    """The plan a field belongs to.

    Attributes:
        uid: ``TxField.OriginalPlanUID``, empty for fields created in Mosaiq (or an invalid UID).
        label: ``RtPlan.Label``.
        study: The plan's study when Mosaiq has it (``DCMStudy``).
        sit_set_id: The Mosaiq site set, which stands for the plan when there is no UID.
    """

    uid: str
    label: str
    study: Study | None
    sit_set_id: int | None

    @property
    def key(self) -> str:
        """What identifies the plan in a session and in the derived UIDs."""
        return self.uid or f"SIT_SET_ID={self.sit_set_id}"


@dataclass(frozen=True)
class Site:
    """The Mosaiq site (prescription) of a field, and its setup note."""

    sit_set_id: int | None
    name: str
    setup_note: str
    fractions_planned: int | None


@dataclass(frozen=True)
class Machine:
    """A treatment machine: its ``Staff`` entry, ``Machine`` row and institution (``Config``).

    Attributes:
        staff_id: ``Staff_ID`` (= ``Machine.MAC_ID``, = ``Schedule.Location``).
        name: ``Staff.Last_Name`` (as pymedphys names machines), else ``Machine.Source_Name``.
        model: ``Machine.Source_Model``.
        institution: ``Config.Inst_Name``.
    """

    staff_id: int | None
    name: str
    model: str
    institution: str


@dataclass(frozen=True)
class ControlPoint:
    """One ``TxFieldPoint``, in DICOM units (mm, degrees in [0, 360)) and terms.

    Attributes:
        index: ``Point``, the plan's control point index.
        cumulative_weight: ``[Index]`` divided by the field's last ``[Index]``.
        energy: Nominal beam energy, in `energy_unit`.
        energy_unit: MV or MEV; None when Mosaiq's unit is unknown.
        gantry_angle: Degrees; None when NULL.
        gantry_direction: CW, CC or NONE from ``Gantry_Dir_Enum``; None when not recorded.
        collimator_angle: Degrees; None when NULL.
        collimator_direction: From ``Coll_Dir_Enum``; None when not recorded.
        couch_angle: Patient support angle (degrees); None when NULL.
        couch_direction: From ``Couch_Roll_Dir_Enum``; None when not recorded.
        couch_vertical: Table top vertical position (mm); None when NULL.
        couch_longitudinal: Table top longitudinal position (mm); None when NULL.
        couch_lateral: Table top lateral position (mm); None when NULL.
        jaws_x: ASYMX positions (mm); None when not recorded.
        jaws_y: ASYMY positions (mm); None when not recorded.
        mlc: MLCX positions, bank A then bank B; None without an MLC.
    """

    index: int
    cumulative_weight: float
    energy: float | None = None
    energy_unit: str | None = None
    gantry_angle: float | None = None
    gantry_direction: str | None = None
    collimator_angle: float | None = None
    collimator_direction: str | None = None
    couch_angle: float | None = None
    couch_direction: str | None = None
    couch_vertical: float | None = None
    couch_longitudinal: float | None = None
    couch_lateral: float | None = None
    jaws_x: tuple[float, float] | None = None
    jaws_y: tuple[float, float] | None = None
    mlc: LeafPositions | None = None


@dataclass(frozen=True)
class Field:
    """A treatment field (``TxField``) with its site, machine and control points.

    Attributes:
        fld_id: ``FLD_ID``.
        beam_number: ``OriginalBeamNumber``, the plan's beam number when imported.
        beam_name: ``OriginalBeamName``, else ``Field_Label``, else ``Field_Name``.
        description: ``Field_Name``.
        delivery_type: Treatment Delivery Type from ``Type_Enum``.
        radiation_type: PHOTON or ELECTRON from ``Modality_Enum``.
        planned_meterset: ``TxField.Meterset`` (MU); None when NULL.
        source_axis_distance: ``Sad`` in mm; None when NULL.
        first_treatment: ``Start_DtTm``; None when NULL.
        site: The Mosaiq site.
        machine: The machine the field is planned on.
        control_points: The field's control points, by index.
    """

    fld_id: int
    beam_number: int | None
    beam_name: str
    description: str
    delivery_type: str
    radiation_type: str
    planned_meterset: float | None
    source_axis_distance: float | None
    first_treatment: dt.datetime | None
    site: Site
    machine: Machine
    control_points: tuple[ControlPoint, ...]


@dataclass(frozen=True)
class Delivery:
    """One beam delivery (``Dose_Hst``) of a field.

    Attributes:
        dhs_id: ``DHS_ID``.
        treated_at: ``Tx_DtTm``, Mosaiq local time without a zone.
        patient: Who was treated.
        plan: The field's plan.
        field: What was delivered.
        fraction_number: ``Dose_Hst.Fractions_Tx``; None when NULL.
        delivered_meterset: ``Dose_Hst.Meterset`` (MU).
        projected_dose: ``Dose_Addtl_Projected`` in Gy; None when NULL.
        termination_status: NORMAL, OPERATOR, MACHINE or UNKNOWN.
        termination_code: ``TerminationCode``, empty when NULL.
        verification_status: VERIFIED, VERIFIED_OVR, NOT_VERIFIED or empty.
    """

    dhs_id: int
    treated_at: dt.datetime
    patient: Patient
    plan: Plan
    field: Field
    fraction_number: int | None
    delivered_meterset: float
    projected_dose: float | None
    termination_status: str
    termination_code: str
    verification_status: str


@dataclass(frozen=True)
class Appointment:
    """A current (``Version = 0``) ``Schedule`` row and its activity's ``CPT.Short_Desc``."""

    sch_id: int
    pat_id1: int
    at: dt.datetime
    location: int | None
    activity: str
    description: str


# What makes deliveries one session: the date of their Tx_DtTm, the patient (Pat_ID1), the
# plan (Plan.key) and the machine's Staff_ID (as text, "None" when unknown).
SessionKey = tuple[dt.date, int, str, str]


def _session_key(
    treated_at: dt.datetime, pat_id1: int, plan: Plan, machine_staff_id: int | None
) -> SessionKey:
    return treated_at.date(), pat_id1, plan.key, str(machine_staff_id)


def delivery_session(delivery: Delivery) -> SessionKey:
    """The session `delivery` belongs to."""
    return _session_key(
        delivery.treated_at,
        delivery.patient.pat_id1,
        delivery.plan,
        delivery.field.machine.staff_id,
    )


def row_session(row: Row) -> SessionKey | None:
    """The session a row of the deliveries query would belong to, as a delivery.

    For a row that made no delivery: the session it would have been part of. None when
    its date, patient, plan or machine cannot be read.
    """
    try:
        return _session_key(
            required(cell_timestamp(row, "Tx_DtTm"), "Tx_DtTm"),
            required(cell_integer(row, "Pat_ID1"), "Pat_ID1"),
            _plan(row),
            cell_integer(row, "Machine_Staff_ID"),
        )
    except RowError:
        return None


@dataclass(frozen=True)
class Session:
    """The deliveries of one patient and plan on one date (on one machine): one RT record.

    Attributes:
        date: The date of the deliveries' ``Tx_DtTm``.
        deliveries: By time, then ``DHS_ID``.
        appointment: The patient's appointment that day (its activity), if any.
    """

    date: dt.date
    deliveries: tuple[Delivery, ...]
    appointment: Appointment | None

    @property
    def patient(self) -> Patient:
        """The patient treated."""
        return self.deliveries[0].patient

    @property
    def plan(self) -> Plan:
        """The plan delivered."""
        return self.deliveries[0].plan

    @property
    def machine(self) -> Machine:
        """The machine used."""
        return self.deliveries[0].field.machine

    @property
    def key(self) -> SessionKey:
        """What its deliveries share (:func:`group_sessions`)."""
        return delivery_session(self.deliveries[0])


@dataclass(frozen=True)
class Parsed(Generic[_T]):
    """What a parser made of a frame: the items, and the rows it left out with their reasons."""

    items: tuple[_T, ...]
    skipped: tuple[SkippedRow, ...]


def _is_null(value: object) -> bool:
    """Whether a cell is SQL NULL: None, or NaN/NaT/NA where pandas typed the column."""
    if value is None or value is pd.NaT or value is pd.NA:
        return True
    return isinstance(value, float) and math.isnan(value)


def cell_integer(row: Row, column: str) -> int | None:
    """An integer cell; Mosaiq's are SQL Server int, smallint or tinyint (32 bits at most)."""
    value = row[column]
    if type(value) is int and _INT_MIN <= value <= _INT_MAX:
        return value  # the usual cell, first: a day is some 100,000 of them
    if _is_null(value):
        return None
    number = None
    if isinstance(value, str):
        number = int(value) if _INTEGER_TEXT.match(value) else None
    elif isinstance(value, int | float | decimal.Decimal) and math.isfinite(value):
        number = int(value) if value == int(value) else None
    if number is None:
        raise RowError(f"{column} is not an integer: {value!r}")
    if not _INT_MIN <= number <= _INT_MAX:
        raise RowError(f"{column} is out of range: {value!r}")
    return number


def _number(row: Row, column: str) -> float | None:
    value = row[column]
    if type(value) is float and math.isfinite(value):
        return value  # the usual cell, first
    if _is_null(value):
        return None
    number = None
    if isinstance(value, int | float | decimal.Decimal) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        with contextlib.suppress(ValueError):
            number = float(value)
    if number is None or not math.isfinite(number):
        raise RowError(f"{column} is not a number: {value!r}")
    return number


def cell_text(row: Row, column: str) -> str:
    """The cell as stripped text (Mosaiq pads char columns); empty for NULL."""
    value = row[column]
    if _is_null(value):
        return ""
    if isinstance(value, float) and value.is_integer():
        # A numeric text column with a NULL elsewhere comes back as float (12345.0).
        return str(int(value))
    return str(value).strip()


def cell_timestamp(row: Row, column: str) -> dt.datetime | None:
    """A date-time cell as a naive (Mosaiq local) datetime, None for NULL."""
    value = row[column]
    if _is_null(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time())
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value.strip())
        except ValueError:
            pass
    raise RowError(f"{column} is not a date-time: {value!r}")


def _blob(row: Row, column: str) -> bytes | None:
    value = row[column]
    if _is_null(value):
        return None
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    raise RowError(f"{column} is not binary: {type(value).__name__}")


def required(value: _V | None, what: str) -> _V:
    """`value`, or a :class:`RowError` saying `what` is missing."""
    if value is None or value == "":
        raise RowError(f"{what} is missing")
    return value


def _uid(value: str, what: str) -> str:
    """A UID as it is, or empty (with a warning) when it is not a valid DICOM UID."""
    # PS3.5 9.1: at most 64 characters, dot-separated components without leading zeros.
    if value and (len(value) > _UID_LENGTH or not RE_VALID_UID.match(value)):
        LOGGER.warning("ignoring %s %r: not a valid DICOM UID", what, value)
        return ""
    return value


def _angle(row: Row, column: str) -> float | None:
    """An angle in [0, 360): DICOM's range (pymedphys ``angle_dd2dcm`` wraps negatives too)."""
    value = _number(row, column)
    return None if value is None else value % DEGREES


def _mm(row: Row, column: str) -> float | None:
    value = _number(row, column)
    return None if value is None else value * MM_PER_CM


def _sex(value: str) -> str:
    """PS3.3 C.7.1.1 Patient's Sex: M, F or O; empty when Mosaiq says nothing usable."""
    initial = value[:1].upper()
    return initial if initial in ("M", "F", "O") else ""


def missing_columns(frame: pd.DataFrame, columns: Sequence[str]) -> list[str]:
    """The `columns` a query's frame lacks, in their order."""
    return [column for column in columns if column not in frame.columns]


def require_columns(frame: pd.DataFrame, columns: Sequence[str], query: str) -> None:
    """Check that a query's frame has its contract columns.

    Raises:
        ValueError: Naming the missing columns (a broken query).
    """
    missing = missing_columns(frame, columns)
    if missing:
        raise ValueError(f"the {query} query returned no column {', '.join(missing)}")


def row_records(frame: pd.DataFrame) -> Sequence[Row]:
    """The rows of a query's frame, as mappings of column to value."""
    return frame.to_dict("records")


def parse_control_points(
    frame: pd.DataFrame,
) -> tuple[dict[int, tuple[ControlPoint, ...]], tuple[SkippedRow, ...]]:
    """The control points of each field, from the control points query.

    A field is usable whole or not at all: any bad point leaves the field out, with
    the reason (its deliveries are then skipped too).

    Returns:
        Control points by ``FLD_ID`` (ordered by ``Point``) and the fields left out.

    Raises:
        ValueError: The frame lacks a column of :data:`CONTROL_POINT_COLUMNS`.
    """
    require_columns(frame, CONTROL_POINT_COLUMNS, "control points")
    by_field: dict[object, list[Row]] = defaultdict(list)
    for row in row_records(frame):
        by_field[row["FLD_ID"]].append(row)
    points: dict[int, tuple[ControlPoint, ...]] = {}
    skipped: list[SkippedRow] = []
    for key, rows in by_field.items():
        try:
            fld_id = required(cell_integer(rows[0], "FLD_ID"), "FLD_ID")
            points[fld_id] = field_control_points(rows)
        except (RowError, LeafRecordError) as exc:
            skipped.append(SkippedRow("TxFieldPoint", row_key("FLD_ID", key), str(exc)))
    return points, tuple(skipped)


def field_control_points(rows: Sequence[Row]) -> tuple[ControlPoint, ...]:
    """The control points of one field, ordered by ``Point``.

    ``[Index]`` is the cumulative meterset, increasing to its value at the end of the beam,
    on whatever scale: each weight is ``[Index]`` divided by the last one.

    Raises:
        RowError: A NULL or repeated ``Point``, an ``[Index]`` that is NULL, decreases or ends
            at 0 or less, ``MLC_Leaves`` differing between points, or a NULL angle at the first
            point (PS3.3 C.8.8.21 requires the gantry, collimator and patient support angles
            at the first control point) or no collimation at all there.
        LeafRecordError: A leaf record too short for ``MLC_Leaves``.
    """
    numbered = sorted(
        ((required(cell_integer(row, "Point"), "Point"), row) for row in rows),
        key=lambda pair: pair[0],
    )
    for (earlier, _), (later, _) in pairwise(numbered):
        if earlier == later:
            raise RowError(f"control point {later} is listed twice")
    index = [
        required(_number(row, "Meterset_Index"), f"[Index] of control point {point}")
        for point, row in numbered
    ]
    for (previous, current), (point, _) in zip(pairwise(index), numbered[1:], strict=True):
        if current < previous:
            raise RowError(f"[Index] decreases at control point {point} ({previous} -> {current})")
    if index[-1] <= 0:
        raise RowError(f"the last [Index] is {index[-1]}, not a positive total")
    leaf_counts = {cell_integer(row, "MLC_Leaves") or 0 for _, row in numbered}
    if len(leaf_counts) > 1:
        raise RowError(f"MLC_Leaves differs between control points: {sorted(leaf_counts)}")
    (leaves,) = leaf_counts
    points = tuple(
        _control_point(point, row, weight=value / index[-1], leaves=leaves)
        for (point, row), value in zip(numbered, index, strict=True)
    )
    first = points[0]
    for column, angle in (
        ("Gantry_Ang", first.gantry_angle),
        ("Coll_Ang", first.collimator_angle),
        ("Couch_Ang", first.couch_angle),
    ):
        if angle is None:
            raise RowError(f"the first control point has no {column}")
    if first.jaws_x is None and first.jaws_y is None and first.mlc is None:
        # PS3.3 C.8.8.21: Beam Limiting Device Leaf Pairs Sequence is Type 1.
        raise RowError("the first control point has neither jaw nor MLC positions")
    return points


def _control_point(point: int, row: Row, *, weight: float, leaves: int) -> ControlPoint:
    mlc = None
    if leaves:
        a_set, b_set = _blob(row, "A_Leaf_Set"), _blob(row, "B_Leaf_Set")
        if a_set is None or b_set is None:
            raise RowError(f"control point {point} has MLC_Leaves={leaves} but no leaf record")
        mlc = leaf_positions(a_set, b_set, leaves)
    return ControlPoint(
        index=point,
        cumulative_weight=weight,
        energy=_number(row, "Energy"),
        energy_unit=enums.energy_unit(cell_integer(row, "Energy_Unit_Enum")),
        gantry_angle=_angle(row, "Gantry_Ang"),
        gantry_direction=enums.rotation_direction(cell_integer(row, "Gantry_Dir_Enum")),
        collimator_angle=_angle(row, "Coll_Ang"),
        collimator_direction=enums.rotation_direction(cell_integer(row, "Coll_Dir_Enum")),
        couch_angle=_angle(row, "Couch_Ang"),
        # As the earlier RadOncBackupSystem reads it and the simulated Mosaiq writes it; the
        # name says table-top roll, whose angle is not among the columns read.
        couch_direction=enums.rotation_direction(cell_integer(row, "Couch_Roll_Dir_Enum")),
        couch_vertical=_mm(row, "Couch_Vrt"),
        couch_longitudinal=_mm(row, "Couch_Lng"),
        couch_lateral=_mm(row, "Couch_Lat"),
        jaws_x=jaw_positions_mm(_number(row, "Coll_X1"), _number(row, "Coll_X2")),
        jaws_y=jaw_positions_mm(_number(row, "Coll_Y1"), _number(row, "Coll_Y2")),
        mlc=mlc,
    )


def parse_deliveries(
    frame: pd.DataFrame, control_points: Mapping[int, tuple[ControlPoint, ...]]
) -> Parsed[Delivery]:
    """The deliveries of the deliveries query (or of a site's own query), with their fields.

    The joins may repeat a delivery (a plan imported twice into ``DCMInstance``): the
    first row of each ``DHS_ID`` is kept, which the queries' ORDER BY makes deterministic.

    Args:
        frame: Rows with :data:`DELIVERY_COLUMNS`.
        control_points: The fields' control points (:func:`parse_control_points`).

    Returns:
        The usable deliveries, and the ``Dose_Hst`` rows left out with their reasons.

    Raises:
        ValueError: The frame lacks a column of :data:`DELIVERY_COLUMNS`.
    """
    require_columns(frame, DELIVERY_COLUMNS, "deliveries")
    seen: set[object] = set()
    items: list[Delivery] = []
    skipped: list[SkippedRow] = []
    for row in row_records(frame):
        key = row["DHS_ID"]
        if key in seen:
            continue
        seen.add(key)
        try:
            items.append(_delivery(row, control_points))
        except RowError as exc:
            skipped.append(SkippedRow("Dose_Hst", row_key("DHS_ID", key), str(exc)))
    return Parsed(tuple(items), tuple(skipped))


def _delivery(row: Row, control_points: Mapping[int, tuple[ControlPoint, ...]]) -> Delivery:
    fld_id = required(cell_integer(row, "FLD_ID"), "FLD_ID")
    points = control_points.get(fld_id)
    if not points:
        raise RowError(f"field FLD_ID={fld_id} has no usable control points")
    modality = cell_integer(row, "Modality_Enum")
    radiation_type = required(
        enums.radiation_type(modality), f"a radiation type for Modality_Enum={modality}"
    )
    plan = _plan(row)
    birth = cell_timestamp(row, "Birth_DtTm")
    projected = _number(row, "Dose_Addtl_Projected")
    planned_fractions = cell_integer(row, "Fractions_Planned")
    sad = _mm(row, "Sad")
    return Delivery(
        dhs_id=required(cell_integer(row, "DHS_ID"), "DHS_ID"),
        treated_at=required(cell_timestamp(row, "Tx_DtTm"), "Tx_DtTm"),
        patient=Patient(
            pat_id1=required(cell_integer(row, "Pat_ID1"), "Pat_ID1"),
            mrn=required(cell_text(row, "MRN"), "the MRN (Ident.IDA)"),
            last_name=cell_text(row, "Last_Name"),
            first_name=cell_text(row, "First_Name"),
            middle_name=cell_text(row, "Middle_Name"),
            suffix=cell_text(row, "Suffix"),
            sex=_sex(cell_text(row, "Sex")),
            birth_date=birth.date() if birth else None,
        ),
        plan=plan,
        field=Field(
            fld_id=fld_id,
            beam_number=cell_integer(row, "Beam_Number"),
            beam_name=beam_name(row),
            description=cell_text(row, "Field_Name"),
            delivery_type=enums.delivery_type(cell_integer(row, "Type_Enum")),
            radiation_type=radiation_type,
            planned_meterset=_number(row, "Planned_Meterset"),
            source_axis_distance=sad,
            first_treatment=cell_timestamp(row, "Field_Start_DtTm"),
            site=Site(
                sit_set_id=plan.sit_set_id,
                name=cell_text(row, "Site_Name"),
                setup_note=cell_text(row, "Setup_Note"),
                fractions_planned=planned_fractions,
            ),
            machine=Machine(
                staff_id=cell_integer(row, "Machine_Staff_ID"),
                name=cell_text(row, "Machine_Name") or cell_text(row, "Machine_Source_Name"),
                model=cell_text(row, "Machine_Model"),
                institution=cell_text(row, "Institution"),
            ),
            control_points=points,
        ),
        fraction_number=cell_integer(row, "Fraction_Number"),
        delivered_meterset=required(_number(row, "Delivered_Meterset"), "Dose_Hst.Meterset"),
        projected_dose=None if projected is None else projected / CGY_PER_GY,
        termination_status=enums.termination_status(cell_integer(row, "Termination_Status_Enum")),
        termination_code=cell_text(row, "Termination_Code"),
        verification_status=enums.verification_status(
            cell_integer(row, "Verification_Status_Enum")
        ),
    )


def beam_name(row: Row) -> str:
    """The beam name of a deliveries query row: ``OriginalBeamName``, else the field's label or name."""
    return (
        cell_text(row, "Beam_Name") or cell_text(row, "Field_Label") or cell_text(row, "Field_Name")
    )


def _plan(row: Row) -> Plan:
    """The plan of a deliveries query row, its study when Mosaiq has it."""
    study_uid = _uid(cell_text(row, "Study_UID"), "DCMStudy.StudyInstanceUID")
    return Plan(
        uid=_uid(cell_text(row, "Plan_UID"), "TxField.OriginalPlanUID"),
        label=cell_text(row, "Plan_Label"),
        study=Study(
            uid=study_uid,
            study_id=cell_text(row, "Study_ID"),
            description=cell_text(row, "Study_Description"),
            started=cell_timestamp(row, "Study_DtTm"),
        )
        if study_uid
        else None,
        sit_set_id=cell_integer(row, "Sit_Set_ID"),
    )


def parse_appointments(frame: pd.DataFrame) -> Parsed[Appointment]:
    """The appointments of the appointments query.

    Raises:
        ValueError: The frame lacks a column of :data:`APPOINTMENT_COLUMNS`.
    """
    require_columns(frame, APPOINTMENT_COLUMNS, "appointments")
    items: list[Appointment] = []
    skipped: list[SkippedRow] = []
    for row in row_records(frame):
        try:
            items.append(
                Appointment(
                    sch_id=required(cell_integer(row, "Sch_Id"), "Sch_Id"),
                    pat_id1=required(cell_integer(row, "Pat_ID1"), "Pat_ID1"),
                    at=required(cell_timestamp(row, "App_DtTm"), "App_DtTm"),
                    location=cell_integer(row, "Location"),
                    activity=cell_text(row, "Activity"),
                    description=cell_text(row, "Activity_Description"),
                )
            )
        except RowError as exc:
            skipped.append(SkippedRow("Schedule", row_key("Sch_Id", row["Sch_Id"]), str(exc)))
    return Parsed(tuple(items), tuple(skipped))


def group_sessions(
    deliveries: Iterable[Delivery], appointments: Iterable[Appointment] = ()
) -> tuple[Session, ...]:
    """The treatment sessions: deliveries grouped by patient, plan, date and machine.

    A delivery belongs to the date of its ``Tx_DtTm`` (Mosaiq local time). The machine is
    part of the key because an RT record names a single machine (PS3.3 C.8.8.18: one item
    in Treatment Machine Sequence); a session moved between machines gives two records.

    Returns:
        Sessions ordered by date, patient, plan and machine; deliveries by time and ``DHS_ID``.
    """
    groups: dict[SessionKey, list[Delivery]] = defaultdict(list)
    for delivery in deliveries:
        groups[delivery_session(delivery)].append(delivery)
    by_patient_day: dict[tuple[int, dt.date], list[Appointment]] = defaultdict(list)
    for appointment in appointments:
        by_patient_day[(appointment.pat_id1, appointment.at.date())].append(appointment)
    sessions = []
    for key in sorted(groups):
        members = tuple(sorted(groups[key], key=lambda d: (d.treated_at, d.dhs_id)))
        candidates = by_patient_day.get((key[1], key[0]), [])
        sessions.append(Session(key[0], members, session_appointment(members, candidates)))
    return tuple(sessions)


def session_appointment(
    deliveries: Sequence[Delivery], candidates: Sequence[Appointment]
) -> Appointment | None:
    """The appointment a session was given, among the patient's appointments of that date.

    Those at the session's machine (``Schedule.Location`` is the machine's ``Staff_ID``) come
    first; of them, the latest that starts no later than the first delivery, else the earliest.
    """
    if not candidates:
        return None
    machine = deliveries[0].field.machine.staff_id
    pool = [a for a in candidates if a.location == machine] or list(candidates)
    pool.sort(key=lambda a: (a.at, a.sch_id))
    started = deliveries[0].treated_at
    before = [a for a in pool if a.at <= started]
    return before[-1] if before else pool[0]


def treatment_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """The ``radonc report`` table from the treatment summary query: one row per treated site.

    ``TotalDose`` is in Gy (the sum of ``Dose_Addtl_Projected``, stored in cGy);
    ``StartDate`` and ``EndDate`` are the first and last delivery dates; ``NumberOfFractions``
    counts distinct ``Dose_Hst.Fractions_Tx``; ``TargetVolume`` is the site's name.

    Raises:
        ValueError: The frame lacks a column of :data:`SUMMARY_QUERY_COLUMNS`.
    """
    require_columns(frame, SUMMARY_QUERY_COLUMNS, "treatment summary")
    rows = []
    for row in row_records(frame):
        first, last = cell_timestamp(row, "First_Tx_DtTm"), cell_timestamp(row, "Last_Tx_DtTm")
        dose = _number(row, "Dose_cGy")
        rows.append(
            {
                "PatientName": display_name(
                    *(
                        cell_text(row, c)
                        for c in ("Last_Name", "First_Name", "Middle_Name", "Suffix")
                    )
                ),
                "PatientMRN": cell_text(row, "MRN"),
                "StartDate": first.date() if first else None,
                "EndDate": last.date() if last else None,
                "TotalDose": None if dose is None else round(dose / CGY_PER_GY, 4),
                "NumberOfFractions": cell_integer(row, "Fractions"),
                "TargetVolume": cell_text(row, "Site_Name"),
            }
        )
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
