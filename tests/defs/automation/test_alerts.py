"""Failure alerts: delivered to a local SMTP server and webhook, and sent by the alert
sensors for runs of the site's jobs that really failed in a temporary Dagster instance.

The site ALERT: ARIA an Orthanc, MIM an (empty) dcmqrscp, the session's Orthanc archive.
"""

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from pydicom import dcmread
from pydicom.uid import generate_uid

from radonc_assets.cli.main import main
from radonc_assets.definitions import site_definitions
from radonc_assets.devtools.local_servers import DcmqrscpServer, OrthancServer, free_ports
from radonc_assets.site.alerts import alert_message, deliver
from radonc_assets.site.asset_keys import asset_key, op_name
from radonc_assets.site.clients import dicom_client
from radonc_assets.site.config import SiteConfig
from radonc_assets.site.dagster_resources import site_resources
from radonc_assets.site.loading import load_sites
from radonc_assets.site.naming import (
    RECOVERIES,
    SOURCE_STUDIES,
    VALIDATION_REPORT,
    alert_sensor_name,
    automation_sensor_name,
    backup_job_name,
    drill_job_name,
    recovery_job_name,
    validate_job_name,
)
from tests.support import alert_receivers
from tests.support.alert_receivers import PASSWORD, USER, Mailbox, SmtpServer, Webhook
from tests.support.runs import run_end
from tests.support.sites import SiteFileWriter, daily_assets
from tests.support.sources import ARCHIVE_AET, SyntheticInstance

# The receivers' fixtures.
smtp_server = alert_receivers.smtp_server
webhook = alert_receivers.webhook

# The SMTP server asks for a login without TLS, on loopback only.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")

SITE = "ALERT"
PASSWORD_VARIABLE = "RADONC_TEST_SMTP_PASSWORD"
UI_URL = "http://dagster.hospital.example:3000"

# Keys of an [ALERT.alerts] table.
Alerts = dict[str, object]
# The SMTP server's mailbox, the webhook, and an alerts table naming them.
Receivers = tuple[Mailbox, Webhook, Alerts]


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as temporary:
        yield temporary


@pytest.fixture(scope="module")
def aria(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrthancServer]:
    with OrthancServer(
        tmp_path_factory.mktemp("alert-aria"), f"{SITE}_ARIA", name="alert-aria"
    ) as server:
        yield server


@pytest.fixture(scope="module")
def mim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DcmqrscpServer]:
    with DcmqrscpServer(tmp_path_factory.mktemp("alert-mim"), f"{SITE}_MIM") as server:
        yield server


@pytest.fixture
def ports(
    aria: OrthancServer, mim: DcmqrscpServer, archive_server: OrthancServer
) -> dict[str, int]:
    """The ports of the site's running servers."""
    return {
        "aria": aria.dicom_port,
        "mim": mim.dicom_port,
        "archive": archive_server.dicom_port,
        "http": archive_server.http_port,
    }


def alert_site(
    site_file: SiteFileWriter,
    alerts: Alerts,
    ports: dict[str, int] | None = None,
    aets: dict[str, str] | None = None,
    **options: Any,
) -> SiteConfig:
    """The site ALERT on `ports` with `alerts` as its ``[ALERT.alerts]`` table."""
    aets = {"archive": ARCHIVE_AET} | (aets or {})
    path = site_file(SITE, ports=ports or {}, aets=aets, **options)
    table = "\n".join(f"{key} = {json.dumps(value)}" for key, value in alerts.items())
    path.write_text(path.read_text() + f"[{SITE}.alerts]\n{table}\n")
    return load_sites(path)[SITE]


def destinations(smtp_port: int, webhook_url: str) -> Alerts:
    return {
        "email_to": ["physics@hospital.example"],
        "email_from": "radonc-backup@hospital.example",
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp_port,
        "smtp_username": USER,
        "smtp_password_env_var": PASSWORD_VARIABLE,
        "webhook_url": f"{webhook_url}/hooks/radonc",
        "ui_url": UI_URL,
        "timeout": 5.0,
    }


