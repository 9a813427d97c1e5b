"""Long-running children that never outlive radonc: the Dagster webserver and daemon.

`radonc serve` and `radonc demo --ui` run ``dagster-webserver`` and ``dagster-daemon``,
which start processes of their own (code servers, run workers). Each child is started
under a guard, this module run as ``python -m radonc_assets.cli.processes -- CMD...``,
which

- asks Linux to send it SIGTERM when radonc dies, however it dies (``PR_SET_PDEATHSIG``);
- adopts every process its command leaves behind (``PR_SET_CHILD_SUBREAPER``), so that
  the whole tree stays below it;
- on SIGTERM or SIGINT interrupts its command (SIGINT, what Dagster's own tools send),
  waits for it, then ends what is left of the tree (SIGTERM, then SIGKILL).

So a SIGTERM or Ctrl-C to radonc stops everything within seconds, and a SIGKILL to
radonc still does: the guards get their SIGTERM from the kernel.
"""

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType

LOGGER = logging.getLogger(__name__)

# <linux/prctl.h>
_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
# Seconds a command gets to stop after SIGINT, then what is left after SIGTERM.
INTERRUPT_GRACE = 10.0
TERMINATE_GRACE = 3.0
_POLL = 0.1


def _prctl(option: int, value: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(option, value, 0, 0, 0) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"prctl({option}): {os.strerror(error)}")


def descendants(pid: int) -> list[int]:
    """Every living descendant of process `pid` (from ``/proc``), children first."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # ended meanwhile
        # Field 4 (ppid) counted after the command name, which may hold spaces.
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found: list[int] = []
    level = children.get(pid, [])
    while level:
        found += level
        level = [child for parent in level for child in children.get(parent, [])]
    return found


def _signal_all(pids: Sequence[int], signum: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)


def _reap(command: "subprocess.Popen[bytes] | None" = None) -> None:
    """Collect the exit status of adopted processes that ended (a subreaper must).

    The status of `command`, when it is among them, is kept in its ``returncode``.
    """
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        if command is not None and pid == command.pid:
            command.returncode = os.waitstatus_to_exitcode(status)


def end_tree(command: "subprocess.Popen[bytes]", grace: float = TERMINATE_GRACE) -> None:
    """End every descendant of this process: SIGTERM, then SIGKILL after `grace` seconds.

    `command`, the guarded one, keeps its exit status (:func:`_reap`).
    """
    me = os.getpid()
    _signal_all(descendants(me), signal.SIGTERM)
    deadline = time.monotonic() + grace
    while descendants(me) and time.monotonic() < deadline:
        _reap(command)
        time.sleep(_POLL)
    _signal_all(descendants(me), signal.SIGKILL)
    time.sleep(_POLL)
    _reap(command)


class _StopSignalError(Exception):
    """SIGTERM or SIGINT reached the guard."""


def _stop(signum: int, frame: FrameType | None) -> None:
    raise _StopSignalError(signal.Signals(signum).name)


def guard(command: Sequence[str]) -> int:
    """Run `command` so that it and everything it starts end with the guard's parent.

    Returns:
        The command's exit status (128 + the signal number when a signal ended it).
    """
    parent = os.getppid()
    _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the parent died before the request took effect
        return 1
    _prctl(_PR_SET_CHILD_SUBREAPER, 1)
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    child = subprocess.Popen(command)
    try:
        while child.returncode is None:
            _reap(child)
            time.sleep(_POLL)
    except _StopSignalError:
        child.send_signal(signal.SIGINT)
        try:
            child.wait(INTERRUPT_GRACE)
        except subprocess.TimeoutExpired:
            LOGGER.warning("%s did not stop within %g s", command[0], INTERRUPT_GRACE)
    finally:
        end_tree(child)
    code = child.returncode if child.returncode is not None else child.wait()
    return code if code >= 0 else 128 - code


class Supervisor:
    """Children started under guards, stopped together.

    Use as a context manager: leaving it (normally, on an exception or on Ctrl-C)
    stops every child and what they started.
    """

    def __init__(self) -> None:
        self.children: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, command: Sequence[str], env: Mapping[str, str]) -> None:
        """Start `command` under a guard, as child `name`."""
        guarded = [sys.executable, "-m", __name__, "--", *command]
        self.children[name] = subprocess.Popen(guarded, env=dict(env))

    def wait(self) -> str:
        """Block until a child ends; its name (a KeyboardInterrupt ends the wait too)."""
        while True:
            for name, child in self.children.items():
                if child.poll() is not None:
                    return name
            time.sleep(_POLL * 5)

    def stop(self) -> None:
        """Stop every child: each guard stops its tree; a guard that hangs is killed with it."""
        running = [child for child in self.children.values() if child.poll() is None]
        for child in running:
            child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + INTERRUPT_GRACE + TERMINATE_GRACE + 2
        for child in running:
            try:
                child.wait(max(deadline - time.monotonic(), _POLL))
            except subprocess.TimeoutExpired:
                _signal_all(descendants(child.pid), signal.SIGKILL)
                child.kill()
                child.wait()

    def __enter__(self) -> "Supervisor":
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def main(argv: Sequence[str]) -> int:
    """``python -m radonc_assets.cli.processes -- CMD...``: :func:`guard` of CMD."""
    command = list(argv[1:] if argv[:1] == ["--"] else argv)
    if not command:
        print("usage: python -m radonc_assets.cli.processes -- COMMAND...", file=sys.stderr)
        return 2
    return guard(command)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
