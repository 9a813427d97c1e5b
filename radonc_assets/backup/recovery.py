"""Restores from the archive: a selection's instances sent to a DICOM node, verified by content.

What to restore is one of a patient, studies, series or a date (:class:`Selection`); the
archive is asked for its instances by C-FIND (:func:`selected_instances`). They reach the
destination by C-MOVE from the archive, or, when the archive does not know the
destination as a move target, by a relay: C-GET from the archive into this process and
C-STORE to the destination as each instance arrives (:func:`restore`). Every instance is
then retrieved from both sides and its content compared (:func:`verify_restore`:
everything outside group 0002, PixelData as encoded), never the files' bytes; and the
archive's files are checked against the MD5 it recorded when it stored them, so a copy
altered in the archive after the backup is reported, not restored as if intact.
"""

import datetime as dt
import logging
import random
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from enum import StrEnum

import pandas as pd

from radonc_assets.backup.content_hash import retrieved_hashes
from radonc_assets.backup.manifest import MANIFEST_COLUMNS, ORDER, Status, manifest_frame
from radonc_assets.backup.transfers import get_requests, retrieve_requests
from resources.dicom.client import DicomClient, SubOperations
from resources.dicom.queries import QueryLevel, date_range, identifier, uid_list

LOGGER = logging.getLogger(__name__)
SUCCESS = 0x0000


class RestoreStatus(StrEnum):
    """What the verification found for one restored instance."""

    RESTORED = "restored"  # in the destination, with the archive's content
    MISSING = "missing"  # not retrievable from the destination
    MISMATCHED = "mismatched"  # in the destination with other content than the archive's
    # The archive's file changed after it was stored (its MD5 differs from the one the
    # archive recorded then): the destination holds a copy that is not the one backed up.
    ALTERED = "altered_in_archive"


@dataclass(frozen=True)
class Selection:
    """What to restore: exactly one of a patient, studies, series or a date.

    Raises:
        ValueError: None or more than one of them given.
    """

    patient_id: str | None = None
    study_uids: tuple[str, ...] = ()
    series_uids: tuple[str, ...] = ()
    date: dt.date | None = None

    def __post_init__(self) -> None:
        given = [
            self.patient_id is not None,
            bool(self.study_uids),
            bool(self.series_uids),
            self.date is not None,
        ]
        if sum(given) != 1:
            raise ValueError("select exactly one of a patient, studies, series or a date")

    def __str__(self) -> str:
        if self.patient_id is not None:
            return f"patient {self.patient_id}"
        if self.study_uids:
            return f"{len(self.study_uids)} stud(ies)"
        if self.series_uids:
            return f"{len(self.series_uids)} series"
        return f"the studies of {self.date}"


def selected_instances(archive: DicomClient, selection: Selection) -> pd.DataFrame:
    """The archive's instances of `selection`, as manifest rows (C-FIND, study down to image).

    Series are first found at SERIES level without their study (the archive, Orthanc,
    answers such queries) to learn their studies.
    """
    study_keys: Mapping[str, str]
    series_keys: Mapping[str, str] | None = None
    if selection.patient_id is not None:
        study_keys = {"PatientID": selection.patient_id}
    elif selection.study_uids:
        study_keys = {"StudyInstanceUID": uid_list(selection.study_uids)}
    elif selection.series_uids:
        series_keys = {"SeriesInstanceUID": uid_list(selection.series_uids)}
        answers = archive.find(identifier(QueryLevel.SERIES, series_keys))
        studies = tuple(sorted({str(a.get("StudyInstanceUID", "")) for a in answers} - {""}))
        if not studies:
            return manifest_frame([])
        study_keys = {"StudyInstanceUID": uid_list(studies)}
    else:
        assert selection.date is not None
        study_keys = {"StudyDate": date_range(selection.date)}
    return manifest_frame(archive.enumerate_instances(study_keys, series_keys=series_keys))