@pytest.fixture
def receivers(
    smtp_server: SmtpServer, webhook: Webhook, monkeypatch: pytest.MonkeyPatch
) -> Receivers:
    """An SMTP server asking for the login (its password in the environment), the webhook."""
    port, mailbox = smtp_server(auth=True)
    monkeypatch.setenv(PASSWORD_VARIABLE, PASSWORD)
    return mailbox, webhook, destinations(port, webhook.url)


def assert_alerted(
    mailbox: Mailbox,
    hook: Webhook,
    *,
    what: str,
    date: str,
    sources: list[str],
    details: list[str],
    run_url: str,
) -> None:
    """One e-mail and one JSON post, both naming the site, sources, date, failure and run."""
    email = mailbox.received()
    assert email["Subject"] == f"[radonc-backup] {SITE}: {what} for {date} ({', '.join(sources)})"
    body = email.get_content()
    for line in (
        f"Site: {SITE}",
        f"Date: {date}",
        f"Sources: {', '.join(sources)}",
        f"What failed: {what}",
        *details,
        f"Run: {run_url}",
    ):
        assert line in body.splitlines()
    assert [login for _, login in mailbox.logins] == [USER]
    (posted,) = hook.requests
    assert posted.path == "/hooks/radonc"
    assert json.loads(posted.body) == {
        "site": SITE,
        "date": date,
        "sources": sources,
        "what": what,
        "details": details,
        "run_url": run_url,
    }


def test_deliver_sends_the_alert_by_email_and_webhook(
    site_file: SiteFileWriter, receivers: Receivers
) -> None:
    mailbox, hook, alerts = receivers
    site = alert_site(site_file, alerts)
    message = alert_message(
        SITE,
        "alert_backup run failed",
        "2026-02-03",
        ["alert__aria__backup: ARIA refused the association"],
        f"{UI_URL}/runs/0123",
        ["ARIA"],
    )

    assert deliver(site, message) == []

    assert_alerted(
        mailbox,
        hook,
        what="alert_backup run failed",
        date="2026-02-03",
        sources=["ARIA"],
        details=["alert__aria__backup: ARIA refused the association"],
        run_url=f"{UI_URL}/runs/0123",
    )


def test_deliver_reports_each_failed_delivery_without_the_password(
    site_file: SiteFileWriter, receivers: Receivers, monkeypatch: pytest.MonkeyPatch
) -> None:
    mailbox, hook, alerts = receivers
    message = alert_message(SITE, "alert_backup run failed", "", [], f"{UI_URL}/runs/0", [])

    monkeypatch.delenv(PASSWORD_VARIABLE)
    (unset,) = deliver(alert_site(site_file, alerts), message)

    assert unset.startswith("e-mail: ")
    assert f"environment variable {PASSWORD_VARIABLE} is not set" in unset
    assert mailbox.envelopes == []
    assert len(hook.requests) == 1  # the webhook still got it

    monkeypatch.setenv(PASSWORD_VARIABLE, PASSWORD)
    smtp_nowhere, hook_nowhere = free_ports(2)
    unreachable = alerts | destinations(smtp_nowhere, f"http://127.0.0.1:{hook_nowhere}")
    problems = deliver(alert_site(site_file, unreachable), message)

    assert problems == [
        f"e-mail: cannot connect to SMTP server 127.0.0.1:{smtp_nowhere}: connection refused "
        "(tried 3 times)",
        f"webhook: cannot reach webhook http://127.0.0.1:{hook_nowhere}/hooks/radonc: "
        "connection refused (tried 3 times)",
    ]
    assert not any(PASSWORD in problem for problem in [unset, *problems])


def store_fresh_instance(
    site: SiteConfig, synthetic_files: list[SyntheticInstance], day: dt.date, folder: Path
) -> None:
    """A CT of a new study dated `day` stored into ARIA (so in no archive)."""
    ct = next(i for i in synthetic_files if i.modality == "CT")
    ds = dcmread(ct.path)
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = ds.AcquisitionDate = day.strftime("%Y%m%d")
    path = folder / "fresh.dcm"
    ds.save_as(path)
    (outcome,) = dicom_client(site, "ARIA").store([path])
    assert outcome.ok


