"""`radonc serve`: the webserver and the daemon run what the UI launches, and stop together.

Each test starts `radonc serve` as the console script, on a free loopback port, with a
temporary Dagster instance, with default signal handling, in its own process group;
what it starts is found through ``/proc`` (:func:`descendants`).
"""

import json
import signal
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import dagster as dg
import pytest
from pydicom import dcmread

from radonc_assets.cli.processes import descendants
from radonc_assets.devtools.demo import DemoServers
from radonc_assets.devtools.local_servers import free_ports
from radonc_assets.devtools.synthetic import SyntheticSpec, write
from radonc_assets.site.asset_keys import asset_key
from radonc_assets.site.clients import dicom_client
from radonc_assets.site.loading import load_site_files, load_sites
from radonc_assets.site.naming import COVERAGE, ORTHANC_COPIES, VALIDATION_REPORT, check_name
from radonc_assets.site.partitions import site_partitions, site_today
from resources.orthanc import RestOrthanc
from tests.support import alert_receivers
from tests.support.alert_receivers import SmtpServer, Webhook
from tests.support.serving import (
    assert_backed_up,
    launch_backfill,
    start,
    stop,
    wait_for_backfill,
)
from tests.support.sites import SiteFileWriter, variant

BACKFILL = ["2026-01-05", "2026-01-06", "2026-01-07"]

smtp_server = alert_receivers.smtp_server
webhook = alert_receivers.webhook


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
            key={"path": asset_key(site, VALIDATION_REPORT).path},
        )["assetNodeOrError"]
        upstream = {tuple(k["path"]) for k in lineage["dependencyKeys"]}
        assert upstream == {tuple(asset_key(site, a, ORTHANC_COPIES).path) for a in site.sources}
        assert {tuple(k["path"]) for k in lineage["dependedByKeys"]} == {
            tuple(asset_key(site, COVERAGE).path)
        }
    finally:
        stop(served)


