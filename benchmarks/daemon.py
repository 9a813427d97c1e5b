"""`radonc serve` driven as the UI drives it: a backfill launched and watched over GraphQL.

The same approach as the tests' ``tests/support/serving.py`` (which benchmarks do not import):
the console script on a free loopback port, in a session of its own with default signal
handling, ready once every code location is loaded and its assets are in the asset
graph; stopped by SIGTERM (it stops the webserver and the daemon), what is left killed.
"""

import contextlib
import itertools
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from statistics import median
from typing import Any

import requests

from benchmarks.commands import RADONC, Radonc
from radonc_assets.cli.processes import descendants
from radonc_assets.defs.dicom_backup.jobs import backup_assets
from radonc_assets.devtools.backfills import (
    BACKFILL_STATUS,
    IN_PROGRESS,
    LAUNCH_BACKFILL,
)
from radonc_assets.devtools.local_servers import free_port
from radonc_assets.site.config import SiteConfig

STARTUP = 180.0  # seconds for the webserver and the code location to come up
STOP = 30.0  # seconds for SIGTERM to stop both
POLL = 0.5  # seconds between two looks at a backfill's status
# A backfill's statuses while it still runs.


@dataclass
class Served:
    """A running `radonc serve`.

    Attributes:
        process: The `radonc serve` process.
        url: The base URL of its webserver.
        ready_seconds: From the spawn to ready.
    """

    process: subprocess.Popen[bytes]
    url: str
    ready_seconds: float = 0.0

    def graphql(self, query: str, **variables: Any) -> dict[str, Any]:
        """The ``data`` of a GraphQL request.

        Raises:
            RuntimeError: An HTTP error, or errors in the answer.
        """
        with requests.Session() as session:
            session.trust_env = False  # loopback only: never through a proxy
            answer = session.post(
                f"{self.url}/graphql", json={"query": query, "variables": variables}, timeout=60
            )
        if not answer.ok:
            raise RuntimeError(f"GraphQL: HTTP {answer.status_code}: {answer.text[:2000]}")
        body = answer.json()
        if "errors" in body:
            raise RuntimeError(f"GraphQL: {body['errors']}")
        return dict(body["data"])

    def ready(self) -> bool:
        """Whether every code location is loaded and its assets are in the asset graph."""
        entries = self.graphql(
            "{ workspaceOrError { ... on Workspace { locationEntries { loadStatus } } } }"
        )["workspaceOrError"]["locationEntries"]
        return bool(
            entries
            and all(entry["loadStatus"] == "LOADED" for entry in entries)
            and self.graphql("{ assetNodes { id } }")["assetNodes"]
        )


@contextmanager
def serving(radonc: Radonc, log: Path) -> Iterator[Served]:
    """`radonc serve` on `radonc`'s folders, ready; stopped on exit.

    Raises:
        RuntimeError: It ended, or was not ready within `STARTUP` seconds.
    """
    port = free_port()
    started = time.monotonic()
    with log.open("wb") as output:
        process = subprocess.Popen(
            [RADONC, "serve", "--port", str(port)],
            env=radonc.env,
            cwd=log.parent,
            start_new_session=True,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    served = Served(process, f"http://127.0.0.1:{port}")
    try:
        while not _ready(served):
            if time.monotonic() - started > STARTUP:
                raise RuntimeError(f"radonc serve not ready within {STARTUP} s; see {log}")
            time.sleep(POLL)
        served.ready_seconds = time.monotonic() - started
        yield served
    finally:
        _stop(served)


def _ready(served: Served) -> bool:
    if served.process.poll() is not None:
        raise RuntimeError(f"radonc serve ended with {served.process.returncode}")
    try:
        return served.ready()
    except requests.ConnectionError:
        return False


def _stop(served: Served) -> None:
    """SIGTERM, then SIGKILL to whatever it started that is left."""
    tree = [served.process.pid, *descendants(served.process.pid)]
    if served.process.poll() is None:
        served.process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            served.process.wait(timeout=STOP)
    for pid in tree:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    served.process.wait()


def backfill(served: Served, site: SiteConfig, dates: list[str], timeout: float) -> dict[str, Any]:
    """Back up `dates` as the UI's backfill does; time it from the launch to its end.

    Every backup asset of the site (each source's manifest and copy, the validation
    report) for every date.

    Returns:
        Its status (``COMPLETED_SUCCESS`` when every run succeeded), the seconds from
        the launch to that status, how many runs ended with each status, the median
        run's seconds from its start to its end and from its creation (queued) to its
        start, the median seconds from one run's end to the next one's start, and the
        seconds from the first run's creation to the last run's end.

    Raises:
        RuntimeError: The launch failed, or it still runs after `timeout` seconds.
    """
    started = time.monotonic()
    launched = served.graphql(
        LAUNCH_BACKFILL,
        params={
            "partitionNames": dates,
            "assetSelection": [{"path": k.path} for k in backup_assets(site)],
        },
    )["launchPartitionBackfill"]
    if launched["__typename"] != "LaunchBackfillSuccess":
        raise RuntimeError(f"backfill not launched: {launched}")
    backfill_id = str(launched["backfillId"])
    status = "REQUESTED"
    while status in IN_PROGRESS:
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"backfill {backfill_id} still {status} after {timeout} s")
        time.sleep(POLL)
        status = served.graphql(BACKFILL_STATUS, id=backfill_id)["partitionBackfillOrError"][
            "status"
        ]
    seconds = time.monotonic() - started
    runs = served.graphql(
        """query ($tags: [ExecutionTag!]) { runsOrError(filter: { tags: $tags }) {
            ... on Runs { results { status creationTime startTime endTime } } } }""",
        tags=[{"key": "dagster/backfill", "value": backfill_id}],
    )["runsOrError"]["results"]
    statuses: dict[str, int] = {}
    for run in runs:
        statuses[run["status"]] = statuses.get(run["status"], 0) + 1
    ran = sorted(
        (run for run in runs if run["startTime"] and run["endTime"]),
        key=lambda run: run["startTime"],
    )
    gaps = [later["startTime"] - earlier["endTime"] for earlier, later in itertools.pairwise(ran)]
    return {
        "status": status,
        "seconds": seconds,
        "runs": statuses,
        "run_median_s": median(run["endTime"] - run["startTime"] for run in ran),
        "queued_median_s": median(run["startTime"] - run["creationTime"] for run in ran),
        "gap_median_s": median(gaps) if gaps else 0.0,
        "launched_to_last_run_end_s": max(run["endTime"] for run in ran)
        - min(run["creationTime"] for run in ran),
    }
