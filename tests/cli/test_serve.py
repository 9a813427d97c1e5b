"""`radonc serve`: the webserver and the daemon run what the UI launches, and stop together.

Each test starts `radonc serve` as the console script, on a free loopback port, with a
temporary Dagster instance, with default signal handling, in its own process group;
what it starts is found through ``/proc`` (:func:`descendants`).
"""

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import requests

from radonc_assets.cli.processes import descendants
from radonc_assets.devtools.demo import DemoServers
from radonc_assets.devtools.local_servers import free_ports
from radonc_assets.site.config import SiteConfig
from radonc_assets.site.loading import load_site_files
from radonc_assets.site.naming import CHAIN_CHECK, asset_key, check_name, manifest_name
from tests.conftest import SiteFileWriter, variant

RADONC = str(Path(sys.executable).with_name("radonc"))
STARTUP = 120.0  # seconds for the UI and the code location to come up (cold caches)
BACKFILL = ["2026-01-05", "2026-01-06", "2026-01-07"]


@dataclass
class Served:
    """A running `radonc serve`."""

    process: subprocess.Popen[bytes]
    url: str
    home: Path

    def graphql(self, query: str, **variables: Any) -> dict[str, Any]:
        answer = requests.post(
            f"{self.url}/graphql", json={"query": query, "variables": variables}, timeout=30
        )
        assert answer.ok, f"{answer.status_code}: {answer.text[:2000]}"
        body = answer.json()
        assert "errors" not in body, body["errors"]
        return dict(body["data"])


def start(environments: Path, tmp_path: Path) -> Served:
    """`radonc serve` on the site files of `environments`, once its code locations loaded."""
    (port,) = free_ports(1)
    home = tmp_path / "dagster_home"
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "RADONC_ENVIRONMENTS": str(environments),
        "RADONC_DATA_DIR": os.environ["RADONC_DATA_DIR"],
    }
    process = subprocess.Popen(
        [RADONC, "serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    served = Served(process, f"http://127.0.0.1:{port}", home)
    deadline = time.monotonic() + STARTUP
    while time.monotonic() < deadline:
        assert process.poll() is None, f"radonc serve ended: {process.returncode}"
        try:
            statuses = [entry["loadStatus"] for entry in _locations(served)]
            # Loaded, and its assets in the webserver's asset graph (a backfill launched
            # in between was measured failing with a KeyError of an asset key).
            if (
                statuses
                and all(status == "LOADED" for status in statuses)
                and served.graphql("{ assetNodes { id } }")["assetNodes"]
            ):
                return served
        except requests.ConnectionError:
            pass
        time.sleep(1)
    stop(served)
    raise AssertionError(f"radonc serve did not come up within {STARTUP} s")


def _locations(served: Served) -> list[dict[str, Any]]:
    data = served.graphql(
        """{ workspaceOrError { ... on Workspace { locationEntries {
            name loadStatus locationOrLoadError { __typename ... on PythonError { message } }
        } } } }"""
    )
    return list(data["workspaceOrError"]["locationEntries"])


def stop(served: Served) -> None:
    """Stop what a failed test left running: the whole process group."""
    if served.process.poll() is None:
        with_children = [served.process.pid, *descendants(served.process.pid)]
        for pid in with_children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        served.process.wait()


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


def backup_assets(site: SiteConfig) -> list[dg.AssetKey]:
    """What one date's backup materializes: every asset of the site but its coverage."""
    return [
        *(asset_key(site, alias, manifest_name(source)) for alias, source in site.sources.items()),
        *(asset_key(site, alias, "orthanc_copies") for alias in site.sources),
        asset_key(site, "validation_report"),
    ]


def test_a_backfill_launched_as_the_ui_does_completes_with_every_check_passed(
    lab: DemoServers, site_file: SiteFileWriter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    environments = variant(lab, site_file).parent
    monkeypatch.setenv("RADONC_ENVIRONMENTS", str(environments))
    (site,) = load_site_files().sites.values()
    served = start(environments, tmp_path)
    try:
        launched = served.graphql(
            """mutation ($params: LaunchBackfillParams!) {
                launchPartitionBackfill(backfillParams: $params) {
                    __typename
                    ... on LaunchBackfillSuccess { backfillId }
                    ... on PythonError { message }
                    ... on Error { message }
                } }""",
            params={
                "partitionNames": BACKFILL,
                "assetSelection": [{"path": key.path} for key in backup_assets(site)],
            },
        )["launchPartitionBackfill"]
        assert launched["__typename"] == "LaunchBackfillSuccess", launched
        backfill_id = launched["backfillId"]

        status = wait_for_backfill(served, backfill_id, timeout=300)
        assert status == "COMPLETED_SUCCESS"

        instance = dg.DagsterInstance.from_config(str(served.home))
        for key in backup_assets(site):
            assert set(BACKFILL) <= instance.get_materialized_partitions(key), key
        runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/backfill": backfill_id}))
        evaluations = [
            record.dagster_event.event_specific_data
            for run in runs
            for record in instance.all_logs(
                run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
            )
            if record.dagster_event is not None
        ]
        expected = {check_name(alias) for alias in site.sources} | {CHAIN_CHECK}
        assert len(evaluations) == len(expected) * len(BACKFILL)
        assert all(isinstance(e, dg.AssetCheckEvaluation) and e.passed for e in evaluations)

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


def wait_for_backfill(served: Served, backfill_id: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    status = ""
    while time.monotonic() < deadline:
        status = served.graphql(
            """query ($id: String!) { partitionBackfillOrError(backfillId: $id) {
                ... on PartitionBackfill { status } } }""",
            id=backfill_id,
        )["partitionBackfillOrError"]["status"]
        if status not in ("REQUESTED", "CANCELING", "FAILING"):
            return str(status)
        time.sleep(2)
    raise AssertionError(f"backfill {backfill_id} still {status} after {timeout} s")
