"""The rolling content verification against real servers: the lab's archive compared by
content with ARIA (an Orthanc) and MIM (a dcmqrscp), both by C-GET, and with Mosaiq's
records as generated, a slice a day (N = 2), through the site's own job."""

import datetime as dt
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import requests
from pydicom import dcmread

from radonc_assets.backup.audit_files import audit_path, read_frame, site_path
from radonc_assets.backup.content_verification import ledger_path
from radonc_assets.backup.coverage import DayStatus, day_coverage
from radonc_assets.definitions import site_definitions
from radonc_assets.defs.dicom_backup import coverage as coverage_assets
from radonc_assets.defs.dicom_backup.assets import site_assets as dicom_assets
from radonc_assets.defs.mosaiq.assets import site_assets as mosaiq_assets
from radonc_assets.defs.verification import assets as verification_assets
from radonc_assets.devtools.demo import DemoServers
from radonc_assets.devtools.local_servers import free_ports
from radonc_assets.devtools.synthetic.mosaiq import write_mosaiq_database
from radonc_assets.site.clients import archive_client
from radonc_assets.site.config import SiteConfig
from radonc_assets.site.dagster_resources import site_resources
from radonc_assets.site.loading import load_sites
from radonc_assets.site.naming import (
    CONTENT_CHECK,
    COVERAGE,
    ORTHANC_COPIES,
    SOURCE_STUDIES,
    VALIDATION_REPORT,
    alert_sensor_name,
    content_verification_job_name,
    coverage_job_name,
)
from radonc_assets.site.partitions import partition_date
from tests.support import alert_receivers
from tests.support.alert_receivers import Webhook
from tests.support.runs import run_end
from tests.support.simulated_mosaiq import WEEK
from tests.support.sites import SiteFileWriter, variant

webhook = alert_receivers.webhook

DAY = "2026-01-08"  # a planning study (ARIA and MIM), treatment records (ARIA and Mosaiq)
FIRST = dt.date(2026, 2, 2)  # the first day of the verification
N = 2
pytestmark = pytest.mark.usefixtures("lab_courses_planned")


@pytest.fixture(scope="module")
def mosaiq_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("mosaiq") / "mosaiq.db"
    write_mosaiq_database(WEEK, path)
    return path


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as temporary:
        yield temporary


def rolling_site(
    lab: DemoServers, site_file: SiteFileWriter, mosaiq_db: Path, hook: Webhook, **options: Any
) -> SiteConfig:
    """The lab with Mosaiq, rolling_content_days = N and alerts to `hook`."""
    path = variant(
        lab, site_file, mosaiq=mosaiq_db, settings={"rolling_content_days": N}, **options
    )
    alerts = {"webhook_url": f"{hook.url}/hooks/radonc", "ui_url": "http://ui.example"}
    table = "\n".join(f"{key} = {json.dumps(value)}" for key, value in alerts.items())
    path.write_text(path.read_text() + f"[LAB.alerts]\n{table}\n")
    return load_sites(path)["LAB"]


@pytest.fixture
def copied(lab: DemoServers) -> Iterator[set[str]]:
    """What the test's backups copied into the lab's archive, deleted from it afterwards:
    the lab is shared, and other tests copy DAY's studies themselves."""
    uids: set[str] = set()
    yield uids
    archive_client(lab.site).delete_instances(uids)


def backup(site: SiteConfig, copied: set[str]) -> dg.ExecuteInProcessResult:
    """DAY backed up; what it copied added to `copied`."""
    result = dg.materialize(
        [*dicom_assets(site), *mosaiq_assets(site)],
        partition_key=DAY,
        resources=site_resources(site),
        raise_on_error=False,
    )
    for alias in site.sources:
        copies = read_frame(audit_path("LAB", partition_date(DAY), f"{alias}_{ORTHANC_COPIES}"))
        copied.update(copies[copies["outcome"] == "copied"]["sop_instance_uid"])
    return result


