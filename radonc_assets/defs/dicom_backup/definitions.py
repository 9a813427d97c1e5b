"""The DICOM backup of a site (by C-MOVE or C-GET relay: retrieve) and its validation."""

import dagster as dg

from radonc_assets.defs.dicom_backup.assets import site_assets
from radonc_assets.defs.dicom_backup.coverage import coverage_asset
from radonc_assets.defs.dicom_backup.jobs import site_jobs
from radonc_assets.site.config import SiteConfig


def site_definitions(site: SiteConfig) -> dg.Definitions:
    """The DICOM backup assets, checks and jobs of `site`, and its coverage."""
    return dg.Definitions.merge(
        dg.Definitions(assets=[*site_assets(site), coverage_asset(site)]), site_jobs(site)
    )
