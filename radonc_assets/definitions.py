"""The Dagster code location: every site of the site files, its assets, jobs and resources."""

import dagster as dg

from radonc_assets.assets import site_assets
from radonc_assets.jobs import backup_job
from radonc_assets.site_config import SiteConfig, load_sites
from radonc_assets.site_resources import site_resources


def site_definitions(site: SiteConfig) -> dg.Definitions:
    """The assets, jobs and resources of one site.

    Steps run in-process: they wait on the network, and a process per step would
    cost seconds of start-up each.
    """
    return dg.Definitions(
        assets=site_assets(site),
        jobs=[backup_job(site)],
        resources=site_resources(site),
        executor=dg.in_process_executor,
    )


def build_definitions() -> dg.Definitions:
    """Definitions for every site found in the site files (see `site_config`)."""
    return dg.Definitions.merge(*(site_definitions(site) for site in load_sites().values()))


defs = build_definitions()
