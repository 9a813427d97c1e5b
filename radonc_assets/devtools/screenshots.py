"""Screenshots of the Dagster UI on the demo, for docs/operations.md.

    .venv/bin/python -m radonc_assets.devtools.screenshots [--out docs/images] [--port 3300]

Runs ``radonc demo --ui`` in a temporary folder (its servers, a synthetic week and its
backup), damages one day (an instance deleted from the archive, then ``radonc validate``
of that day) so that the partitions view shows a failed date, materializes the coverage
(as the UI's button does), and takes screenshots with headless Chromium
(Debian package ``chromium``) of the asset graph, the validation report's partitions,
its checks and its latest materialization, the coverage asset, the automation page and
ARIA's sensor (its ticks and their reasons); then, driving the same Chromium with
Playwright (the dev extra), the launch paths of docs/operations.md: the group's
"Materialize all" dialog with a range of dates, and the recovery's launchpad after
"Scaffold missing config". The demo is stopped (SIGTERM) at the end.

The demo's site file is copied with ``retry_days = 0``: its sensors would otherwise
request the damaged day again, and repair it before the screenshots are taken.
"""

import argparse
import datetime as dt
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

from radonc_assets.backup.audit_files import audit_path, read_frame
from radonc_assets.devtools.demo import demo_week
from radonc_assets.site.loading import load_site
from radonc_assets.site.paths import DATA_DIR_VARIABLE, DEFAULT_ENVIRONMENTS_DIR

LOGGER = logging.getLogger(__name__)

SITE = "DEMO"
WINDOW = "1600,1000"
CHROMIUM = "chromium"
DEMO_TIMEOUT = 900.0  # seconds for the demo's backup of its week
SENSOR_TIMEOUT = 180.0  # seconds for the coverage to be materialized
COVERAGE = ["demo", "coverage"]
GROUP_PAGE = "/locations/demo.toml/asset-groups/demo"  # the site's group, in its location
LAUNCHPAD = "/locations/demo.toml/jobs/demo_recovery/playground"
PAGES = {
    "asset-graph": GROUP_PAGE,
    "validation-report-partitions": "/assets/demo/validation_report?view=partitions",
    "validation-report-checks": "/assets/demo/validation_report?view=checks",
    "validation-report": "/assets/demo/validation_report?view=events",
    "aria-manifest": "/assets/demo/aria/source_studies?view=events",
    "coverage": "/assets/demo/coverage?view=events",
    "recovery-drill": "/assets/demo/recovery_drills?view=events",
    "automation": "/automation",
    "aria-sensor": "/locations/demo.toml/sensors/demo_aria_new_data",
    "runs": "/runs",
}


def _graphql(url: str, query: str, **variables: Any) -> dict[str, Any]:
    answer = requests.post(
        f"{url}/graphql", json={"query": query, "variables": variables}, timeout=30
    )
    answer.raise_for_status()
    return dict(answer.json()["data"])


