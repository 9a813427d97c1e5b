"""The new-data sensors: a real Orthanc source polled at study level, the days the
validation reports left undone, and a simulated Mosaiq database.

Sensors are evaluated as the daemon evaluates them, with `evaluate_tick` on a context
holding the site's definitions and resources (calling ``sensor(context)`` directly
passes the resources as keyword arguments, which a sensor declaring
``required_resource_keys`` does not take, in Dagster 1.13).
"""

import datetime as dt
import os
import sqlite3
import zoneinfo
from collections.abc import Callable, Iterator
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from pydicom import dcmread
from pydicom.uid import generate_uid

from radonc_assets.backup.audit_files import audit_path, write_frame
from radonc_assets.backup.manifest import MANIFEST_COLUMNS
from radonc_assets.defs.automation import sensors
from radonc_assets.defs.automation.sensors import (
    RETRY_ATTEMPTS,
    SensorCursor,
    source_selection,
    study_changes,
)
from radonc_assets.devtools.local_servers import OrthancServer, free_ports
from radonc_assets.site.clients import dicom_client
from radonc_assets.site.config import SiteConfig
from radonc_assets.site.loading import load_sites
from radonc_assets.site.naming import (
    ACTIVE_COURSES,
    ORTHANC_COPIES,
    SOURCE_STUDIES,
    TREATMENT_RECORDS,
    VALIDATION_REPORT,
)
from tests.support.mosaiq_rows import database, delivery_row, field_101_points, tables_of
from tests.support.sensors import evaluate
from tests.support.sites import SiteFileWriter
from tests.support.sources import SyntheticInstance

SITE = "WATCH"
DAY = dt.date(2026, 1, 7)
# A day of the retry window (the 7 days before DAY, from backfill_start 2026-01-01 on).
RETRY_DAY = dt.date(2026, 1, 5)

Clock = Callable[[dt.datetime], None]


def watched_site(site_file: SiteFileWriter, automation: str = "", **ports: int) -> SiteConfig:
    """The site WATCH (its nodes on `ports`, free ports elsewhere) with `automation` keys."""
    path = site_file(SITE, ports=ports)
    if automation:
        path.write_text(path.read_text() + f"[{SITE}.automation]\n{automation}\n")
    return load_sites(path)[SITE]


@pytest.fixture(scope="module")
def aria(
    tmp_path_factory: pytest.TempPathFactory,
    site_file: SiteFileWriter,
    synthetic_files: list[SyntheticInstance],
) -> Iterator[OrthancServer]:
    """An Orthanc ARIA of the site WATCH holding the synthetic instances dated DAY."""
    with OrthancServer(
        tmp_path_factory.mktemp("watched"), f"{SITE}_ARIA", name="watched-aria"
    ) as server:
        site = watched_site(site_file, aria=server.dicom_port)
        dated = [i.path for i in synthetic_files if i.study_date == DAY.strftime("%Y%m%d")]
        outcomes = dicom_client(site, "ARIA").store(dated)
        assert dated
        assert all(o.ok for o in outcomes)
        yield server


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """Sets the sensors' local time (the site's time zone); 20:00 on DAY unless set."""

    def set_to(moment: dt.datetime) -> None:
        monkeypatch.setattr(
            sensors,
            "site_today",
            lambda site: moment.replace(tzinfo=zoneinfo.ZoneInfo(site.timezone)),
        )

    set_to(dt.datetime.combine(DAY, dt.time(20, 0)))
    return set_to


@pytest.fixture(scope="module")
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as temporary:
        yield temporary


def store_ct_copy(
    site: SiteConfig,
    synthetic_files: list[SyntheticInstance],
    folder: Path,
    *,
    new_study: bool = False,
) -> int:
    """One more instance in ARIA: a copy of a CT of DAY with new series and SOP UIDs, in
    its study (which grows) or in a new study; the instances of the CT's study before."""
    dated = [i for i in synthetic_files if i.study_date == DAY.strftime("%Y%m%d")]
    ct = next(i for i in dated if i.modality == "CT")
    ds = dcmread(ct.path)
    if new_study:
        ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    path = folder / f"{ds.SOPInstanceUID}.dcm"
    ds.save_as(path)
    (outcome,) = dicom_client(site, "ARIA").store([path])
    assert outcome.ok
    return sum(i.study_uid == ct.study_uid for i in dated)


