"""Jobs: the daily backup of a site (all its assets for one date partition)."""

import dagster as dg

from radonc_assets.site.config import SiteConfig
from radonc_assets.site.naming import backup_job_name, group_name


def site_jobs(site: SiteConfig) -> dg.Definitions:
    """The daily backup job of `site`: every asset of its group for one date."""
    return dg.Definitions(
        jobs=[
            dg.define_asset_job(
                name=backup_job_name(site),
                selection=dg.AssetSelection.groups(group_name(site)),
                description=(
                    f"Back up and validate one day of {site.name}: manifests, copies, report."
                ),
            )
        ]
    )
