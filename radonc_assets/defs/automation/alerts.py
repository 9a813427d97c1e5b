"""Failure alerts: every failed or incomplete run of a site, by e-mail and webhook.

Three sensors per site, on as shipped; they see every run of the code location,
whoever launched it (a job, the UI's "Materialize", the partitions page, automation,
sensors, schedules, drills, recoveries, purges), and keep those that touch the site's
assets or jobs:

- ``{site}_run_failure_alerts``: a run failed. The validation report's checks are
  blocking and an unverified date fails its report, so the alert lists the failed
  checks with their verdicts and causes, and the steps that failed otherwise. It also
  gives a run that failed before any of its steps said who started it its
  ``radonc/launched_by`` and ``radonc/started_by`` tags (:mod:`radonc_assets.defs.audit`).
- ``{site}_check_failure_alerts``: a run succeeded with a failed check of severity
  ERROR (a restore drill or recovery that did not restore everything intact, a content
  verification that found an instance differing or not retrievable).
- ``{site}_backfill_failure_alerts``: a backfill finished with failed runs: one alert
  per backfill with its failed dates, not one per date (the two sensors above leave a
  backfill's runs to it).

Each message names the site, the sources, the date, what failed and the run's page in
the UI (``alerts.ui_url``). Runs of the command line carry no code location, so no
sensor sees them: `radonc backup` and `radonc validate` alert by themselves
(:func:`~radonc_assets.site.alerts.deliver`). A delivery that fails is tried again,
then logged, and the other destinations still get the alert. Without ``[SITE.alerts]``
only the first sensor runs, tagging runs and logging failures in its own log.
"""

import json
import logging
from dataclasses import dataclass

import dagster as dg

from radonc_assets.defs.audit import run_origin
from radonc_assets.defs.dicom_backup.jobs import coverage_job
from radonc_assets.site.alerts import alert_message, deliver, run_url
from radonc_assets.site.asset_keys import asset_key, op_name
from radonc_assets.site.config import SiteConfig
from radonc_assets.site.instance import LAUNCHED_BY_TAG, STARTED_BY_TAG, failure_cause
from radonc_assets.site.naming import (
    CHAIN_CHECK,
    CONTENT_CHECK,
    VALIDATION_REPORT,
    alert_sensor_name,
    backup_job_name,
    check_name,
    content_verification_job_name,
    drill_job_name,
    group_name,
    recovery_job_name,
    retention_job_name,
    validate_job_name,
)
from resources.alerts import AlertMessage

LOGGER = logging.getLogger(__name__)

PARTITION_TAG = "dagster/partition"
BACKFILL_TAG = "dagster/backfill"
# Backfills the backfill sensor looks at, newest first, each evaluation.
RECENT_BACKFILLS = 50
# The statuses of a backfill that launches no more runs (Dagster's BulkActionStatus).
_FINISHED = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}


def site_jobs(site: SiteConfig) -> set[str]:
    """The names of `site`'s own jobs."""
    return {
        name(site)
        for name in (
            backup_job_name,
            validate_job_name,
            recovery_job_name,
            drill_job_name,
            retention_job_name,
            content_verification_job_name,
        )
    }


def _is_site_run(site: SiteConfig, instance: dg.DagsterInstance, run: dg.DagsterRun) -> bool:
    """Whether `run` belongs to `site`: one of its jobs, or any job over its assets.

    A run of selected assets (the UI's) names them; a run of an asset job built for it
    (``dg.materialize``) names its steps, after the assets' keys, in its plan.
    """
    group = group_name(site)
    keys = [
        *(run.asset_selection or ()),
        *(check.asset_key for check in run.asset_check_selection or ()),
    ]
    if run.job_name in site_jobs(site) or any(key.path[0] == group for key in keys):
        return True
    if keys or run.execution_plan_snapshot_id is None:
        return False
    plan = instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id)
    return any(step.key.startswith(f"{group}__") for step in plan.steps)


def _sources_of(site: SiteConfig, keys: list[dg.AssetKey]) -> list[str]:
    """The sources (aliases) whose assets are among `keys`."""
    named = {key.path[1] for key in keys if len(key.path) == 3}
    return [alias for alias in site.sources if alias.lower() in named]


def _sources_of_steps(site: SiteConfig, step_keys: list[str]) -> list[str]:
    """The sources (aliases) whose assets' steps are among `step_keys`.

    A source's step is named after it (``lab__aria__backup``: its manifest and copy).
    """
    return [
        alias
        for alias in site.sources
        if any(
            step.startswith(f"{asset_key(site, alias).to_python_identifier()}__")
            for step in step_keys
        )
    ]


