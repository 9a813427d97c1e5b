"""Copying a day's missing instances from a source into the Orthanc archive.

ARIA-type sources: C-MOVE to the archive's AE title, series by series (or
instance by instance where only part of a series is missing), all over one
association. Instances still missing afterwards are moved once more one by one;
what is then still not in the archive is missing, whatever status the source
reported.

MIM-type sources: C-GET into this process, each received instance relayed to
the archive as encoded bytes while the C-GET runs, so memory holds a few
instances at a time, never a study.

Both confirm every instance in the archive afterwards (`archived_instances`).
"""

import io
import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pandas as pd
from pydicom import dcmread
from pydicom.dataset import Dataset

from radonc_assets.backup.manifest import Outcome
from resources.dicom.client import DicomClient, SubOperations
from resources.dicom.queries import QueryLevel, retrieve_identifier
from resources.orthanc import OrthancClient

LOGGER = logging.getLogger(__name__)

# Received instances waiting for the archive at most: bounds the relay's memory.
RELAY_IN_FLIGHT = 8


@dataclass(frozen=True)
class Transfer:
    """What a copy did: the outcome of each instance asked for, and its cost."""

    outcomes: dict[str, tuple[Outcome, str]]
    seconds: float
    bytes_received: int = 0
    requests: int = 0


def retrieve_queries(todo: pd.DataFrame, manifest: pd.DataFrame) -> list[Dataset]:
    """C-MOVE/C-GET identifiers for `todo` (rows of `manifest`).

    A SERIES request where the whole series is to be copied, IMAGE requests for
    the instances of partly copied series.
    """
    whole = manifest.groupby("series_instance_uid").size()
    wanted = todo.groupby("series_instance_uid").size()
    queries = []
    for (study, series), rows in todo.groupby(
        ["study_instance_uid", "series_instance_uid"], sort=True
    ):
        if wanted[str(series)] == whole[str(series)]:
            keys = {"StudyInstanceUID": str(study), "SeriesInstanceUID": str(series)}
            queries.append(retrieve_identifier(QueryLevel.SERIES, keys))
        else:
            queries += instance_queries(rows)
    return queries


def instance_queries(rows: pd.DataFrame) -> list[Dataset]:
    """One IMAGE-level C-MOVE/C-GET identifier per manifest row."""
    return [
        retrieve_identifier(
            QueryLevel.IMAGE,
            {
                "StudyInstanceUID": str(row.study_instance_uid),
                "SeriesInstanceUID": str(row.series_instance_uid),
                "SOPInstanceUID": str(row.sop_instance_uid),
            },
        )
        for row in rows.itertuples(index=False)
    ]


def _reason(results: Sequence[SubOperations]) -> str:
    failed = sum(r.failed for r in results)
    completed = sum(r.completed for r in results)
    errors = sorted({e for r in results for e in r.errors})
    reason = f"source reported {completed} completed, {failed} failed sub-operations"
    return reason + (f" ({'; '.join(errors[:3])})" if errors else "") + ", not in the archive"


def move_missing(
    source: DicomClient, archive: OrthancClient, todo: pd.DataFrame, manifest: pd.DataFrame
) -> Transfer:
    """C-MOVE `todo` (rows of `manifest`) to the archive, then confirm each instance."""
    started = time.monotonic()
    destination = archive.dicom.peer.aet
    queries = retrieve_queries(todo, manifest)
    results = source.move(queries, destination)
    present = archive.archived_uids(set(todo["study_instance_uid"]))
    still = todo[~todo["sop_instance_uid"].isin(present)]
    if not still.empty:
        LOGGER.warning(
            "%d of %d instances not in the archive after C-MOVE; moving them one by one",
            len(still),
            len(todo),
        )
        single = instance_queries(still)
        results += source.move(single, destination)
        queries += single
        present = archive.archived_uids(set(todo["study_instance_uid"]))
    outcomes = {
        uid: (Outcome.COPIED, "") if uid in present else (Outcome.MISSING, _reason(results))
        for uid in todo["sop_instance_uid"]
    }
    return Transfer(outcomes, time.monotonic() - started, requests=len(queries))


def relay_missing(
    source: DicomClient, archive: OrthancClient, todo: pd.DataFrame, manifest: pd.DataFrame
) -> Transfer:
    """C-GET `todo` and relay each instance to the archive as it arrives; confirm each.

    Receiving and storing overlap: each received instance is handed to an upload
    worker (two over REST, one over a single C-STORE association), and at most
    `RELAY_IN_FLIGHT` instances wait in memory; past that the C-GET waits.
    """
    started = time.monotonic()
    received = 0
    upload_errors: dict[str, str] = {}
    queries = retrieve_queries(todo, manifest)
    slots = threading.BoundedSemaphore(RELAY_IN_FLIGHT)
    workers = 2 if archive.has_rest else 1
    with archive.uploader() as upload, ThreadPoolExecutor(workers, "relay") as uploads:

        def store(encoded: bytes) -> None:
            try:
                upload(encoded)
            except Exception as exc:
                uid = str(dcmread(io.BytesIO(encoded), stop_before_pixels=True).SOPInstanceUID)
                LOGGER.error("Relay of %s to the archive failed: %s", uid, exc)
                upload_errors[uid] = f"relay to the archive failed: {exc}"
            finally:
                slots.release()

        def relay(encoded: bytes) -> None:
            nonlocal received
            received += len(encoded)
            slots.acquire()
            uploads.submit(store, encoded)

        results = source.get(queries, relay)
    present = archive.archived_uids(set(todo["study_instance_uid"]))
    outcomes: dict[str, tuple[Outcome, str]] = {}
    for uid in todo["sop_instance_uid"]:
        if uid in present:
            outcomes[uid] = (Outcome.COPIED, "")
        elif uid in upload_errors:
            outcomes[uid] = (Outcome.FAILED, upload_errors[uid])
        else:
            outcomes[uid] = (Outcome.MISSING, _reason(results))
    return Transfer(outcomes, time.monotonic() - started, received, len(queries))