def on(day: dt.date, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make `day` (04:30, the site's UTC) the site's today for the verification and coverage."""
    now = dt.datetime.combine(day, dt.time(4, 30), tzinfo=dt.UTC)
    for module in (verification_assets, coverage_assets):
        monkeypatch.setattr(module, "site_today", lambda _site: now)


def run_job(
    site: SiteConfig, name: str, instance: dg.DagsterInstance
) -> tuple[dg.ExecuteInProcessResult, dict[str, Any]]:
    """A run of the site's job `name`: its result and its materialization's metadata."""
    result = (
        site_definitions(site)
        .resolve_job_def(name)
        .execute_in_process(instance=instance, raise_on_error=False)
    )
    (event,) = result.get_asset_materialization_events()
    return result, {k: v.value for k, v in event.materialization.metadata.items()}


def verify(
    site: SiteConfig, day: dt.date, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> tuple[dg.ExecuteInProcessResult, dict[str, Any], dg.AssetCheckEvaluation]:
    """The content verification of `day`: its result, metadata and check."""
    on(day, monkeypatch)
    result, metadata = run_job(site, content_verification_job_name(site), instance)
    (check,) = result.get_asset_check_evaluations()
    assert check.check_name == CONTENT_CHECK
    return result, metadata, check


def listed_verified(day: str = DAY) -> set[tuple[str, str]]:
    """The instances (and sources) the date's validation report lists as verified."""
    report = read_frame(audit_path("LAB", partition_date(day), VALIDATION_REPORT))
    verified = report[report["status"] == "verified"]
    return set(zip(verified["sop_instance_uid"], verified["source"], strict=True))


def ledger() -> dict[tuple[str, str], list[str]]:
    """Each instance's results in the ledger, oldest first."""
    rows = read_frame(ledger_path("LAB"))
    found: dict[tuple[str, str], list[str]] = {}
    for uid, source, result in zip(
        rows["sop_instance_uid"], rows["source"], rows["result"], strict=True
    ):
        found.setdefault((uid, source), []).append(result)
    return found


def coverage_of(site: SiteConfig, day: str, instance: dg.DagsterInstance) -> dict[str, str]:
    """The date's row of the coverage file, after a run of the coverage job."""
    run_job(site, coverage_job_name(site), instance)
    rows = read_frame(site_path("LAB", COVERAGE))
    (row,) = rows[rows["date"] == day].to_dict(orient="records")
    return {str(k): str(v) for k, v in row.items()}


def tamper(site: SiteConfig, uid: str) -> None:
    """Replace the archive's copy of `uid` with one of other content and the same UIDs."""
    archive = archive_client(site)
    (resource,) = archive.lookup(uid)
    stored = requests.get(f"{archive.rest_url}/instances/{resource['ID']}/file", timeout=10)
    tampered = dcmread(io.BytesIO(stored.content))
    tampered.RTPlanLabel = "TAMPERED"
    buffer = io.BytesIO()
    tampered.save_as(buffer)
    archive.delete_instances([uid])
    archive.upload(buffer.getvalue())


def test_every_verified_instance_is_compared_within_n_days_and_a_changed_copy_is_found(
    lab: DemoServers,
    site_file: SiteFileWriter,
    mosaiq_db: Path,
    webhook: Webhook,
    instance: dg.DagsterInstance,
    copied: set[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    site = rolling_site(lab, site_file, mosaiq_db, webhook)
    assert backup(site, copied).success
    listed = listed_verified()
    assert {source for _, source in listed} == {"ARIA", "MIM", "MOSAIQ"}

    # Day one: about half (N = 2), its slot; nothing is overdue when the ledger begins.
    result, first, check = verify(site, FIRST, instance, monkeypatch)
    assert result.success
    assert check.passed
    assert first["instances"] == len(listed)
    assert 0.3 * len(listed) <= first["due"] <= 0.7 * len(listed)
    assert first["due"] == first["due_slot"] == first["verified"]
    assert first["source_bytes"] > 0
    assert first["content_verified_fraction"] == round(first["due"] / len(listed), 4)
    # Day two: the other half. Every verified instance is in the ledger, identical.
    result, second, check = verify(site, FIRST + dt.timedelta(days=1), instance, monkeypatch)
    assert check.passed
    assert first["due"] + second["due"] == len(listed)
    assert set(ledger()) == listed
    assert {tuple(results) for results in ledger().values()} == {("identical",)}
    assert second["content_verified_fraction"] == 1.0
    assert coverage_of(site, DAY, instance)["status"] == DayStatus.COMPLETE

    manifest = read_frame(audit_path("LAB", partition_date(DAY), f"ARIA_{SOURCE_STUDIES}"))
    plan = str(manifest[manifest["modality"] == "RTPLAN"]["sop_instance_uid"].iloc[0])
    tamper(site, plan)
    try:
        # Its turn comes on one of the next two days.
        day = FIRST + dt.timedelta(days=2)
        result, found, check = verify(site, day, instance, monkeypatch)
        if (plan, "ARIA") not in {k for k, v in ledger().items() if len(v) > 1}:
            day += dt.timedelta(days=1)
            result, found, check = verify(site, day, instance, monkeypatch)
        assert result.success  # the run succeeds, its check fails
        assert not check.passed
        assert found["differing"] == 1
        assert check.description is not None
        assert check.description.startswith(
            f"1 of {found['due']} instances not verified by content: 1 differs, "
        )
        assert f"ARIA {plan} (of {DAY}): content differs from the source" in check.description
        assert ledger()[(plan, "ARIA")] == ["identical", "differs"]

        # The check failure sensor alerts on it.
        run = instance.get_run_by_id(result.run_id)
        assert run is not None
        name = alert_sensor_name(site, "check_failure")
        sensor = site_definitions(site).resolve_sensor_def(name)
        sensor(
            dg.build_run_status_sensor_context(
                sensor_name=name,
                dagster_event=run_end(instance, run),
                dagster_instance=instance,
                dagster_run=run,
            )
        )
        (posted,) = webhook.requests
        alert = json.loads(posted.body)
        assert (alert["what"], alert["sources"]) == ("check failed", ["ARIA"])
        assert alert["details"] == [f"{CONTENT_CHECK}: {check.description}"]

        # The date is incomplete in the coverage, the instance mismatched; the sensors'
        # retries (another copy cannot change an archived instance) do not read it so.
        row = coverage_of(site, DAY, instance)
        assert (row["status"], row["mismatched"]) == (DayStatus.INCOMPLETE, "1")
        assert day_coverage("LAB", dt.date.fromisoformat(DAY)).status == DayStatus.COMPLETE

        # Compared again the next day, whatever its slot, until it is put right.
        day += dt.timedelta(days=1)
        _, again, check = verify(site, day, instance, monkeypatch)
        assert again["due_retry"] == 1
        assert again["differing"] == 1
    finally:
        archive_client(site).delete_instances([plan])
        assert backup(site, copied).success  # copied again from ARIA
    _, _, check = verify(site, day + dt.timedelta(days=1), instance, monkeypatch)
    assert check.passed
    assert ledger()[(plan, "ARIA")] == ["identical"]
    assert coverage_of(site, DAY, instance)["status"] == DayStatus.COMPLETE


def test_a_source_that_cannot_be_reached_fails_the_check_and_is_asked_again(
    lab: DemoServers,
    site_file: SiteFileWriter,
    mosaiq_db: Path,
    webhook: Webhook,
    instance: dg.DagsterInstance,
    copied: set[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert backup(rolling_site(lab, site_file, mosaiq_db, webhook), copied).success
    (nothing,) = free_ports(1)
    down = rolling_site(lab, site_file, mosaiq_db, webhook, ports={"mim": nothing})

    result, metadata, check = verify(down, FIRST, instance, monkeypatch)

    assert result.success
    assert not check.passed
    mim = [r for r in metadata["sources"].records if r.data["source"] == "MIM"]
    assert mim[0].data["unreachable"] == mim[0].data["due"] > 0
    assert metadata["unreachable"] == mim[0].data["due"]
    assert metadata["verified"] == metadata["due"] - metadata["unreachable"]
    assert check.description is not None
    assert "MIM could not be reached" in check.description
    # Nothing is known against the archive: the date stays as its report says.
    assert coverage_of(down, DAY, instance)["status"] == DayStatus.COMPLETE
    # The next day, what could not be compared comes first.
    _, next_day, _ = verify(down, FIRST + dt.timedelta(days=1), instance, monkeypatch)
    assert next_day["due_retry"] == mim[0].data["due"]
