"""Jobs: the daily backup of a site (all its assets for one date partition)."""

import dagster as dg
from dagster._core.definitions.unresolved_asset_job_definition import (
    UnresolvedAssetJobDefinition,
)

from radonc_assets.site_config import SiteConfig


def backup_job_name(site: SiteConfig) -> str:
    """``{site}_backup``."""
    return f"{site.name.lower()}_backup"


def backup_job(site: SiteConfig) -> UnresolvedAssetJobDefinition:
    """Back up and validate one day of `site`: every asset of its group."""
    return dg.define_asset_job(
        name=backup_job_name(site),
        selection=dg.AssetSelection.groups(site.name.lower()),
        description=f"Back up and validate one day of {site.name}: manifests, copies, report.",
    )
