"""A site's asset keys and the ops computing them, in Dagster's types.

The names they are made of are :mod:`radonc_assets.site.naming`'s, which knows no
Dagster, so that the backup logic names its files with them.
"""

import dagster as dg

from radonc_assets.site.config import SiteConfig
from radonc_assets.site.naming import group_name


def asset_key(site: SiteConfig, *parts: str) -> dg.AssetKey:
    """``[site, *parts]`` in lower case."""
    return dg.AssetKey([group_name(site), *(p.lower() for p in parts)])


def op_name(key: dg.AssetKey) -> str:
    """The op (and step) computing the asset `key`: its parts joined by ``__``.

    What a run config's ``ops`` is keyed by, and what a failed step is named.
    """
    return "__".join(key.path)


def backup_op_name(site: SiteConfig, alias: str) -> str:
    """The op listing and copying source `alias` in one step: ``{site}__{alias}__backup``."""
    return f"{asset_key(site, alias).to_python_identifier()}__backup"