@pytest.mark.usefixtures("clock")
def test_new_or_grown_studies_of_today_are_requested_once(
    aria: OrthancServer,
    site_file: SiteFileWriter,
    instance: dg.DagsterInstance,
    synthetic_files: list[SyntheticInstance],
    tmp_path: Path,
) -> None:
    site = watched_site(site_file, aria=aria.dicom_port)

    first = evaluate(instance, site, "ARIA")

    (request,) = first.run_requests
    assert request.partition_key == DAY.isoformat()
    assert request.asset_selection == source_selection(site, "ARIA", site.sources["ARIA"])
    assert request.asset_selection == [
        dg.AssetKey(["watch", "aria", SOURCE_STUDIES]),
        dg.AssetKey(["watch", "aria", ORTHANC_COPIES]),
    ]
    assert request.run_key
    assert request.run_key.startswith(f"ARIA:{DAY}:")
    kept = SensorCursor.parse(first.cursor)
    assert kept.day == DAY.isoformat()
    assert request.run_key == f"ARIA:{DAY}:{kept.state}"

    # ARIA holds one study of DAY (and none before it in the records' lookback)
    assert len({i.study_uid for i in synthetic_files if i.study_date == "20260107"}) == 1
    assert request.tags[sensors.REASON_TAG] == (
        f"ARIA {DAY}: 1 study, none seen before (first poll of this sensor)"
    )

    second = evaluate(instance, site, "ARIA", first.cursor)

    assert second.run_requests == []
    assert second.skip_message == (
        f"nothing new on ARIA: 1 study for {DAY}, none new or grown since the last "
        "poll; no date to retry"
    )
    assert second.cursor == first.cursor

    before = store_ct_copy(site, synthetic_files, tmp_path)
    third = evaluate(instance, site, "ARIA", second.cursor)

    (grown,) = third.run_requests
    assert grown.partition_key == DAY.isoformat()
    assert grown.run_key != request.run_key
    assert grown.tags[sensors.REASON_TAG] == (
        f"ARIA {DAY}: 1 grown study ({before} -> {before + 1} instances) since the last poll "
        "(of 1 study)"
    )
    assert evaluate(instance, site, "ARIA", third.cursor).run_requests == []

    store_ct_copy(site, synthetic_files, tmp_path, new_study=True)
    fourth = evaluate(instance, site, "ARIA", third.cursor)

    (new,) = fourth.run_requests
    assert new.tags[sensors.REASON_TAG] == (
        f"ARIA {DAY}: 1 new study since the last poll (of 2 studies)"
    )
    # The cursor names studies by a hash of their UID, not by the UID.
    assert not any(i.study_uid in str(fourth.cursor) for i in synthetic_files)


def test_study_changes_name_new_grown_and_unfound_studies() -> None:
    before: dict[str, int | None] = {"a": 10, "b": 5, "c": None, "d": 3}
    after: dict[str, int | None] = {"a": 12, "b": 5, "c": 7, "e": 1}

    changes = study_changes(before, after)

    assert (changes.new, changes.grown, changes.gone, changes.changed) == (1, ((10, 12),), 1, True)
    assert changes.describe() == (
        "1 new study, 1 grown study (10 -> 12 instances) since the last poll (of 4 studies); "
        "1 of the last poll's studies not found now"
    )
    assert not study_changes(after, after).changed
    first = study_changes(None, after)
    assert first.changed
    assert first.describe() == "4 studies, none seen before (first poll of this sensor)"
    assert not study_changes(None, {}).changed


def test_outside_its_poll_window_a_source_is_not_asked(
    aria: OrthancServer, site_file: SiteFileWriter, instance: dg.DagsterInstance, clock: Clock
) -> None:
    window = 'poll_windows = { ARIA = "19:00-07:00" }'
    site = watched_site(site_file, window, aria=aria.dicom_port)
    clock(dt.datetime.combine(DAY, dt.time(10, 15)))

    result = evaluate(instance, site, "ARIA", "kept")

    assert result.run_requests == []
    assert result.skip_message == "ARIA is polled between 19:00-07:00 only; it is 10:15 (UTC)"
    assert result.cursor == "kept"

    clock(dt.datetime.combine(DAY, dt.time(6, 59)))  # the window runs across midnight

    assert [r.partition_key for r in evaluate(instance, site, "ARIA").run_requests] == [
        DAY.isoformat()
    ]


@pytest.mark.usefixtures("clock")
def test_a_source_that_does_not_answer_gives_a_skip_reason(
    site_file: SiteFileWriter, instance: dg.DagsterInstance
) -> None:
    (nowhere,) = free_ports(1)
    site = watched_site(site_file, aria=nowhere)

    result = evaluate(instance, site, "ARIA", "kept")

    assert result.run_requests == []
    assert result.skip_message
    assert result.skip_message.startswith("ARIA did not answer: ")
    assert f"127.0.0.1:{nowhere}" in result.skip_message
    assert result.cursor == "kept"


