"""Every delivery of a window accounted for: the pure functions, on hand-built rows."""

import datetime as dt
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from radonc_assets.backup.audit_files import write_frame
from radonc_assets.backup.coverage import DayStatus, day_status
from radonc_assets.backup.manifest import MANIFEST_COLUMNS
from radonc_assets.backup.mosaiq.accounting import (
    DELIVERY_REPORT_COLUMNS,
    NOT_CONVERTED_COLUMNS,
    SITE_QUERY,
    WINDOW_DELIVERY_COLUMNS,
    NotConverted,
    day_delivery_report,
    delivery_report,
    not_converted,
    not_converted_file,
    not_converted_frame,
)
from radonc_assets.backup.mosaiq.model import (
    CONTROL_POINT_COLUMNS,
    DELIVERY_COLUMNS,
    group_sessions,
    parse_control_points,
    parse_deliveries,
)
from radonc_assets.site.acknowledgements import Acknowledgement
from radonc_assets.site.config import SiteConfig
from radonc_assets.site.loading import load_sites
from tests.support.mosaiq_rows import (
    DAY,
    delivery_row,
    field_101_points,
    field_102_delivery,
    field_102_points,
    frame,
)
from tests.support.site_texts import LEGACY_UCLA, write

AT_0802 = dt.datetime.combine(DAY, dt.time(8, 2))
FIELD_102_PROBLEM = "field FLD_ID=102 has no usable control points"


def window_row(delivery: Mapping[str, Any], **overrides: Any) -> dict[str, Any]:
    """The window deliveries query's row of a deliveries query row (its field in TxField)."""
    row = {column: delivery.get(column) for column in WINDOW_DELIVERY_COLUMNS}
    return row | {"TxField_ID": delivery["FLD_ID"]} | overrides


def account(
    deliveries: list[dict[str, Any]],
    points: Iterable[Mapping[str, Any]],
    window: list[dict[str, Any]] | None = None,
    **options: Any,
) -> tuple[NotConverted, ...]:
    """What read_sessions does with the frames of these rows."""
    by_field, skipped_points = parse_control_points(frame(points, CONTROL_POINT_COLUMNS))
    delivered = frame(deliveries, DELIVERY_COLUMNS)
    parsed = parse_deliveries(delivered, by_field)
    window = [window_row(d) for d in deliveries] if window is None else window
    return not_converted(
        frame(window, WINDOW_DELIVERY_COLUMNS),
        delivered,
        group_sessions(parsed.items),
        skipped_points + parsed.skipped,
        **options,
    )


def test_every_delivery_in_a_record_leaves_nothing() -> None:
    deliveries = [delivery_row(), field_102_delivery()]
    assert account(deliveries, [*field_101_points(), *field_102_points()]) == ()


def test_a_beam_without_control_points_is_listed_with_its_session() -> None:
    deliveries = [delivery_row(), field_102_delivery()]
    (session,) = group_sessions(
        parse_deliveries(
            frame(deliveries[:1], DELIVERY_COLUMNS),
            parse_control_points(frame(field_101_points(), CONTROL_POINT_COLUMNS))[0],
        ).items
    )
    assert account(deliveries, field_101_points()) == (
        NotConverted(
            dhs_id="5002",
            mrn="MRN-7",
            pat_id1="7",
            treated_at=AT_0802,
            fld_id="102",
            field="AP",
            reason=FIELD_102_PROBLEM,
            session=session.key,
        ),
    )


