"""Sensors: each source watched for new data of the day, and its days left undone.

One sensor per site and source, ``{site}_{source}_new_data``. Each evaluation, at
most every ``automation.sensor_interval`` seconds and only inside the source's
``automation.poll_windows`` entry when it has one:

- a DICOM source is asked, at study level, what it holds for today (one C-FIND,
  :func:`~radonc_assets.backup.source_queries.day_study_state`); a study new since the
  last poll, or grown (more instances than the last poll counted), requests today's
  partition for that source's assets (the validation report follows through its
  automation condition once every source's copy of the day exists);
- Mosaiq is asked for deliveries recorded after the cursor (``Dose_Hst.DHS_ID``);
  their treatment dates are requested;
- the source's days of the last ``automation.retry_days`` whose report left it
  ``deferred`` are requested again (each new report once), and those left
  ``incomplete`` or ``unreachable`` too, at most :data:`RETRY_ATTEMPTS` times.

Run keys name the state (the study digest, the last delivery, the report's version),
so one state never launches twice. Each request's reason (tag ``radonc/reason``) says
what changed: how many studies are new and which grew (instances before and after), the
deliveries and their ``DHS_ID``, or the date retried and why; a tick that requests nothing
says in its skip reason what it saw. A source that does not answer gives a skip reason
with the error; the cursor stays, and the next evaluation tries again.
"""

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import dagster as dg

from radonc_assets.backup.coverage import DayStatus, day_coverage
from radonc_assets.backup.mosaiq.queries import new_deliveries
from radonc_assets.backup.source_queries import day_study_state
from radonc_assets.site.asset_keys import asset_key
from radonc_assets.site.config import DicomSource, MosaiqSource, SiteConfig, Source
from radonc_assets.site.dagster_resources import DicomNodeResource, MosaiqDatabaseResource
from radonc_assets.site.naming import (
    ACTIVE_COURSES,
    ORTHANC_COPIES,
    backup_job_name,
    manifest_name,
    new_data_sensor_name,
    node_key,
)
from radonc_assets.site.partitions import site_partitions, site_today
from resources.errors import DicomError, MosaiqDatabaseError

LOGGER = logging.getLogger(__name__)

# Runs a sensor requests for a day left incomplete (missing or mismatched instances) or
# unreachable; a deferred day is requested until it is copied.
RETRY_ATTEMPTS = 3
RETRIED = (DayStatus.DEFERRED, DayStatus.INCOMPLETE, DayStatus.UNREACHABLE)
REASON_TAG = "radonc/reason"


# Grown studies a run request's reason lists with their instance counts, at most.
LISTED_STUDIES = 3


@dataclass
class SensorCursor:
    """What a source's sensor remembers between evaluations.

    Attributes:
        day: The day `state` belongs to (DICOM sources).
        state: The last study digest (DICOM) or the last ``DHS_ID`` seen (Mosaiq).
        retries: By day, the report version last requested again and how many times
            the day was requested again left incomplete.
        studies: The studies of the last poll (DICOM), each by :func:`study_key`, with
            its instances (None where the source does not count them); None before
            the first poll.
    """

    day: str = ""
    state: str = ""
    retries: dict[str, tuple[int, int]] = field(default_factory=dict)
    studies: dict[str, int | None] | None = None

    @classmethod
    def parse(cls, text: str | None) -> "SensorCursor":
        """The cursor Dagster kept; an empty one for none or an unreadable one."""
        try:
            data = json.loads(text or "{}")
            retries = {day: (int(v), int(n)) for day, (v, n) in data.get("retries", {}).items()}
            seen = data.get("studies")
            studies = (
                None
                if seen is None
                else {str(k): None if n is None else int(n) for k, n in seen.items()}
            )
            return cls(str(data.get("day", "")), str(data.get("state", "")), retries, studies)
        except (ValueError, TypeError, AttributeError):
            LOGGER.warning("sensor cursor %r unreadable: starting afresh", text)
            return cls()

    def __str__(self) -> str:
        data: dict[str, object] = {"day": self.day, "state": self.state, "retries": self.retries}
        if self.studies is not None:
            data["studies"] = self.studies
        return json.dumps(data, sort_keys=True)


