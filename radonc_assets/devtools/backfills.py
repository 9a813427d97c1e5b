"""A backfill of a site's backup as the UI launches it (GraphQL), for tests and benchmarks."""

import dagster as dg

from radonc_assets.site.config import SiteConfig
from radonc_assets.site.naming import asset_key, manifest_name

# The mutation the UI's "Materialize" of a partition range sends: params has
# partitionNames and assetSelection.
LAUNCH_BACKFILL = """mutation ($params: LaunchBackfillParams!) {
    launchPartitionBackfill(backfillParams: $params) {
        __typename
        ... on LaunchBackfillSuccess { backfillId }
        ... on PythonError { message }
        ... on Error { message }
    } }"""
# A backfill's status by its id.
BACKFILL_STATUS = """query ($id: String!) { partitionBackfillOrError(backfillId: $id) {
    ... on PartitionBackfill { status } } }"""
# The statuses of a backfill still in progress.
IN_PROGRESS = ("REQUESTED", "CANCELING", "FAILING")


def backup_assets(site: SiteConfig) -> list[dg.AssetKey]:
    """The assets of a date's backup: every source's manifest and copies, the report."""
    return [
        *(asset_key(site, alias, manifest_name(source)) for alias, source in site.sources.items()),
        *(asset_key(site, alias, "orthanc_copies") for alias in site.sources),
        asset_key(site, "validation_report"),
    ]
