"""Failure alerts: a failed run or a failed check of a site, by e-mail and webhook.

One sensor per site with ``[SITE.alerts]`` set, on as shipped:
``{site}_run_failure_alerts``, when a run of the site's jobs fails. The validation
report's checks are blocking, so a failed check (something missing, deferred or
mismatched, or an incomplete treatment chain) fails the report's step and its run:
the alert then lists the failed checks with their counts. Each message names the site, the source, the date, what failed and the run's page in the
UI (``alerts.ui_url``). Runs of the command line are not watched: the command reports
its own failures. A delivery that fails is logged by the sensor, and the rest continue.
"""

import dagster as dg

from radonc_assets.site.config import AlertSettings, SiteConfig
from radonc_assets.site.errors import MissingSecretError
from radonc_assets.site.instance import failure_cause
from radonc_assets.site.loading import read_secret
from radonc_assets.site.naming import (
    CHAIN_CHECK,
    alert_sensor_name,
    asset_key,
    backup_job_name,
    check_name,
    validate_job_name,
)
from resources.alerts import (
    AlertDeliveryError,
    AlertMessage,
    SmtpSettings,
    post_webhook,
    send_email,
)

PARTITION_TAG = "dagster/partition"
# Lines of failure text an alert carries at most.
MAX_LINES = 20


def alert_message(
    site: str, what: str, date: str, details: list[str], run_url: str, sources: list[str]
) -> AlertMessage:
    """The e-mail and webhook forms of one alert.

    Args:
        site: The site's name.
        what: What failed, in a few words ("backup run failed").
        date: The partition date ("" when the run had none).
        details: One line per failure (step errors, failed checks).
        run_url: The run's page in the UI.
        sources: The sources concerned (may be empty).
    """
    where = f" for {date}" if date else ""
    about = f" ({', '.join(sources)})" if sources else ""
    subject = f"[radonc-backup] {site}: {what}{where}{about}"
    shown = details[:MAX_LINES]
    more = [f"... and {len(details) - MAX_LINES} more"] if len(details) > MAX_LINES else []
    text = "\n".join(
        [
            f"Site: {site}",
            f"Date: {date or '-'}",
            f"Sources: {', '.join(sources) or '-'}",
            f"What failed: {what}",
            "",
            *shown,
            *more,
            "",
            f"Run: {run_url}",
        ]
    )
    payload: dict[str, object] = {
        "site": site,
        "date": date,
        "sources": sources,
        "what": what,
        "details": shown,
        "run_url": run_url,
    }
    return AlertMessage(subject=subject, text=text, payload=payload)


def deliver(site: SiteConfig, message: AlertMessage) -> list[str]:
    """Send `message` to every destination of `site`'s ``[SITE.alerts]``.

    Returns:
        One line per delivery that failed (empty when all went through).
    """
    alerts = site.alerts
    problems = []
    if alerts.email_to and alerts.smtp_host and alerts.email_from:
        try:
            password = (
                read_secret(site, "alerts.smtp_password_env_var", alerts.smtp_password_env_var)
                if alerts.smtp_password_env_var
                else None
            )
            smtp = SmtpSettings(
                host=alerts.smtp_host,
                port=alerts.smtp_port,
                security=alerts.smtp_security,
                username=alerts.smtp_username,
                password=password,
                sender=alerts.email_from,
                recipients=alerts.email_to,
                timeout=alerts.timeout,
            )
            send_email(smtp, message)
        except (AlertDeliveryError, MissingSecretError) as exc:
            problems.append(f"e-mail: {exc}")
    if alerts.webhook_url:
        try:
            token = (
                read_secret(site, "alerts.webhook_token_env_var", alerts.webhook_token_env_var)
                if alerts.webhook_token_env_var
                else None
            )
            post_webhook(alerts.webhook_url, message, alerts.timeout, token)
        except (AlertDeliveryError, MissingSecretError) as exc:
            problems.append(f"webhook: {exc}")
    return problems


def _run_url(alerts: AlertSettings, run: dg.DagsterRun) -> str:
    return f"{alerts.ui_url.rstrip('/')}/runs/{run.run_id}"


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
    """The check evaluations of a run that did not pass."""
    failed = []
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION):
        event = record.dagster_event
        evaluation = event.event_specific_data if event else None
        if isinstance(evaluation, dg.AssetCheckEvaluation) and not evaluation.passed:
            failed.append(evaluation)
    return failed


def _check_details(failed: list[dg.AssetCheckEvaluation]) -> list[str]:
    """One line per failed check: its non-zero counts."""
    return [
        f"{evaluation.check_name}: "
        + ", ".join(
            f"{key} {entry.value}"
            for key, entry in evaluation.metadata.items()
            if isinstance(entry.value, int) and entry.value
        )
        for evaluation in failed
    ]


def _check_sources(site: SiteConfig, failed: list[dg.AssetCheckEvaluation]) -> set[str]:
    """The sources (aliases) of the failed checks, and "treatment chains" for the chains'."""
    by_check = {check_name(alias): alias for alias in site.sources}
    return {by_check[e.check_name] for e in failed if e.check_name in by_check} | (
        {"treatment chains"} if any(e.check_name == CHAIN_CHECK for e in failed) else set()
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


def _send(context: dg.RunStatusSensorContext, site: SiteConfig, message: AlertMessage) -> None:
    for problem in deliver(site, message):
        context.log.error("alert %r not delivered: %s", message.subject, problem)


def run_failure_alerts(site: SiteConfig) -> dg.SensorDefinition:
    """Alerts when a run of `site`'s jobs fails: why each step failed, and the failed checks."""
    alerts = site.alerts
    jobs = {backup_job_name(site), validate_job_name(site)}
    report_step = "__".join(asset_key(site, "validation_report").path)

    @dg.run_failure_sensor(
        name=alert_sensor_name(site, "run_failure"),
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Sends an alert when a run of {site.name} fails (see [SITE.alerts]).",
    )
    def sensor(context: dg.RunFailureSensorContext) -> None:
        run = context.dagster_run
        if run.job_name not in jobs:
            return
        checks = _failed_checks(context.instance, run.run_id)
        # A step failed by its checks: the checks' lines say why.
        steps = [
            e
            for e in context.get_step_failure_events()
            if not (checks and _is_check_failure(e, report_step))
        ]
        failures = [
            *(f"{event.step_key}: {failure_cause(event)}" for event in steps),
            *_check_details(checks),
        ] or [context.failure_event.message or "the run failed"]
        named = {
            *_sources_of(site, list(run.asset_selection or [])),
            *_sources_of_steps(site, [event.step_key or "" for event in steps]),
            *_check_sources(site, checks),
        }
        _send(
            context,
            site,
            alert_message(
                site.name,
                "validation check failed" if checks and not steps else f"{run.job_name} run failed",
                run.tags.get(PARTITION_TAG, ""),
                failures,
                _run_url(alerts, run),
                sorted(named),
            ),
        )

    return sensor


def site_alert_sensors(site: SiteConfig) -> list[dg.SensorDefinition]:
    """The alert sensors of `site`: none when it configures no alert."""
    if not site.alerts.enabled:
        return []
    return [run_failure_alerts(site)]
