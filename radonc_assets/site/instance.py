"""The Dagster instance runs are recorded in: opening it, dead runs, and waiting for a pool.

Dagster creates a SQLite instance's databases on first use and stamps each with its
schema revision. Processes that open a new instance at the same moment (the webserver
and the daemon of `radonc serve`, a command run from cron beside them) may each stamp a
database, after which every process that opens the instance fails with "alembic_version
has more than one head": :func:`open_instance` makes the opening one process's at a time.

A run executed in-process (the command line) whose process is killed stays
STARTED in the instance, and the concurrency slot it held in its source's pool
stays taken: every later run needing that pool would wait for ever. Runs started
here carry the PID, the process start time and the host of the process that runs
them (:func:`process_tags`); :func:`fail_dead_runs` marks those whose process is
gone as failed and frees their slots. Runs launched by the daemon are watched by
Dagster's own run monitoring instead.
"""

import fcntl
import logging
import os
import socket
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import dagster as dg

from radonc_assets.site.access_log import os_user
from radonc_assets.site.errors import PoolBusyError

LOGGER = logging.getLogger(__name__)

# Dagster's run tag for the retries of one run (dagster._core.storage.tags).
MAX_RETRIES_TAG = "dagster/max_retries"
# Dagster's run tag saying whether a run whose step failed is retried (the instance's
# run_retries.retry_on_asset_or_op_failure when absent).
RETRY_ON_STEP_FAILURE_TAG = "dagster/retry_on_asset_or_op_failure"
PID_TAG = "radonc/pid"
PROCESS_START_TAG = "radonc/process_start"
HOST_TAG = "radonc/host"
# How a run started and who started it (radonc_assets.defs.audit).
LAUNCHED_BY_TAG = "radonc/launched_by"
STARTED_BY_TAG = "radonc/started_by"

# The lock file in the instance folder under which a process opens the instance.
OPENING_LOCK = ".opening.lock"

_ACTIVE = [
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


def open_instance(home: Path) -> dg.DagsterInstance:
    """The Dagster instance in the folder `home` (its ``dagster.yaml``), opened under a lock.

    The lock is held while the instance's storage is opened (and created, the first
    time), so that no two processes create it at once; it is released when this returns.
    """
    with (home / OPENING_LOCK).open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return dg.DagsterInstance.from_config(str(home))


def failure_cause(event: dg.DagsterEvent) -> str:
    """Why a step failed, on one line.

    A ``dg.Failure``'s description, else the error that started the chain (Dagster wraps it).
    """
    failure = event.step_failure_data
    if failure.user_failure_data is not None and failure.user_failure_data.description:
        return " ".join(failure.user_failure_data.description.split())
    error = failure.error
    if error is None:
        return event.message or "failed"
    while error.cause is not None:
        error = error.cause
    return " ".join(error.message.split())


def process_start(pid: int) -> str | None:
    """The start time of process `pid` (clock ticks since boot), None when it is gone.

    With the PID it identifies a process even after the PID is reused.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22 (starttime) counted after the command name, which may hold spaces.
    return stat.rsplit(")", 1)[1].split()[19]


def process_tags() -> dict[str, str]:
    """Tags identifying this process and its user, for the runs it executes."""
    pid = os.getpid()
    return {
        PID_TAG: str(pid),
        PROCESS_START_TAG: process_start(pid) or "",
        HOST_TAG: socket.gethostname(),
        LAUNCHED_BY_TAG: "cli",
        STARTED_BY_TAG: os_user(),
    }


def _is_gone(run: dg.DagsterRun) -> bool:
    """Whether the process of this host that ran `run` no longer exists."""
    tags = run.tags
    if tags.get(HOST_TAG) != socket.gethostname() or not tags.get(PID_TAG, "").isdigit():
        return False
    return process_start(int(tags[PID_TAG])) != tags.get(PROCESS_START_TAG)


def fail_dead_runs(
    instance: dg.DagsterInstance, is_dead: Callable[[dg.DagsterRun], bool] = _is_gone
) -> list[dg.DagsterRun]:
    """Mark the unfinished runs whose process is gone as failed; free their pool slots.

    Args:
        instance: The Dagster instance.
        is_dead: Tells a dead run (default: its process, on this host, is gone).

    Returns:
        The runs marked failed.
    """
    dead = [
        run
        for run in instance.get_runs(filters=dg.RunsFilter(statuses=_ACTIVE))
        if PID_TAG in run.tags and is_dead(run)
    ]
    for run in dead:
        LOGGER.warning("Run %s: its process %s is gone", run.run_id, run.tags[PID_TAG])
        instance.report_run_failed(
            run,
            f"The process that ran it (PID {run.tags[PID_TAG]} on {run.tags.get(HOST_TAG)}) "
            "ended without finishing it (killed or crashed); marked failed by radonc.",
        )
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
    return dead


def fail_own_runs(instance: dg.DagsterInstance) -> list[dg.DagsterRun]:
    """Mark the unfinished runs of this process as failed (it is being stopped)."""
    own = str(os.getpid())
    return fail_dead_runs(instance, lambda run: run.tags.get(PID_TAG) == own)


def wait_for_pools(
    instance: dg.DagsterInstance,
    pools: Iterable[str],
    timeout: float,
    say: Callable[[str], None],
    poll: float = 1.0,
) -> None:
    """Wait until each pool has a free slot, saying once which run holds it.

    Raises:
        PoolBusyError: A pool is still full after `timeout` seconds.
    """
    deadline = time.monotonic() + timeout
    for pool in pools:
        told = False
        while True:
            info = instance.event_log_storage.get_concurrency_info(pool)
            if info.slot_count == 0 or len(info.claimed_slots) < info.slot_count:
                break
            holders = sorted({slot.run_id for slot in info.claimed_slots})
            since = _started(instance, holders[0])
            if not told:
                say(f"waiting for pool {pool}, held by run {holders[0]}{since}")
                told = True
            if time.monotonic() >= deadline:
                raise PoolBusyError(
                    f"pool {pool} is still held by run {', '.join(holders)}{since} after "
                    f"{timeout:g} s; let it finish, or stop it (the Dagster UI's run page)"
                )
            time.sleep(poll)


def _started(instance: dg.DagsterInstance, run_id: str) -> str:
    record = instance.get_run_record_by_id(run_id)
    if record is None or record.start_time is None:
        return ""
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record.start_time))
    return f" since {started}"
