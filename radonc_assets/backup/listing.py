"""A source's listing of a day: when it was made, or why it could not be.

Every backup of a DICOM source lists the day in full (C-FIND study -> series -> image)
and Mosaiq's records are generated from its whole delivery history of the day; each
step records its listing beside the day's manifest (``SOURCE_listing.csv``). A verdict
rests on that record: a source whose listing failed is ``unreachable``, and a past day
whose last listing was made before the day ended is ``not_run`` (its backup after the
day has not run), whatever its last manifest says.
"""

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import pandas as pd

from radonc_assets.backup.audit_files import audit_path, read_frame, write_frame
from radonc_assets.backup.manifest import Status

COLUMNS = ["status", "listed_at", "cause"]


class ListingStatus(StrEnum):
    """Whether a source could be listed: ``full``, or ``unreachable`` (with the cause)."""

    FULL = "full"
    UNREACHABLE = "unreachable"


@dataclass(frozen=True)
class Listing:
    """One listing of a source's day.

    Attributes:
        status: Full, or unreachable.
        listed_at: When the listing was made (aware).
        cause: Why the source could not be listed (unreachable only).
    """

    status: ListingStatus
    listed_at: dt.datetime
    cause: str = ""

    @classmethod
    def full(cls) -> "Listing":
        """A full listing made now."""
        return cls(ListingStatus.FULL, dt.datetime.now(dt.UTC))

    @classmethod
    def unreachable(cls, cause: str) -> "Listing":
        """A listing that failed now, because of `cause`."""
        return cls(ListingStatus.UNREACHABLE, dt.datetime.now(dt.UTC), cause)


def listing_path(site: str, day: dt.date, alias: str) -> Path:
    """The listing record of `alias` for `site`'s date `day`."""
    return audit_path(site, day, f"{alias}_listing")


def write_listing(listing: Listing, path: Path) -> Path:
    """Record `listing` at `path` (one row), replacing the day's last one."""
    row = [str(listing.status), listing.listed_at.isoformat(timespec="seconds"), listing.cause]
    return write_frame(pd.DataFrame([row], columns=COLUMNS), path)


def read_listing(path: Path) -> Listing | None:
    """The listing recorded at `path`; None when the day was never listed (or unreadably)."""
    try:
        row = read_frame(path).iloc[0]
        return Listing(
            ListingStatus(row["status"]), dt.datetime.fromisoformat(row["listed_at"]), row["cause"]
        )
    except (FileNotFoundError, IndexError, KeyError, ValueError):
        return None


def unlisted(
    listing: Listing | None, day_end: dt.datetime, now: dt.datetime
) -> tuple[Status, str] | None:
    """Why a source's day cannot be verified from its listing; None when it can.

    Args:
        listing: The day's last listing of the source, None when there is none.
        day_end: When the day ends in the site's time zone (aware).
        now: The current time (aware).

    Returns:
        ``unreachable`` with the cause; ``not_run`` when the day was never listed, or,
        once the day has ended, when its last listing was made before the end (a
        listing of today is the latest full listing); otherwise None.
    """
    if listing is None:
        return Status.NOT_RUN, "never listed for this day: its backup has not run"
    if listing.status == ListingStatus.UNREACHABLE:
        return Status.UNREACHABLE, listing.cause
    if now >= day_end > listing.listed_at:
        return (
            Status.NOT_RUN,
            f"last listed at {listing.listed_at.isoformat(timespec='seconds')}, before the day "
            "ended: its backup after the day has not run",
        )
    return None