def test_a_field_whose_points_are_unusable_gives_their_reason() -> None:
    points = [*field_101_points(), *field_102_points()]
    points[3] = {**points[3], "Gantry_Ang": None}  # field 102's first point
    (item,) = account([delivery_row(), field_102_delivery()], points)
    assert item.reason == f"{FIELD_102_PROBLEM}: the first control point has no Gantry_Ang"


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"Delivered_Meterset": None}, "Dose_Hst.Meterset is missing"),
        ({"Modality_Enum": 8}, "a radiation type for Modality_Enum=8 is missing"),
        ({"MRN": None}, "the MRN (Ident.IDA) is missing"),
    ],
)
def test_a_delivery_the_model_skips_is_listed(overrides: dict[str, Any], reason: str) -> None:
    # The only delivery of its session: the session makes no record at all.
    points = [*field_101_points(), *field_102_points()]
    items = account([delivery_row(), field_102_delivery(**overrides)], points)
    assert [(i.dhs_id, i.reason) for i in items] == [("5002", reason)]
    assert items[0].mrn == ("" if "MRN" in overrides else "MRN-7")


def test_a_delivery_the_query_did_not_return_is_listed() -> None:
    lost = delivery_row(DHS_ID=7001, FLD_ID=999, Tx_DtTm=dt.datetime.combine(DAY, dt.time(7)))
    window = [
        window_row(delivery_row()),
        window_row(lost, TxField_ID=None),
        window_row(delivery_row(DHS_ID=7002, Tx_DtTm=None)),
    ]
    items = account([delivery_row()], field_101_points(), window)
    assert items == (
        NotConverted(
            dhs_id="7002",
            mrn="MRN-7",
            pat_id1="7",
            treated_at=None,
            fld_id="101",
            field="",
            reason="not returned by the deliveries query",
            session=None,
        ),
        NotConverted(
            dhs_id="7001",
            mrn="MRN-7",
            pat_id1="7",
            treated_at=lost["Tx_DtTm"],
            fld_id="999",
            field="",
            reason="not returned by the deliveries query: TxField has no field FLD_ID=999",
            session=None,
        ),
    )
    (item,) = account([], [], [window_row(delivery_row())], query=SITE_QUERY)
    assert item.reason == "not returned by the site's mosaiq_backup_sql_query"


def test_a_delivery_repeated_by_the_joins_is_listed_once() -> None:
    deliveries = [delivery_row(), field_102_delivery(), field_102_delivery()]
    window = [window_row(d) for d in deliveries]
    assert [i.dhs_id for i in account(deliveries, field_101_points(), window)] == ["5002"]


def test_the_file_names_the_record_that_lacks_the_delivery() -> None:
    deliveries = [delivery_row(), field_102_delivery()]
    items = account(deliveries, field_101_points())
    lost = account([], [], [window_row(delivery_row())])
    session = items[0].session
    assert session is not None
    file = not_converted_frame([*items, *lost], {session: "1.2.3.4"})
    assert list(file.columns) == list(NOT_CONVERTED_COLUMNS)
    assert file.to_dict(orient="records") == [
        {
            "dhs_id": "5002",
            "patient_id": "MRN-7",
            "pat_id1": "7",
            "treated_at": "2026-01-05 08:02:00",
            "fld_id": "102",
            "field": "AP",
            "reason": FIELD_102_PROBLEM,
            "session_record": "1.2.3.4",
        },
        {
            "dhs_id": "5001",
            "patient_id": "MRN-7",
            "pat_id1": "7",
            "treated_at": "2026-01-05 08:00:00",
            "fld_id": "101",
            "field": "",
            "reason": "not returned by the deliveries query",
            "session_record": "",
        },
    ]
    assert list(not_converted_frame([], {}).columns) == list(NOT_CONVERTED_COLUMNS)


ACKNOWLEDGED = Acknowledgement(
    dhs_id=5002, who="A. Physicist", why="setup field, no dose", when=dt.date(2026, 1, 8)
)


def unconverted_file(**overrides: str) -> pd.DataFrame:
    row = {
        "dhs_id": "5002",
        "patient_id": "MRN-7",
        "pat_id1": "7",
        "treated_at": "2026-01-05 08:02:00",
        "fld_id": "102",
        "field": "AP",
        "reason": FIELD_102_PROBLEM,
        "session_record": "1.2.3.4",
    }
    return pd.DataFrame([row | overrides], dtype=str)


