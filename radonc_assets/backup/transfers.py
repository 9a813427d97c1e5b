"""Copying a day's missing instances from a source into the Orthanc archive.

Sources with ``retrieve = "c-move"`` (ARIA's default): C-MOVE to the archive's AE
title, series by series (or instance by instance where only part of a series is
missing), all over one association. ``"c-get"`` (MIM's default): C-GET into this
process, each received instance relayed to the archive as encoded bytes while the
C-GET runs, so memory holds a few instances at a time, never a study.

Both confirm every instance in the archive afterwards (`archived_uids`), whatever
status the source reported, and retrieve what is still absent once more, one
instance per request, so that one refused instance fails alone: it is `failed`
with the cause its own request reported, and the rest of the day is copied.
"""

import io
import logging
import queue
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from pydicom import dcmread
from pydicom.dataset import Dataset

from radonc_assets.backup.manifest import Outcome, not_in
from radonc_assets.backup.staging import (
    StagingMode,
    describe_answer,
    moved_nothing,
    refuses_move,
)
from resources.dicom.client import DicomClient, InstanceCallback, SubOperations
from resources.dicom.contexts import storage_classes
from resources.dicom.queries import InstanceRecord, QueryLevel, retrieve_identifier, uid_list
from resources.dicom.statuses import status_meaning
from resources.errors import DicomError, OrthancError
from resources.orthanc import OrthancClient

LOGGER = logging.getLogger(__name__)

# Received instances waiting for the archive at most: bounds the relay's memory.
RELAY_IN_FLIGHT = 8


@dataclass(frozen=True)
class Transfer:
    """What a copy did: the outcome of each instance asked for, and its cost."""

    outcomes: dict[str, tuple[Outcome, str]]
    seconds: float
    requests: int = 0
    # What the archive held of the studies when the copy confirmed them, each with its
    # file's size (OrthancClient.archived_files); None when it could not tell.
    archived: Mapping[str, int] | None = None
    # What the materialization's metadata should say of how the copy went (the staging
    # node's mode).
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Request:
    """One C-MOVE/C-GET identifier and the storage classes it brings."""

    identifier: Dataset
    sop_classes: frozenset[str]


def retrieve_requests(
    todo: pd.DataFrame, manifest: pd.DataFrame, *, listed: bool = False
) -> list[Request]:
    """The requests that copy `todo` (rows of `manifest`).

    A SERIES request where the whole series is to be copied, IMAGE requests for
    the instances of partly copied series: one each, or with `listed` one per
    :data:`LISTED_UIDS` of them, listing their SOPInstanceUIDs (:func:`listed_requests`).
    Each brings the SOP classes the manifest lists for its instances, or those of their
    modality where the source gave none (:func:`~resources.dicom.contexts.storage_classes`).
    """
    whole = manifest.groupby("series_instance_uid").size()
    wanted = todo.groupby("series_instance_uid").size()
    requests = []
    for (study, series), rows in todo.groupby(
        ["study_instance_uid", "series_instance_uid"], sort=True
    ):
        if wanted[str(series)] == whole[str(series)]:
            keys = {"StudyInstanceUID": str(study), "SeriesInstanceUID": str(series)}
            classes = storage_classes(rows["sop_class_uid"], rows["modality"])
            requests.append(
                Request(retrieve_identifier(QueryLevel.SERIES, keys), frozenset(classes))
            )
        else:
            requests += listed_requests(rows) if listed else instance_requests(rows)
    return requests


def instance_requests(rows: pd.DataFrame) -> list[Request]:
    """One IMAGE-level request per manifest row."""
    return [
        Request(
            retrieve_identifier(
                QueryLevel.IMAGE,
                {
                    "StudyInstanceUID": str(row.study_instance_uid),
                    "SeriesInstanceUID": str(row.series_instance_uid),
                    "SOPInstanceUID": str(row.sop_instance_uid),
                },
            ),
            frozenset(storage_classes([str(row.sop_class_uid)], [str(row.modality)])),
        )
        for row in rows.itertuples(index=False)
    ]


