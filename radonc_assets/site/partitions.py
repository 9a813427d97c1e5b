"""Daily partitions of a site: one per day from `backfill_start`, in the site's time zone."""

import datetime as dt
import zoneinfo

import dagster as dg

from radonc_assets.site.config import SiteConfig

# Used when a site file sets no `backfill_start`.
DEFAULT_BACKFILL_START = dt.date(2026, 1, 1)


def site_partitions(site: SiteConfig) -> dg.DailyPartitionsDefinition:
    """Daily partitions of `site`, today included.

    ``end_offset=1`` adds the current day, so that sensors can back it up.
    """
    start = site.backfill_start or DEFAULT_BACKFILL_START
    return dg.DailyPartitionsDefinition(
        start_date=start.isoformat(), timezone=site.timezone, end_offset=1
    )


def partition_date(partition_key: str) -> dt.date:
    """The date of a daily partition key (``YYYY-MM-DD``)."""
    return dt.date.fromisoformat(partition_key)


def site_today(site: SiteConfig) -> dt.datetime:
    """The site's local date and time now."""
    return dt.datetime.now(zoneinfo.ZoneInfo(site.timezone))
