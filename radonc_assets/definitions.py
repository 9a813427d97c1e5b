"""The Dagster code location: every site of the site files, its assets, jobs and resources."""

import dagster as dg

from radonc_assets.assets import site_assets
from radonc_assets.jobs import backup_job
from radonc_assets.site_config import load_sites
from radonc_assets.site_resources import site_resources


def build_definitions() -> dg.Definitions:
    """Definitions for every site found in the site files (see `site_config`).

    Steps run in-process: they wait on the network, and a process per step would
    cost seconds of start-up each.
    """
    assets: list[dg.AssetsDefinition] = []
    jobs = []
    resources: dict[str, dg.ConfigurableResource] = {}
    for site in load_sites().values():
        assets += site_assets(site)
        jobs.append(backup_job(site))
        resources |= site_resources(site)
    return dg.Definitions(
        assets=assets, jobs=jobs, resources=resources, executor=dg.in_process_executor
    )


defs = build_definitions()