def drill_sample(
    reports: pd.DataFrame,
    rng: random.Random,
    studies_per_source: int,
    modalities: Collection[str] = (),
) -> pd.DataFrame:
    """A restore drill's random sample of the verified backups in validation `reports`.

    Per source, `studies_per_source` studies drawn by `rng` among those with verified
    instances (of `modalities`, when given), and those verified instances of them; an
    instance two sources hold (a CT in ARIA and MIM) is drawn once.

    Returns:
        Manifest rows with their ``source``; empty when nothing verified qualifies.
    """
    if reports.empty:
        return pd.DataFrame(columns=[*MANIFEST_COLUMNS, "source"])
    verified = reports[(reports["status"] == Status.VERIFIED) & (reports["source"] != "")]
    if modalities:
        verified = verified[verified["modality"].isin(modalities)]
    drawn = []
    for _, rows in verified.groupby("source", sort=True):
        studies = sorted(set(rows["study_instance_uid"]))
        chosen = rng.sample(studies, min(studies_per_source, len(studies)))
        drawn.append(rows[rows["study_instance_uid"].isin(chosen)])
    if not drawn:
        return pd.DataFrame(columns=[*MANIFEST_COLUMNS, "source"])
    sample = pd.concat(drawn, ignore_index=True).drop_duplicates("sop_instance_uid")
    return sample.sort_values(ORDER, kind="stable").reset_index(drop=True)[
        [*MANIFEST_COLUMNS, "source"]
    ]


@dataclass(frozen=True)
class Restore:
    """How instances were sent to the destination, and what that took.

    Attributes:
        method: ``C-MOVE`` or ``relay`` (C-GET from the archive, C-STORE to the destination).
        results: The final response of each C-MOVE or C-GET request.
        stored: Instances the relay stored (0 for C-MOVE).
        seconds: The transfer's duration.
    """

    method: str
    results: list[SubOperations]
    stored: int
    seconds: float


def restore(archive: DicomClient, destination: DicomClient, rows: pd.DataFrame) -> Restore:
    """Send `rows` (manifest rows of the archive) to the destination.

    C-MOVE to the destination's AE title first; a relay when the archive sent nothing to
    it, every request failing: an unknown move destination (PS3.4 says 0xA801, Orthanc
    1.10 answers 0xC000, measured).
    """
    started = time.monotonic()
    requests = retrieve_requests(rows, rows)
    results = archive.move(
        [r.identifier for r in requests], destination.peer.aet, isolate_failures=True
    )
    if any(result.completed or result.status == SUCCESS for result in results):
        return Restore("C-MOVE", results, 0, time.monotonic() - started)
    LOGGER.info(
        "%s sent nothing to %s by C-MOVE: relaying by C-GET and C-STORE",
        archive.peer,
        destination.peer,
    )
    stored = 0
    with destination.store_session() as send:

        def relay(encoded: bytes) -> None:
            nonlocal stored
            stored += send(encoded).ok

        results = get_requests(archive, requests, relay, isolate_failures=True)
    return Restore("relay", results, stored, time.monotonic() - started)


def verify_restore(
    archive: DicomClient,
    destination: DicomClient,
    rows: pd.DataFrame,
    altered: Collection[str] = (),
) -> pd.DataFrame:
    """`rows` with the status of each instance in the destination (:class:`RestoreStatus`).

    Both copies are retrieved by C-GET and their content hashed
    (:func:`~radonc_assets.backup.content_hash.content_hash`). `altered` names the
    instances whose file in the archive failed its integrity check
    (:meth:`~resources.orthanc.OrthancClient.altered_files`): restored, they are
    reported as :attr:`RestoreStatus.ALTERED`, not as restored.
    """
    if rows.empty:
        return rows.assign(status=[], detail=[])
    ours = retrieved_hashes(archive, rows).hashes
    theirs = retrieved_hashes(destination, rows).hashes
    statuses, details = [], []
    for uid in rows["sop_instance_uid"]:
        if uid not in theirs:
            statuses.append(RestoreStatus.MISSING)
            details.append(f"not retrievable from {destination.peer}")
        elif uid in altered:
            statuses.append(RestoreStatus.ALTERED)
            details.append(
                f"the file in {archive.peer} changed after it was stored (MD5 differs "
                "from the one recorded then): this is not the copy that was backed up"
            )
        elif theirs[uid] != ours.get(uid):
            statuses.append(RestoreStatus.MISMATCHED)
            details.append(f"content in {destination.peer} differs from the archive's")
        else:
            statuses.append(RestoreStatus.RESTORED)
            details.append("")
    return rows.assign(status=[str(s) for s in statuses], detail=details)
