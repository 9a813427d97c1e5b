"""The schedules of a site: the nightly backup of the previous day, the weekly re-validation
and restore drill, the daily content verification."""

import datetime as dt
import zoneinfo

import dagster as dg
import pytest

from radonc_assets.definitions import site_definitions
from radonc_assets.site.config import SiteConfig
from radonc_assets.site.loading import load_sites
from radonc_assets.site.naming import (
    backup_job_name,
    content_verification_job_name,
    content_verification_schedule_name,
    drill_job_name,
    drill_schedule_name,
    nightly_schedule_name,
    revalidation_schedule_name,
    validate_job_name,
)
from tests.support.sites import SiteFileWriter

SITE = "SCHED"
ZONE = "America/Los_Angeles"


def scheduled_site(site_file: SiteFileWriter, automation: str = "") -> SiteConfig:
    """The site SCHED (backfill_start 2026-01-01) in ZONE, with `automation` keys."""
    path = site_file(SITE)
    text = path.read_text().replace(f"[{SITE}]\n", f'[{SITE}]\ntimezone = "{ZONE}"\n', 1)
    path.write_text(text + (f"[{SITE}.automation]\n{automation}\n" if automation else ""))
    return load_sites(path)[SITE]


def schedule(site: SiteConfig, name: str) -> dg.ScheduleDefinition:
    return site_definitions(site).resolve_schedule_def(name)


def local(*args: int) -> dt.datetime:
    """An aware date-time of the site's time zone."""
    return dt.datetime(*args, tzinfo=zoneinfo.ZoneInfo(ZONE))


def tick(definition: dg.ScheduleDefinition, at: dt.datetime) -> object:
    with dg.instance_for_test() as instance:
        context = dg.build_schedule_context(instance=instance, scheduled_execution_time=at)
        return definition(context)


def test_nightly_backup_requests_the_previous_day(site_file: SiteFileWriter) -> None:
    site = scheduled_site(site_file)
    nightly = schedule(site, nightly_schedule_name(site))

    # 02:00 on 2026-03-10 in Los Angeles is 10:00 UTC: the previous day is the 9th.
    request = tick(nightly, local(2026, 3, 10, 2, 0))

    assert isinstance(request, dg.RunRequest)
    assert request.partition_key == "2026-03-09"
    assert request.run_key == "nightly:2026-03-09"
    assert nightly.job_name == backup_job_name(site)
    assert nightly.cron_schedule == "0 2 * * *"
    assert nightly.execution_timezone == ZONE
    assert nightly.default_status == dg.DefaultScheduleStatus.STOPPED


def test_nightly_backup_skips_a_day_before_backfill_start(site_file: SiteFileWriter) -> None:
    site = scheduled_site(site_file)
    nightly = schedule(site, nightly_schedule_name(site))

    skipped = tick(nightly, local(2026, 1, 1, 2, 0))

    assert isinstance(skipped, dg.SkipReason)
    assert skipped.skip_message == "2025-12-31 is before backfill_start"
    first = tick(nightly, local(2026, 1, 2, 2, 0))
    assert isinstance(first, dg.RunRequest)
    assert first.partition_key == "2026-01-01"


def test_weekly_revalidation_requests_the_last_days_for_the_validate_job(
    site_file: SiteFileWriter,
) -> None:
    site = scheduled_site(site_file, "revalidation_days = 3")
    weekly = schedule(site, revalidation_schedule_name(site))

    requests = tick(weekly, local(2026, 2, 1, 4, 0))

    assert isinstance(requests, list)
    assert [(r.partition_key, r.run_key) for r in requests] == [
        ("2026-01-29", "revalidation:2026-02-01:2026-01-29"),
        ("2026-01-30", "revalidation:2026-02-01:2026-01-30"),
        ("2026-01-31", "revalidation:2026-02-01:2026-01-31"),
    ]
    assert weekly.job_name == validate_job_name(site)
    assert weekly.cron_schedule == "0 4 * * 0"  # Sunday 04:00, the defaults


