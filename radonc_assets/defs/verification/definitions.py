"""The rolling content verification of a site: its asset and job (with rolling_content_days)."""

import dagster as dg

from radonc_assets.defs.verification.assets import content_verification_asset
from radonc_assets.site.asset_keys import asset_key
from radonc_assets.site.config import SiteConfig
from radonc_assets.site.naming import CONTENT_VERIFICATION, content_verification_job_name


def site_definitions(site: SiteConfig) -> dg.Definitions:
    """The content verification of `site` and its job.

    Nothing without rolling_content_days, or without a source.
    """
    days = site.settings.rolling_content_days
    if days is None or not site.sources:
        return dg.Definitions()
    return dg.Definitions(
        assets=[content_verification_asset(site, days)],
        jobs=[
            dg.define_asset_job(
                name=content_verification_job_name(site),
                selection=dg.AssetSelection.assets(asset_key(site, CONTENT_VERIFICATION)),
                description=(
                    f"Compares the day's slice of {site.name}'s verified backups with their "
                    f"sources by content (every instance once in {days} days); run daily by "
                    "its schedule."
                ),
            )
        ],
    )
