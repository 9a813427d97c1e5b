"""`radonc serve`: the Dagster webserver and daemon of this installation, together.

The way to run sites for real: the UI, and the daemon that runs what the UI launches
(the run queue, backfills, sensors, schedules, run monitoring and retries), on the
Dagster instance at ``$DAGSTER_HOME`` (default ``.radonc/dagster_home``) with radonc's
``dagster.yaml``. The workspace, one code location per site file, is written into the
instance folder each time, so it always lists the environments folder's files. Both
processes stop on SIGTERM or Ctrl-C, with everything they started
(:mod:`.processes`); if one of them ends on its own, the other is stopped too and the
command fails.
"""

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

from radonc_assets.cli.commands import add_command
from radonc_assets.cli.processes import Supervisor
from radonc_assets.site.instance import open_instance
from radonc_assets.site.paths import DAGSTER_HOME_VARIABLE, dagster_home, ensure_instance_settings
from radonc_assets.site.workspace import workspace_yaml

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 3000


def add_parsers(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Register `radonc serve`."""
    parser = add_command(subparsers, "serve")
    parser.add_argument(
        "--host", default=DEFAULT_HOST, help=f"address of the UI (default {DEFAULT_HOST})"
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port of the UI (default {DEFAULT_PORT})"
    )
    parser.set_defaults(func=lambda args: serve(args.host, args.port))


def write_workspace(home: Path) -> Path:
    """Write the workspace file the webserver and the daemon load, in `home`; its path.

    One code location per site file (:func:`~radonc_assets.site.workspace.workspace_yaml`).
    """
    workspace = home / "workspace.yaml"
    workspace.write_text(workspace_yaml())
    return workspace


def serve(host: str, port: int, say: Callable[[str], None] = print) -> int:
    """Run the webserver and the daemon until a signal, or until one of them ends.

    Returns:
        0 after a stop by SIGTERM or Ctrl-C; 1 when a process ended on its own.
    """
    home = dagster_home().resolve()
    ensure_instance_settings(home)
    # Created here, before the webserver and the daemon open it at the same moment.
    open_instance(home).dispose()
    workspace = write_workspace(home)
    env = {**os.environ, DAGSTER_HOME_VARIABLE: str(home)}
    bin_dir = Path(sys.executable).parent
    with Supervisor() as supervisor:
        supervisor.start(
            "webserver",
            [str(bin_dir / "dagster-webserver"), "-h", host, "-p", str(port), "-w", str(workspace)],
            env,
        )
        supervisor.start(
            "daemon", [str(bin_dir / "dagster-daemon"), "run", "-w", str(workspace)], env
        )
        say(
            f"Dagster UI on http://{host}:{port}, with the daemon (run queue, backfills, sensors, "
            f"schedules); instance {home}. Ctrl-C stops both."
        )
        try:
            ended = supervisor.wait()
        except KeyboardInterrupt:
            say("Stopping the Dagster webserver and daemon.")
            return 0
        code = supervisor.children[ended].returncode
        say(f"radonc: the Dagster {ended} ended (exit status {code}); stopping the other")
        return 1
