"""What every asset of one source shares, given once: `source_asset`."""

from typing import Any

import dagster as dg

from radonc_assets.site.config import SiteConfig
from radonc_assets.site.naming import asset_key, group_name, node_key, source_kinds


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
