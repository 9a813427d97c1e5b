"""Running a site's Dagster job from the command line, recorded in the Dagster instance.

Only the commands that run jobs (`radonc backup`, `radonc validate`) import this
module, so the other commands never load Dagster. Runs execute in this process
against the instance at ``$DAGSTER_HOME`` (default ``.radonc/dagster_home``), so
every run, materialization and check shows up in the UI.
"""

import datetime as dt
import os
from collections.abc import Sequence

import dagster as dg

from radonc_assets.backup.manifest import Outcome, Status
from radonc_assets.definitions import site_definitions
from radonc_assets.site.config import SiteConfig
from radonc_assets.site.naming import asset_key, backup_job_name, check_name
from radonc_assets.site.paths import DAGSTER_HOME_VARIABLE, dagster_home

# A new instance gets one transfer at a time per source pool (see site.naming.node_key).
NEW_INSTANCE_SETTINGS = """\
concurrency:
  pools:
    default_limit: 1
telemetry:
  enabled: false
"""


def dagster_instance() -> dg.DagsterInstance:
    """The instance at :func:`~radonc_assets.site.paths.dagster_home`.

    A new one is created with a concurrency limit of 1 per pool.
    """
    home = dagster_home()
    os.environ[DAGSTER_HOME_VARIABLE] = str(home)
    settings = home / "dagster.yaml"
    if not settings.exists():
        home.mkdir(parents=True, exist_ok=True)
        settings.write_text(NEW_INSTANCE_SETTINGS)
    return dg.DagsterInstance.get()


def run_day(site: SiteConfig, day: dt.date, aliases: Sequence[str], *, copy: bool) -> bool:
    """Validate every source of `site` for `day`, first copying `aliases` when `copy`.

    Prints one line per source of `aliases`.

    Returns:
        True when every source of `aliases` is complete.
    """
    selection = [
        *(asset_key(site, a, "source_studies") for a in site.dicom_sources),
        *(asset_key(site, a, "orthanc_copies") for a in aliases if copy),
        asset_key(site, "validation_report"),
    ]
    return _print_summary(_run_site_job(site, day, selection), site, day, aliases)


def _run_site_job(
    site: SiteConfig, day: dt.date, selection: Sequence[dg.AssetKey]
) -> dg.ExecuteInProcessResult:
    """Run the site's backup job for `day`, restricted to `selection`, in this process."""
    job = site_definitions(site).resolve_job_def(backup_job_name(site))
    return job.execute_in_process(
        partition_key=day.isoformat(),
        instance=dagster_instance(),
        asset_selection=list(selection),
        raise_on_error=False,
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
    )


def _print_summary(
    result: dg.ExecuteInProcessResult, site: SiteConfig, day: dt.date, aliases: Sequence[str]
) -> bool:
    """Print one line per source; True when every source is complete."""
    materialized = {
        e.asset_key: {k: v.value for k, v in e.materialization.metadata.items()}
        for e in result.get_asset_materialization_events()
    }
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    complete = result.success
    for alias in aliases:
        copies = materialized.get(asset_key(site, alias, "orthanc_copies"))
        check = checks.get(check_name(alias))
        parts = []
        if copies is not None:
            parts.append(
                f"{copies['instances']} instances: {copies[Outcome.COPIED]} copied, "
                f"{copies[Outcome.ALREADY_PRESENT]} already present, "
                f"{copies[Outcome.MISSING]} missing, {copies[Outcome.FAILED]} failed"
            )
        if check is None:
            parts.append("not validated (the run failed: see the Dagster UI)")
            complete = False
        else:
            missing = check.metadata[Status.MISSING].value
            mismatched = check.metadata[Status.MISMATCHED].value
            verdict = "complete" if check.passed else "INCOMPLETE"
            parts.append(f"{verdict} ({missing} missing, {mismatched} mismatched)")
            complete = complete and check.passed
        print(f"{day} {site.name} {alias}: " + "; ".join(parts), flush=True)
    return complete
