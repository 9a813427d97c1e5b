"""`radonc demo` on a site of free loopback ports: servers start, data loads, commands pass."""

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
    assert out.count("2 match(es) at STUDY level") == 2
    aria_count = int(out.split("synthetic instances")[0].rsplit("Loaded ", 1)[1])
    assert aria_count > 40  # 2 patients: 20 CT + RTSTRUCT + RTPLAN + RTDOSE + records each
    assert "7 date(s) backed up; 0 incomplete" in out
    assert out.count("complete (0 missing, 0 deferred, 0 mismatched)") == 14  # 7 dates x 2 sources
    assert "Stopping the demo servers." in out
    for port in ports.values():  # every server stopped: its port is free again
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", port))
