"""Which instances are due for content verification on a day, and the ledger's rules."""

import datetime as dt
from collections import Counter

import pandas as pd

from radonc_assets.backup.coverage import DayStatus, day_status
from radonc_assets.backup.rolling_content import (
    LEDGER_COLUMNS,
    Due,
    Result,
    content_state,
    day_slot,
    due_instances,
    population,
    slot,
    updated_ledger,
)

DAY = dt.date(2026, 3, 2)
UID_ROOT = "1.2.826.0.1.3680043.8.498.7"


def uids(count: int) -> list[str]:
    return [f"{UID_ROOT}.{n}" for n in range(count)]


def instances(count: int, date: str = "2026-01-05", source: str = "ARIA") -> pd.DataFrame:
    """`count` instances of one series, listed verified on `date`."""
    return pd.DataFrame(
        {
            "sop_instance_uid": uids(count),
            "source": source,
            "date": date,
            "study_instance_uid": f"{UID_ROOT}.1",
            "series_instance_uid": f"{UID_ROOT}.2",
            "sop_class_uid": "1.2.840.10008.5.1.4.1.1.2",
            "modality": "CT",
        }
    )


def verified(rows: pd.DataFrame, day: dt.date, result: Result = Result.IDENTICAL) -> pd.DataFrame:
    """Ledger rows of `rows` verified on `day` with `result`."""
    return pd.DataFrame(
        {
            "sop_instance_uid": rows["sop_instance_uid"],
            "source": rows["source"],
            "date": rows["date"],
            "verified_at": f"{day.isoformat()}T04:30:00+00:00",
            "result": str(result),
            "detail": "" if result == Result.IDENTICAL else "content differs from the source",
        }
    )[LEDGER_COLUMNS]


def proofs(ledger: pd.DataFrame) -> list[tuple[str, str]]:
    """Each row of `ledger` as (instance, local date of its verification), sorted."""
    return sorted(zip(ledger["sop_instance_uid"], ledger["verified_at"].str[:10], strict=True))


def no_ledger() -> pd.DataFrame:
    return pd.DataFrame(columns=LEDGER_COLUMNS, dtype=str)


def test_slots_spread_the_instances_evenly_over_the_days() -> None:
    counts = Counter(slot(uid, 30) for uid in uids(30_000))
    assert sorted(counts) == list(range(30))
    assert max(counts.values()) <= 1.15 * 1000
    assert min(counts.values()) >= 0.85 * 1000
    # Each slot is the day's once in every N consecutive days.
    assert sorted(day_slot(DAY + dt.timedelta(days=n), 30) for n in range(30)) == list(range(30))


def test_the_choice_is_deterministic_and_independent_of_the_order() -> None:
    rows = instances(2000)
    ledger = verified(rows.iloc[::3], DAY - dt.timedelta(days=40))
    first = due_instances(rows, ledger, DAY, 7)
    shuffled = due_instances(rows.sample(frac=1, random_state=1), ledger.iloc[::-1], DAY, 7)
    assert first.equals(due_instances(rows, ledger, DAY, 7))
    assert set(first["sop_instance_uid"]) == set(shuffled["sop_instance_uid"])


def test_turned_on_a_day_takes_its_slot_and_n_days_take_everything_once() -> None:
    """A new ledger does not make the whole archive due at once: about a N-th a day."""
    rows = instances(3000)
    ledger = no_ledger()
    seen: Counter[str] = Counter()
    for n in range(10):
        day = DAY + dt.timedelta(days=n)
        due = due_instances(rows, ledger, day, 10)
        assert set(due["due"]) == {Due.SLOT}
        assert 0.8 * 300 <= len(due) <= 1.2 * 300
        seen.update(due["sop_instance_uid"])
        ledger = updated_ledger(ledger, verified(due, day), rows)
    assert set(seen) == set(rows["sop_instance_uid"])
    assert set(seen.values()) == {1}
    # The ledger holds each instance's last proof only.
    assert len(ledger) == len(rows)


def test_n_equals_one_verifies_everything_every_day() -> None:
    rows = instances(50)
    assert len(due_instances(rows, verified(rows, DAY - dt.timedelta(days=1)), DAY, 1)) == 50


