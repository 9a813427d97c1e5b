"""Schedules of a site: nightly backup, weekly re-validation and drill, daily jobs.

The daily jobs: the purge of the data folder, the content verification. Times are the
site's local times (``automation.nightly_backup``, ``automation.revalidation_weekday``
and ``revalidation_time``, ``drill.weekday`` and ``drill.time``, the purge at 03:30, the
content verification at 04:30) in its ``timezone``. Run keys name the scheduled tick, so
a tick never launches twice.
"""

import datetime as dt
from collections.abc import Callable
from typing import Any

import dagster as dg

from radonc_assets.site.config import WEEKDAYS, SiteConfig, Weekday, local_time
from radonc_assets.site.naming import (
    backup_job_name,
    content_verification_job_name,
    content_verification_schedule_name,
    drill_job_name,
    drill_schedule_name,
    nightly_schedule_name,
    retention_job_name,
    retention_schedule_name,
    revalidation_schedule_name,
    validate_job_name,
)
from radonc_assets.site.partitions import site_partitions

# Local time of the daily purge of the data folder, after the nightly backup.
RETENTION_TIME = dt.time(3, 30)
# Local time of the daily content verification, after the nightly backup and the purge.
CONTENT_VERIFICATION_TIME = dt.time(4, 30)


def _status(site: SiteConfig) -> dg.DefaultScheduleStatus:
    if site.automation.schedules == "running":
        return dg.DefaultScheduleStatus.RUNNING
    return dg.DefaultScheduleStatus.STOPPED


def _site_schedule(
    site: SiteConfig, *, name: str, job_name: str, cron_schedule: str, description: str
) -> Callable[[Callable[..., Any]], dg.ScheduleDefinition]:
    """``dg.schedule`` in the site's time zone, with its default state (``schedules``)."""
    return dg.schedule(
        name=name,
        job_name=job_name,
        cron_schedule=cron_schedule,
        execution_timezone=site.timezone,
        default_status=_status(site),
        description=description,
    )


def _weekly_cron(weekday: Weekday, at: str) -> str:
    """The cron schedule of `weekday` at local time `at` (``HH:MM``)."""
    time = local_time(at)
    # cron counts weekdays from Sunday (0).
    return f"{time.minute} {time.hour} * * {(WEEKDAYS.index(weekday) + 1) % 7}"


def _scheduled_date(context: dg.ScheduleEvaluationContext) -> dt.date:
    """The local date of the tick (the schedule's time zone is the site's)."""
    if context.scheduled_execution_time is None:
        raise dg.Failure("the schedule was evaluated without a scheduled time")
    return context.scheduled_execution_time.date()


def nightly_backup(site: SiteConfig) -> dg.ScheduleDefinition:
    """Every night at ``automation.nightly_backup``: the backup of the previous day."""
    at = local_time(site.automation.nightly_backup)

    @_site_schedule(
        site,
        name=nightly_schedule_name(site),
        job_name=backup_job_name(site),
        cron_schedule=f"{at.minute} {at.hour} * * *",
        description=(
            f"Backs up the previous day of {site.name} every night at "
            f"{site.automation.nightly_backup} ({site.timezone}): every source, copies and "
            "validation report."
        ),
    )
    def schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        day = (_scheduled_date(context) - dt.timedelta(days=1)).isoformat()
        if not site_partitions(site).has_partition_key(day):
            return dg.SkipReason(f"{day} is before backfill_start")
        return dg.RunRequest(run_key=f"nightly:{day}", partition_key=day)

    return schedule


def weekly_revalidation(site: SiteConfig) -> dg.ScheduleDefinition:
    """Every week: the last ``automation.revalidation_days`` days validated again, one run each."""
    automation = site.automation

    @_site_schedule(
        site,
        name=revalidation_schedule_name(site),
        job_name=validate_job_name(site),
        cron_schedule=_weekly_cron(automation.revalidation_weekday, automation.revalidation_time),
        description=(
            f"Every {automation.revalidation_weekday} at {automation.revalidation_time} "
            f"({site.timezone}), asks every source again what it holds for each of the last "
            f"{automation.revalidation_days} days and compares it with the archive (no copy): "
            "a day whose copy was lost or damaged since shows as failed."
        ),
    )
    def schedule(context: dg.ScheduleEvaluationContext) -> list[dg.RunRequest]:
        today = _scheduled_date(context)
        partitions = site_partitions(site)
        days = [
            (today - dt.timedelta(days=n)).isoformat()
            for n in range(automation.revalidation_days, 0, -1)
        ]
        return [
            dg.RunRequest(run_key=f"revalidation:{today}:{day}", partition_key=day)
            for day in days
            if partitions.has_partition_key(day)
        ]

    return schedule


def recovery_drill(site: SiteConfig, scratch: str) -> dg.ScheduleDefinition:
    """Every week: a restore drill into the scratch node `scratch`."""
    drill = site.drill

    @_site_schedule(
        site,
        name=drill_schedule_name(site),
        job_name=drill_job_name(site),
        cron_schedule=_weekly_cron(drill.weekday, drill.time),
        description=(
            f"Every {drill.weekday} at {drill.time} ({site.timezone}), restores a random "
            f"sample of each source's verified backups (of the last {drill.lookback_days} "
            f"days) into {scratch}, verifies it by content, reports the restore speed and "
            f"deletes the sample from {scratch} again."
        ),
    )
    def schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        return dg.RunRequest(run_key=f"drill:{_scheduled_date(context)}")

    return schedule


def daily_retention(site: SiteConfig, days: int) -> dg.ScheduleDefinition:
    """Every day at ``RETENTION_TIME``: the data folder purged of dates past `days` days."""

    @_site_schedule(
        site,
        name=retention_schedule_name(site),
        job_name=retention_job_name(site),
        cron_schedule=f"{RETENTION_TIME.minute} {RETENTION_TIME.hour} * * *",
        description=(
            f"Every day at {RETENTION_TIME:%H:%M} ({site.timezone}), deletes the data "
            f"folder's files of the dates more than {days} days old (settings.retention_days), "
            "keeping each date's validation summary."
        ),
    )
    def schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        return dg.RunRequest(run_key=f"retention:{_scheduled_date(context)}")

    return schedule


def daily_content_verification(site: SiteConfig, days: int) -> dg.ScheduleDefinition:
    """Every day at ``CONTENT_VERIFICATION_TIME``: the day's slice compared by content."""
    at = CONTENT_VERIFICATION_TIME

    @_site_schedule(
        site,
        name=content_verification_schedule_name(site),
        job_name=content_verification_job_name(site),
        cron_schedule=f"{at.minute} {at.hour} * * *",
        description=(
            f"Every day at {at:%H:%M} ({site.timezone}), compares the day's slice of the "
            f"verified backups with their sources by content, so that every instance is "
            f"compared once in {days} days (settings.rolling_content_days)."
        ),
    )
    def schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        return dg.RunRequest(run_key=f"content_verification:{_scheduled_date(context)}")

    return schedule


def site_schedules(site: SiteConfig) -> list[dg.ScheduleDefinition]:
    """The schedules of `site`.

    The drill's with a scratch node, the purge's with a retention, the content
    verification's with rolling_content_days.
    """
    settings = site.settings
    schedules = [nightly_backup(site), weekly_revalidation(site)]
    if site.drill.scratch is not None:
        schedules.append(recovery_drill(site, site.drill.scratch))
    if settings.retention_days is not None:
        schedules.append(daily_retention(site, settings.retention_days))
    if settings.rolling_content_days is not None and site.sources:
        schedules.append(daily_content_verification(site, settings.rolling_content_days))
    return schedules
