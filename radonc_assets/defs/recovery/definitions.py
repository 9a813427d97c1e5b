"""The recovery of a site: its recoveries asset and the job that launches a restore."""

import dagster as dg

from radonc_assets.defs.recovery.assets import recoveries_asset
from radonc_assets.site.config import SiteConfig
from radonc_assets.site.naming import asset_key, recovery_job_name


def site_definitions(site: SiteConfig) -> dg.Definitions:
    """The recoveries asset of `site` and ``{site}_recovery``, its job for the launchpad."""
    return dg.Definitions(
        assets=[recoveries_asset(site)],
        jobs=[
            dg.define_asset_job(
                name=recovery_job_name(site),
                selection=dg.AssetSelection.assets(asset_key(site, "recoveries")),
                description=(
                    f"Restore from {site.name}'s archive into a restore target, verified by "
                    "content: fill in the config (destination and one of patient_id, "
                    "study_uids, series_uids, date) in the launchpad."
                ),
            )
        ],
    )
