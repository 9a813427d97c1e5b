"""What a DICOM source is asked for one day (its `queries`), answered by C-FIND."""

import datetime as dt
import hashlib
import logging
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd
from pydicom import Dataset

from radonc_assets.site.config import DicomSource
from resources.dicom.client import DicomClient, SeriesCallback
from resources.dicom.queries import (
    InstanceRecord,
    QueryLevel,
    date_range,
    identifier,
    series_record,
)

LOGGER = logging.getLogger(__name__)

# The series-level return key by which a source counts a series' instances.
SERIES_COUNT = "NumberOfSeriesRelatedInstances"


class UndatedRecordsError(Exception):
    """The source does not return SeriesDate, so treatment records cannot be dated."""


class KnownSeries:
    """The series of a day's last manifest, taken again while the source counts them so.

    Called with each series the enumeration finds (see
    :meth:`~resources.dicom.client.DicomClient.enumerate_instances`): a series the
    last manifest lists, which the source answers with as many instances
    (``NumberOfSeriesRelatedInstances``), keeps the manifest's instances, with the
    study's and series' attributes as answered now; any other series (new, grown,
    shrunk, or not counted by the source) is listed at IMAGE level.

    Attributes:
        reused: The SeriesInstanceUIDs taken from the last manifest.
    """

    def __init__(self, manifest: pd.DataFrame) -> None:
        self._instances: dict[str, list[tuple[str, str]]] = defaultdict(list)
        columns = ("series_instance_uid", "sop_instance_uid", "sop_class_uid")
        for series, sop_instance, sop_class in zip(
            *(manifest[column].tolist() for column in columns), strict=True
        ):
            self._instances[series].append((sop_instance, sop_class))
        self.reused: set[str] = set()

    def __call__(self, study: Dataset, series: Dataset) -> list[InstanceRecord] | None:
        """The series' instances from the last manifest, or None: list them."""
        uid = str(series.SeriesInstanceUID)
        known = self._instances.get(uid)
        try:
            counted = int(series.get(SERIES_COUNT) or -1)
        except (TypeError, ValueError):
            return None
        if known is None or counted != len(known):
            return None
        self.reused.add(uid)
        return [series_record(study, series, sop, sop_class) for sop, sop_class in known]


def day_instances(
    client: DicomClient,
    source: DicomSource,
    day: dt.date,
    on_series: SeriesCallback | None = None,
    known: KnownSeries | None = None,
) -> list[InstanceRecord]:
    """Every instance `source` holds for `day`, by its daily queries (duplicates kept).

    - ``study_date``: instances of the studies whose StudyDate is `day`;
    - ``treatment_records``: RT Beams Treatment Records in series dated `day`, in
      studies of the last `record_lookback_days` days (a course's records live in
      its planning study, whose date is earlier). Queries stay hierarchical.

    `on_series`, when given, is called with the day's instances of each series as soon
    as the enumeration knows them (a record series only when dated `day`), from the
    enumeration's threads; a series both queries find is given twice. With `known`,
    the series queries also ask for each series' count of instances, and a series
    `known` recognises is not listed at IMAGE level, nor given to `on_series` (the
    copy that follows the enumeration retrieves what the archive lacks of it).

    Raises:
        UndatedRecordsError: The source returned RTRECORD series without SeriesDate.
    """
    records: list[InstanceRecord] = []
    counts = {} if known is None else {SERIES_COUNT: ""}
    if "study_date" in source.daily_queries:
        records += client.enumerate_instances(
            {"StudyDate": date_range(day)}, series_keys=counts, on_series=on_series, known=known
        )
    if "treatment_records" in source.daily_queries:
        window = date_range(day - dt.timedelta(days=source.record_lookback_days), day)

        def dated(series: list[InstanceRecord]) -> None:
            of_day = [r for r in series if r.series_date == date_range(day)]
            if on_series is not None and of_day:
                on_series(of_day)

        found = client.enumerate_instances(
            {"StudyDate": window},
            series_keys={"Modality": "RTRECORD", "SeriesDate": date_range(day), **counts},
            on_series=dated,
            known=known,
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
        counted: Every study answered with its counts of series and instances, so the
            digest also changes when a study gains or loses an instance.
    """

    studies: int
    digest: str
    counted: bool


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
    return StudyState(len(states), digest, all(all(values) for values in answers))


def manifest_stands(
    last: Mapping[str, object] | None,
    state: StudyState,
    now: dt.datetime,
    reuse_hours: int,
) -> bool:
    """Whether the day's last manifest still lists what the source holds, unenumerated.

    It does when the source answers its studies' counts (`state.counted`), the digest
    of the day's studies is the one taken before that manifest was enumerated, and
    the enumeration is less than `reuse_hours` old (:func:`enumeration_current`). A
    study that gained or lost an instance, or a new study, changes the digest; an
    instance deleted and another stored into the same study between two runs does
    not, which the next enumeration (at the latest `reuse_hours` later) sees.

    Args:
        last: The metadata of the day's last manifest (``study_digest``,
            ``enumerated_at``), None when there is none.
        state: The day's studies now.
        now: The current time (aware).
        reuse_hours: How long an enumeration stands.
    """
    if last is None or not state.counted or last.get("study_digest") != state.digest:
        return False
    return enumeration_current(last, now, reuse_hours)


def enumeration_current(last: Mapping[str, object], now: dt.datetime, reuse_hours: int) -> bool:
    """Whether the day's last enumeration in full (``enumerated_at``) is under `reuse_hours` old.

    Until then, a day whose studies changed lists only the series whose counts
    changed (:class:`KnownSeries`); 0 hours: never.
    """
    if reuse_hours <= 0:
        return False
    try:
        enumerated = dt.datetime.fromisoformat(str(last.get("enumerated_at")))
    except ValueError:
        return False
    if enumerated.tzinfo is None:
        return False
    return dt.timedelta(0) <= now - enumerated < dt.timedelta(hours=reuse_hours)
