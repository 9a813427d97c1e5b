"""C-FIND identifiers and their answers, as pure functions and value types.

Identifiers are built to work against strictly hierarchical servers (DCMTK
dcmqrscp, many vendor PACS): a SERIES query always carries its
StudyInstanceUID and an IMAGE query its StudyInstanceUID and SeriesInstanceUID,
and instances are counted at IMAGE level rather than trusting optional
attributes such as NumberOfStudyRelatedInstances.
"""

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum, StrEnum

from pydicom.dataset import Dataset
from pynetdicom import sop_class as sc


class QueryLevel(StrEnum):
    """The Query/Retrieve level of an identifier."""

    PATIENT = "PATIENT"
    STUDY = "STUDY"
    SERIES = "SERIES"
    IMAGE = "IMAGE"


class QueryModel(Enum):
    """The Query/Retrieve information model (root)."""

    PATIENT = "P"
    STUDY = "S"

    def _sop_class(self, service: str) -> str:
        root = "PatientRoot" if self is QueryModel.PATIENT else "StudyRoot"
        return str(getattr(sc, f"{root}QueryRetrieveInformationModel{service}"))

    @property
    def find_uid(self) -> str:
        """SOP class UID of C-FIND in this model."""
        return self._sop_class("Find")

    @property
    def move_uid(self) -> str:
        """SOP class UID of C-MOVE in this model."""
        return self._sop_class("Move")

    @property
    def get_uid(self) -> str:
        """SOP class UID of C-GET in this model."""
        return self._sop_class("Get")


RETURN_KEYS: dict[QueryLevel, tuple[str, ...]] = {
    QueryLevel.PATIENT: ("PatientID", "PatientName", "PatientBirthDate", "PatientSex"),
    QueryLevel.STUDY: (
        "PatientID",
        "PatientName",
        "StudyInstanceUID",
        "StudyDate",
        "StudyTime",
        "AccessionNumber",
        "StudyID",
        "StudyDescription",
    ),
    QueryLevel.SERIES: (
        "StudyInstanceUID",
        "SeriesInstanceUID",
        "Modality",
        "SeriesNumber",
        "SeriesDate",
        "SeriesDescription",
    ),
    QueryLevel.IMAGE: (
        "StudyInstanceUID",
        "SeriesInstanceUID",
        "SOPInstanceUID",
        "SOPClassUID",
        "InstanceNumber",
    ),
}


def identifier(level: QueryLevel, matching: Mapping[str, str] | None = None) -> Dataset:
    """A C-FIND/C-MOVE/C-GET identifier at `level`.

    Args:
        level: The Query/Retrieve level.
        matching: Matching keys by keyword (``{"StudyDate": "20260105-20260109"}``);
            they are added to the level's standard return keys.

    Returns:
        The identifier, return keys empty.
    """
    ds = Dataset()
    ds.QueryRetrieveLevel = str(level)
    for keyword in RETURN_KEYS[level]:
        setattr(ds, keyword, "")
    for keyword, value in (matching or {}).items():
        setattr(ds, keyword, value)
    return ds


UNIQUE_KEYS = ("PatientID", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")
# The unique key of each level below PATIENT (PS3.4 C.3).
LEVEL_UID: dict[QueryLevel, str] = {
    QueryLevel.STUDY: "StudyInstanceUID",
    QueryLevel.SERIES: "SeriesInstanceUID",
    QueryLevel.IMAGE: "SOPInstanceUID",
}


def retrieve_identifier(level: QueryLevel, unique_keys: Mapping[str, str]) -> Dataset:
    """A C-MOVE/C-GET identifier: the level and unique keys only (PS3.4 C.4.2.2.1).

    Empty return keys are not allowed in a retrieve: Orthanc, for one, answers
    0xC000 to a STUDY-level C-GET that carries an empty PatientID.

    Raises:
        ValueError: A key that is not a unique key of the hierarchy.
    """
    unknown = set(unique_keys) - set(UNIQUE_KEYS)
    if unknown:
        raise ValueError(f"not unique keys: {', '.join(sorted(unknown))}")
    ds = Dataset()
    ds.QueryRetrieveLevel = str(level)
    for keyword in UNIQUE_KEYS:
        if unique_keys.get(keyword):
            setattr(ds, keyword, unique_keys[keyword])
    return ds


def uid_list(uids: Iterable[str]) -> str:
    """PS3.4 C.2.2.2.2 List of UID Matching: the UIDs, backslash-separated."""
    return "\\".join(uids)


def date_range(start: dt.date, end: dt.date | None = None) -> str:
    """DICOM date range matching: ``YYYYMMDD`` for one day or ``YYYYMMDD-YYYYMMDD``."""
    first = start.strftime("%Y%m%d")
    if end is None or end == start:
        return first
    return f"{first}-{end.strftime('%Y%m%d')}"


@dataclass(frozen=True)
class InstanceRecord:
    """One instance found by a hierarchical C-FIND enumeration."""

    patient_id: str
    study_instance_uid: str
    series_instance_uid: str
    sop_instance_uid: str
    sop_class_uid: str
    modality: str
    study_date: str
    series_date: str


def answer_problem(level: QueryLevel, answer: Dataset, parents: Mapping[str, str]) -> str:
    """Why a C-FIND answer cannot be filed in a manifest, or ``""`` when it can.

    A usable answer carries the unique key of its level, and the unique keys of
    its parents equal those the query matched on (a response identifier holds the
    values of the request's keys, PS3.4 C.4.1.1.3.2); an absent parent key is
    taken as the queried one.

    Args:
        level: The level of the query.
        answer: One of its answers.
        parents: The unique keys of the parents the query carried, by keyword.

    Returns:
        The problem, in words, or ``""``.
    """
    key = LEVEL_UID[level]
    if not answer.get(key):
        return f"it has no {key}"
    for keyword, queried in parents.items():
        value = str(answer.get(keyword) or "")
        if value and value != queried:
            return f"its {keyword} {value} is not the queried {queried}"
    return ""


def describe(query: Dataset) -> str:
    """A query's level and matching keys in words, for messages."""
    keys = ", ".join(
        f"{element.keyword}={element.value}"
        for element in query
        if element.value and element.keyword != "QueryRetrieveLevel"
    )
    return f"{query.get('QueryRetrieveLevel', '')} query ({keys or 'no matching keys'})"


def instance_record(study: Dataset, series: Dataset, image: Dataset) -> InstanceRecord:
    """Combine the STUDY, SERIES and IMAGE answers that lead to one instance."""
    return series_record(
        study, series, str(image.SOPInstanceUID), str(image.get("SOPClassUID", ""))
    )


def series_record(
    study: Dataset, series: Dataset, sop_instance_uid: str, sop_class_uid: str
) -> InstanceRecord:
    """One instance of a series, by the STUDY and SERIES answers and its two UIDs."""
    return InstanceRecord(
        patient_id=str(study.get("PatientID", "")),
        study_instance_uid=str(study.StudyInstanceUID),
        series_instance_uid=str(series.SeriesInstanceUID),
        sop_instance_uid=sop_instance_uid,
        sop_class_uid=sop_class_uid,
        modality=str(series.get("Modality", "")),
        study_date=str(study.get("StudyDate", "")),
        series_date=str(series.get("SeriesDate", "")),
    )
