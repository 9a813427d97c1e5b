"""The Dagster code location: every site of the site files and its resources."""

import dagster as dg

from radonc_assets.site_config import load_sites
from radonc_assets.site_resources import site_resources


def build_definitions() -> dg.Definitions:
    """Definitions for every site found in the site files (see `site_config`)."""
    resources: dict[str, dg.ConfigurableResource] = {}
    for site in load_sites().values():
        resources |= site_resources(site)
    return dg.Definitions(resources=resources)


defs = build_definitions()
