"""`radonc demo`: run the local demo site of `environments/demo.toml`.

Starts a real server for every node of the site on its loopback port, loads a
week of synthetic RT data into the sources, and shows them through `radonc dicom`
commands. The servers stop when the demo ends (or on Ctrl-C with --keep-running).
"""

import argparse
import datetime as dt
import shutil
import signal
import zoneinfo
from pathlib import Path

from radonc_assets.cli import main as cli_main
from radonc_assets.demo import demo_servers, load_synthetic_week
from radonc_assets.site_config import environments_dir, load_site
from resources.dicom_query import date_range

DEFAULT_WORKDIR = Path(__file__).resolve().parents[2] / ".demo"


def add_parser(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Register `radonc demo`."""
    parser = subparsers.add_parser("demo", help="run the local demo site on 127.0.0.1")
    parser.add_argument("--site", default="DEMO", help="the demo site (default DEMO)")
    parser.add_argument(
        "--workdir", type=Path, default=DEFAULT_WORKDIR, help="servers' storage (emptied first)"
    )
    parser.add_argument("--patients", type=int, default=4, help="synthetic patients in the week")
    parser.add_argument(
        "--keep-running", action="store_true", help="leave the servers up until Ctrl-C"
    )
    parser.set_defaults(func=_demo)


def _run(*argv: str) -> int:
    print(f"\n$ radonc {' '.join(argv)}", flush=True)
    return cli_main.main(list(argv))


def _demo(args: argparse.Namespace) -> int:
    site = load_site(args.site)
    workdir: Path = args.workdir
    for stale in ("servers", "synthetic"):
        shutil.rmtree(workdir / stale, ignore_errors=True)
    last_day = dt.datetime.now(zoneinfo.ZoneInfo(site.timezone)).date() - dt.timedelta(days=1)
    first_day = last_day - dt.timedelta(days=6)
    print(f"Demo site {site.name} from {environments_dir()} (servers under {workdir})")
    with demo_servers(site, workdir / "servers") as servers:
        for alias, server in servers.servers.items():
            print(f"  {alias:16} {server}")
        stored = load_synthetic_week(servers, workdir / "synthetic", last_day, args.patients)
        for alias, count in stored.items():
            print(f"Loaded {count} synthetic instances ({first_day} to {last_day}) into {alias}")
        failures = sum(
            _run("dicom", "echo", "--site", site.name, "--node", alias) != 0
            for alias in servers.servers
        )
        dates = date_range(first_day, last_day)
        failures += sum(
            _run("dicom", "find", "--site", site.name, "--node", alias, "--study-date", dates) != 0
            for alias in site.dicom_sources
        )
        archive = site.archive()
        print(
            f"\nArchive REST API: {archive.rest_url} (Orthanc Explorer: {archive.rest_url}/app/explorer.html)"
        )
        if args.keep_running:
            print("Servers are running; press Ctrl-C to stop them.", flush=True)
            try:
                signal.pause()
            except KeyboardInterrupt:
                print()
        print("Stopping the demo servers.")
    return 1 if failures else 0