# Instances one IMAGE-level request lists at most (:func:`listed_requests`).
LISTED_UIDS = 100


def listed_requests(rows: pd.DataFrame) -> list[Request]:
    """IMAGE-level requests of manifest rows of one series, up to :data:`LISTED_UIDS` each.

    Each lists its instances' SOPInstanceUIDs (PS3.4 C.4.3.1.3.1: the unique key of the
    retrieve's level may hold a list of UIDs), which Orthanc and dcmqrscp answer; a peer
    that does not match lists sends less, and the caller asks for what is absent again
    with :func:`instance_requests`.
    """
    first = rows.iloc[0]
    keys = {
        "StudyInstanceUID": str(first["study_instance_uid"]),
        "SeriesInstanceUID": str(first["series_instance_uid"]),
    }
    return [
        Request(
            retrieve_identifier(
                QueryLevel.IMAGE,
                keys | {"SOPInstanceUID": uid_list(part["sop_instance_uid"])},
            ),
            frozenset(storage_classes(part["sop_class_uid"], part["modality"])),
        )
        for part in (rows.iloc[n : n + LISTED_UIDS] for n in range(0, len(rows), LISTED_UIDS))
    ]


def get_requests(
    client: DicomClient,
    requests: Sequence[Request],
    on_instance: InstanceCallback,
    *,
    isolate_failures: bool = False,
) -> list[SubOperations]:
    """C-GET `requests`, proposing the storage classes each brings."""
    return client.get(
        [r.identifier for r in requests],
        on_instance,
        sop_classes=[r.sop_classes for r in requests],
        isolate_failures=isolate_failures,
    )


def cause(service: str, peer: object, result: SubOperations, sop_class: str = "") -> str:
    """Why an instance (of `sop_class`) whose own request ended with `result` is absent."""
    text = ""
    if result.proposed and sop_class and sop_class not in result.proposed:
        text = f"SOP class {sop_class} was not proposed for the C-GET; "
    elif result.proposed and sop_class and sop_class not in result.accepted:
        text = (
            f"the source did not accept SOP class {sop_class} with our SCP role, so it "
            "cannot send it by C-GET; "
        )
    text += (
        f"{service} from {peer}: status 0x{result.status:04X} "
        f"({status_meaning(result.status, service)}), {result.completed} completed, "
        f"{result.failed} failed"
    )
    if result.errors:
        text += f" ({'; '.join(result.errors[:3])})"
    if result.ok:
        text += "; the source reported success but the instance is not in the archive"
    return text


Retrieve = Callable[[Sequence[Request]], list[SubOperations]]


def _copy(
    service: str,
    source: DicomClient,
    retrieve: Retrieve,
    archive: OrthancClient,
    todo: pd.DataFrame,
    manifest: pd.DataFrame,
    refused: Mapping[str, str],
    started: float,
    retrieved: Collection[str] = frozenset(),
) -> Transfer:
    """Retrieve `todo` series by series, then each instance still absent on its own.

    The series in `retrieved` (SeriesInstanceUIDs) were retrieved whole already, one
    request each: they are not asked for again, only confirmed like the others.

    A request that fails (a refused instance fails its whole series) never stops
    the others: what a series request left behind is retried instance by
    instance, and an instance absent after its own request is `failed`, with the
    cause its request reported, or the archive's reason from `refused` (filled by
    `retrieve` while it runs). A failure of the whole transfer (source
    unreachable, association rejected) fails every instance with that cause.

    Returns:
        The outcome of each instance of `todo`, the time since `started`
        (`time.monotonic()`), the requests made (those of `retrieved` included) and what
        the archive held of the studies at the end.
    """
    studies = set(todo["study_instance_uid"])
    queries = retrieve_requests(todo[~todo["series_instance_uid"].isin(retrieved)], manifest)
    requests = len(retrieved) + len(queries)
    own: dict[str, SubOperations] = {}
    failure = ""
    # What the archive holds after the last retrieve; None: to be asked.
    present: dict[str, int] | None = None
    try:
        if queries:
            retrieve(queries)
        present = archive.archived_files(studies)
        still = not_in(todo, present)
        if not still.empty:
            LOGGER.warning(
                "%d of %d instances not in the archive after %s; retrieving them one by one",
                len(still),
                len(todo),
                service,
            )
            singles = instance_requests(still)
            requests += len(singles)
            present = None
            own = dict(zip(still["sop_instance_uid"], retrieve(singles), strict=True))
    except (DicomError, OrthancError) as exc:
        LOGGER.error("%s from %s failed: %s", service, source.peer, exc)
        failure = f"{service} from {source.peer} failed: {exc}"
        present = None
    if present is None:
        try:
            present = archive.archived_files(studies)
        except (DicomError, OrthancError) as exc:
            failure = failure or f"the archive cannot tell what it holds: {exc}"
    classes = dict(zip(todo["sop_instance_uid"], todo["sop_class_uid"], strict=True))
    outcomes: dict[str, tuple[Outcome, str]] = {}
    for uid in todo["sop_instance_uid"]:
        if present is not None and uid in present:
            outcomes[uid] = (Outcome.COPIED, "")
        elif uid in refused:
            outcomes[uid] = (Outcome.FAILED, refused[uid])
        elif uid in own:
            outcomes[uid] = (Outcome.FAILED, cause(service, source.peer, own[uid], classes[uid]))
        else:
            outcomes[uid] = (Outcome.FAILED, failure or f"{service}: not in the archive")
    return Transfer(outcomes, time.monotonic() - started, requests, present)


