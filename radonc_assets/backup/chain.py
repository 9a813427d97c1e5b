"""Treatment chain completeness: whether the archive holds what each treatment record needs.

An RT Beams Treatment Record names the RT Plan it delivered (PS3.3 C.8.8.17,
Referenced RT Plan Sequence); the plan names the RT Structure Set it was planned
on (C.8.8.9, Referenced Structure Set Sequence); the structure set names the
images its contours were drawn on (C.8.8.5, Referenced Frame of Reference
Sequence > RT Referenced Study Sequence > RT Referenced Series Sequence: Series
Instance UID and Contour Image Sequence). Restoring a course needs every link, so
for each of the day's records this module reads the chain from the archive and
says which link is missing.

Only headers are read, through two callables the caller supplies (for the
archive, :meth:`~resources.orthanc.OrthancClient.instance_header` and
:meth:`~resources.orthanc.OrthancClient.held_uids`): a plan or structure set that
many records share is fetched once, and the images of every structure set are
looked up in two queries, one for their series and one for their instances.
"""

import logging
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

import pandas as pd
from pydicom.dataset import Dataset
from pydicom.uid import RTBeamsTreatmentRecordStorage

from resources.dicom.contexts import RT_STORAGE, modality_storage_classes
from resources.dicom.queries import QueryLevel
from resources.errors import OrthancError

LOGGER = logging.getLogger(__name__)

# The header of an instance (SOPInstanceUID, the SOP classes it may have); None if absent.
Fetch = Callable[[str, Collection[str]], Dataset | None]
# Which of some Series (QueryLevel.SERIES) or SOP Instance (IMAGE) UIDs the archive holds.
Held = Callable[[QueryLevel, Collection[str]], set[str]]

RECORD_KEYS = ["sop_instance_uid", "study_instance_uid", "sop_class_uid", "modality"]
CHAIN_COLUMNS = [
    "record_uid",
    "study_instance_uid",
    "patient_id",
    "record_status",
    "plan_uid",
    "plan_status",
    "structure_set_uid",
    "structure_set_status",
    "image_series_uids",
    "image_series_status",
    "missing_images",
    "complete",
    "detail",
]

# What a record may be when its source did not tell its SOP class (dcmqrscp).
_RECORD_CLASSES = tuple(map(str, modality_storage_classes("RTRECORD")))


class Link(StrEnum):
    """What the archive holds of one link of a record's chain.

    ``not referenced``: the object before it names none (an absent or empty
    sequence), and so nothing after it is named either; ``not checked``: an earlier
    link is missing; ``partial`` (images only): every referenced series is in the
    archive, not every referenced image.
    """

    PRESENT = "present"
    MISSING = "missing"
    PARTIAL = "partial"
    NOT_REFERENCED = "not referenced"
    NOT_CHECKED = "not checked"


@dataclass(frozen=True)
class Reference:
    """One item of the SOP Instance Reference Macro (PS3.3 Table 10-11)."""

    sop_class_uid: str
    sop_instance_uid: str


def plan_reference(record: Dataset) -> Reference | None:
    """The RT Plan a treatment record delivered, if it names one.

    PS3.3 C.8.8.17: the Referenced RT Plan Sequence is Type 2 with zero or one
    item, so it may be empty or, in records that do not conform, absent.
    """
    return _first_reference(record, "ReferencedRTPlanSequence")


def structure_set_reference(plan: Dataset) -> Reference | None:
    """The RT Structure Set a plan was made on, if it names one.

    PS3.3 C.8.8.9: the Referenced Structure Set Sequence is Type 1C, required when
    the plan's geometry is PATIENT (see :func:`expects_structure_set`).
    """
    return _first_reference(plan, "ReferencedStructureSetSequence")


def expects_structure_set(plan: Dataset) -> bool:
    """Whether a plan should name a structure set (PS3.3 C.8.8.9.1).

    RT Plan Geometry TREATMENT_DEVICE means no structure set exists (the plan
    refers to the machine's geometry alone); PATIENT, or no value, means one does.
    """
    return str(plan.get("RTPlanGeometry", "")).strip().upper() != "TREATMENT_DEVICE"


def image_references(structure_set: Dataset) -> dict[str, tuple[str, ...]]:
    """The images a structure set was drawn on: SOP Instance UIDs by Series Instance UID.

    PS3.3 C.8.8.5: Referenced Frame of Reference Sequence > RT Referenced Study
    Sequence (both Type 3, so possibly absent) > RT Referenced Series Sequence >
    Series Instance UID and Contour Image Sequence > Referenced SOP Instance UID.
    A series listed under several frames or studies is merged; series and images
    keep the order of their first appearance.
    """
    images: dict[str, dict[str, None]] = {}
    for frame in structure_set.get("ReferencedFrameOfReferenceSequence") or ():
        for study in frame.get("RTReferencedStudySequence") or ():
            for series in study.get("RTReferencedSeriesSequence") or ():
                series_uid = str(series.get("SeriesInstanceUID") or "")
                if not series_uid:
                    continue
                listed = images.setdefault(series_uid, {})
                for image in series.get("ContourImageSequence") or ():
                    if image.get("ReferencedSOPInstanceUID"):
                        listed[str(image.ReferencedSOPInstanceUID)] = None
    return {uid: tuple(listed) for uid, listed in images.items()}


