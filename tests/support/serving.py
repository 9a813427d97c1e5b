"""`radonc serve` in tests: started as the console script, driven through GraphQL.

Each call of :func:`start` runs `radonc serve` on a free loopback port, with the Dagster
instance folder ``tmp_path/dagster_home`` (radonc writes its settings there unless a
test put its own ``dagster.yaml`` first), with default signal handling, in its own
process group; :func:`stop` kills what is left of it.
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
import requests

from radonc_assets.cli.processes import descendants
from radonc_assets.defs.dicom_backup.jobs import backup_assets
from radonc_assets.devtools.backfills import (
    BACKFILL_STATUS,
    IN_PROGRESS,
    LAUNCH_BACKFILL,
)
from radonc_assets.devtools.local_servers import free_ports
from radonc_assets.site.config import SiteConfig
from radonc_assets.site.naming import CHAIN_CHECK, check_name

RADONC = str(Path(sys.executable).with_name("radonc"))
STARTUP = 180.0  # seconds for the UI and the code location to come up (cold caches, busy cores)


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
    log = tmp_path / "serve.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [RADONC, "serve", "--port", str(port)],
            env=env,
            cwd=tmp_path,
            start_new_session=True,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    served = Served(process, f"http://127.0.0.1:{port}", home)
    deadline = time.monotonic() + STARTUP
    locations: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        assert process.poll() is None, f"radonc serve ended: {process.returncode}\n{_tail(log)}"
        try:
            locations = _locations(served)
            # Loaded, and its assets in the webserver's asset graph (a backfill launched
            # in between was measured failing with a KeyError of an asset key).
            if (
                locations
                and all(entry["loadStatus"] == "LOADED" for entry in locations)
                and served.graphql("{ assetNodes { id } }")["assetNodes"]
            ):
                return served
        except requests.ConnectionError:
            pass
        time.sleep(1)
    stop(served)
    raise AssertionError(
        f"radonc serve did not come up within {STARTUP} s; its code locations: "
        f"{locations}\n{_tail(log)}"
    )


def _tail(log: Path) -> str:
    """The last lines `radonc serve` wrote, for a failure to say why."""
    return "\n".join(log.read_text(errors="replace").splitlines()[-40:])


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


def launch_backfill(served: Served, site: SiteConfig, dates: list[str]) -> str:
    """Launch the backup of `dates` as the UI does; return the backfill's id."""
    launched = served.graphql(
        LAUNCH_BACKFILL,
        params={
            "partitionNames": dates,
            "assetSelection": [{"path": key.path} for key in backup_assets(site)],
        },
    )["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    return str(launched["backfillId"])


def wait_for_backfill(served: Served, backfill_id: str, timeout: float) -> str:
    """The status of the backfill once it is no longer in progress."""
    deadline = time.monotonic() + timeout
    status = ""
    while time.monotonic() < deadline:
        status = served.graphql(BACKFILL_STATUS, id=backfill_id)["partitionBackfillOrError"][
            "status"
        ]
        if status not in IN_PROGRESS:
            return str(status)
        time.sleep(2)
    raise AssertionError(f"backfill {backfill_id} still {status} after {timeout} s")


def assert_backed_up(
    instance: dg.DagsterInstance, site: SiteConfig, backfill_id: str, dates: list[str]
) -> None:
    """Every backup asset of `site` materialized for `dates` by the backfill's runs, every
    check of each date evaluated once and passed, and each run tagged as a backfill's."""
    for key in backup_assets(site):
        materialized = instance.get_materialized_partitions(key)
        assert set(dates) <= materialized, f"{key}: {sorted(materialized)}"
    runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/backfill": backfill_id}))
    assert {run.tags.get("radonc/launched_by") for run in runs} == {"backfill"}
    evaluations = [
        record.dagster_event.event_specific_data
        for run in runs
        for record in instance.all_logs(
            run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
        )
        if record.dagster_event is not None
    ]
    expected = {check_name(alias) for alias in site.sources} | {CHAIN_CHECK}
    assert len(evaluations) == len(expected) * len(dates), evaluations
    failed = [e for e in evaluations if not (isinstance(e, dg.AssetCheckEvaluation) and e.passed)]
    assert not failed, failed
