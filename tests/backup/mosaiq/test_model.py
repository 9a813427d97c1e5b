"""The Mosaiq model: leaf records, enumerations and rows to dataclasses, with hand-computed values."""

import datetime as dt
import math
import struct

import pandas as pd
import pytest

from radonc_assets.backup.mosaiq import enums
from radonc_assets.backup.mosaiq.mlc import (
    LeafRecordError,
    jaw_positions_mm,
    leaf_positions,
    used_leaf_set,
)
from radonc_assets.backup.mosaiq.model import (
    CONTROL_POINT_COLUMNS,
    DELIVERY_COLUMNS,
    SUMMARY_COLUMNS,
    SUMMARY_QUERY_COLUMNS,
    parse_appointments,
    parse_control_points,
    parse_deliveries,
    treatment_summary,
)
from tests.support.mosaiq_rows import (
    A_CP0,
    B_CP0,
    DAY,
    appointment_row,
    delivery_row,
    field_101_points,
    field_102_delivery,
    field_102_points,
    frame,
    leaf_set,
    point_row,
    session,
    sessions,
)


def points_of(rows: list[dict[str, object]]) -> dict[int, tuple]:
    by_field, skipped = parse_control_points(frame(rows, CONTROL_POINT_COLUMNS))
    assert skipped == ()
    return by_field


def skipped_points(rows: list[dict[str, object]]) -> list[str]:
    by_field, skipped = parse_control_points(frame(rows, CONTROL_POINT_COLUMNS))
    assert by_field == {}
    return [f"{s.table} {s.key}: {s.reason}" for s in skipped]


# --- MLC leaf records -------------------------------------------------------------------------


def test_leaf_set_reads_only_the_leaves_in_use() -> None:
    # 200-byte record, 3 leaves in use, padding after them not zero (must be ignored).
    record = leaf_set([-500, 1, 0, 999, -999])
    assert decoded(record, 3) == (-500, 1, 0)


def test_zero_bytes_inside_the_used_part_are_data() -> None:
    # 256 = 0x0100 little-endian: its first byte is zero; 0 is two zero bytes; the record is
    # exactly as long as the leaves in use, so stripping zeros would lose leaves.
    record = struct_pack(256, 0, 0)
    assert record == b"\x00\x01\x00\x00\x00\x00"
    assert decoded(record, 3) == (256, 0, 0)


def decoded(record: bytes, leaves: int) -> tuple[int, ...]:
    return struct.unpack(f"<{leaves}h", used_leaf_set(record, leaves))


def struct_pack(*values: int) -> bytes:
    return leaf_set(values, width=2 * len(values))


def test_record_one_byte_short_gets_its_last_zero_byte_back() -> None:
    # pymedphys mosaiq_mlc_missing_byte_workaround: an odd-length record lost a final 0x00.
    assert decoded(b"\x0a\x00\x05", 2) == (10, 5)


def test_record_too_short_is_an_error() -> None:
    with pytest.raises(LeafRecordError, match="4 bytes cannot hold 3 leaves"):
        decoded(b"\x01\x00\x02\x00", 3)


def test_leaf_positions_are_mm_bank_a_then_bank_b() -> None:
    # -500 hundredths of a cm = -5.00 cm = -50.0 mm; 1234 -> 123.4 mm.
    positions = leaf_positions(leaf_set(A_CP0), leaf_set(B_CP0), 3).mm
    assert positions == (-50.0, -25.0, 0.0, 50.0, 123.4, 0.0)


def via_pymedphys_convention(a_cm: list[float], b_cm: list[float]) -> list[float]:
    """The two steps pymedphys takes, restated: Mosaiq -> its bipolar delivery form -> DICOM."""
    # collimation_to_bipolar_mm: bank 1 = 10 * B with the leaves reversed, bank 2 = -10 * A reversed.
    bank_1 = [10 * b for b in reversed(b_cm)]
    bank_2 = [-10 * a for a in reversed(a_cm)]
    # mlc_dd2dcm: DICOM = (-bank 2, leaves reversed) then (bank 1, leaves reversed).
    return [-v for v in reversed(bank_2)] + list(reversed(bank_1))


