"""The Dagster code location: every site of the site files, with every capability.

Each capability folder of :mod:`radonc_assets.defs` builds a site's Dagster
objects (``site_definitions(site)``); this module merges them per site with the
site's resources, and sets the executor once.
"""

import dagster as dg

from radonc_assets.defs.dicom_backup import definitions as dicom_backup
from radonc_assets.site.config import SiteConfig
from radonc_assets.site.loading import load_sites
from radonc_assets.site.resources import site_resources

CAPABILITIES = (dicom_backup,)


def site_definitions(site: SiteConfig) -> dg.Definitions:
    """Everything of one site: each capability's assets, checks and jobs, and its resources.

    Steps run in-process: they wait on the network, and a process per step would
    cost seconds of start-up each.
    """
    return dg.Definitions.merge(
        *(capability.site_definitions(site) for capability in CAPABILITIES),
        dg.Definitions(resources=site_resources(site), executor=dg.in_process_executor),
    )


@dg.definitions
def defs() -> dg.Definitions:
    """Definitions for every site found in the site files."""
    return dg.Definitions.merge(*(site_definitions(site) for site in load_sites().values()))