def test_overdue_instances_come_first_within_a_day_s_share() -> None:
    """Never verified for N days and more (the ledger older than that), or verified
    identical N days ago and more: caught up at most a N-th of the instances a day, the
    longest waiting first, beside the day's slot."""
    old = instances(600, date="2026-01-05")
    newer = instances(600, date="2026-02-20").assign(
        sop_instance_uid=[f"{UID_ROOT}.9.{n}" for n in range(600)]
    )
    recent = instances(600, date="2026-02-25").assign(
        sop_instance_uid=[f"{UID_ROOT}.8.{n}" for n in range(600)]
    )
    rows = pd.concat([old, newer, recent], ignore_index=True)
    # The ledger began long ago; `recent` was verified within the N days, `newer` 12
    # days ago, `old` never.
    ledger = pd.concat(
        [
            verified(recent, DAY - dt.timedelta(days=2)),
            verified(newer, DAY - dt.timedelta(days=12)),
            verified(instances(1, source="MIM"), DAY - dt.timedelta(days=90)),
        ]
    )
    days = 10
    due = due_instances(rows, ledger, DAY, days)
    share = -(-len(rows) // days)
    caught_up = due[due["due"] == Due.OVERDUE]
    assert len(caught_up) == share  # 180 of the 1,200 overdue
    assert set(caught_up["sop_instance_uid"]) <= set(old["sop_instance_uid"])
    today = day_slot(DAY, days)
    assert all(slot(uid, days) == today for uid in due[due["due"] == Due.SLOT]["sop_instance_uid"])
    assert (
        not set(due["sop_instance_uid"])
        - set(caught_up["sop_instance_uid"])
        - {uid for uid in rows["sop_instance_uid"] if slot(uid, days) == today}
    )
    # Within a share the longest waiting go first: `old` (never, since the ledger's
    # start) before `newer` (12 days).
    small = due_instances(rows, ledger, DAY, 2)
    assert set(small[small["due"] == Due.OVERDUE]["sop_instance_uid"]) >= set(
        old["sop_instance_uid"]
    )


def test_what_failed_is_retried_the_next_day_before_anything_overdue() -> None:
    rows = instances(400)
    yesterday = DAY - dt.timedelta(days=1)
    failed = rows.iloc[:3]
    ledger = pd.concat(
        [
            verified(rows, DAY - dt.timedelta(days=300)),  # all overdue
            verified(failed, yesterday, Result.DIFFERS),
        ]
    )
    due = due_instances(rows, ledger, DAY, 200)  # a share of 2: the retries take it
    retried = due[due["due"] == Due.RETRY]
    assert len(retried) == 2
    assert set(retried["sop_instance_uid"]) < set(failed["sop_instance_uid"])
    assert (due["due"] != Due.OVERDUE).all()


def test_the_ledger_keeps_each_instance_s_last_proof_and_what_followed_it() -> None:
    rows = instances(3)
    first, second, third = (DAY + dt.timedelta(days=n) for n in range(3))
    ledger = updated_ledger(no_ledger(), verified(rows, first), rows)
    ledger = updated_ledger(ledger, verified(rows.iloc[:1], second, Result.DIFFERS), rows)
    ledger = updated_ledger(ledger, verified(rows.iloc[1:2], second), rows)
    assert proofs(ledger) == sorted(
        [
            (uids(3)[0], first.isoformat()),
            (uids(3)[0], second.isoformat()),
            (uids(3)[1], second.isoformat()),
            (uids(3)[2], first.isoformat()),
        ]
    )
    # Identical again: what it replaces goes. An instance no report lists any more goes.
    ledger = updated_ledger(ledger, verified(rows.iloc[:1], third), rows.iloc[:2])
    assert proofs(ledger) == [
        (uids(3)[0], third.isoformat()),
        (uids(3)[1], second.isoformat()),
    ]


def test_population_is_every_verified_instance_of_the_sources_with_its_latest_date() -> None:
    report = instances(3).drop(columns="date").assign(status="verified", detail="")
    reports = pd.concat(
        [
            report.assign(day="2026-01-05"),
            report.iloc[:1].assign(day="2026-01-07"),
            report.iloc[:1].assign(day="2026-01-06", source="MIM"),
            report.iloc[1:2].assign(day="2026-01-08", status="missing"),
            report.iloc[2:].assign(day="2026-01-08", source=""),  # extra
        ]
    )
    found = population(reports, ["ARIA", "MIM"])
    listed = found[["sop_instance_uid", "source", "date"]].itertuples(index=False, name=None)
    assert sorted(listed) == [
        (uids(3)[0], "ARIA", "2026-01-07"),
        (uids(3)[0], "MIM", "2026-01-06"),
        (uids(3)[1], "ARIA", "2026-01-05"),
        (uids(3)[2], "ARIA", "2026-01-05"),
    ]
    assert population(reports, ["MIM"])["source"].tolist() == ["MIM"]


def test_a_date_with_content_that_differs_is_incomplete() -> None:
    rows = instances(4)
    ledger = pd.concat(
        [
            verified(rows, DAY - dt.timedelta(days=3)),
            verified(rows.iloc[:1], DAY - dt.timedelta(days=1), Result.DIFFERS),
            verified(rows.iloc[1:2], DAY - dt.timedelta(days=1), Result.NOT_IN_SOURCE),
        ]
    )
    state = content_state(ledger, DAY, 30)
    report = rows.drop(columns="date").assign(status="verified", detail="")
    assert day_status(report) == DayStatus.COMPLETE
    marked = state.apply(report)
    assert day_status(marked) == DayStatus.INCOMPLETE
    assert marked["status"].tolist() == ["mismatched", "verified", "verified", "verified"]
    assert marked["detail"].iloc[0] == (
        "content verification of 2026-03-01: content differs from the source"
    )
    # Proven: identical at their latest verification, within the N days.
    assert state.verified(marked) == 2
    assert content_state(ledger, DAY, 3).verified(marked) == 0
    # Identical again: the date is complete again.
    fixed = pd.concat([ledger, verified(rows.iloc[:1], DAY)])
    assert day_status(content_state(fixed, DAY, 30).apply(report)) == DayStatus.COMPLETE