def move_missing(
    source: DicomClient,
    archive: OrthancClient,
    todo: pd.DataFrame,
    manifest: pd.DataFrame,
    moved: Collection[str] = frozenset(),
) -> Transfer:
    """C-MOVE `todo` (rows of `manifest`) to the archive, then confirm each instance.

    The series in `moved` were moved whole while the day was enumerated
    (:class:`SeriesMover`): they are confirmed, and what they left behind retrieved
    one instance at a time, as for the others.
    """
    started = time.monotonic()
    destination = archive.dicom.peer.aet

    def move(requests: Sequence[Request]) -> list[SubOperations]:
        return source.move([r.identifier for r in requests], destination, isolate_failures=True)

    return _copy("C-MOVE", source, move, archive, todo, manifest, {}, started, moved)


class SeriesMover:
    """C-MOVEs whole series into the archive while the rest of the day is enumerated.

    :meth:`offer` is given each series as the enumeration finds it (from any thread);
    a series of which the archive holds no instance is queued, and `source.associations`
    workers, each over an association of its own opened at its first series, C-MOVE
    the queued series in turn. A series the archive holds in part, or that a failed
    association left unmoved, is not in :attr:`moved`: the copy that follows the
    enumeration retrieves it as any other. Leaving the ``with`` block waits for the
    queued series; after an exception it drops those not started.

    Attributes:
        moved: The outcome of each series moved, by SeriesInstanceUID.
    """

    def __init__(self, source: DicomClient, archive: OrthancClient) -> None:
        self.source = source
        self.archive = archive
        self.moved: dict[str, SubOperations] = {}
        self._offered: set[str] = set()
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[Dataset | None] = queue.SimpleQueue()
        self._workers = [
            threading.Thread(target=self._work, name=f"move-{n}", daemon=True)
            for n in range(max(1, source.associations))
        ]

    def __enter__(self) -> "SeriesMover":
        for worker in self._workers:
            worker.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, *_details: object) -> None:
        if kind is not None:
            while not self._queue.empty():
                self._queue.get_nowait()
        for _ in self._workers:
            self._queue.put(None)
        for worker in self._workers:
            worker.join()

    def offer(self, series: Sequence[InstanceRecord]) -> None:
        """Queue the series of `series` (one series' instances) if the archive holds none."""
        first = series[0]
        uid = first.series_instance_uid
        with self._lock:
            if uid in self._offered:
                return
            self._offered.add(uid)
        try:
            if self.archive.held_uids(QueryLevel.SERIES, [uid]):
                return
        except (DicomError, OrthancError) as exc:
            LOGGER.warning("The archive cannot tell whether it holds series %s: %s", uid, exc)
            return
        keys = {"StudyInstanceUID": first.study_instance_uid, "SeriesInstanceUID": uid}
        self._queue.put(retrieve_identifier(QueryLevel.SERIES, keys))

    def _work(self) -> None:
        """Move queued series over one association until told to stop."""
        query = self._queue.get()
        if query is None:
            return
        destination = self.archive.dicom.peer.aet
        try:
            with self.source.move_session(destination, isolate_failures=True) as move:
                while query is not None:
                    self.moved[str(query.SeriesInstanceUID)] = move(query)
                    query = self._queue.get()
        except DicomError as exc:
            LOGGER.warning(
                "C-MOVE during the enumeration stopped (%s); the copy moves the rest", exc
            )


