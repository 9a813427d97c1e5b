"""Jobs: the daily backup of a site (all its assets for one date), and its re-validation."""

import dagster as dg

from radonc_assets.site.config import SiteConfig
from radonc_assets.site.naming import (
    asset_key,
    backup_job_name,
    group_name,
    manifest_name,
    validate_job_name,
)


def site_jobs(site: SiteConfig) -> dg.Definitions:
    """The jobs of `site`: the daily backup, and the validation of one date again.

    The backup: every asset of the site's group for one date. The validation: the
    sources' manifests and the report, copying nothing.
    """
    return dg.Definitions(
        jobs=[
            dg.define_asset_job(
                name=backup_job_name(site),
                # The coverage covers every date and a recovery is launched on its own:
                # neither is part of one date's run.
                selection=dg.AssetSelection.groups(group_name(site))
                - dg.AssetSelection.assets(
                    asset_key(site, "coverage"), asset_key(site, "recoveries")
                ),
                description=(
                    f"Back up and validate one day of {site.name}: manifests, copies, report."
                ),
            ),
            dg.define_asset_job(
                name=validate_job_name(site),
                selection=dg.AssetSelection.assets(
                    *(asset_key(site, a, manifest_name(s)) for a, s in site.sources.items()),
                    asset_key(site, "validation_report"),
                ),
                description=(
                    f"Validate one day of {site.name} again: asks every source what it holds "
                    "and compares it with the archive, copying nothing."
                ),
            ),
        ]
    )
