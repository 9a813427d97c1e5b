"""A site's alerts: their text, and their delivery to ``[SITE.alerts]`` (no Dagster).

The alert sensors (:mod:`radonc_assets.defs.automation.alerts`) and the command line
(`radonc backup`, `radonc validate`) write and send alerts the same way.
"""

import logging
import time
from collections.abc import Callable

from radonc_assets.site.config import AlertSettings, SiteConfig
from radonc_assets.site.errors import MissingSecretError
from radonc_assets.site.loading import read_secret
from resources.alerts import (
    AlertDeliveryError,
    AlertMessage,
    SmtpSettings,
    post_webhook,
    send_email,
)

LOGGER = logging.getLogger(__name__)

# Lines of failure text an alert carries at most.
MAX_LINES = 20
# Tries of each destination, and the seconds waited before the second and third.
DELIVERY_ATTEMPTS = 3
DELIVERY_BACKOFF = (1.0, 2.0)


def alert_message(
    site: str,
    what: str,
    date: str,
    details: list[str],
    run_url: str,
    sources: list[str],
    *,
    subject: str | None = None,
) -> AlertMessage:
    """The e-mail and webhook forms of one alert.

    Args:
        site: The site's name.
        what: What failed, in a few words ("backup run failed").
        date: The partition date ("" when the run had none).
        details: One line per failure (step errors, failed checks).
        run_url: The run's page in the UI.
        sources: The sources concerned (may be empty).
        subject: The site's subject template (``[SITE.alerts] subject``, checked when the
            site loaded); None: ``[radonc-backup] SITE: WHAT for DATE (SOURCES)``.
    """
    if subject is None:
        where = f" for {date}" if date else ""
        about = f" ({', '.join(sources)})" if sources else ""
        subject = f"[radonc-backup] {site}: {what}{where}{about}"
    else:
        subject = subject.format(
            site=site, what=what, date=date or "-", sources=", ".join(sources) or "-"
        )
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

    Each destination is tried up to :data:`DELIVERY_ATTEMPTS` times; one that fails
    them all does not keep the alert from the others.

    Returns:
        One line per destination the alert did not reach (empty when all went through).
    """
    alerts = site.alerts
    problems = []
    if alerts.email_to and alerts.smtp_host and alerts.email_from:
        host, sender = alerts.smtp_host, alerts.email_from
        problem = _attempts(
            "e-mail", lambda: send_email(_smtp(site, alerts, host, sender), message)
        )
        problems += [problem] if problem else []
    if alerts.webhook_url:
        url = alerts.webhook_url

        def post() -> None:
            token = (
                read_secret(site, "alerts.webhook_token_env_var", alerts.webhook_token_env_var)
                if alerts.webhook_token_env_var
                else None
            )
            post_webhook(url, message, alerts.timeout, token)

        problem = _attempts("webhook", post)
        problems += [problem] if problem else []
    return problems


def _smtp(site: SiteConfig, alerts: AlertSettings, host: str, sender: str) -> SmtpSettings:
    """The SMTP settings of `alerts` (server `host`), its password read from the environment."""
    password = (
        read_secret(site, "alerts.smtp_password_env_var", alerts.smtp_password_env_var)
        if alerts.smtp_password_env_var
        else None
    )
    return SmtpSettings(
        host=host,
        port=alerts.smtp_port,
        security=alerts.smtp_security,
        username=alerts.smtp_username,
        password=password,
        sender=sender,
        recipients=alerts.email_to,
        timeout=alerts.timeout,
    )


def _attempts(destination: str, send: Callable[[], None]) -> str | None:
    """`send`, tried again after :data:`DELIVERY_BACKOFF`; the last failure, or None.

    A missing secret is not tried again: another try cannot change it.
    """
    for attempt in range(DELIVERY_ATTEMPTS):
        try:
            send()
            return None
        except MissingSecretError as exc:
            return f"{destination}: {exc}"
        except AlertDeliveryError as exc:
            if attempt == DELIVERY_ATTEMPTS - 1:
                return f"{destination}: {exc} (tried {DELIVERY_ATTEMPTS} times)"
            LOGGER.warning("%s not delivered (%s); trying again", destination, exc)
            time.sleep(DELIVERY_BACKOFF[min(attempt, len(DELIVERY_BACKOFF) - 1)])
    return None


def run_url(alerts: AlertSettings, run_id: str) -> str:
    """The page of run `run_id` in the UI, as the recipients of `alerts` reach it."""
    return f"{alerts.ui_url.rstrip('/')}/runs/{run_id}"