def test_leaf_positions_agree_with_pymedphys_sign_and_order() -> None:
    a_raw, b_raw = [-500, -251, 37, 1200], [480, 250, -30, 1300]
    expected = via_pymedphys_convention([v / 100 for v in a_raw], [v / 100 for v in b_raw])
    assert leaf_positions(leaf_set(a_raw), leaf_set(b_raw), 4).mm == pytest.approx(expected)


def test_jaws_are_mm_and_written_whole_or_not_at_all() -> None:
    assert jaw_positions_mm(-4.0, 6.5) == (-40.0, 65.0)
    assert jaw_positions_mm(None, 6.5) is None


# --- enumerations ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "term"),
    [
        (0, "UNKNOWN"),
        (1, "NORMAL"),
        (2, "OPERATOR"),
        (3, "MACHINE"),
        (9, "UNKNOWN"),
        (None, "UNKNOWN"),
    ],
)
def test_termination_status(value: int | None, term: str) -> None:
    assert enums.termination_status(value) == term


@pytest.mark.parametrize(
    ("value", "term"),
    [(0, ""), (1, "VERIFIED"), (2, "VERIFIED_OVR"), (3, "NOT_VERIFIED"), (None, "")],
)
def test_verification_status(value: int | None, term: str) -> None:
    assert enums.verification_status(value) == term


def test_rotation_energy_radiation_and_delivery_type_tables() -> None:
    assert [enums.rotation_direction(v) for v in (0, 1, 2, 3, None)] == [
        None,
        "CW",
        "CC",
        "NONE",
        None,
    ]
    assert [enums.energy_unit(v) for v in (0, 1, 2, 3)] == [None, "KV", "MV", "MEV"]
    assert [enums.radiation_type(v) for v in (1, 2, 6, None)] == ["PHOTON", "ELECTRON", None, None]
    assert [enums.delivery_type(v) for v in (1, 3, 4, 6, 13, None)] == [
        "TREATMENT",
        "SETUP",
        "SETUP",
        "TRMT_PORTFILM",
        "TREATMENT",
        "TREATMENT",
    ]


# --- control points -------------------------------------------------------------------------


def test_control_points_in_dicom_units_with_normalised_weights() -> None:
    points = points_of(field_101_points())[101]
    assert [p.index for p in points] == [0, 1, 2]
    assert [p.cumulative_weight for p in points] == [0.0, 0.5, 1.0]
    first = points[0]
    assert (first.energy, first.energy_unit) == (6.0, "MV")
    assert (first.gantry_angle, first.gantry_direction) == (350.0, "CW")
    assert (first.collimator_angle, first.collimator_direction) == (0.0, "NONE")
    assert (first.couch_angle, first.couch_direction) == (0.0, None)
    assert (first.couch_vertical, first.couch_longitudinal, first.couch_lateral) == (
        None,
        500.0,
        -15.0,
    )
    assert first.jaws_x == (-50.0, 50.0)
    assert first.jaws_y == (-40.0, 60.0)
    assert first.mlc is not None
    assert first.mlc.mm == (-50.0, -25.0, 0.0, 50.0, 123.4, 0.0)
    assert points[1].mlc is not None
    assert points[1].mlc.mm == (-51.0, -25.0, 0.0, 50.0, 123.4, 0.0)


@pytest.mark.parametrize("scale", [1.0, 100.0, 7.3])
def test_index_is_normalised_by_its_last_value_whatever_the_scale(scale: float) -> None:
    rows = [
        point_row(Point=n, Meterset_Index=scale * w)
        for n, w in enumerate((0.0, 0.2, 0.2, 0.75, 1.0))
    ]
    weights = [p.cumulative_weight for p in points_of(rows)[101]]
    assert weights == pytest.approx([0.0, 0.2, 0.2, 0.75, 1.0])


def test_points_are_ordered_by_point_whatever_the_row_order() -> None:
    assert [p.index for p in points_of(list(reversed(field_101_points())))[101]] == [0, 1, 2]


def test_angles_wrap_into_0_360() -> None:
    rows = [point_row(Gantry_Ang=360.0, Coll_Ang=-90.0), point_row(Point=1, Meterset_Index=1.0)]
    first = points_of(rows)[101][0]
    assert (first.gantry_angle, first.collimator_angle) == (0.0, 270.0)