def write_report(day: dt.date, version: int, statuses: dict[str, list[str]]) -> None:
    """The validation report file of `day` (rows of each source with these statuses), whose
    version (modification time in ns) is `version`."""
    rows = [
        {column: "" for column in MANIFEST_COLUMNS}
        | {"sop_instance_uid": f"1.2.826.0.1.3680043.8.498.{n}", "status": status}
        | {"detail": "", "source": alias}
        for alias, listed in statuses.items()
        for n, status in enumerate(listed, 1)
    ]
    path = write_frame(pd.DataFrame(rows), audit_path(SITE, day, VALIDATION_REPORT))
    os.utime(path, ns=(version, version))


@pytest.mark.usefixtures("clock")
@pytest.mark.parametrize(
    ("statuses", "requested"),
    [
        (["verified", "deferred"], [True] * (RETRY_ATTEMPTS + 2)),
        (["verified", "missing"], [True] * RETRY_ATTEMPTS + [False] * 2),
        (["mismatched"], [True] * RETRY_ATTEMPTS + [False]),
        (["verified"], [False] * 2),
    ],
    ids=["deferred", "missing", "mismatched", "complete"],
)
def test_days_left_undone_are_requested_again_per_report(
    aria: OrthancServer,
    site_file: SiteFileWriter,
    instance: dg.DagsterInstance,
    statuses: list[str],
    requested: list[bool],
) -> None:
    site = watched_site(site_file, aria=aria.dicom_port)
    left = "deferred" if "deferred" in statuses else "incomplete"
    cursor = evaluate(instance, site, "ARIA").cursor  # today's state seen
    # What MIM left missing is for MIM's sensor.
    write_report(RETRY_DAY - dt.timedelta(days=1), 10, {"MIM": ["missing"]})

    for version, expected in enumerate(requested, 1):
        write_report(RETRY_DAY, version, {"ARIA": statuses, "MIM": ["missing"]})
        result = evaluate(instance, site, "ARIA", cursor)

        run_keys = [r.run_key for r in result.run_requests]
        assert run_keys == ([f"ARIA:retry:{RETRY_DAY}:{version}"] if expected else [])
        for request in result.run_requests:
            assert request.partition_key == RETRY_DAY.isoformat()
            assert request.asset_selection == source_selection(site, "ARIA", site.sources["ARIA"])
            why = (
                "continued: max_uids_per_run left part of it for the next run"
                if left == "deferred"
                else f"retried (attempt {version} of {RETRY_ATTEMPTS})"
            )
            assert request.tags[sensors.REASON_TAG] == f"ARIA left {left} on {RETRY_DAY}: {why}"
        cursor = result.cursor
        assert evaluate(instance, site, "ARIA", cursor).run_requests == []  # the same report: once


@pytest.mark.usefixtures("clock")
def test_retries_keep_to_the_window_and_count_incomplete_runs_only(
    aria: OrthancServer, site_file: SiteFileWriter, instance: dg.DagsterInstance
) -> None:
    site = watched_site(site_file, aria=aria.dicom_port)
    cursor = evaluate(instance, site, "ARIA").cursor
    write_report(DAY - dt.timedelta(days=8), 1, {"ARIA": ["missing"]})  # before the window
    write_report(dt.date(2025, 12, 31), 1, {"ARIA": ["missing"]})  # before backfill_start
    write_report(DAY, 1, {"ARIA": ["missing"]})  # today: the poll's

    for version in range(1, RETRY_ATTEMPTS + 2):
        write_report(RETRY_DAY, version, {"ARIA": ["verified", "deferred"]})
        result = evaluate(instance, site, "ARIA", cursor)
        assert [r.partition_key for r in result.run_requests] == [RETRY_DAY.isoformat()]
        cursor = result.cursor
    # Deferred runs were no retries of an incomplete day: it still has its own.
    for version in range(RETRY_ATTEMPTS + 2, 2 * RETRY_ATTEMPTS + 3):
        write_report(RETRY_DAY, version, {"ARIA": ["verified", "missing"]})
        result = evaluate(instance, site, "ARIA", cursor)
        cursor = result.cursor
        retried = version < 2 * RETRY_ATTEMPTS + 2
        assert [r.partition_key for r in result.run_requests] == (
            [RETRY_DAY.isoformat()] if retried else []
        )