def _failed_checks(instance: dg.DagsterInstance, run_id: str) -> list[dg.AssetCheckEvaluation]:
    """The check evaluations of a run that failed with severity ERROR."""
    failed = []
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION):
        event = record.dagster_event
        evaluation = event.event_specific_data if event else None
        if (
            isinstance(evaluation, dg.AssetCheckEvaluation)
            and not evaluation.passed
            and evaluation.severity == dg.AssetCheckSeverity.ERROR
        ):
            failed.append(evaluation)
    return failed


def _check_sources(site: SiteConfig, failed: list[dg.AssetCheckEvaluation]) -> set[str]:
    """The sources (aliases) of the failed checks, and "treatment chains" for the chains'.

    The content verification's check names its sources in its metadata (``sources``).
    """
    by_check = {check_name(alias): alias for alias in site.sources}
    named = [e.metadata.get("sources") for e in failed if e.check_name == CONTENT_CHECK]
    content = {
        str(alias)
        for value in named
        if isinstance(value, dg.JsonMetadataValue) and isinstance(value.value, list)
        for alias in value.value
    }
    return (
        {by_check[e.check_name] for e in failed if e.check_name in by_check}
        | ({"treatment chains"} if any(e.check_name == CHAIN_CHECK for e in failed) else set())
        | content
    )


def _is_check_failure(event: dg.DagsterEvent, report_step: str) -> bool:
    """Whether a step failed because checks of its asset failed.

    A blocking check, or the validation report's own failure after its failed checks
    (so that its date shows failed).
    """
    error = event.step_failure_data.error
    if error is not None and error.cls_name == "DagsterAssetCheckFailedError":
        return True
    return event.step_key == report_step


@dataclass(frozen=True)
class RunFailures:
    """Why a run of a site failed or is incomplete, from its event log.

    Attributes:
        what: In a few words ("validation check failed", "demo_backup run failed").
        lines: One line per failed step (with its cause) and per failed check.
        sources: The sources concerned.
    """

    what: str
    lines: list[str]
    sources: list[str]


def run_failures(site: SiteConfig, instance: dg.DagsterInstance, run: dg.DagsterRun) -> RunFailures:
    """What failed in `run`: its failed steps (but those its checks failed) and checks."""
    report_step = op_name(asset_key(site, VALIDATION_REPORT))
    checks = _failed_checks(instance, run.run_id)
    failures = [
        record.dagster_event
        for record in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE)
        if record.dagster_event is not None
    ]
    # A step failed by its checks: the checks' lines say why.
    steps = [e for e in failures if not (checks and _is_check_failure(e, report_step))]
    lines = [
        *(f"{event.step_key}: {failure_cause(event)}" for event in steps),
        *(f"{e.check_name}: {e.description or 'failed'}" for e in checks),
    ]
    sources = {
        *_sources_of(site, list(run.asset_selection or [])),
        *_sources_of_steps(site, [event.step_key or "" for event in steps]),
        *_check_sources(site, checks),
    }
    job = "a run" if run.job_name.startswith("__") else f"{run.job_name} run"
    what = "validation check failed" if checks and not steps else f"{job} failed"
    return RunFailures(what, lines, sorted(sources))


def _send(log: logging.Logger, site: SiteConfig, message: AlertMessage) -> None:
    for problem in deliver(site, message):
        log.error("alert %r not delivered: %s", message.subject, problem)


def _tag_origin(instance: dg.DagsterInstance, run: dg.DagsterRun) -> None:
    """Give a run that failed before its steps said so its origin tags."""
    launched_by, started_by = run_origin(run.tags)
    missing = {
        tag: value
        for tag, value in ((LAUNCHED_BY_TAG, launched_by), (STARTED_BY_TAG, started_by))
        if tag not in run.tags
    }
    if missing:
        instance.add_run_tags(run.run_id, missing)


def run_failure_alerts(site: SiteConfig) -> dg.SensorDefinition:
    """Alerts when a run of `site` fails (but a backfill's): why each step or check failed.

    It also refreshes the coverage after a run whose report failed, and tags runs that
    failed before their steps with their origin.
    """
    alerts = site.alerts
    report_step = op_name(asset_key(site, VALIDATION_REPORT))

    @dg.run_failure_sensor(
        name=alert_sensor_name(site, "run_failure"),
        default_status=dg.DefaultSensorStatus.RUNNING,
        request_job=coverage_job(site),
        description=(
            f"Sends an alert when a run of {site.name} fails, whoever launched it (see "
            "[SITE.alerts]); a backfill's failed runs are alerted once per backfill. Refreshes "
            "the coverage after a failed validation report. Gives a run that failed before "
            "its steps its radonc/launched_by and radonc/started_by."
        ),
    )
    def sensor(context: dg.RunFailureSensorContext) -> dg.RunRequest | None:
        run = context.dagster_run
        if not _is_site_run(site, context.instance, run):
            return None
        _tag_origin(context.instance, run)
        refresh = (
            dg.RunRequest(run_key=f"coverage after {run.run_id}")
            if any(e.step_key == report_step for e in context.get_step_failure_events())
            else None
        )
        if BACKFILL_TAG in run.tags:
            return refresh
        failed = run_failures(site, context.instance, run)
        message = alert_message(
            site.name,
            failed.what,
            run.tags.get(PARTITION_TAG, ""),
            failed.lines or [context.failure_event.message or "the run failed"],
            run_url(alerts, run.run_id),
            failed.sources,
            subject=alerts.subject,
        )
        if not alerts.enabled:
            context.log.warning("%s (no [%s.alerts] to send it to)", message.subject, site.name)
        else:
            _send(context.log, site, message)
        return refresh

    return sensor


