"""Manifests and their comparison, as pure functions over DataFrames.

A manifest lists one row per instance a source holds for a day. The archive's
view of the same studies has the same columns, so copying and validation are
set operations on SOPInstanceUIDs, followed by a check that what matched also
agrees in series and SOP class.
"""

from collections.abc import Collection, Iterable, Iterator
from dataclasses import fields
from enum import StrEnum
from itertools import islice
from operator import attrgetter

import pandas as pd

from resources.dicom.queries import InstanceRecord

RECORD_COLUMNS = [f.name for f in fields(InstanceRecord)]
MANIFEST_COLUMNS = [*RECORD_COLUMNS, "treatment_date"]
ORDER = ["study_instance_uid", "series_instance_uid", "sop_instance_uid"]
# What names an instance in an archive: its patient, study, series and SOP Instance UIDs.
IDENTITY = ["patient_id", *ORDER]


class Outcome(StrEnum):
    """What a copy did with one instance of the manifest.

    ``failed``: it was asked for and is not in the archive (the reason says why);
    ``deferred``: `max_uids_per_run` left it for the next run.
    """

    ALREADY_PRESENT = "already_present"
    COPIED = "copied"
    FAILED = "failed"
    DEFERRED = "deferred"


class Status(StrEnum):
    """What validation found for one instance, or for a source as a whole.

    ``deferred``: not in the archive yet because the last copy left it for the
    next run; the source's check fails until it is copied. ``unreachable`` and
    ``not_run`` are about a source, in a row of their own without an instance: it
    could not be listed, or its listing cannot decide the day (:mod:`.listing`).
    ``not_converted``: a Mosaiq delivery of the day that became no RT record (the row
    names the delivery, its ``detail`` the reason); ``acknowledged``: such a delivery
    that a named person acknowledged, listed but no failure.
    ``altered_in_archive``: in the archive, but its stored file is no longer the one the
    archive stored (bit rot, an edit of its storage: :mod:`radonc_assets.backup.integrity`);
    the next copy stores it again.
    """

    VERIFIED = "verified"
    MISSING = "missing"
    DEFERRED = "deferred"
    MISMATCHED = "mismatched"
    ALTERED_IN_ARCHIVE = "altered_in_archive"
    EXTRA = "extra"
    NOT_CONVERTED = "not_converted"
    ACKNOWLEDGED = "acknowledged"
    UNREACHABLE = "unreachable"
    NOT_RUN = "not_run"


# What fails a source's check: anything it holds that the archive does not hold as it is,
# and (Mosaiq) a delivery that became no record and that nobody acknowledged.
INCOMPLETE = (
    Status.MISSING,
    Status.DEFERRED,
    Status.MISMATCHED,
    Status.ALTERED_IN_ARCHIVE,
    Status.NOT_CONVERTED,
)
# The source column of a study that only the archive holds (extra instances).
ARCHIVE_ONLY = "archive only"
# What fails it about the source as a whole: no listing that can decide the day.
UNLISTED = (Status.UNREACHABLE, Status.NOT_RUN)


def manifest_frame(records: Iterable[InstanceRecord]) -> pd.DataFrame:
    """One row per distinct SOPInstanceUID, in study/series/instance order.

    RT treatment records get their treatment date from the series date (records
    are one series per session, dated the day of delivery).
    """
    row = attrgetter(*RECORD_COLUMNS)
    frame = pd.DataFrame([row(r) for r in records], columns=RECORD_COLUMNS).astype(str)
    frame["treatment_date"] = frame["series_date"].where(frame["modality"] == "RTRECORD", "")
    frame = frame.drop_duplicates("sop_instance_uid").sort_values(ORDER, kind="stable")
    return frame.reset_index(drop=True)[MANIFEST_COLUMNS]


def source_row(status: Status, detail: str) -> pd.DataFrame:
    """A report row about a source as a whole (no instance): `status` and its `detail`."""
    row = dict.fromkeys(MANIFEST_COLUMNS, "") | {"status": str(status), "detail": detail}
    return pd.DataFrame([row])


def identities(manifests: Iterable[pd.DataFrame]) -> Iterator[tuple[str, ...]]:
    """The :data:`IDENTITY` of each instance the manifests list."""
    for manifest in manifests:
        yield from zip(*(manifest[column].tolist() for column in IDENTITY), strict=True)


def not_in(manifest: pd.DataFrame, present: Iterable[str]) -> pd.DataFrame:
    """The rows of `manifest` whose SOPInstanceUID is not in `present`."""
    return manifest[~among(manifest["sop_instance_uid"], set(present))]


def among(uids: pd.Series, known: Collection[str]) -> pd.Series:
    """Whether each of `uids` is in `known`.

    A set lookup per UID, which is faster than pandas' `Series.isin` on strings when
    `known` is large (docs/benchmarks.md, "Figures behind design choices").
    """
    return pd.Series([uid in known for uid in uids.tolist()], index=uids.index, dtype=bool)


