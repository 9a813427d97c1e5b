"""When a day's last manifest, or a series of it, stands without enumerating it again."""

import datetime as dt

import pytest
from pydicom import Dataset

from radonc_assets.backup.manifest import manifest_frame
from radonc_assets.backup.source_queries import (
    KnownSeries,
    StudyState,
    enumeration_current,
    manifest_stands,
)
from resources.dicom.queries import InstanceRecord

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


def test_a_recent_enumeration_is_current_whatever_the_studies_say() -> None:
    assert enumeration_current(LAST, NOW, reuse_hours=24)
    assert not enumeration_current(LAST, NOW, reuse_hours=1)
    assert not enumeration_current(LAST, NOW, reuse_hours=0)
    assert not enumeration_current({**LAST, "enumerated_at": "yesterday"}, NOW, reuse_hours=24)


def answers(count: object = None, *, series: str = "1.2.3.1") -> tuple[Dataset, Dataset]:
    study, answer = Dataset(), Dataset()
    study.PatientID, study.StudyInstanceUID, study.StudyDate = "MRN-2", "1.2.3", "20260109"
    answer.SeriesInstanceUID, answer.Modality, answer.SeriesDate = series, "CT", "20260109"
    if count is not None:
        answer.NumberOfSeriesRelatedInstances = count
    return study, answer


LAST_MANIFEST = manifest_frame(
    InstanceRecord("MRN-1", "1.2.3", "1.2.3.1", sop, "1.2.840.10008.5.1.4.1.1.2", "CT", "", "")
    for sop in ("1.2.3.1.1", "1.2.3.1.2")
)


def test_a_series_counted_as_before_keeps_its_instances_with_its_attributes_as_answered() -> None:
    known = KnownSeries(LAST_MANIFEST)
    records = known(*answers(2))
    assert records is not None
    assert [r.sop_instance_uid for r in records] == ["1.2.3.1.1", "1.2.3.1.2"]
    assert {r.sop_class_uid for r in records} == {"1.2.840.10008.5.1.4.1.1.2"}
    assert {(r.patient_id, r.study_date, r.series_date) for r in records} == {
        ("MRN-2", "20260109", "20260109")
    }
    assert known.reused == {"1.2.3.1"}


@pytest.mark.parametrize(
    ("count", "series", "why"),
    [
        (3, "1.2.3.1", "it gained an instance"),
        (1, "1.2.3.1", "it lost one"),
        (None, "1.2.3.1", "the source does not count it"),
        ("", "1.2.3.1", "the source answers the count empty"),
        (2, "1.2.3.9", "a series the last manifest does not list"),
    ],
)
def test_any_other_series_is_listed(count: object, series: str, why: str) -> None:
    known = KnownSeries(LAST_MANIFEST)
    assert known(*answers(count, series=series)) is None, why
    assert known.reused == set()