def check_failure_alerts(site: SiteConfig) -> dg.SensorDefinition:
    """Alerts when a run of `site` succeeds with a failed check of severity ERROR."""
    alerts = site.alerts

    @dg.run_status_sensor(
        name=alert_sensor_name(site, "check_failure"),
        run_status=dg.DagsterRunStatus.SUCCESS,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            f"Sends an alert when a run of {site.name} ends with a failed check (a restore "
            "drill or recovery that did not restore everything intact, a content verification "
            "that found an instance differing or not retrievable; see [SITE.alerts])."
        ),
    )
    def sensor(context: dg.RunStatusSensorContext) -> None:
        run = context.dagster_run
        if BACKFILL_TAG in run.tags or not _is_site_run(site, context.instance, run):
            return
        failed = run_failures(site, context.instance, run)
        if not failed.lines:
            return
        _send(
            context.log,
            site,
            alert_message(
                site.name,
                "check failed",
                run.tags.get(PARTITION_TAG, ""),
                failed.lines,
                run_url(alerts, run.run_id),
                failed.sources,
                subject=alerts.subject,
            ),
        )

    return sensor


def backfill_failure_alerts(site: SiteConfig) -> dg.SensorDefinition:
    """One alert per finished backfill of `site` with failed runs: its failed dates."""
    alerts = site.alerts
    group = group_name(site)

    @dg.sensor(
        name=alert_sensor_name(site, "backfill_failure"),
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=30,
        description=(
            f"Sends one alert per backfill of {site.name} that finished with failed dates, "
            "listing each date and why (see [SITE.alerts])."
        ),
    )
    def sensor(context: dg.SensorEvaluationContext) -> dg.SkipReason | None:
        alerted = set(json.loads(context.cursor or "[]"))
        seen = []
        sent = 0
        for backfill in context.instance.get_backfills(limit=RECENT_BACKFILLS):
            if backfill.status.value not in _FINISHED:
                continue
            seen.append(backfill.backfill_id)
            keys = list(backfill.asset_selection or [])
            ours = any(key.path[0] == group for key in keys) or backfill.job_name in site_jobs(site)
            if backfill.backfill_id in alerted or not ours:
                continue
            runs = context.instance.get_runs(
                filters=dg.RunsFilter(
                    tags={BACKFILL_TAG: backfill.backfill_id},
                    statuses=[dg.DagsterRunStatus.FAILURE],
                )
            )
            if not runs:
                continue
            lines, sources = [], set()
            for run in sorted(runs, key=lambda r: r.tags.get(PARTITION_TAG, "")):
                failed = run_failures(site, context.instance, run)
                date = run.tags.get(PARTITION_TAG, "-")
                lines += [f"{date} {line}" for line in failed.lines] or [f"{date}: run failed"]
                sources |= set(failed.sources)
            dates = sorted({run.tags.get(PARTITION_TAG, "-") for run in runs})
            _send(
                context.log,
                site,
                alert_message(
                    site.name,
                    f"backfill {backfill.backfill_id} failed for {len(dates)} date(s)",
                    dates[0] if len(dates) == 1 else f"{dates[0]} to {dates[-1]}",
                    lines,
                    f"{alerts.ui_url.rstrip('/')}/runs/b/{backfill.backfill_id}",
                    sorted(sources),
                    subject=alerts.subject,
                ),
            )
            sent += 1
        context.update_cursor(json.dumps(sorted(seen)))
        return None if sent else dg.SkipReason("no backfill of this site finished with failures")

    return sensor


def site_alert_sensors(site: SiteConfig) -> list[dg.SensorDefinition]:
    """The alert sensors of `site`: the run failure sensor alone without ``[SITE.alerts]``."""
    if not site.alerts.enabled:
        return [run_failure_alerts(site)]
    return [run_failure_alerts(site), check_failure_alerts(site), backfill_failure_alerts(site)]