def _wait_for_ui(url: str, demo: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + DEMO_TIMEOUT
    while time.monotonic() < deadline:
        if demo.poll() is not None:
            raise SystemExit(f"screenshots: the demo ended (exit status {demo.returncode})")
        try:
            if _graphql(url, "{ assetNodes { id } }")["assetNodes"]:
                return
        except requests.RequestException:
            pass
        time.sleep(2)
    raise SystemExit(f"screenshots: no UI on {url} after {DEMO_TIMEOUT:g} s")


def _launch(url: str, path: list[str]) -> None:
    """Materialize one asset as the UI's Materialize button does (GraphQL)."""
    (location,) = [
        entry["name"]
        for entry in _graphql(
            url, "{ workspaceOrError { ... on Workspace { locationEntries { name } } } }"
        )["workspaceOrError"]["locationEntries"]
    ]
    launched = _graphql(
        url,
        """mutation ($params: ExecutionParams!) { launchPipelineExecution(executionParams: $params) {
            __typename ... on PythonError { message } } }""",
        params={
            "selector": {
                "repositoryLocationName": location,
                "repositoryName": "__repository__",
                "pipelineName": "__ASSET_JOB",
                "assetSelection": [{"path": path}],
            },
            "mode": "default",
        },
    )["launchPipelineExecution"]
    if launched["__typename"] != "LaunchRunSuccess":
        raise SystemExit(f"screenshots: cannot materialize {'/'.join(path)}: {launched}")


def _last_materialized(url: str, path: list[str]) -> float:
    data = _graphql(
        url,
        """query ($key: AssetKeyInput!) { assetNodeOrError(assetKey: $key) {
            ... on AssetNode { assetMaterializations(limit: 1) { timestamp } } } }""",
        key={"path": path},
    )
    events = data["assetNodeOrError"].get("assetMaterializations") or []
    return float(events[0]["timestamp"]) / 1000 if events else 0.0


def damage_one_day(environments: Path, day: dt.date) -> str:
    """Delete from the demo's archive one instance ARIA held for `day`; its SOPInstanceUID.

    An image or object of the day's studies when ARIA's manifest of the day lists one (a
    study of the day also receives later days' treatment records, which belong to those
    days' reports), else one of the day's treatment records.
    """
    site = load_site(SITE, environments)
    rest = site.archive().rest_url
    assert rest, "the demo's archive has a REST API"
    manifest = read_frame(audit_path(SITE, day, "ARIA_source_studies"))
    objects = manifest[manifest["modality"] != "RTRECORD"]
    uid = str((manifest if objects.empty else objects)["sop_instance_uid"].iloc[0])
    (found,) = requests.post(f"{rest}/tools/lookup", data=uid, timeout=30).json()
    requests.delete(f"{rest}{found['Path']}", timeout=30).raise_for_status()
    return uid


def screenshot(url: str, path: Path) -> None:
    """One page of the UI as a PNG, by headless Chromium."""
    subprocess.run(
        [
            CHROMIUM,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--window-size={WINDOW}",
            "--virtual-time-budget=20000",
            f"--screenshot={path}",
            url,
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )


def launch_paths(url: str, out: Path, first: dt.date, last: dt.date) -> list[Path]:
    """The launch paths of docs/operations.md as PNGs in `out`, clicked with Playwright.

    The backfill dialog of the site's group with the dates `first` to `last`, and the
    recovery's launchpad with its scaffolded config and its keys' descriptions.
    """
    from playwright.sync_api import sync_playwright  # the dev extra; only this tool

    width, height = (int(n) for n in WINDOW.split(","))
    backfill, launchpad = out / "backfill-dialog.png", out / "recovery-launchpad.png"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=shutil.which(CHROMIUM), args=["--no-sandbox"]
        )
        page = browser.new_page(viewport={"width": width, "height": height})
        page.goto(f"{url}{GROUP_PAGE}")
        page.get_by_role("button", name="Materialize all").click()
        dates = page.get_by_role("dialog").locator("input[type=text]")
        dates.fill(f"[{first}...{last}]")
        dates.press("Enter")
        page.wait_for_timeout(1000)
        page.screenshot(path=backfill)
        page.goto(f"{url}{LAUNCHPAD}")
        page.get_by_text("Scaffold missing config").click()
        page.get_by_role("button", name="Confirm").click()
        page.get_by_text("No missing config").wait_for()
        # The cursor in the op's config: the panel beside it shows its keys, described.
        page.locator(".CodeMirror-line", has_text="destination").click()
        page.wait_for_timeout(1000)
        page.screenshot(path=launchpad)
        browser.close()
    return [backfill, launchpad]


def main(argv: list[str] | None = None) -> int:
    """Run the demo with its UI, damage a day, take the screenshots into `--out`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/images"))
    parser.add_argument("--port", type=int, default=3300)
    args = parser.parse_args(argv)
    if shutil.which(CHROMIUM) is None:
        raise SystemExit("screenshots: install Chromium first (apt-get install chromium)")
    radonc = str(Path(sys.executable).with_name("radonc"))
    url = f"http://127.0.0.1:{args.port}"
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="radonc-screenshots-") as tmp:
        environments = Path(tmp) / "environments"
        environments.mkdir()
        demo_file = (DEFAULT_ENVIRONMENTS_DIR / "demo.toml").read_text()
        (environments / "demo.toml").write_text(
            demo_file.replace("[DEMO.automation]\n", "[DEMO.automation]\nretry_days = 0\n")
        )
        workdir = Path(tmp) / "demo"
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in ("DAGSTER_HOME", DATA_DIR_VARIABLE)
        } | {"RADONC_ENVIRONMENTS": str(environments)}
        log = (Path(tmp) / "demo.log").open("wb")
        demo = subprocess.Popen(
            [radonc, "demo", "--workdir", str(workdir), "--ui", "--port", str(args.port)],
            env=env,
            cwd=tmp,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            _wait_for_ui(url, demo)
            day = demo_week(load_site(SITE, environments))[0] + dt.timedelta(days=3)
            os.environ[DATA_DIR_VARIABLE] = str(workdir / "data")  # the demo's, for audit_path
            uid = damage_one_day(environments, day)
            print(f"deleted {uid} ({day}) from the archive; validating {day} again", flush=True)
            validated = time.time()
            subprocess.run(
                [radonc, "validate", SITE, "--date", str(day)],
                env=env
                | {
                    "DAGSTER_HOME": str(workdir / "dagster_home"),
                    "RADONC_DATA_DIR": str(workdir / "data"),
                },
                cwd=tmp,
                check=False,
            )
            _launch(url, COVERAGE)
            deadline = time.monotonic() + SENSOR_TIMEOUT
            while _last_materialized(url, COVERAGE) < validated:
                if time.monotonic() > deadline:
                    raise SystemExit("screenshots: the coverage was not materialized")
                time.sleep(5)
            for name, page in PAGES.items():
                path = args.out / f"{name}.png"
                screenshot(f"{url}{page}", path)
                print(f"{path}", flush=True)
            for path in launch_paths(url, args.out, day - dt.timedelta(days=1), day):
                print(f"{path}", flush=True)
        finally:
            demo.send_signal(signal.SIGTERM)
            demo.wait(timeout=120)
            log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
