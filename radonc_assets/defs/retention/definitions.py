"""The retention of a site's data folder: its purge asset and job (with retention_days)."""

import dagster as dg

from radonc_assets.defs.retention.assets import retention_asset
from radonc_assets.site.asset_keys import asset_key
from radonc_assets.site.config import SiteConfig
from radonc_assets.site.naming import RETENTION, retention_job_name


def site_definitions(site: SiteConfig) -> dg.Definitions:
    """The retention asset of `site` and ``{site}_retention``; nothing without retention_days."""
    days = site.settings.retention_days
    if days is None:
        return dg.Definitions()
    return dg.Definitions(
        assets=[retention_asset(site, days)],
        jobs=[
            dg.define_asset_job(
                name=retention_job_name(site),
                selection=dg.AssetSelection.assets(asset_key(site, RETENTION)),
                description=(
                    f"Purges {site.name}'s data folder of the files of dates more than "
                    f"{days} days old; run daily by its schedule."
                ),
            )
        ],
    )
