"""The Mosaiq capability of a site: its records, generated and archived."""

import dagster as dg

from radonc_assets.defs.mosaiq.assets import site_assets
from radonc_assets.site.config import SiteConfig


def site_definitions(site: SiteConfig) -> dg.Definitions:
    """The Mosaiq assets of `site`."""
    return dg.Definitions(assets=site_assets(site))
