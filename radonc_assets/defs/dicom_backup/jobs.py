"""Jobs: the daily backup of a site (its listings, copies and report), and its re-validation.

Both select their assets by inclusion, so an asset added to the site's group (a drill,
a purge, a summary over every date) joins no daily run unless it is named here.
"""

import dagster as dg

from radonc_assets.site.asset_keys import asset_key
from radonc_assets.site.config import MosaiqSource, SiteConfig
from radonc_assets.site.naming import (
    ACTIVE_COURSES,
    COVERAGE,
    ORTHANC_COPIES,
    VALIDATION_REPORT,
    backup_job_name,
    coverage_job_name,
    manifest_name,
    validate_job_name,
)


def backup_assets(site: SiteConfig) -> list[dg.AssetKey]:
    """What one date's backup of `site` materializes.

    Each source's manifest and copy, Mosaiq's census of active courses, and the
    validation report.
    """
    keys = []
    for alias, source in site.sources.items():
        keys += [
            asset_key(site, alias, manifest_name(source)),
            asset_key(site, alias, ORTHANC_COPIES),
        ]
        if isinstance(source, MosaiqSource):
            keys.append(asset_key(site, alias, ACTIVE_COURSES))
    if site.sources:
        keys.append(asset_key(site, VALIDATION_REPORT))
    return keys


def coverage_job(site: SiteConfig) -> "dg.UnresolvedAssetJobDefinition":
    """The coverage of `site` refreshed: requested after a failed report.

    A report that fails (an unverified date) is no materialization for the coverage's
    automation condition to follow; the run failure sensor requests this job instead.
    """
    return dg.define_asset_job(
        name=coverage_job_name(site),
        selection=dg.AssetSelection.assets(asset_key(site, COVERAGE)),
        description=f"Refresh the coverage of {site.name} (every date's verdict).",
    )


def site_jobs(site: SiteConfig) -> dg.Definitions:
    """The jobs of `site`: the daily backup, and the validation of one date again.

    The backup: :func:`backup_assets` for one date. The validation: the sources'
    manifests and the report, copying nothing.
    """
    return dg.Definitions(
        jobs=[
            dg.define_asset_job(
                name=backup_job_name(site),
                selection=dg.AssetSelection.assets(*backup_assets(site)),
                description=(
                    f"Back up and validate one day of {site.name}: every source's listing and "
                    "copy, Mosaiq's census, the validation report. Restore drills and "
                    "retention purges run only from their own jobs."
                ),
            ),
            dg.define_asset_job(
                name=validate_job_name(site),
                selection=dg.AssetSelection.assets(
                    *(asset_key(site, a, manifest_name(s)) for a, s in site.sources.items()),
                    asset_key(site, VALIDATION_REPORT),
                ),
                description=(
                    f"Validate one day of {site.name} again: asks every source what it holds "
                    "and compares it with the archive, copying nothing."
                ),
            ),
        ]
    )
