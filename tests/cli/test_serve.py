"""`radonc serve`: the webserver and the daemon run what the UI launches, and stop together.

Each test starts `radonc serve` as the console script, on a free loopback port, with a
temporary Dagster instance, with default signal handling, in its own process group;
what it starts is found through ``/proc`` (:func:`descendants`).
"""

import signal
import time
from pathlib import Path

import dagster as dg
import pytest

from radonc_assets.cli.processes import descendants
from radonc_assets.devtools.demo import DemoServers
from radonc_assets.site.loading import load_site_files
from radonc_assets.site.naming import asset_key
from tests.conftest import SiteFileWriter, variant
from tests.serving import (
    assert_backed_up,
    launch_backfill,
    start,
    stop,
    wait_for_backfill,
)

BACKFILL = ["2026-01-05", "2026-01-06", "2026-01-07"]


def alive(pids: list[int]) -> list[int]:
    """The processes among `pids` that still run (a zombie counts as ended)."""
    running = []
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            running.append(pid)
    return running


def wait_until_gone(pids: list[int], timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    while alive(pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    return alive(pids)


@pytest.fixture
def unreachable_site(site_file: SiteFileWriter) -> Path:
    """A site file whose nodes are free ports: the code location loads, nothing runs."""
    return site_file("IDLE").parent


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_the_webserver_the_daemon_and_what_they_started(
    signum: signal.Signals, unreachable_site: Path, tmp_path: Path
) -> None:
    served = start(unreachable_site, tmp_path)
    try:
        tree = descendants(served.process.pid)
        commands = [Path(f"/proc/{pid}/cmdline").read_bytes() for pid in tree]
        assert any(b"dagster-webserver" in c for c in commands)
        assert any(b"dagster-daemon" in c for c in commands)
        assert any(b"api\0grpc" in c for c in commands)  # the code servers

        started = time.monotonic()
        served.process.send_signal(signum)
        assert served.process.wait(timeout=30) == 0
        assert time.monotonic() - started < 20
        assert wait_until_gone(tree, timeout=5) == []
    finally:
        stop(served)


def test_nothing_outlives_a_killed_radonc_serve(unreachable_site: Path, tmp_path: Path) -> None:
    served = start(unreachable_site, tmp_path)
    try:
        tree = descendants(served.process.pid)
        assert len(tree) >= 4  # two guards, the webserver, the daemon (and code servers)
        served.process.kill()
        served.process.wait()
        assert wait_until_gone(tree, timeout=30) == []
    finally:
        stop(served)


def test_a_backfill_launched_as_the_ui_does_completes_with_every_check_passed(
    lab: DemoServers, site_file: SiteFileWriter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    environments = variant(lab, site_file).parent
    monkeypatch.setenv("RADONC_ENVIRONMENTS", str(environments))
    (site,) = load_site_files().sites.values()
    served = start(environments, tmp_path)
    try:
        backfill_id = launch_backfill(served, site, BACKFILL)

        status = wait_for_backfill(served, backfill_id, timeout=300)
        assert status == "COMPLETED_SUCCESS"

        instance = dg.DagsterInstance.from_config(str(served.home))
        assert_backed_up(instance, site, backfill_id, BACKFILL)

        lineage = served.graphql(
            """query ($key: AssetKeyInput!) { assetNodeOrError(assetKey: $key) {
                ... on AssetNode { dependencyKeys { path } dependedByKeys { path } } } }""",
            key={"path": asset_key(site, "validation_report").path},
        )["assetNodeOrError"]
        upstream = {tuple(k["path"]) for k in lineage["dependencyKeys"]}
        assert upstream == {tuple(asset_key(site, a, "orthanc_copies").path) for a in site.sources}
        assert {tuple(k["path"]) for k in lineage["dependedByKeys"]} == {
            tuple(asset_key(site, "coverage").path)
        }
    finally:
        stop(served)
