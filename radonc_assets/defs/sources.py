"""What every asset of one source shares, given once: `source_asset`, its listing records."""

from collections.abc import Iterable
from typing import Any

import dagster as dg

from radonc_assets.backup.listing import Listing, listing_path, write_listing
from radonc_assets.site.config import SiteConfig
from radonc_assets.site.naming import asset_key, group_name, node_key, source_kinds
from radonc_assets.site.partitions import partition_date


def source_asset(
    site: SiteConfig, alias: str, name: str, partitions: dg.PartitionsDefinition, kind: str
) -> dict[str, Any]:
    """The ``dg.asset`` arguments of the daily asset `name` of source `alias`.

    Its key ``[site, source, name]``, the site's group and daily partitions, the source's
    concurrency pool (one step at a time touches the source) and its kinds (the source's
    alias, then `kind`).
    """
    return {
        "key": asset_key(site, alias, name),
        "group_name": group_name(site),
        "partitions_def": partitions,
        "pool": node_key(site, alias),
        "kinds": source_kinds(alias, kind),
    }


def record_listing(
    context: dg.AssetExecutionContext, site: SiteConfig, alias: str, listing: Listing
) -> dict[str, Any]:
    """Record `alias`'s `listing` of the partition's day; its metadata.

    The validation report decides the source's verdict from it
    (:func:`~radonc_assets.backup.listing.unlisted`).
    """
    write_listing(listing, listing_path(site.name, partition_date(context.partition_key), alias))
    metadata = {
        "listing": str(listing.status),
        "listed_at": listing.listed_at.isoformat(timespec="seconds"),
    }
    return metadata | ({"cause": listing.cause} if listing.cause else {})


def unreachable(
    context: dg.AssetExecutionContext,
    site: SiteConfig,
    alias: str,
    keys: Iterable[dg.AssetKey],
    cause: str,
) -> list[dg.MaterializeResult]:
    """`alias` could not be listed because of `cause`: recorded as such.

    The listing record says ``unreachable`` with the cause, and each of `keys` (the
    step's selected assets) is materialized with it: nothing listed, nothing copied, the
    day's last manifest and copies files kept as they were. The rest of the run (the
    other sources, the report) goes on, and the report gives this source's verdict.
    """
    metadata = record_listing(context, site, alias, Listing.unreachable(cause))
    context.log.error("%s", cause)
    return [dg.MaterializeResult(asset_key=key, metadata=metadata) for key in keys]