def test_null_angle_after_the_first_point_is_unknown() -> None:
    rows = [point_row(), point_row(Point=1, Meterset_Index=1.0, Gantry_Ang=None, Couch_Ang=None)]
    second = points_of(rows)[101][1]
    assert (second.gantry_angle, second.couch_angle) == (None, None)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"Gantry_Ang": None}, "the first control point has no Gantry_Ang"),
        ({"Couch_Ang": float("nan")}, "the first control point has no Couch_Ang"),
        (
            {"Coll_X1": None, "Coll_Y1": None, "MLC_Leaves": 0},
            "the first control point has neither jaw nor MLC positions",
        ),
        ({"A_Leaf_Set": b"\x01\x00"}, "a leaf record of 2 bytes cannot hold 3 leaves (6 bytes)"),
        ({"B_Leaf_Set": None}, "control point 0 has MLC_Leaves=3 but no leaf record"),
        ({"A_Leaf_Set": "0102"}, "A_Leaf_Set is not binary: str"),
        ({"Meterset_Index": None}, "[Index] of control point 0 is missing"),
        ({"Gantry_Ang": "north"}, "Gantry_Ang is not a number: 'north'"),
        ({"Coll_Ang": float("inf")}, "Coll_Ang is not a number: inf"),
        ({"MLC_Leaves": "+-3"}, "MLC_Leaves is not an integer: '+-3'"),
    ],
)
def test_a_bad_first_point_skips_the_field_with_its_reason(
    change: dict[str, object], reason: str
) -> None:
    leaves = change.get("MLC_Leaves", 3)
    rows = [point_row(**change), point_row(Point=1, Meterset_Index=1.0, MLC_Leaves=leaves)]
    assert skipped_points(rows) == [f"TxFieldPoint FLD_ID=101: {reason}"]


@pytest.mark.parametrize(
    ("rows", "reason"),
    [
        ([point_row(), point_row()], "control point 0 is listed twice"),
        ([point_row(Meterset_Index=0.0)], "the last [Index] is 0.0, not a positive total"),
        (
            [point_row(Meterset_Index=60.0), point_row(Point=1, Meterset_Index=40.0)],
            "[Index] decreases at control point 1 (60.0 -> 40.0)",
        ),
        (
            [point_row(), point_row(Point=1, Meterset_Index=1.0, MLC_Leaves=4)],
            "MLC_Leaves differs between control points: [3, 4]",
        ),
    ],
)
def test_inconsistent_points_skip_the_field(rows: list[dict[str, object]], reason: str) -> None:
    assert skipped_points(rows) == [f"TxFieldPoint FLD_ID=101: {reason}"]


def test_one_bad_field_leaves_the_others() -> None:
    rows = [*field_101_points(), *field_102_points()]
    rows[3] = point_row(FLD_ID=102, Point=0, Meterset_Index=0.0, Gantry_Ang=None)
    by_field, skipped = parse_control_points(frame(rows, CONTROL_POINT_COLUMNS))
    assert list(by_field) == [101]
    assert [s.key for s in skipped] == ["FLD_ID=102"]


def test_missing_contract_column_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="the control points query returned no column Coll_Y2"):
        parse_control_points(pd.DataFrame(columns=list(CONTROL_POINT_COLUMNS[:-1])))


# --- deliveries -----------------------------------------------------------------------------


def test_delivery_row_becomes_the_model() -> None:
    (first, second) = session().deliveries
    assert first.dhs_id == 5001
    assert first.treated_at == dt.datetime(2026, 1, 5, 8, 0)
    assert first.patient.mrn == "MRN-7"
    assert first.patient.sex == "F"
    assert first.patient.birth_date == dt.date(1960, 2, 29)
    assert first.plan.uid.endswith(".1001")
    assert first.plan.study is not None
    assert first.plan.study.started == dt.datetime(2025, 12, 20, 9, 30)
    assert first.field.radiation_type == "PHOTON"
    assert first.field.source_axis_distance == 1000.0
    assert first.field.site.name == "PROSTATE"
    assert first.field.machine.name == "LINAC1"
    assert first.projected_dose == 1.2  # 120 cGy
    assert (first.termination_status, first.verification_status) == ("NORMAL", "VERIFIED")
    assert second.field.fld_id == 102