def relay_missing(
    source: DicomClient, archive: OrthancClient, todo: pd.DataFrame, manifest: pd.DataFrame
) -> Transfer:
    """C-GET `todo` and relay each instance to the archive as it arrives; confirm each.

    Receiving and storing overlap: each received instance is handed to an upload
    worker (two over REST, one over a single C-STORE association), and at most
    `RELAY_IN_FLIGHT` instances wait in memory; past that the C-GET waits. An
    instance the archive refuses is `failed` with the archive's answer.
    """
    started = time.monotonic()
    refused: dict[str, str] = {}
    slots = threading.BoundedSemaphore(RELAY_IN_FLIGHT)
    workers = 2 if archive.has_rest else 1
    with archive.uploader() as upload, ThreadPoolExecutor(workers, "relay") as uploads:

        def store(encoded: bytes) -> None:
            try:
                upload(encoded)
            except Exception as exc:
                uid = str(dcmread(io.BytesIO(encoded), stop_before_pixels=True).SOPInstanceUID)
                LOGGER.error("Relay of %s to the archive failed: %s", uid, exc)
                refused[uid] = f"the archive refused it: {exc}"
            finally:
                slots.release()

        def relay(encoded: bytes) -> None:
            slots.acquire()
            uploads.submit(store, encoded)

        def get(requests: Sequence[Request]) -> list[SubOperations]:
            results = get_requests(source, requests, relay, isolate_failures=True)
            # Every upload holds a slot until it is done: holding them all waits for the
            # uploads of these requests, so that the archive is asked afterwards.
            for _ in range(RELAY_IN_FLIGHT):
                slots.acquire()
            for _ in range(RELAY_IN_FLIGHT):
                slots.release()
            return results

        return _copy("C-GET", source, get, archive, todo, manifest, refused, started)


def store_records(
    files: Mapping[str, Path],
    archive: OrthancClient,
    todo: pd.DataFrame,
    manifest: pd.DataFrame,
    staging: DicomClient | None = None,
) -> Transfer:
    """Store generated instances (`files` by SOPInstanceUID) of `todo` into the archive.

    Directly (REST upload, or one C-STORE association without REST), or, with
    `staging`, through the staging node (:func:`store_through_staging`). Each instance
    is confirmed in the archive; one refused is `failed` with the answer.
    """
    if staging is not None:
        return store_through_staging(files, archive, todo, manifest, staging)
    started = time.monotonic()
    outcomes = store_directly(files, archive, todo)
    return Transfer(outcomes, time.monotonic() - started, requests=len(todo))


def store_directly(
    files: Mapping[str, Path], archive: OrthancClient, todo: pd.DataFrame
) -> dict[str, tuple[Outcome, str]]:
    """Store `todo` into the archive (REST upload, or one C-STORE association); confirm each."""
    refused = {}
    with archive.uploader() as upload:
        for uid in todo["sop_instance_uid"]:
            try:
                upload(files[uid].read_bytes())
            except (OrthancError, DicomError, OSError) as exc:
                LOGGER.error("Storing %s into the archive failed: %s", uid, exc)
                refused[uid] = f"the archive refused it: {exc}"
    try:
        present = archive.archived_uids(set(todo["study_instance_uid"]))
    except (DicomError, OrthancError) as exc:
        present = set()
        unknown = f"the archive cannot tell what it holds: {exc}"
        refused = {uid: refused.get(uid, unknown) for uid in todo["sop_instance_uid"]}
    return {
        uid: (Outcome.COPIED, "")
        if uid in present
        else (Outcome.FAILED, refused.get(uid, "stored, but not in the archive"))
        for uid in todo["sop_instance_uid"]
    }