# --- Mosaiq -------------------------------------------------------------------------------


@pytest.fixture
def mosaiq_db(tmp_path: Path) -> Path:
    """Deliveries on 2026-01-05 and 06 (DHS_ID 5001, 5002), one before the window (4001)."""
    treated = {4001: dt.datetime(2025, 12, 20, 8), 5001: dt.datetime(2026, 1, 5, 8)}
    treated[5002] = dt.datetime(2026, 1, 6, 8, 2)
    deliveries = [delivery_row(DHS_ID=dhs, Tx_DtTm=at) for dhs, at in treated.items()]
    return database(tmp_path / "mosaiq.db", tables_of(deliveries, field_101_points()))


@pytest.mark.usefixtures("clock")
def test_new_mosaiq_deliveries_request_their_dates(
    mosaiq_db: Path, site_file: SiteFileWriter, instance: dg.DagsterInstance
) -> None:
    site = load_sites(site_file(SITE, mosaiq=mosaiq_db))[SITE]

    first = evaluate(instance, site, "MOSAIQ")

    assert [(r.partition_key, r.run_key) for r in first.run_requests] == [
        ("2026-01-05", "MOSAIQ:2026-01-05:5002"),
        ("2026-01-06", "MOSAIQ:2026-01-06:5002"),
    ]
    for request in first.run_requests:
        assert request.asset_selection == [
            dg.AssetKey(["watch", "mosaiq", TREATMENT_RECORDS]),
            dg.AssetKey(["watch", "mosaiq", ORTHANC_COPIES]),
            dg.AssetKey(["watch", "mosaiq", ACTIVE_COURSES]),
        ]
    assert [r.tags[sensors.REASON_TAG] for r in first.run_requests] == [
        "MOSAIQ 2026-01-05: 1 new delivery (DHS_ID 5001; first poll of this sensor)",
        "MOSAIQ 2026-01-06: 1 new delivery (DHS_ID 5002; first poll of this sensor)",
    ]
    assert SensorCursor.parse(first.cursor).state == "5002"

    second = evaluate(instance, site, "MOSAIQ", first.cursor)

    assert second.run_requests == []
    assert second.skip_message == (
        f"nothing new on MOSAIQ: no delivery after DHS_ID 5002 treated from 2026-01-01 to {DAY}; "
        "no date to retry"
    )
    assert SensorCursor.parse(second.cursor).state == "5002"

    with sqlite3.connect(mosaiq_db) as db:
        db.execute(
            'INSERT INTO "Dose_Hst" ("DHS_ID", "FLD_ID", "Pat_ID1", "Tx_DtTm") '
            "VALUES (5003, 101, 7, '2026-01-07 09:30:00')"
        )
    third = evaluate(instance, site, "MOSAIQ", second.cursor)

    assert [(r.partition_key, r.run_key) for r in third.run_requests] == [
        ("2026-01-07", "MOSAIQ:2026-01-07:5003")
    ]
    assert third.run_requests[0].tags[sensors.REASON_TAG] == (
        "MOSAIQ 2026-01-07: 1 new delivery (DHS_ID 5003; after DHS_ID 5002)"
    )
    assert SensorCursor.parse(third.cursor).state == "5003"


@pytest.mark.usefixtures("clock")
def test_a_mosaiq_database_that_cannot_be_read_gives_a_skip_reason(
    tmp_path: Path, site_file: SiteFileWriter, instance: dg.DagsterInstance
) -> None:
    site = load_sites(site_file(SITE, mosaiq=tmp_path / "missing.db"))[SITE]

    result = evaluate(instance, site, "MOSAIQ", "kept")

    assert result.run_requests == []
    assert result.skip_message
    assert result.skip_message.startswith("MOSAIQ did not answer: ")
    assert result.cursor == "kept"


@pytest.mark.usefixtures("clock")
def test_a_day_before_backfill_start_is_never_requested(
    aria: OrthancServer, site_file: SiteFileWriter, instance: dg.DagsterInstance
) -> None:
    path = site_file(SITE, ports={"aria": aria.dicom_port})
    path.write_text(path.read_text().replace('"2026-01-01"', f'"{DAY + dt.timedelta(days=1)}"'))
    site = load_sites(path)[SITE]

    result = evaluate(instance, site, "ARIA")

    assert result.run_requests == []
    assert result.skip_message
    assert result.skip_message.startswith(f"nothing requested for ARIA: {DAY}: ")
    assert result.skip_message.endswith(
        f", but {DAY} is before backfill_start ({DAY + dt.timedelta(days=1)})"
    )
