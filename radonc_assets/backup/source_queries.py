"""What a DICOM source is asked for one day (its `queries`), answered by C-FIND."""

import datetime as dt
import hashlib
import logging
from dataclasses import dataclass, field

import pandas as pd

from radonc_assets.backup.manifest import manifest_frame
from radonc_assets.site.config import DicomSource
from resources.dicom.client import DicomClient, SeriesCallback
from resources.dicom.queries import (
    InstanceRecord,
    QueryLevel,
    date_range,
    identifier,
)

LOGGER = logging.getLogger(__name__)


class UndatedRecordsError(Exception):
    """The source does not return SeriesDate, so treatment records cannot be dated."""


def day_instances(
    client: DicomClient,
    source: DicomSource,
    day: dt.date,
    on_series: SeriesCallback | None = None,
) -> list[InstanceRecord]:
    """Every instance `source` holds for `day`, by its daily queries (duplicates kept).

    - ``study_date``: instances of the studies whose StudyDate is `day`;
    - ``treatment_records``: RT Beams Treatment Records in series dated `day`, in
      studies of the last `record_lookback_days` days (a course's records live in
      its planning study, whose date is earlier). Queries stay hierarchical.

    `on_series`, when given, is called with the day's instances of each series as soon
    as the enumeration knows them (a record series only when dated `day`), from the
    enumeration's threads; a series both queries find is given twice.

    Raises:
        UndatedRecordsError: The source returned RTRECORD series without SeriesDate.
    """
    records: list[InstanceRecord] = []
    if "study_date" in source.daily_queries:
        records += client.enumerate_instances({"StudyDate": date_range(day)}, on_series=on_series)
    if "treatment_records" in source.daily_queries:
        window = date_range(day - dt.timedelta(days=source.record_lookback_days), day)

        def dated(series: list[InstanceRecord]) -> None:
            of_day = [r for r in series if r.series_date == date_range(day)]
            if on_series is not None and of_day:
                on_series(of_day)

        found = client.enumerate_instances(
            {"StudyDate": window},
            series_keys={"Modality": "RTRECORD", "SeriesDate": date_range(day)},
            on_series=dated,
        )
        if any(not r.series_date for r in found):
            raise UndatedRecordsError(
                f"{client.peer} returns RTRECORD series without SeriesDate, so the records of "
                f'{day} cannot be told apart; set queries = ["study_date"] for this source'
            )
        records += [r for r in found if r.series_date == date_range(day)]
    LOGGER.info("%s holds %d instances for %s", client.peer, len(records), day)
    return records


@dataclass(frozen=True)
class StudyState:
    """What a source holds for a day, seen at study level (a sensor's cheap poll).

    Attributes:
        studies: How many studies answered.
        digest: Changes when a study is new, or grows when the source counts its series
            and instances (``NumberOfStudyRelated*``; a source that does not answer them
            is watched for new studies only).
        instances: Each study's ``NumberOfStudyRelatedInstances`` by StudyInstanceUID,
            None where the source does not count them.
    """

    studies: int
    digest: str
    instances: dict[str, int | None] = field(default_factory=dict)


def day_study_state(client: DicomClient, source: DicomSource, day: dt.date) -> StudyState:
    """One study-level C-FIND of the studies where `source`'s instances of `day` are.

    The studies dated `day`, and with ``treatment_records`` those of the lookback window,
    which receive each day's records.
    """
    first = day
    if "treatment_records" in source.daily_queries:
        first = day - dt.timedelta(days=source.record_lookback_days)
    query = identifier(
        QueryLevel.STUDY,
        {
            "StudyDate": date_range(first, day),
            "NumberOfStudyRelatedSeries": "",
            "NumberOfStudyRelatedInstances": "",
        },
    )
    keywords = ("StudyInstanceUID", "NumberOfStudyRelatedSeries", "NumberOfStudyRelatedInstances")
    answers = [
        [str(answer.get(keyword, "") or "") for keyword in keywords]
        for answer in client.find(query)
    ]
    states = sorted("|".join(values) for values in answers)
    digest = hashlib.sha256("\n".join(states).encode()).hexdigest()[:16]
    instances = {uid: int(count) if count.isdigit() else None for uid, _, count in answers}
    return StudyState(len(states), digest, instances)


def day_manifest(
    client: DicomClient,
    source: DicomSource,
    day: dt.date,
    on_series: SeriesCallback | None = None,
) -> pd.DataFrame:
    """The manifest of `day` as a backup lists it: in full, one row per instance.

    A study-level C-FIND of every study the day's queries search comes first
    (:func:`day_study_state`): when none answers, there is nothing to list. Otherwise
    :func:`day_instances` (`on_series` as there).

    Raises:
        DicomError: The source could not be listed.
        UndatedRecordsError: As :func:`day_instances`.
    """
    state = day_study_state(client, source, day)
    return manifest_frame(day_instances(client, source, day, on_series) if state.studies else [])