def test_a_backfill_with_a_source_down_verifies_the_others_and_alerts_once(
    lab: DemoServers,
    site_file: SiteFileWriter,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    smtp_server: SmtpServer,
    webhook: Webhook,
) -> None:
    """MIM down (nothing listening) during a backfill launched as the UI does: each date's
    ARIA is copied and its check passes, MIM's says unreachable, the dates fail, and the
    SMTP server and the webhook each get one alert naming both dates. Meanwhile a new
    study of today in ARIA is copied by ARIA's sensor and verified by the report that
    follows, though MIM has nothing: today stays undecided, ARIA's check passes."""
    (nowhere,) = free_ports(1)
    smtp_port, mailbox = smtp_server()
    path = variant(lab, site_file, ports={"mim": nowhere})
    site = load_sites(path)["LAB"]
    today = site_today(site).date()
    files = write(
        SyntheticSpec(start=today, end=today, patients=1, seed=77, ct_slices=4), tmp_path / "today"
    )
    aria = dicom_client(site, "ARIA")
    assert all(outcome.ok for outcome in aria.store(files))
    path.write_text(
        path.read_text()
        + '[LAB.automation]\nsensors = "running"\nsensor_interval = 30\nretry_days = 0\n'
        + "[LAB.alerts]\n"
        + 'email_to = ["physics@hospital.example"]\n'
        + 'email_from = "radonc-backup@hospital.example"\n'
        + f'smtp_host = "127.0.0.1"\nsmtp_port = {smtp_port}\n'
        + f'webhook_url = "{webhook.url}/hooks/radonc"\n'
    )
    monkeypatch.setenv("RADONC_ENVIRONMENTS", str(path.parent))
    dates = BACKFILL[:2]
    served = start(path.parent, tmp_path)
    started = time.time()
    try:
        backfill_id = launch_backfill(served, site, dates)
        instance = dg.DagsterInstance.from_config(str(served.home))
        verified = None
        while verified is None and time.time() < started + 240:
            verified = today_verified(instance, today.isoformat())
            time.sleep(1)
        assert verified is not None, "ARIA's check of today never passed"
        print(f"\na new study of today verified {verified - started:.0f} s after the start")
        # MIM has nothing of today: the date is undecided, neither materialized nor failed.
        report = asset_key(site, VALIDATION_REPORT)
        undecided = instance.get_status_by_partition(
            report, [today.isoformat()], site_partitions(site)
        )
        assert undecided is not None
        assert undecided[today.isoformat()] not in (
            dg.AssetPartitionStatus.MATERIALIZED,
            dg.AssetPartitionStatus.FAILED,
        )
        assert wait_for_backfill(served, backfill_id, timeout=300) == "COMPLETED_FAILED"
        runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/backfill": backfill_id}))
        # One failed run per date, at once: a failed check is not retried.
        assert sorted(run.tags["dagster/partition"] for run in runs) == dates
        assert {run.status for run in runs} == {dg.DagsterRunStatus.FAILURE}
        assert not [run for run in runs if "dagster/parent_run_id" in run.tags]
        statuses = instance.get_status_by_partition(report, dates, site_partitions(site))
        assert statuses == dict.fromkeys(dates, dg.AssetPartitionStatus.FAILED)
        verdicts = {
            (run.tags["dagster/partition"], evaluation.check_name): (
                evaluation.passed,
                evaluation.metadata["verdict"].value,
            )
            for run, _, evaluation in check_evaluations(instance, runs)
            if evaluation.check_name in (check_name("ARIA"), check_name("MIM"))
        }
        assert verdicts == {
            **{(date, check_name("ARIA")): (True, "complete") for date in dates},
            **{(date, check_name("MIM")): (False, "unreachable") for date in dates},
        }

        deadline = time.monotonic() + 150  # the backfill sensor looks every 30 s
        while not webhook.requests and time.monotonic() < deadline:
            time.sleep(2)
        (posted,) = webhook.requests
        alert = json.loads(posted.body)
        assert alert["what"] == f"backfill {backfill_id} failed for 2 date(s)"
        assert alert["date"] == f"{dates[0]} to {dates[1]}"
        assert "MIM" in alert["sources"]
        for date in dates:
            assert any(
                line.startswith(f"{date} mim_complete: MIM unreachable: MIM could not be listed")
                for line in alert["details"]
            ), alert["details"]
        assert mailbox.received()["Subject"].startswith(
            f"[radonc-backup] LAB: backfill {backfill_id}"
        )
        # The coverage follows the failed reports (no materialization of them to follow).
        coverage = None
        while time.monotonic() < deadline + 60:
            records = instance.fetch_materializations(asset_key(site, COVERAGE), limit=1).records
            coverage = records[0].asset_materialization if records else None
            if coverage is not None and coverage.metadata["unreachable"].value == len(dates):
                break
            time.sleep(2)
        assert coverage is not None
        assert coverage.metadata["unreachable"].value == len(dates)
        # The run failure sensor leaves a backfill's runs to the backfill's alert.
        assert len(webhook.requests) == 1
        assert len(mailbox.envelopes) == 1
    finally:
        stop(served)
        RestOrthanc(aria, lab.servers["ARIA"].url).delete_instances(
            [str(dcmread(f, stop_before_pixels=True).SOPInstanceUID) for f in files]
        )


def check_evaluations(
    instance: dg.DagsterInstance, runs: Sequence[dg.DagsterRun]
) -> Iterator[tuple[dg.DagsterRun, float, dg.AssetCheckEvaluation]]:
    """Each check evaluation of `runs`: its run, when it was recorded, the evaluation."""
    for run in runs:
        for record in instance.all_logs(
            run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
        ):
            event = record.dagster_event
            if event is not None and isinstance(event.event_specific_data, dg.AssetCheckEvaluation):
                yield run, record.timestamp, event.event_specific_data


def today_verified(instance: dg.DagsterInstance, today: str) -> float | None:
    """When ARIA's check of `today` first passed (a wall-clock time), None before."""
    runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/partition": today}))
    times = [
        at
        for _, at, evaluation in check_evaluations(instance, runs)
        if evaluation.check_name == check_name("ARIA") and evaluation.passed
    ]
    return min(times, default=None)