def treatment_records(manifests: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """The RT Beams Treatment Records of the day's manifests, each once, in manifest order.

    Rows of that SOP class, and RTRECORD rows whose SOP class the source did not
    tell (DCMTK dcmqrscp gives none): :func:`chain_report` reads their class from
    the archive and leaves out the other record classes.

    Returns:
        The columns of :data:`RECORD_KEYS`.
    """
    frames = [manifest[RECORD_KEYS] for manifest in manifests]
    if not frames:
        return pd.DataFrame(columns=RECORD_KEYS)
    rows = pd.concat(frames, ignore_index=True)
    beams = rows["sop_class_uid"] == RTBeamsTreatmentRecordStorage
    untold = (rows["sop_class_uid"] == "") & (rows["modality"] == "RTRECORD")
    return rows[beams | untold].drop_duplicates("sop_instance_uid").reset_index(drop=True)


def chain_report(records: pd.DataFrame, fetch: Fetch, held: Held) -> pd.DataFrame:
    """One row per RT Beams Treatment Record: which links of its chain the archive holds.

    A record is complete when the archive holds it, its plan, the plan's structure
    set, and every series and image the structure set references; or it, and a
    plan whose geometry is TREATMENT_DEVICE that names no structure set.

    Args:
        records: The records to check, as :func:`treatment_records` gives them
            (``sop_instance_uid``, ``study_instance_uid``, ``sop_class_uid`` empty
            where the source did not tell it).
        fetch: The archive's header of an instance, None when it lacks it; called
            once per distinct instance, with the SOP classes the instance may have.
        held: Which of some UIDs the archive holds; called twice, for the
            structure sets' series (SERIES) and their images (IMAGE).

    Returns:
        The columns of :data:`CHAIN_COLUMNS`, one row per record in the order of
        `records`: statuses are :class:`Link` values, `image_series_uids` is
        space-separated, `missing_images` counts the referenced images the archive
        lacks, `detail` says what is missing in a sentence.
    """
    read = _once(fetch)
    walked = (
        _walk(str(row.sop_instance_uid), str(row.study_instance_uid), str(row.sop_class_uid), read)
        for row in records.drop_duplicates("sop_instance_uid").itertuples(index=False)
    )
    chains = [chain for chain in walked if chain is not None]
    series_held = held(QueryLevel.SERIES, {uid for chain in chains for uid in chain.images})
    images_held = held(
        QueryLevel.IMAGE,
        {uid for chain in chains for listed in chain.images.values() for uid in listed},
    )
    report = pd.DataFrame(
        [_row(chain, series_held, images_held) for chain in chains], columns=CHAIN_COLUMNS
    )
    LOGGER.info("Treatment chains: %s", chain_summary(report))
    return report


def chain_summary(report: pd.DataFrame) -> dict[str, int]:
    """How many records :func:`chain_report` checked, and how many are complete or not.

    `complete` may be bool or, in a report read back from its CSV file, text.
    """
    complete = int((report["complete"].astype(str) == "True").sum())
    return {"records": len(report), "complete": complete, "incomplete": len(report) - complete}


@dataclass(frozen=True)
class _Chain:
    """What the archive gave for one record's links."""

    record_uid: str
    study_instance_uid: str
    patient_id: str = ""
    record_found: bool = False
    plan: Reference | None = None
    plan_found: bool = False
    needs_structure_set: bool = True
    structure_set: Reference | None = None
    structure_set_found: bool = False
    images: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def _first_reference(dataset: Dataset, keyword: str) -> Reference | None:
    """The first item of a reference sequence that names an instance."""
    for item in dataset.get(keyword) or ():
        if item.get("ReferencedSOPInstanceUID"):
            sop_class = str(item.get("ReferencedSOPClassUID") or "")
            return Reference(sop_class, str(item.ReferencedSOPInstanceUID))
    return None


def _once(fetch: Fetch) -> Fetch:
    """`fetch`, asking the archive once per SOPInstanceUID however often it is called.

    An instance the archive holds but cannot give (a damaged file) counts as absent for
    its chain, with a warning: the chain of one record never stops the others'.
    """
    headers: dict[str, Dataset | None] = {}

    def cached(sop_instance_uid: str, sop_classes: Collection[str]) -> Dataset | None:
        if sop_instance_uid not in headers:
            try:
                headers[sop_instance_uid] = fetch(sop_instance_uid, sop_classes)
            except OrthancError as exc:
                LOGGER.warning("%s cannot be read from the archive: %s", sop_instance_uid, exc)
                headers[sop_instance_uid] = None
        return headers[sop_instance_uid]

    return cached


def _fetch_referenced(reference: Reference | None, fetch: Fetch) -> Dataset | None:
    """The header of a referenced instance, proposing its class (any RT class if untold)."""
    if reference is None:
        return None
    classes = (reference.sop_class_uid,) if reference.sop_class_uid else RT_STORAGE
    return fetch(reference.sop_instance_uid, classes)


def _walk(record_uid: str, study_uid: str, sop_class_uid: str, fetch: Fetch) -> _Chain | None:
    """Follow one record's references through the archive; None if not a beams record."""
    record = fetch(record_uid, (sop_class_uid,) if sop_class_uid else _RECORD_CLASSES)
    if record is None:
        return _Chain(record_uid, study_uid)
    if str(record.get("SOPClassUID", "")) != RTBeamsTreatmentRecordStorage:
        LOGGER.debug("%s is a %s, not a beams record", record_uid, record.get("SOPClassUID"))
        return None
    plan_ref = plan_reference(record)
    plan = _fetch_referenced(plan_ref, fetch)
    structure_set_ref = structure_set_reference(plan) if plan is not None else None
    structure_set = _fetch_referenced(structure_set_ref, fetch)
    return _Chain(
        record_uid,
        study_uid,
        patient_id=str(record.get("PatientID", "")),
        record_found=True,
        plan=plan_ref,
        plan_found=plan is not None,
        needs_structure_set=plan is None or expects_structure_set(plan),
        structure_set=structure_set_ref,
        structure_set_found=structure_set is not None,
        images=image_references(structure_set) if structure_set is not None else {},
    )


def _next(previous: Link, referenced: bool, found: bool) -> Link:
    """The status of a link, given the status of the link that references it."""
    if previous is Link.NOT_REFERENCED:
        return Link.NOT_REFERENCED
    if previous is not Link.PRESENT:
        return Link.NOT_CHECKED
    if not referenced:
        return Link.NOT_REFERENCED
    return Link.PRESENT if found else Link.MISSING


def _row(chain: _Chain, series_held: set[str], images_held: set[str]) -> dict[str, object]:
    """The report row of one record."""
    missing_series = [uid for uid in chain.images if uid not in series_held]
    listed = [uid for images in chain.images.values() for uid in images]
    missing_images = sum(uid not in images_held for uid in listed)
    record = Link.PRESENT if chain.record_found else Link.MISSING
    plan = _next(record, chain.plan is not None, chain.plan_found)
    structure_set = _next(plan, chain.structure_set is not None, chain.structure_set_found)
    images = _next(structure_set, bool(chain.images), not missing_series)
    if images is Link.PRESENT and missing_images:
        images = Link.PARTIAL
    device_plan = structure_set is Link.NOT_REFERENCED and not chain.needs_structure_set
    return {
        "record_uid": chain.record_uid,
        "study_instance_uid": chain.study_instance_uid,
        "patient_id": chain.patient_id,
        "record_status": str(record),
        "plan_uid": chain.plan.sop_instance_uid if chain.plan else "",
        "plan_status": str(plan),
        "structure_set_uid": chain.structure_set.sop_instance_uid if chain.structure_set else "",
        "structure_set_status": str(structure_set),
        "image_series_uids": " ".join(chain.images),
        "image_series_status": str(images),
        "missing_images": missing_images,
        "complete": plan is Link.PRESENT and (images is Link.PRESENT or device_plan),
        "detail": _detail(chain, (plan, structure_set, images), missing_series, missing_images),
    }


def _detail(
    chain: _Chain,
    statuses: tuple[Link, Link, Link],
    missing_series: list[str],
    missing_images: int,
) -> str:
    """The first broken link of a chain in a sentence, or what a complete chain holds."""
    plan, structure_set, images = statuses
    plan_uid = chain.plan.sop_instance_uid if chain.plan else ""
    structure_set_uid = chain.structure_set.sop_instance_uid if chain.structure_set else ""
    listed = sum(map(len, chain.images.values()))
    if not chain.record_found:
        return "the treatment record is not in the archive"
    if plan is Link.NOT_REFERENCED:
        return "the record references no RT Plan (Referenced RT Plan Sequence empty or absent)"
    if plan is Link.MISSING:
        return f"RT Plan {plan_uid} is not in the archive"
    if structure_set is Link.NOT_REFERENCED and not chain.needs_structure_set:
        return f"complete: RT Plan {plan_uid} has TREATMENT_DEVICE geometry, no structure set"
    if structure_set is Link.NOT_REFERENCED:
        return f"RT Plan {plan_uid} references no RT Structure Set"
    if structure_set is Link.MISSING:
        return f"RT Structure Set {structure_set_uid} of RT Plan {plan_uid} is not in the archive"
    if images is Link.NOT_REFERENCED:
        return f"RT Structure Set {structure_set_uid} references no image series"
    if images is not Link.PRESENT:
        series = f"; series {' '.join(missing_series)} not at all" if missing_series else ""
        return (
            f"{missing_images} of the {listed} images RT Structure Set {structure_set_uid} "
            f"references are not in the archive{series}"
        )
    return (
        f"complete: plan, structure set and {len(chain.images)} image series "
        f"({listed} images) are in the archive"
    )