def study_key(study_uid: str) -> str:
    """How a cursor names a study: a short hash of its UID (no identifier in the cursor)."""
    return hashlib.sha256(study_uid.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class StudyChanges:
    """What a poll found changed since the last one.

    Attributes:
        studies: The studies the poll found.
        new: Studies the last poll did not find.
        grown: The instances before and after of each study that grew.
        gone: Studies of the last poll not found again.
        first: There was no last poll (an empty cursor): every study is new.
    """

    studies: int
    new: int
    grown: tuple[tuple[int, int], ...]
    gone: int
    first: bool

    @property
    def gone_text(self) -> str:
        """The studies of the last poll not found now: deleted, or out of the day's window."""
        return f"{self.gone} of the last poll's studies not found now"

    @property
    def changed(self) -> bool:
        """Whether a study is new or grew."""
        return bool(self.new or self.grown)

    def describe(self) -> str:
        """What changed, in words: the reason of a run request."""
        if self.first:
            return f"{_count(self.studies, 'study')}, none seen before (first poll of this sensor)"
        parts = []
        if self.new:
            parts.append(f"{_count(self.new, 'new study', 'new studies')}")
        if self.grown:
            counts = ", ".join(
                f"{before} -> {after}" for before, after in self.grown[:LISTED_STUDIES]
            )
            more = ", ..." if len(self.grown) > LISTED_STUDIES else ""
            parts.append(
                f"{_count(len(self.grown), 'grown study', 'grown studies')} ({counts}{more} instances)"
            )
        gone = f"; {self.gone_text}" if self.gone else ""
        return ", ".join(parts) + f" since the last poll (of {_count(self.studies, 'study')}){gone}"


def study_changes(
    before: dict[str, int | None] | None, after: dict[str, int | None]
) -> StudyChanges:
    """Compare the studies of two polls (:attr:`SensorCursor.studies`).

    A study grew when both polls counted its instances and the second counted more.
    """
    seen = before or {}
    grown = tuple(
        (old, count)
        for key, count in sorted(after.items())
        if (old := seen.get(key)) is not None and count is not None and count > old
    )
    return StudyChanges(
        studies=len(after),
        new=len(after.keys() - seen.keys()),
        grown=grown,
        gone=len(seen.keys() - after.keys()),
        first=before is None,
    )


def _count(n: int, singular: str, plural: str | None = None) -> str:
    return f"{n} {singular if n == 1 else plural or singular.replace('study', 'studies')}"


@dataclass(frozen=True)
class Poll:
    """What one poll of a source asks for, and what it saw (said when it asks nothing)."""

    requests: list[dg.RunRequest]
    seen: str


def source_selection(site: SiteConfig, alias: str, source: Source) -> list[dg.AssetKey]:
    """What a run for one source and day materializes: the source's assets.

    Not the validation report, which compares every source's manifest of the day with the
    archive: it follows the copies through its automation condition, once every source's
    copy of the day exists (a source polled outside its window has none yet).
    """
    keys = [
        asset_key(site, alias, manifest_name(source)),
        asset_key(site, alias, ORTHANC_COPIES),
    ]
    if isinstance(source, MosaiqSource):
        keys.append(asset_key(site, alias, ACTIVE_COURSES))
    return keys


def retry_requests(
    site: SiteConfig,
    alias: str,
    source: Source,
    today: dt.date,
    cursor: SensorCursor,
) -> list[dg.RunRequest]:
    """The source's days of the retry window left deferred, incomplete or unreachable.

    Each new report of a day is requested once.

    Updates ``cursor.retries`` (days out of the window are forgotten).
    """
    first = site.backfill_start or dt.date.min
    window = [
        day
        for day in (today - dt.timedelta(days=n) for n in range(1, site.automation.retry_days + 1))
        if day >= first
    ]
    kept = {day.isoformat() for day in window}
    cursor.retries = {day: done for day, done in cursor.retries.items() if day in kept}
    requests = []
    for day in window:
        coverage = day_coverage(site.name, day, source=alias)
        if coverage.status not in RETRIED:
            continue
        key = day.isoformat()
        version, attempts = cursor.retries.get(key, (0, 0))
        if version == coverage.report_version:
            continue  # requested already for this report
        if coverage.status != DayStatus.DEFERRED:
            if attempts >= RETRY_ATTEMPTS:
                continue
            attempts += 1  # deferred runs are no retries: they continue the copy
        cursor.retries[key] = (coverage.report_version, attempts)
        why = (
            "continued: max_uids_per_run left part of it for the next run"
            if coverage.status == DayStatus.DEFERRED
            else f"retried (attempt {attempts} of {RETRY_ATTEMPTS})"
        )
        requests.append(
            dg.RunRequest(
                run_key=f"{alias}:retry:{key}:{coverage.report_version}",
                partition_key=key,
                asset_selection=source_selection(site, alias, source),
                tags={REASON_TAG: f"{alias} left {coverage.status} on {key}: {why}"},
            )
        )
    return requests


def _new_dicom_data(
    context: dg.SensorEvaluationContext,
    site: SiteConfig,
    alias: str,
    source: DicomSource,
    today: dt.date,
    cursor: SensorCursor,
) -> Poll:
    resource: DicomNodeResource = getattr(context.resources, node_key(site, alias))
    state = day_study_state(resource.get_client(retries=0), source, today)
    key = today.isoformat()
    studies = {study_key(uid): count for uid, count in state.instances.items()}
    changes = study_changes(cursor.studies, studies)
    cursor.day, cursor.state, cursor.studies = key, state.digest, studies
    if not changes.changed:
        gone = f", {changes.gone_text}" if changes.gone else ""
        since = (
            "first poll of this sensor"
            if changes.first
            else "none new or grown since the last poll"
        )
        return Poll([], f"{_count(changes.studies, 'study')} for {key}, {since}{gone}")
    return Poll(
        [
            dg.RunRequest(
                run_key=f"{alias}:{key}:{state.digest}",
                partition_key=key,
                asset_selection=source_selection(site, alias, source),
                tags={REASON_TAG: f"{alias} {key}: {changes.describe()}"},
            )
        ],
        f"{key}: {changes.describe()}",
    )


def _new_deliveries(
    context: dg.SensorEvaluationContext,
    site: SiteConfig,
    alias: str,
    source: MosaiqSource,
    today: dt.date,
    cursor: SensorCursor,
) -> Poll:
    resource: MosaiqDatabaseResource = getattr(context.resources, node_key(site, alias))
    since = max(
        today - dt.timedelta(days=site.automation.retry_days), site.backfill_start or dt.date.min
    )
    after = int(cursor.state) if cursor.state.isdigit() else 0
    found = new_deliveries(resource.get_database(), after, since)
    cursor.state = str(found.last_id)
    requests = [
        dg.RunRequest(
            run_key=f"{alias}:{day.isoformat()}:{found.last_id}",
            partition_key=day.isoformat(),
            asset_selection=source_selection(site, alias, source),
            tags={REASON_TAG: f"{alias} {day}: {_deliveries(ids, after)}"},
        )
        for day, ids in found.by_date.items()
        if since <= day <= today
    ]
    return Poll(requests, f"no delivery after DHS_ID {after} treated from {since} to {today}")


def _deliveries(ids: tuple[int, ...], after: int) -> str:
    """New deliveries of a date, in words: how many, their ``DHS_ID``, since when."""
    which = f"DHS_ID {ids[0]}" if len(ids) == 1 else f"DHS_ID {ids[0]} to {ids[-1]}"
    since = f"after DHS_ID {after}" if after else "first poll of this sensor"
    return f"{_count(len(ids), 'new delivery', 'new deliveries')} ({which}; {since})"


def new_data_sensor(site: SiteConfig, alias: str, source: Source) -> dg.SensorDefinition:
    """The sensor of one source (see the module docstring)."""
    automation = site.automation
    poll_window = automation.poll_window(alias)
    poll: Callable[..., Poll] = (
        _new_deliveries if isinstance(source, MosaiqSource) else _new_dicom_data
    )
    what = "new deliveries" if isinstance(source, MosaiqSource) else "new or grown studies of today"
    when = f" between {poll_window} ({site.timezone})" if poll_window else ""

    @dg.sensor(
        name=new_data_sensor_name(site, alias),
        job_name=backup_job_name(site),
        minimum_interval_seconds=automation.sensor_interval,
        default_status=dg.DefaultSensorStatus.RUNNING
        if automation.sensors == "running"
        else dg.DefaultSensorStatus.STOPPED,
        required_resource_keys={node_key(site, alias)},
        description=(
            f"Polls {alias} for {what}{when}, at most every {automation.sensor_interval} s, and "
            f"requests those days for {alias}; requests again the days of the last "
            f"{automation.retry_days} that {alias} left deferred or incomplete."
        ),
    )
    def sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        now = site_today(site)
        if poll_window is not None and now.time() not in poll_window:
            return dg.SkipReason(
                f"{alias} is polled between {poll_window} only; it is {now:%H:%M} ({site.timezone})"
            )
        today = now.date()
        cursor = SensorCursor.parse(context.cursor)
        try:
            polled = poll(context, site, alias, source, today, cursor)
        except (DicomError, MosaiqDatabaseError) as exc:
            return dg.SkipReason(f"{alias} did not answer: {exc}")
        retries = retry_requests(site, alias, source, today, cursor)
        requests = _in_partitions(site, polled.requests + retries)
        return dg.SensorResult(
            run_requests=requests,
            cursor=str(cursor),
            skip_reason=None if requests else _nothing(alias, polled, site),
        )

    return sensor


def _nothing(alias: str, polled: Poll, site: SiteConfig) -> str:
    """The skip reason of a tick that requests nothing: what the poll saw."""
    if polled.requests:  # new data, of dates before backfill_start only
        dates = sorted({str(r.partition_key) for r in polled.requests})
        return (
            f"nothing requested for {alias}: {polled.seen}, but {', '.join(dates)} "
            f"{'is' if len(dates) == 1 else 'are'} before backfill_start ({site.backfill_start})"
        )
    return f"nothing new on {alias}: {polled.seen}; no date to retry"


def _in_partitions(site: SiteConfig, requests: Sequence[dg.RunRequest]) -> list[dg.RunRequest]:
    keys = set(site_partitions(site).get_partition_keys())
    return [request for request in requests if request.partition_key in keys]


def site_sensors(site: SiteConfig) -> list[dg.SensorDefinition]:
    """The new-data sensor of every source of `site`."""
    return [new_data_sensor(site, alias, source) for alias, source in site.sources.items()]
