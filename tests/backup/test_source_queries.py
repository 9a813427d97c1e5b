"""When a day's last manifest still stands without enumerating the source again."""

import datetime as dt

import pytest

from radonc_assets.backup.source_queries import StudyState, manifest_stands

NOW = dt.datetime(2026, 1, 9, 8, 0, tzinfo=dt.UTC)
STATE = StudyState(studies=3, digest="0123456789abcdef", counted=True)
LAST = {"study_digest": STATE.digest, "enumerated_at": "2026-01-09T07:00:00+00:00"}


def test_an_unchanged_day_enumerated_recently_stands() -> None:
    assert manifest_stands(LAST, STATE, NOW, reuse_hours=24)


@pytest.mark.parametrize(
    ("last", "state", "hours", "why"),
    [
        (None, STATE, 24, "no manifest yet"),
        (LAST, STATE, 0, "reuse turned off"),
        (LAST, StudyState(3, "fedcba9876543210", True), 24, "a study gained or lost instances"),
        (LAST, StudyState(3, STATE.digest, False), 24, "the source does not count"),
        (LAST, STATE, 1, "enumerated an hour ago or more"),
        ({"study_digest": STATE.digest}, STATE, 24, "a manifest of an earlier version"),
        ({**LAST, "enumerated_at": "yesterday"}, STATE, 24, "an unreadable time"),
        ({**LAST, "enumerated_at": "2026-01-09T07:00:00"}, STATE, 24, "a time without zone"),
        ({**LAST, "enumerated_at": "2026-01-09T09:00:00+00:00"}, STATE, 24, "in the future"),
    ],
)
def test_the_source_is_enumerated_again(
    last: dict[str, object] | None, state: StudyState, hours: int, why: str
) -> None:
    assert not manifest_stands(last, state, NOW, hours), why
