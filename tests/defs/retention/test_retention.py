"""The retention's schedule, job and asset: a daily purge, each one a materialization."""

import datetime as dt
from pathlib import Path

import dagster as dg

from radonc_assets.backup.audit_files import audit_path
from radonc_assets.definitions import site_definitions
from radonc_assets.site.loading import load_sites
from radonc_assets.site.naming import VALIDATION_REPORT, retention_job_name, retention_schedule_name
from radonc_assets.site.private_files import write_private
from tests.support.sites import SiteFileWriter


def test_the_retention_runs_daily_and_records_each_purge(
    site_file: SiteFileWriter, data_dir: Path
) -> None:
    site = load_sites(site_file("KEEP", settings={"retention_days": 30}))["KEEP"]
    definitions = site_definitions(site)
    write_private(audit_path("KEEP", dt.date(2026, 1, 5), VALIDATION_REPORT), b"status,source\n")

    schedule = definitions.resolve_schedule_def(retention_schedule_name(site))
    result = definitions.resolve_job_def(retention_job_name(site)).execute_in_process(
        instance=dg.DagsterInstance.ephemeral()
    )

    assert schedule.cron_schedule == "30 3 * * *"
    (event,) = result.get_asset_materialization_events()
    meta = {k: v.value for k, v in event.materialization.metadata.items()}
    assert meta["dates_purged"] == 1
    assert meta["first_date_purged"] == "2026-01-05"
    assert meta["files_deleted"] == 1
    assert meta["launched_by"] == "ui"
    assert retention_schedule_name(site) not in {
        s.name for s in site_definitions(load_sites(site_file("KEEP"))["KEEP"]).schedules or []
    }