def cap(todo: pd.DataFrame, limit: int | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split `todo` into the first `limit` rows (in manifest order) and the rest.

    No limit (None) keeps every row.

    Deterministic, so that a capped backup continues where the last one stopped.
    """
    ordered = todo.sort_values(ORDER, kind="stable")
    if limit is None:
        return ordered, ordered.iloc[:0]
    return ordered.iloc[:limit], ordered.iloc[limit:]


def compare(manifest: pd.DataFrame, archived: pd.DataFrame) -> pd.DataFrame:
    """Each manifest instance as verified, missing or mismatched in the archive.

    Mismatched: the archive holds the SOPInstanceUID in another series, or with
    another SOP class or modality (compared where both sides tell it: dcmqrscp
    gives no SOP class, Orthanc's REST API none either).

    Returns:
        The manifest's columns plus ``status`` and ``detail``.
    """
    compared = ["series_instance_uid", "sop_class_uid", "modality"]
    archive = archived.drop_duplicates("sop_instance_uid")[["sop_instance_uid", *compared]]
    merged = manifest.merge(
        archive, on="sop_instance_uid", how="left", suffixes=("", "_archive"), indicator=True
    )
    present = merged["_merge"] == "both"
    differs = {
        column: present
        & (merged[column] != merged[f"{column}_archive"])
        & (merged[column] != "")
        & (merged[f"{column}_archive"] != "")
        for column in compared
    }
    mismatched = differs["series_instance_uid"] | differs["sop_class_uid"] | differs["modality"]
    report = manifest.copy()
    report["status"] = Status.VERIFIED
    report.loc[~present.to_numpy(), "status"] = Status.MISSING
    report.loc[mismatched.to_numpy(), "status"] = Status.MISMATCHED
    report["detail"] = ""
    report.loc[~present.to_numpy(), "detail"] = "not in the archive"
    labels = {
        "series_instance_uid": "in series",
        "sop_class_uid": "SOP class",
        "modality": "modality",
    }
    details = report["detail"].to_list()
    for position in mismatched[mismatched].index:
        problems = [
            f"{labels[column]} {merged[f'{column}_archive'].iat[position]!s}"
            for column in compared
            if differs[column].iat[position]
        ]
        details[position] = "archive has it " + " and ".join(problems)
    report["detail"] = details
    return report


def explain_absent(report: pd.DataFrame, copies: pd.DataFrame | None) -> pd.DataFrame:
    """A source's report, its missing instances explained by the source's last copy.

    What the copy deferred (``max_uids_per_run``) is ``deferred``; what it failed
    gets the copy's reason in ``detail``.

    Args:
        report: The source's rows of :func:`compare`.
        copies: The source's copies file of the day (outcome and reason per
            instance), or None before any copy.
    """
    if copies is None or copies.empty:
        return report
    last = copies.drop_duplicates("sop_instance_uid").set_index("sop_instance_uid")
    uids = report["sop_instance_uid"]
    outcome = uids.map(last["outcome"]).fillna("")
    reason = uids.map(last["reason"]).fillna("")
    missing = report["status"] == Status.MISSING
    report = report.copy()
    report.loc[missing & (outcome == Outcome.DEFERRED), "status"] = Status.DEFERRED
    explained = missing & (reason != "")
    report.loc[explained, "detail"] = "not in the archive: " + reason[explained]
    return report


def extras(manifests: Iterable[pd.DataFrame], archived: pd.DataFrame) -> pd.DataFrame:
    """Archive instances of the day's studies that no source's manifest lists."""
    known = {uid for m in manifests for uid in m["sop_instance_uid"].tolist()}
    extra = archived[~among(archived["sop_instance_uid"], known)].drop_duplicates(
        "sop_instance_uid"
    )
    return extra.assign(status=Status.EXTRA, detail="in the archive, not in any source manifest")


def study_rows(
    frame: pd.DataFrame, *, show_patient_id: bool, limit: int = 50
) -> list[dict[str, str | int]]:
    """One row per study (at most `limit`): its date, modalities, instances and statuses.

    PatientID appears only when `show_patient_id` (the site's ``phi_in_metadata``);
    names never do. The study is shown by the end of its UID. A frame with a ``source``
    column (a validation report) names the sources that list the study, or
    :data:`ARCHIVE_ONLY` for a study of extra instances only; an instance several sources
    hold counts once.
    """
    rows: list[dict[str, str | int]] = []
    has_status = "status" in frame.columns
    has_source = "source" in frame.columns
    for study_uid, study in islice(frame.groupby("study_instance_uid", sort=True), limit):
        row: dict[str, str | int] = {}
        if show_patient_id:
            row["patient"] = str(study["patient_id"].iloc[0])
        if has_source:
            row["source"] = ", ".join(sorted(set(study["source"]) - {""})) or ARCHIVE_ONLY
        row |= {
            "study": f"…{str(study_uid)[-12:]}",
            "date": str(study["study_date"].iloc[0]),
            "modalities": ", ".join(sorted(set(study["modality"]) - {""})),
            "instances": int(study["sop_instance_uid"].nunique()),
        }
        if has_status:
            distinct = study.drop_duplicates(["sop_instance_uid", "status"])
            counts = distinct["status"].value_counts()
            row["status"] = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
        rows.append(row)
    return rows