def test_weekly_revalidation_keeps_to_the_partitions(site_file: SiteFileWriter) -> None:
    site = scheduled_site(site_file)  # 14 days
    weekly = schedule(site, revalidation_schedule_name(site))

    requests = tick(weekly, local(2026, 1, 4, 4, 0))

    assert isinstance(requests, list)
    assert [r.partition_key for r in requests] == ["2026-01-01", "2026-01-02", "2026-01-03"]


def test_cron_strings_and_states_follow_the_settings(site_file: SiteFileWriter) -> None:
    site = scheduled_site(
        site_file,
        'schedules = "running"\nnightly_backup = "23:45"\n'
        'revalidation_weekday = "monday"\nrevalidation_time = "05:30"',
    )
    nightly = schedule(site, nightly_schedule_name(site))
    weekly = schedule(site, revalidation_schedule_name(site))

    assert nightly.cron_schedule == "45 23 * * *"
    assert weekly.cron_schedule == "30 5 * * 1"
    assert weekly.execution_timezone == ZONE
    assert nightly.default_status == weekly.default_status == dg.DefaultScheduleStatus.RUNNING
    # A Monday tick at 05:30 (local) re-validates the 14 days before it.
    requests = tick(weekly, local(2026, 3, 16, 5, 30))
    assert isinstance(requests, list)
    days = [r.partition_key for r in requests]
    assert (days[0], days[-1], len(days)) == ("2026-03-02", "2026-03-15", 14)


@pytest.mark.parametrize(
    ("weekday", "cron_day"),
    [("sunday", 0), ("monday", 1), ("wednesday", 3), ("saturday", 6)],
)
def test_revalidation_weekday_counts_from_sunday_as_cron_does(
    site_file: SiteFileWriter, weekday: str, cron_day: int
) -> None:
    site = scheduled_site(site_file, f'revalidation_weekday = "{weekday}"')

    weekly = schedule(site, revalidation_schedule_name(site))

    assert weekly.cron_schedule == f"0 4 * * {cron_day}"


def test_the_recovery_drill_runs_weekly_only_with_a_scratch_node(
    site_file: SiteFileWriter,
) -> None:
    without = scheduled_site(site_file)
    assert drill_schedule_name(without) not in {
        s.name for s in site_definitions(without).schedules or []
    }
    path = site_file(SITE, drill={"weekday": "tuesday", "time": "06:15"})
    text = path.read_text().replace(f"[{SITE}]\n", f'[{SITE}]\ntimezone = "{ZONE}"\n', 1)
    path.write_text(text)
    site = load_sites(path)[SITE]

    drill = schedule(site, drill_schedule_name(site))
    request = tick(drill, local(2026, 3, 17, 6, 15))

    assert drill.cron_schedule == "15 6 * * 2"
    assert drill.execution_timezone == ZONE
    assert drill.job_name == drill_job_name(site)
    assert isinstance(request, dg.RunRequest)
    assert request.run_key == "drill:2026-03-17"


@pytest.mark.parametrize("state", ["running", "stopped"])
def test_the_content_verification_runs_daily_only_with_rolling_content_days(
    site_file: SiteFileWriter, state: str
) -> None:
    without = scheduled_site(site_file)
    assert content_verification_schedule_name(without) not in {
        s.name for s in site_definitions(without).schedules or []
    }
    assert content_verification_job_name(without) not in {
        job.name for job in site_definitions(without).jobs or []
    }
    path = site_file(SITE, settings={"rolling_content_days": 30})
    text = path.read_text().replace(f"[{SITE}]\n", f'[{SITE}]\ntimezone = "{ZONE}"\n', 1)
    path.write_text(text + f'[{SITE}.automation]\nschedules = "{state}"\n')
    site = load_sites(path)[SITE]

    daily = schedule(site, content_verification_schedule_name(site))
    request = tick(daily, local(2026, 3, 17, 4, 30))

    assert daily.cron_schedule == "30 4 * * *"
    assert daily.execution_timezone == ZONE
    assert daily.job_name == content_verification_job_name(site)
    assert daily.default_status == dg.DefaultScheduleStatus(state.upper())
    assert isinstance(request, dg.RunRequest)
    assert request.run_key == "content_verification:2026-03-17"