def run_job(
    site: SiteConfig, job_name: str, day: dt.date, instance: dg.DagsterInstance
) -> tuple[dg.DagsterRun, dg.DagsterEvent]:
    """A run of the site's job `job_name` for `day`, and the event that ended it."""
    job = site_definitions(site).resolve_job_def(job_name)
    result = job.execute_in_process(
        instance=instance, partition_key=day.isoformat(), raise_on_error=False
    )
    run = instance.get_run_by_id(result.run_id)
    assert run is not None
    assert run.job_name == job_name
    return run, run_end(instance, run)


def run_failure_sensor(
    site: SiteConfig, run: dg.DagsterRun, event: dg.DagsterEvent, instance: dg.DagsterInstance
) -> object:
    """Evaluate the run failure alert sensor of `site` for `run`, ended by `event`; its result."""
    name = alert_sensor_name(site, "run_failure")
    sensor = site_definitions(site).resolve_sensor_def(name)
    context = dg.build_run_status_sensor_context(
        sensor_name=name, dagster_event=event, dagster_instance=instance, dagster_run=run
    )
    return sensor(context.for_run_failure())


def test_a_failed_backup_run_is_alerted(
    site_file: SiteFileWriter,
    receivers: Receivers,
    ports: dict[str, int],
    instance: dg.DagsterInstance,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mailbox, hook, alerts = receivers
    # ARIA is called by a wrong AE title: it rejects the association.
    site = alert_site(site_file, alerts, ports, aets={"aria": "NOT_ARIA"})
    day = dt.date(2026, 2, 3)
    run, failed = run_job(site, backup_job_name(site), day, instance)
    assert failed.event_type == dg.DagsterEventType.RUN_FAILURE

    run_failure_sensor(site, run, failed, instance)

    (posted,) = hook.requests
    details = json.loads(posted.body)["details"]
    (line,) = details
    assert line.startswith("aria_complete: ARIA unreachable: ARIA could not be listed: NOT_ARIA@")
    assert "rejected the association" in line
    assert_alerted(
        mailbox,
        hook,
        what="validation check failed",
        date=day.isoformat(),
        sources=["ARIA"],
        details=details,
        run_url=f"{UI_URL}/runs/{run.run_id}",
    )

    # An alert that cannot be e-mailed is logged; the webhook still gets it.
    monkeypatch.delenv(PASSWORD_VARIABLE)
    run_failure_sensor(site, run, failed, instance)
    assert len(hook.requests) == 2
    assert len(mailbox.envelopes) == 1


def test_a_failed_run_of_the_sites_assets_is_alerted_whoever_launched_it(
    site_file: SiteFileWriter,
    receivers: Receivers,
    ports: dict[str, int],
    instance: dg.DagsterInstance,
) -> None:
    """Assets materialized from the UI or the automation sensor run in Dagster's own asset
    jobs, not the site's: they are alerted too, and tagged with their origin."""
    mailbox, hook, alerts = receivers
    site = alert_site(site_file, alerts, ports, aets={"aria": "NOT_ARIA"})
    day = dt.date(2026, 2, 3)
    automation = {
        "dagster/sensor_name": automation_sensor_name(site),
        "dagster/from_automation_condition": "true",
    }
    launched = dg.materialize(
        daily_assets(site),
        instance=instance,
        partition_key=day.isoformat(),
        resources=site_resources(site),
        selection=[f"alert/aria/{SOURCE_STUDIES}", f"alert/{VALIDATION_REPORT}"],
        tags=automation,
        raise_on_error=False,
    )
    run = instance.get_run_by_id(launched.run_id)
    assert run is not None
    assert run.status == dg.DagsterRunStatus.FAILURE
    assert run.job_name.startswith("__")
    run_failure_sensor(site, run, run_end(instance, run), instance)
    (posted,) = hook.requests
    assert json.loads(posted.body)["what"] == "validation check failed"
    assert json.loads(posted.body)["date"] == day.isoformat()
    assert len(mailbox.envelopes) == 1
    tagged = instance.get_run_by_id(run.run_id)
    assert tagged is not None
    assert (tagged.tags["radonc/launched_by"], tagged.tags["radonc/started_by"]) == (
        "automation",
        automation_sensor_name(site),
    )


def test_a_failed_check_is_alerted_with_its_counts(
    site_file: SiteFileWriter,
    receivers: Receivers,
    ports: dict[str, int],
    instance: dg.DagsterInstance,
    synthetic_files: list[SyntheticInstance],
    tmp_path: Path,
) -> None:
    mailbox, hook, alerts = receivers
    site = alert_site(site_file, alerts, ports)
    day = dt.date(2026, 2, 4)
    store_fresh_instance(site, synthetic_files, day, tmp_path)  # in ARIA, not in the archive
    run, ended = run_job(site, validate_job_name(site), day, instance)
    # The checks are blocking: the report's step fails, and so does the run.
    assert ended.event_type == dg.DagsterEventType.RUN_FAILURE

    refresh = run_failure_sensor(site, run, ended, instance)
    # A failed report is no materialization for the coverage to follow: the sensor asks.
    assert isinstance(refresh, dg.RunRequest)
    assert refresh.run_key == f"coverage after {run.run_id}"

    assert_alerted(
        mailbox,
        hook,
        what="validation check failed",
        date=day.isoformat(),
        sources=["ARIA"],
        details=["aria_complete: 1 of 1 instances not verified: 1 missing"],
        run_url=f"{UI_URL}/runs/{run.run_id}",
    )


def test_a_failed_restore_drill_is_alerted(
    site_file: SiteFileWriter,
    receivers: Receivers,
    ports: dict[str, int],
    instance: dg.DagsterInstance,
) -> None:
    """A drill with no verified backup to draw from fails, and is alerted."""
    mailbox, hook, alerts = receivers
    site = alert_site(site_file, alerts, ports, drill={"lookback_days": 2})
    result = (
        site_definitions(site)
        .resolve_job_def(drill_job_name(site))
        .execute_in_process(instance=instance, raise_on_error=False)
    )
    run = instance.get_run_by_id(result.run_id)
    assert run is not None
    assert run.status == dg.DagsterRunStatus.FAILURE
    run_failure_sensor(site, run, run_end(instance, run), instance)
    (posted,) = hook.requests
    alert = json.loads(posted.body)
    assert alert["what"] == "alert_drill run failed"
    (line,) = alert["details"]
    assert line.startswith("alert__recovery_drills: nothing verified in the validation reports")
    assert len(mailbox.envelopes) == 1


def test_a_cron_backup_that_leaves_a_date_incomplete_alerts_by_itself(
    site_file: SiteFileWriter,
    receivers: Receivers,
    ports: dict[str, int],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`radonc backup` as cron runs it: no sensor sees a command line's run, so the command
    alerts; --no-alert silences one run."""
    mailbox, hook, alerts = receivers
    site = alert_site(site_file, alerts, ports, aets={"aria": "NOT_ARIA"})
    monkeypatch.setenv("RADONC_ENVIRONMENTS", str(site.source_file.parent))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    day = "2026-02-05"
    assert main(["backup", SITE, "ARIA", "--date", day]) == 1
    (posted,) = hook.requests
    alert = json.loads(posted.body)
    assert alert["what"] == "radonc backup left the date incomplete"
    assert (alert["date"], alert["sources"]) == (day, ["ARIA"])
    (line,) = alert["details"]
    assert line.startswith(f"{day} {SITE} ARIA: UNREACHABLE: ARIA could not be listed: NOT_ARIA@")
    assert alert["run_url"].startswith(f"{UI_URL}/runs/")
    assert mailbox.received()["Subject"] == (
        f"[radonc-backup] {SITE}: radonc backup left the date incomplete for {day} (ARIA)"
    )

    assert main(["backup", SITE, "ARIA", "--date", day, "--no-alert"]) == 1
    assert len(hook.requests) == 1
    assert len(mailbox.envelopes) == 1


def test_the_subject_is_the_site_s_template(
    site_file: SiteFileWriter,
    receivers: Receivers,
    ports: dict[str, int],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``[SITE.alerts] subject``, filled in for the alert of a cron backup."""
    mailbox, hook, alerts = receivers
    template = "Backup {{failed}} at {site} on {date}: {what} [{sources}]"
    site = alert_site(site_file, alerts | {"subject": template}, ports, aets={"aria": "NOT_ARIA"})
    monkeypatch.setenv("RADONC_ENVIRONMENTS", str(site.source_file.parent))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    day = "2026-02-06"
    assert main(["backup", SITE, "ARIA", "--date", day]) == 1
    assert mailbox.received()["Subject"] == (
        f"Backup {{failed}} at {SITE} on {day}: radonc backup left the date incomplete [ARIA]"
    )
    (posted,) = hook.requests
    assert json.loads(posted.body)["what"] == "radonc backup left the date incomplete"


def test_a_sensor_s_alert_has_the_site_s_subject(
    site_file: SiteFileWriter,
    receivers: Receivers,
    ports: dict[str, int],
    instance: dg.DagsterInstance,
) -> None:
    mailbox, _, alerts = receivers
    template = "RADONC {site}/{sources} {date}: {what}"
    site = alert_site(site_file, alerts | {"subject": template}, ports, aets={"aria": "NOT_ARIA"})
    run, failed = run_job(site, backup_job_name(site), dt.date(2026, 2, 4), instance)

    run_failure_sensor(site, run, failed, instance)

    assert (
        mailbox.received()["Subject"] == f"RADONC {SITE}/ARIA 2026-02-04: validation check failed"
    )


@pytest.mark.parametrize(
    ("subject", "problem"),
    [
        ("{site}: {when}", "unknown placeholder {when}"),
        ("{site.name}", "unknown placeholder {site.name}"),
        ("{site!r}", "unknown placeholder {site!r}"),
        ("{date:%Y}", "unknown placeholder {date:%Y}"),
        ("{site", "expected '}' before end of string (write {{ and }} for braces;"),
        ("{site}\nBcc: x@example.org", "the subject is one line"),
    ],
)
def test_a_subject_template_is_checked_when_the_site_loads(
    site_file: SiteFileWriter, subject: str, problem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """One line naming the site, the key and the valid placeholders."""
    path = site_file(SITE)
    path.write_text(path.read_text() + f"[{SITE}.alerts]\nsubject = {json.dumps(subject)}\n")
    assert main(["environments", "check", str(path)]) == 1
    (error,) = capsys.readouterr().err.splitlines()
    assert error.startswith(f"radonc: {path}: site {SITE}: alerts.subject: Value error, {problem}")
    if problem.startswith("unknown"):
        assert error.endswith("(valid: {site}, {what}, {date}, {sources})")


def test_a_recovery_that_fails_at_once_says_who_started_it_and_is_alerted(
    site_file: SiteFileWriter,
    receivers: Receivers,
    ports: dict[str, int],
    instance: dg.DagsterInstance,
) -> None:
    """A recovery launched from the UI with two selections fails before restoring
    anything: its run carries radonc/launched_by and radonc/started_by all the same, and
    the failure is alerted with its cause."""
    mailbox, hook, alerts = receivers
    site = alert_site(site_file, alerts, ports)
    job = site_definitions(site).resolve_job_def(recovery_job_name(site))
    result = job.execute_in_process(
        instance=instance,
        raise_on_error=False,
        run_config={
            "ops": {
                op_name(asset_key(site, RECOVERIES)): {
                    "config": {
                        "destination": "RESTORE",
                        "patient_id": "X",
                        "study_uids": [],
                        "series_uids": [],
                        "date": "2026-01-05",
                    }
                }
            }
        },
        tags={"user": "physicist@hospital.example"},
    )
    run = instance.get_run_by_id(result.run_id)
    assert run is not None
    assert run.status == dg.DagsterRunStatus.FAILURE
    assert (run.tags["radonc/launched_by"], run.tags["radonc/started_by"]) == (
        "ui",
        "physicist@hospital.example",
    )
    run_failure_sensor(site, run, run_end(instance, run), instance)
    (posted,) = hook.requests
    (line,) = json.loads(posted.body)["details"]
    assert line == (
        "alert__recoveries: the config does not say what to restore: select exactly one of a "
        "patient, studies, series or a date (fill in exactly one of patient_id, study_uids, "
        "series_uids, date as YYYY-MM-DD)"
    )
    assert len(mailbox.envelopes) == 1
