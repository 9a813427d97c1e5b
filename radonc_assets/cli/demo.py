"""`radonc demo`: run the local demo site of `environments/demo.toml`.

Starts a real server for every node of the site on its loopback port, loads a
week of synthetic RT data into the sources, shows them through `radonc dicom`
commands, then backs up and validates the seven dates through Dagster and runs a
restore drill into the scratch node (recorded in the demo's Dagster instance, so the
UI shows the runs, partitions and checks). The week starts at the site's
``backfill_start``, where its partitions start; the sensors' cursors are set after the
backup, so that their first ticks request nothing it did. The servers stop when the demo ends (or on Ctrl-C with --keep-running).
"""

import argparse
import os
import shutil
import signal
from pathlib import Path

from radonc_assets.cli import main as cli_main
from radonc_assets.cli.commands import add_command
from radonc_assets.cli.output import warn
from radonc_assets.cli.serve import DEFAULT_HOST, DEFAULT_PORT, serve, write_workspace
from radonc_assets.site.loading import load_site
from radonc_assets.site.naming import new_data_sensor_name
from radonc_assets.site.paths import (
    DAGSTER_HOME_VARIABLE,
    DATA_DIR_VARIABLE,
    dagster_home,
    data_dir,
    environments_dir,
    local_state_dir,
)
from resources.dicom.queries import date_range

WORKSPACE = Path(__file__).resolve().parents[2] / "workspace.yaml"


def add_parsers(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Register `radonc demo`."""
    parser = add_command(subparsers, "demo")
    parser.add_argument("--site", default="DEMO", help="the demo site (default DEMO)")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=local_state_dir() / "demo",
        help="servers' storage, data and Dagster instance (emptied first; default .radonc/demo)",
    )
    parser.add_argument("--patients", type=int, default=4, help="synthetic patients in the week")
    parser.add_argument(
        "--keep-running", action="store_true", help="leave the servers up until Ctrl-C"
    )
    parser.add_argument(
        "--ui",
        action="store_true",
        help="then serve the Dagster UI and daemon on 127.0.0.1 (--port) until Ctrl-C",
    )
    parser.add_argument(
        "--port", type=int, help=f"port of the UI, with --ui (default {DEFAULT_PORT})"
    )
    parser.set_defaults(func=_demo)


def _run(*argv: str) -> int:
    print(f"\n$ radonc {' '.join(argv)}", flush=True)
    return cli_main.main(list(argv))


def _demo(args: argparse.Namespace) -> int:
    from radonc_assets.cli.runs import dagster_instance  # loads Dagster
    from radonc_assets.devtools.demo import (  # dev tooling
        demo_servers,
        demo_week,
        load_synthetic_week,
        seed_sensor_cursors,
    )

    if args.port is not None and not args.ui:
        warn(f"--port {args.port} is ignored without --ui (it is the UI's port)")
    port: int = (args.port if args.ui else None) or DEFAULT_PORT
    site = load_site(args.site)
    first_day, last_day = demo_week(site)
    workdir: Path = args.workdir
    for stale in ("servers", "synthetic", "data", "dagster_home"):
        shutil.rmtree(workdir / stale, ignore_errors=True)
    os.environ.setdefault(DAGSTER_HOME_VARIABLE, str(workdir / "dagster_home"))
    os.environ.setdefault(DATA_DIR_VARIABLE, str(workdir / "data"))
    print(f"Demo site {site.name} from {environments_dir()} (servers under {workdir})")
    with demo_servers(site, workdir / "servers") as servers:
        for alias, server in servers.servers.items():
            print(f"  {alias:16} {server}")
        stored = load_synthetic_week(servers, workdir / "synthetic", last_day, args.patients)
        for alias, count in stored.items():
            what = "deliveries" if alias in site.mosaiq_sources else "instances"
            print(f"Loaded {count} synthetic {what} ({first_day} to {last_day}) into {alias}")
        failures = sum(
            _run("dicom", "echo", "--site", site.name, "--node", alias) != 0
            for alias in servers.servers
        )
        dates = date_range(first_day, last_day)
        failures += sum(
            _run("dicom", "find", "--site", site.name, "--node", alias, "--study-date", dates) != 0
            for alias in site.dicom_sources
        )
        failures += _run("backup", site.name, "--from", str(first_day), "--to", str(last_day)) != 0
        if site.drill.scratch is not None:
            failures += _run("drill", site.name) != 0
        # The sensors start from what the backup saw: their first ticks request nothing.
        cursors = seed_sensor_cursors(site, dagster_instance(), write_workspace(dagster_home()))
        for alias in site.sources:
            name = new_data_sensor_name(site, alias)
            print(
                f"Sensor {name}: "
                + ("cursor set after the backup" if name in cursors else "no cursor set")
            )
        failures += len(site.sources) - len(cursors)
        print(f"\nManifests and reports (CSV): {data_dir()}")
        print(
            "Dagster UI and daemon on the demo's instance (runs, partitions, checks, lineage):\n"
            f"  {DAGSTER_HOME_VARIABLE}={os.environ[DAGSTER_HOME_VARIABLE]} {DATA_DIR_VARIABLE}={data_dir()} "
            ".venv/bin/radonc serve\n"
            f"  then open http://{DEFAULT_HOST}:{port} (or run `radonc demo --ui`)"
        )
        if args.keep_running or args.ui:
            _wait(args.ui, port)
        print("Stopping the demo servers.")
    return 1 if failures else 0


def _wait(with_ui: bool, port: int) -> None:
    """Block until Ctrl-C or SIGTERM, serving the Dagster UI and daemon meanwhile when asked."""
    if with_ui:
        serve(DEFAULT_HOST, port)
        return
    print("Servers are running; press Ctrl-C to stop them.", flush=True)
    try:
        signal.pause()
    except KeyboardInterrupt:
        print()