def store_through_staging(
    files: Mapping[str, Path],
    archive: OrthancClient,
    todo: pd.DataFrame,
    manifest: pd.DataFrame,
    staging: DicomClient,
) -> Transfer:
    """C-STORE `todo` to the staging node, then relay it into the archive or store it there too.

    A record the node refuses, or every record when it cannot be reached, is `failed`
    with the cause. The others are C-MOVEd from the node to the archive's AE title; when
    the node cannot relay (:mod:`radonc_assets.backup.staging`: no C-MOVE context, the
    association rejected, or every request failed without a sub-operation) they are
    stored directly to the archive as well. What the first C-MOVE left behind is retried
    instance by instance (:func:`move_missing`). Each record is confirmed in the archive.

    Returns:
        The outcomes, with :attr:`Transfer.metadata` ``staging_node``, ``staging_mode``
        (``relay``, ``store-only``, or ``unknown`` when no record reached the node) and,
        unless it relayed, ``staging_mode_reason``.
    """
    started = time.monotonic()
    paths = [files[uid] for uid in todo["sop_instance_uid"]]
    node = {"staging_node": str(staging.peer)}
    try:
        staged = staging.store(paths)
    except DicomError as exc:
        LOGGER.error("Storing the records to the staging node %s failed: %s", staging.peer, exc)
        cause = f"the staging node {staging.peer} could not take it: {exc}"
        return Transfer(
            {uid: (Outcome.FAILED, cause) for uid in todo["sop_instance_uid"]},
            time.monotonic() - started,
            requests=len(paths),
            metadata=node | {"staging_mode": "unknown", "staging_mode_reason": cause},
        )
    refused = {
        o.sop_instance_uid: f"the staging node {staging.peer} refused it: 0x{o.status:04X} "
        f"({status_meaning(o.status, 'C-STORE')}) {o.detail}".rstrip()
        for o in staged
        if not o.ok
    }
    failures = {uid: (Outcome.FAILED, reason) for uid, reason in refused.items()}
    sent = not_in(todo, refused)
    if sent.empty:
        return Transfer(
            failures,
            time.monotonic() - started,
            requests=len(paths),
            metadata=node
            | {"staging_mode": "unknown", "staging_mode_reason": "it refused every record"},
        )
    queries = retrieve_requests(sent, manifest)
    destination = archive.dicom.peer.aet
    cannot = ""
    moved: set[str] = set()
    try:
        results = staging.move([q.identifier for q in queries], destination, isolate_failures=True)
    except DicomError as exc:
        if refuses_move(exc):
            cannot = str(exc)
        else:
            LOGGER.warning("C-MOVE from the staging node %s failed: %s", staging.peer, exc)
    else:
        if moved_nothing(results):
            cannot = "; ".join(dict.fromkeys(describe_answer(r, destination) for r in results))
        else:
            moved = set(sent["series_instance_uid"])
    if cannot:
        LOGGER.warning(
            "The staging node %s cannot relay to %s (%s): storing the records directly",
            staging.peer,
            destination,
            cannot,
        )
        return Transfer(
            failures | store_directly(files, archive, sent),
            time.monotonic() - started,
            requests=len(paths) + len(queries) + len(sent),
            metadata=node
            | {"staging_mode": str(StagingMode.STORE_ONLY), "staging_mode_reason": cannot},
        )
    relayed = move_missing(staging, archive, sent, manifest, moved)
    return Transfer(
        failures | relayed.outcomes,
        time.monotonic() - started,
        requests=len(paths) + len(queries) + relayed.requests - len(moved),
        archived=relayed.archived,
        metadata=node | {"staging_mode": str(StagingMode.RELAY)},
    )
