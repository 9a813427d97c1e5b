"""`radonc demo` on a site of free loopback ports: servers start, data loads, commands pass."""

import re
import socket
from pathlib import Path

import pytest

from radonc_assets.cli.main import main
from radonc_assets.devtools.local_servers import free_ports
from tests.conftest import SiteFileWriter


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