def test_odd_names_and_notes_stay_values() -> None:
    delivery = session(
        deliveries=[
            delivery_row(
                Last_Name="  O'Brien-Łukasz  ",
                First_Name="José",
                Middle_Name=None,
                Suffix=float("nan"),
                Setup_Note='Arms up; "knee" rest\\B',
                Sex=None,
            )
        ],
        points=field_101_points(),
    ).deliveries[0]
    assert delivery.patient.last_name == "O'Brien-Łukasz"
    assert (delivery.patient.middle_name, delivery.patient.suffix, delivery.patient.sex) == (
        "",
        "",
        "",
    )
    assert delivery.patient.display_name == "O'Brien-Łukasz, José"
    assert delivery.field.site.setup_note == 'Arms up; "knee" rest\\B'


def test_numeric_mrn_is_not_turned_into_a_float() -> None:
    rows = [delivery_row(MRN=12345), field_102_delivery(MRN=None)]
    (delivery,) = session(deliveries=rows).deliveries
    assert delivery.patient.mrn == "12345"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"MRN": "  "}, "the MRN (Ident.IDA) is missing"),
        ({"Tx_DtTm": None}, "Tx_DtTm is missing"),
        ({"Tx_DtTm": "yesterday"}, "Tx_DtTm is not a date-time: 'yesterday'"),
        ({"Delivered_Meterset": None}, "Dose_Hst.Meterset is missing"),
        ({"Modality_Enum": 6}, "a radiation type for Modality_Enum=6 is missing"),
        ({"FLD_ID": 999}, "field FLD_ID=999 has no usable control points"),
        ({"Fraction_Number": 2.5}, "Fraction_Number is not an integer: 2.5"),
    ],
)
def test_unusable_delivery_is_skipped_with_its_reason(
    change: dict[str, object], reason: str
) -> None:
    by_field = points_of(field_101_points())
    parsed = parse_deliveries(frame([delivery_row(**change)], DELIVERY_COLUMNS), by_field)
    assert parsed.items == ()
    assert [(s.table, s.key, s.reason) for s in parsed.skipped] == [
        ("Dose_Hst", "DHS_ID=5001", reason)
    ]


def test_invalid_plan_uid_is_dropped_and_the_site_stands_for_the_plan() -> None:
    (delivery,) = session(
        deliveries=[delivery_row(Plan_UID="PLAN-1", Study_UID="not a uid")],
        points=field_101_points(),
    ).deliveries
    assert (delivery.plan.uid, delivery.plan.study) == ("", None)
    assert delivery.plan.key == "SIT_SET_ID=301"


def test_dates_given_as_text_are_read() -> None:
    (delivery,) = session(
        deliveries=[delivery_row(Tx_DtTm="2026-01-05 08:00:00", Birth_DtTm="1960-02-29")],
        points=field_101_points(),
    ).deliveries
    assert delivery.treated_at == dt.datetime(2026, 1, 5, 8, 0)
    assert delivery.patient.birth_date == dt.date(1960, 2, 29)


def test_a_delivery_repeated_by_the_joins_counts_once() -> None:
    rows = [delivery_row(), delivery_row(Plan_Label="SECOND IMPORT")]
    parsed = parse_deliveries(frame(rows, DELIVERY_COLUMNS), points_of(field_101_points()))
    assert [d.plan.label for d in parsed.items] == ["PROST 1"]


# --- sessions and appointments ----------------------------------------------------------------


def test_sessions_group_patient_plan_date_and_machine() -> None:
    rows = [
        delivery_row(),
        field_102_delivery(),
        delivery_row(DHS_ID=5003, Tx_DtTm=dt.datetime(2026, 1, 6, 8, 0), Fraction_Number=4),
        delivery_row(DHS_ID=5004, Pat_ID1=8, MRN="MRN-8"),
        delivery_row(DHS_ID=5005, Plan_UID="1.2.3.4", Tx_DtTm=dt.datetime(2026, 1, 5, 9, 0)),
        delivery_row(DHS_ID=5006, Machine_Staff_ID=901, Tx_DtTm=dt.datetime(2026, 1, 5, 10, 0)),
    ]
    found = sessions(deliveries=rows)
    # Ordered by date, Pat_ID1, plan key ("1.2.3.4" < PLAN_UID) and machine.
    assert [[d.dhs_id for d in s.deliveries] for s in found] == [
        [5005],
        [5001, 5002],
        [5006],
        [5004],
        [5003],
    ]
    assert [s.date for s in found] == [DAY] * 4 + [dt.date(2026, 1, 6)]