def test_a_not_converted_delivery_is_a_report_row() -> None:
    report = delivery_report(unconverted_file(), {})
    assert list(report.columns) == list(DELIVERY_REPORT_COLUMNS)
    (row,) = report.to_dict(orient="records")
    assert row == dict.fromkeys(MANIFEST_COLUMNS, "") | {
        "patient_id": "MRN-7",
        "treatment_date": "20260105",
        "dhs_id": "5002",
        "status": "not_converted",
        "detail": f"{FIELD_102_PROBLEM}; missing from the record of its session, 1.2.3.4",
    }


def test_an_acknowledged_delivery_stays_listed_with_who_and_why() -> None:
    file = pd.concat([unconverted_file(), unconverted_file(dhs_id="5003", session_record="")])
    report = delivery_report(file, {5002: ACKNOWLEDGED})
    assert report[["dhs_id", "status", "detail"]].values.tolist() == [
        [
            "5002",
            "acknowledged",
            f"{FIELD_102_PROBLEM}; missing from the record of its session, 1.2.3.4; "
            "acknowledged by A. Physicist on 2026-01-08: setup field, no dose",
        ],
        ["5003", "not_converted", FIELD_102_PROBLEM],
    ]
    unread = delivery_report(file.iloc[1:], {}, unread="ucla.acknowledgements.toml: bad")
    assert unread["detail"].tolist() == [
        f"{FIELD_102_PROBLEM} (acknowledgements not read: ucla.acknowledgements.toml: bad)"
    ]


@pytest.fixture
def site(tmp_path: Path) -> SiteConfig:
    return load_sites(write(tmp_path, LEGACY_UCLA, "ucla.toml"))["UCLA"]


def test_the_report_rows_of_a_day(site: SiteConfig) -> None:
    (missing,) = day_delivery_report(site, dt.date(2026, 1, 5), "MOSAIQ_DB").to_dict(
        orient="records"
    )
    assert missing["status"] == "not_converted"
    assert missing["detail"] == (
        "the deliveries of the day are not accounted for: no mosaiq_db_not_converted.csv "
        "(materialize treatment_records again)"
    )

    write_frame(unconverted_file(), not_converted_file("UCLA", dt.date(2026, 1, 5), "MOSAIQ_DB"))
    acknowledgements = site.source_file.parent / "ucla.acknowledgements.toml"
    acknowledgements.write_text(
        '[[MOSAIQ_DB]]\ndhs_id = 5002\nwho = "A. Physicist"\nwhy = "setup field, no dose"\n'
        "when = 2026-01-08\n"
    )
    (row,) = day_delivery_report(site, dt.date(2026, 1, 5), "MOSAIQ_DB").to_dict(orient="records")
    assert row["status"] == "acknowledged"
    assert row["detail"].endswith(
        "acknowledged by A. Physicist on 2026-01-08: setup field, no dose"
    )

    acknowledgements.write_text(acknowledgements.read_text().replace("5002", '"5002"'))
    (row,) = day_delivery_report(site, dt.date(2026, 1, 5), "MOSAIQ_DB").to_dict(orient="records")
    assert row["status"] == "not_converted"
    assert row["detail"].endswith(
        f"(acknowledgements not read: {acknowledgements}: site UCLA: MOSAIQ_DB[1].dhs_id: "
        'Input should be a valid integer, not the string "5002")'
    )


def test_a_not_converted_delivery_makes_the_day_incomplete_until_acknowledged() -> None:
    records = pd.DataFrame({"status": ["verified", "verified"]})
    unconverted = delivery_report(unconverted_file(), {})
    assert day_status(pd.concat([records, unconverted])) == DayStatus.INCOMPLETE
    acknowledged = delivery_report(unconverted_file(), {5002: ACKNOWLEDGED})
    assert day_status(pd.concat([records, acknowledged])) == DayStatus.COMPLETE
    deferred = pd.DataFrame({"status": ["deferred"]})
    assert day_status(pd.concat([deferred, acknowledged])) == DayStatus.DEFERRED
    assert day_status(pd.concat([deferred, unconverted])) == DayStatus.INCOMPLETE
