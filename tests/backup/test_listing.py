"""When a source's listing can decide a day, and the one verdict every view derives."""

import datetime as dt
from pathlib import Path

import pytest

from radonc_assets.backup.coverage import DayStatus, verdict
from radonc_assets.backup.listing import (
    Listing,
    ListingStatus,
    read_listing,
    unlisted,
    write_listing,
)
from radonc_assets.backup.manifest import Status

DAY_END = dt.datetime(2026, 1, 10, 5, 0, tzinfo=dt.UTC)  # midnight in New York
BEFORE_END = DAY_END - dt.timedelta(hours=3)
AFTER_END = DAY_END + dt.timedelta(hours=2)


def listed(at: dt.datetime) -> Listing:
    return Listing(ListingStatus.FULL, at)


def test_a_full_listing_made_after_the_day_ended_decides_it() -> None:
    assert unlisted(listed(AFTER_END), DAY_END, AFTER_END + dt.timedelta(days=3)) is None


def test_today_is_decided_by_its_latest_full_listing() -> None:
    assert unlisted(listed(BEFORE_END), DAY_END, BEFORE_END + dt.timedelta(minutes=1)) is None


def test_a_past_day_listed_only_while_it_lasted_is_not_run() -> None:
    status, detail = unlisted(listed(BEFORE_END), DAY_END, AFTER_END) or ("", "")
    assert status == Status.NOT_RUN
    assert "before the day ended" in detail


def test_a_day_never_listed_is_not_run() -> None:
    assert unlisted(None, DAY_END, AFTER_END) == (
        Status.NOT_RUN,
        "never listed for this day: its backup has not run",
    )


def test_a_source_that_could_not_be_listed_is_unreachable_with_its_cause() -> None:
    listing = Listing(ListingStatus.UNREACHABLE, AFTER_END, "MIM could not be listed: refused")
    assert unlisted(listing, DAY_END, AFTER_END) == (
        Status.UNREACHABLE,
        "MIM could not be listed: refused",
    )


def test_a_listing_record_round_trips(tmp_path: Path) -> None:
    listing = Listing(ListingStatus.UNREACHABLE, AFTER_END, "ARIA could not be listed: timed out")
    path = write_listing(listing, tmp_path / "aria_listing.csv")
    assert read_listing(path) == listing
    assert read_listing(tmp_path / "mim_listing.csv") is None


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ([Status.VERIFIED, Status.EXTRA], DayStatus.COMPLETE),
        ([], DayStatus.COMPLETE),
        ([Status.VERIFIED, Status.DEFERRED], DayStatus.DEFERRED),
        ([Status.DEFERRED, Status.NOT_RUN], DayStatus.NOT_RUN),
        ([Status.NOT_RUN, Status.UNREACHABLE], DayStatus.UNREACHABLE),
        ([Status.UNREACHABLE, Status.MISSING], DayStatus.INCOMPLETE),
        ([Status.VERIFIED, Status.MISMATCHED], DayStatus.INCOMPLETE),
    ],
)
def test_the_worst_status_decides_the_verdict(statuses: list[str], expected: DayStatus) -> None:
    assert verdict(statuses) == expected