def test_midnight_belongs_to_its_own_date() -> None:
    rows = [
        delivery_row(Tx_DtTm=dt.datetime(2026, 1, 5, 23, 59, 59)),
        delivery_row(DHS_ID=5003, Tx_DtTm=dt.datetime(2026, 1, 6, 0, 0)),
    ]
    assert [s.date for s in sessions(deliveries=rows)] == [DAY, dt.date(2026, 1, 6)]


def test_appointment_prefers_the_machine_then_the_latest_before_the_first_delivery() -> None:
    appointments = [
        appointment_row(Sch_Id=1, App_DtTm=dt.datetime(2026, 1, 5, 7, 0), Activity="EARLY"),
        appointment_row(Sch_Id=2, App_DtTm=dt.datetime(2026, 1, 5, 7, 55), Activity="TX"),
        appointment_row(
            Sch_Id=3, App_DtTm=dt.datetime(2026, 1, 5, 7, 58), Location=555, Activity="MD"
        ),
        appointment_row(Sch_Id=4, App_DtTm=dt.datetime(2026, 1, 5, 9, 0), Activity="LATER"),
        appointment_row(Sch_Id=5, App_DtTm=dt.datetime(2026, 1, 6, 7, 55), Activity="NEXT DAY"),
    ]
    found = session(appointments=appointments)
    assert found.appointment is not None
    assert found.appointment.activity == "TX"


def test_appointment_after_the_delivery_when_there_is_none_before() -> None:
    late = appointment_row(App_DtTm=dt.datetime(2026, 1, 5, 9, 0))
    found = session(appointments=[late])
    assert found.appointment is not None
    assert found.appointment.sch_id == 8001
    assert session(appointments=[]).appointment is None


def test_appointment_without_a_time_is_skipped() -> None:
    parsed = parse_appointments(
        frame(
            [appointment_row(App_DtTm=None)],
            ("Sch_Id", "Pat_ID1", "App_DtTm", "Location", "Activity", "Activity_Description"),
        )
    )
    assert [(s.table, s.key, s.reason) for s in parsed.skipped] == [
        ("Schedule", "Sch_Id=8001", "App_DtTm is missing")
    ]


# --- treatment summary ----------------------------------------------------------------------


def test_treatment_summary_rows() -> None:
    rows = [
        {
            "MRN": "MRN-7",
            "Last_Name": "DOE ",
            "First_Name": "JANE",
            "Middle_Name": None,
            "Suffix": "JR",
            "Sit_Set_ID": 301,
            "Site_Name": "PROSTATE",
            "First_Tx_DtTm": "2026-01-05 08:00:00",
            "Last_Tx_DtTm": dt.datetime(2026, 1, 9, 8, 2),
            "Dose_cGy": 1000.0,
            "Fractions": 5,
        }
    ]
    summary = treatment_summary(frame(rows, SUMMARY_QUERY_COLUMNS))
    assert list(summary.columns) == list(SUMMARY_COLUMNS)
    assert summary.to_dict("records") == [
        {
            "PatientName": "DOE, JANE JR",
            "PatientMRN": "MRN-7",
            "StartDate": dt.date(2026, 1, 5),
            "EndDate": dt.date(2026, 1, 9),
            "TotalDose": 10.0,
            "NumberOfFractions": 5,
            "TargetVolume": "PROSTATE",
        }
    ]
    assert treatment_summary(frame([], SUMMARY_QUERY_COLUMNS)).empty


def test_nan_is_null() -> None:
    (delivery,) = session(
        deliveries=[delivery_row(Dose_Addtl_Projected=math.nan)], points=field_101_points()
    ).deliveries
    assert delivery.projected_dose is None
