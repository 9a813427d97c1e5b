"""`radonc demo` on a site of free loopback ports: servers start, data loads, commands pass;
its week starts at its site's backfill_start; its sensors' cursors are set after its backup."""

import datetime as dt
import re
import socket
import zoneinfo
from pathlib import Path

import pytest
from dagster._core.scheduler.instigation import (
    InstigatorStatus,
    InstigatorType,
    SensorInstigatorData,
)
from pydicom import dcmread

from radonc_assets.cli.main import main
from radonc_assets.cli.runs import dagster_instance
from radonc_assets.cli.serve import write_workspace
from radonc_assets.defs.automation import sensors
from radonc_assets.devtools.demo import DemoServers, demo_week, seed_sensor_cursors, week_spec
from radonc_assets.devtools.local_servers import free_ports
from radonc_assets.devtools.synthetic import write
from radonc_assets.devtools.synthetic.mosaiq import write_mosaiq_database
from radonc_assets.site.loading import load_sites
from radonc_assets.site.naming import new_data_sensor_name
from radonc_assets.site.paths import DEFAULT_ENVIRONMENTS_DIR, dagster_home
from tests.support.sensors import evaluate
from tests.support.sites import LAB_WEEK_END, SiteFileWriter, variant


def test_demo_runs_and_stops_its_servers(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    site_file: SiteFileWriter,
) -> None:
    ports = dict(zip(("aria", "mim", "archive", "http", "restore"), free_ports(5), strict=True))
    monkeypatch.setenv("RADONC_ENVIRONMENTS", str(site_file("LAB", ports=ports).parent))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.setenv("RADONC_DATA_DIR", str(tmp_path / "data"))

    assert (
        main(["demo", "--site", "LAB", "--workdir", str(tmp_path / "demo"), "--patients", "2"]) == 0
    )

    out = capsys.readouterr().out
    assert "Orthanc LAB_ARIA" in out
    assert "dcmqrscp LAB_MIM" in out
    assert f"Orthanc LAB_ARCHIVE (DICOM {ports['archive']}, HTTP {ports['http']})" in out
    assert out.count(": success (") == 4
    # MIM holds each patient's planning study and an MR study of the same day
    assert "2 match(es) at STUDY level from LAB_ARIA" in out
    assert "4 match(es) at STUDY level from LAB_MIM" in out
    loaded = {
        alias: int(count)
        for count, alias in re.findall(r"Loaded (\d+) synthetic instances \(.*\) into (\w+)", out)
    }
    assert loaded["ARIA"] > 40  # 2 patients: 20 CT + RTSTRUCT + RTPLAN + RTDOSE + records each
    assert loaded["MIM"] == 2 * (20 + 1 + 8 + 1)  # CT, RTSTRUCT, MR, REG
    mim_days = [
        tuple(map(int, day))
        for day in re.findall(r"LAB MIM: (\d+) instances: (\d+) already present, (\d+) copied", out)
    ]
    assert sum(instances for instances, _, _ in mim_days) == loaded["MIM"]
    # the MR and the registration are in MIM only: its C-GET relay copies them
    assert sum(copied for _, _, copied in mim_days) >= 2 * (8 + 1)
    assert "7 date(s) backed up; 0 incomplete" in out
    # The week starts at the site's backfill_start (2026-01-01), with data on that date.
    assert re.search(r"Loaded \d+ synthetic instances \(2026-01-01 to 2026-01-07\) into ARIA", out)
    first = re.search(r"2026-01-01 LAB ARIA: (\d+) instances", out)
    assert first
    assert int(first.group(1)) > 0
    for alias in ("ARIA", "MIM"):
        assert f"Sensor lab_{alias.lower()}_new_data: cursor set after the backup" in out
    # 7 dates x 2 sources
    assert (
        out.count(
            "complete (0 missing, 0 deferred, 0 mismatched, 0 altered_in_archive, 0 not_converted)"
        )
        == 14
    )
    assert "Stopping the demo servers." in out
    for port in ports.values():  # every server stopped: nothing listens on its port again
        with socket.socket() as probe:
            # Still refused while a socket listens; not for connections that the stopped
            # server closed first and that linger (FIN-WAIT-2, TIME-WAIT): the client's
            # kept-alive connections to the archive's REST API, closed only when garbage.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(("127.0.0.1", port))


def test_the_demo_sites_data_starts_at_its_backfill_start(tmp_path: Path) -> None:
    site = load_sites(DEFAULT_ENVIRONMENTS_DIR / "demo.toml")["DEMO"]
    first, last = demo_week(site)

    assert first == site.backfill_start
    files = write(week_spec(last, patients=1), tmp_path)
    dates = {str(dcmread(path, stop_before_pixels=True).StudyDate) for path in files}
    assert min(dates) == first.strftime("%Y%m%d")


def test_after_the_demos_backup_its_sensors_request_nothing_it_did(
    lab: DemoServers,
    site_file: SiteFileWriter,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mosaiq = tmp_path / "mosaiq.db"
    write_mosaiq_database(week_spec(LAB_WEEK_END, patients=3), mosaiq)  # the lab's week
    path = variant(lab, site_file, mosaiq=mosaiq)
    site = load_sites(path)["LAB"]
    monkeypatch.setenv("RADONC_ENVIRONMENTS", str(path.parent))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    evening = dt.datetime.combine(LAB_WEEK_END, dt.time(20), zoneinfo.ZoneInfo(site.timezone))
    monkeypatch.setattr(sensors, "site_today", lambda site: evening)
    # The day backed up, one source per run: the treatment chains, which span every source
    # (and need the plans of the week's earlier days), decide only a backup of all of them.
    for alias in site.sources:
        assert main(["backup", "LAB", alias, "--date", str(LAB_WEEK_END)]) == 0
    instance = dagster_instance()
    # Without a cursor, ARIA's sensor requests the day of the studies the backup copied,
    # Mosaiq's the dates of the week's deliveries.
    assert evaluate(instance, site, "ARIA").run_requests
    assert evaluate(instance, site, "MOSAIQ").run_requests

    cursors = seed_sensor_cursors(site, instance, write_workspace(dagster_home()))

    names = {new_data_sensor_name(site, alias): alias for alias in site.sources}
    assert set(cursors) == set(names)
    states = instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)
    stored = {state.name: state for state in states}
    assert set(stored) == set(names)
    for name, alias in names.items():
        state = stored[name]
        assert isinstance(state.instigator_data, SensorInstigatorData)
        assert state.instigator_data.cursor == cursors[name]
        # As declared in code: the lab's sensors are off until turned on.
        assert state.status == InstigatorStatus.DECLARED_IN_CODE
        tick = evaluate(instance, site, alias, cursors[name])
        assert tick.run_requests == []
        assert tick.skip_message
        assert tick.skip_message.startswith(f"nothing new on {alias}: ")
