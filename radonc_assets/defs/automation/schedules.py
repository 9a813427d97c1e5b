"""Schedules of a site: the nightly backup of the previous day, the weekly re-validation.

Times are the site's local times (``automation.nightly_backup``,
``automation.revalidation_weekday`` and ``revalidation_time``) in its ``timezone``.
Both run keys name the scheduled tick, so a tick never launches twice.
"""

import datetime as dt

import dagster as dg

from radonc_assets.site.config import WEEKDAYS, SiteConfig, local_time
from radonc_assets.site.naming import (
    backup_job_name,
    nightly_schedule_name,
    revalidation_schedule_name,
    validate_job_name,
)
from radonc_assets.site.partitions import site_partitions


def _status(site: SiteConfig) -> dg.DefaultScheduleStatus:
    if site.automation.schedules == "running":
        return dg.DefaultScheduleStatus.RUNNING
    return dg.DefaultScheduleStatus.STOPPED


def _scheduled_date(context: dg.ScheduleEvaluationContext) -> dt.date:
    """The local date of the tick (the schedule's time zone is the site's)."""
    if context.scheduled_execution_time is None:
        raise dg.Failure("the schedule was evaluated without a scheduled time")
    return context.scheduled_execution_time.date()


def nightly_backup(site: SiteConfig) -> dg.ScheduleDefinition:
    """Every night at ``automation.nightly_backup``: the backup of the previous day."""
    at = local_time(site.automation.nightly_backup)

    @dg.schedule(
        name=nightly_schedule_name(site),
        job_name=backup_job_name(site),
        cron_schedule=f"{at.minute} {at.hour} * * *",
        execution_timezone=site.timezone,
        default_status=_status(site),
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
    at = local_time(automation.revalidation_time)
    # cron counts weekdays from Sunday (0).
    weekday = (WEEKDAYS.index(automation.revalidation_weekday) + 1) % 7

    @dg.schedule(
        name=revalidation_schedule_name(site),
        job_name=validate_job_name(site),
        cron_schedule=f"{at.minute} {at.hour} * * {weekday}",
        execution_timezone=site.timezone,
        default_status=_status(site),
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


def site_schedules(site: SiteConfig) -> list[dg.ScheduleDefinition]:
    """The schedules of `site`."""
    return [nightly_backup(site), weekly_revalidation(site)]
