"""Treatment chain completeness: pure functions over hand-built headers, no servers."""

from collections.abc import Collection

import pandas as pd
from pydicom.dataset import Dataset
from pydicom.uid import (
    CTImageStorage,
    RTBeamsTreatmentRecordStorage,
    RTPlanStorage,
    RTStructureSetStorage,
    RTTreatmentSummaryRecordStorage,
)

from radonc_assets.backup.chain import (
    CHAIN_COLUMNS,
    Reference,
    chain_report,
    chain_summary,
    expects_structure_set,
    image_references,
    plan_reference,
    structure_set_reference,
    treatment_records,
)
from radonc_assets.backup.manifest import MANIFEST_COLUMNS
from resources.dicom.queries import QueryLevel
from resources.errors import OrthancError

# Valid UI values: records 1.N, plans 2.N, structure sets 3.N, image series 4.N.
PLAN, RS, SERIES = "2.1", "3.1", "4.1"


def ref(sop_class: str, uid: str) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = sop_class
    item.ReferencedSOPInstanceUID = uid
    return item


def header(sop_class: str, uid: str, **elements: object) -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = uid
    ds.PatientID = "SYN-1"
    for keyword, value in elements.items():
        setattr(ds, keyword, value)
    return ds


def record(uid: str, plan: str | None = PLAN) -> Dataset:
    refs = [ref(RTPlanStorage, plan)] if plan else []
    return header(RTBeamsTreatmentRecordStorage, uid, ReferencedRTPlanSequence=refs)


def plan(uid: str = PLAN, structure_set: str | None = RS, geometry: str = "PATIENT") -> Dataset:
    ds = header(RTPlanStorage, uid, RTPlanGeometry=geometry)
    if structure_set:
        ds.ReferencedStructureSetSequence = [ref(RTStructureSetStorage, structure_set)]
    return ds


def structure_set(uid: str = RS, series: dict[str, list[str]] | None = None) -> Dataset:
    ds = header(RTStructureSetStorage, uid)
    if series is None:
        return ds
    items = []
    for series_uid, images in series.items():
        item = Dataset()
        item.SeriesInstanceUID = series_uid
        item.ContourImageSequence = [ref(CTImageStorage, image) for image in images]
        items.append(item)
    study = ref("1.2.840.10008.3.1.2.3.1", "5.1")
    study.RTReferencedSeriesSequence = items
    frame = Dataset()
    frame.FrameOfReferenceUID = "6.1"
    frame.RTReferencedStudySequence = [study]
    ds.ReferencedFrameOfReferenceSequence = [frame]
    return ds


CT = {SERIES: [f"{SERIES}.{n}" for n in (1, 2, 3)]}


class Archive:
    """Headers by SOPInstanceUID, and the series and images held; counts every question."""

    def __init__(self, *headers: Dataset, series: set[str], images: set[str]) -> None:
        self.headers = {str(ds.SOPInstanceUID): ds for ds in headers}
        self.held = {QueryLevel.SERIES: series, QueryLevel.IMAGE: images}
        self.fetched: list[tuple[str, tuple[str, ...]]] = []
        self.queries: list[tuple[QueryLevel, set[str]]] = []

    def fetch(self, uid: str, sop_classes: Collection[str]) -> Dataset | None:
        self.fetched.append((uid, tuple(sop_classes)))
        return self.headers.get(uid)

    def holds(self, level: QueryLevel, uids: Collection[str]) -> set[str]:
        self.queries.append((level, set(uids)))
        return self.held[level] & set(uids)


def complete_archive(*extra: Dataset) -> Archive:
    return Archive(
        record("1.1"),
        plan(),
        structure_set(series=CT),
        *extra,
        series={SERIES},
        images=set(CT[SERIES]),
    )


def records(*uids: str, sop_class: str = RTBeamsTreatmentRecordStorage) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "sop_instance_uid": list(uids),
            "study_instance_uid": "5.1",
            "sop_class_uid": sop_class,
            "modality": "RTRECORD",
        }
    )


def report_of(archive: Archive, *uids: str) -> dict[str, object]:
    report = chain_report(records(*uids), archive.fetch, archive.holds)
    assert list(report.columns) == CHAIN_COLUMNS
    (row,) = report.to_dict("records")
    return {str(key): value for key, value in row.items()}


def statuses(row: dict[str, object]) -> tuple[object, ...]:
    keys = ["record_status", "plan_status", "structure_set_status", "image_series_status"]
    return (*(row[key] for key in keys), row["complete"])


def test_references_are_read_from_headers() -> None:
    assert plan_reference(record("1.1")) == Reference(RTPlanStorage, PLAN)
    assert structure_set_reference(plan()) == Reference(RTStructureSetStorage, RS)
    assert image_references(
        structure_set(series={SERIES: ["4.1.1", "4.1.2", "4.1.1"], "4.2": []})
    ) == {
        SERIES: ("4.1.1", "4.1.2"),
        "4.2": (),
    }
    assert expects_structure_set(plan(geometry="PATIENT"))
    assert not expects_structure_set(plan(geometry="TREATMENT_DEVICE"))


def test_absent_and_empty_sequences_reference_nothing() -> None:
    assert plan_reference(record("1.1", plan=None)) is None
    assert plan_reference(header(RTBeamsTreatmentRecordStorage, "1.2")) is None
    assert structure_set_reference(plan(structure_set=None)) is None
    assert image_references(structure_set()) == {}
    frame = Dataset()
    frame.FrameOfReferenceUID = "6.1"  # RT Referenced Study Sequence is Type 3
    assert (
        image_references(
            header(RTStructureSetStorage, RS, ReferencedFrameOfReferenceSequence=[frame])
        )
        == {}
    )


def test_complete_chain() -> None:
    row = report_of(complete_archive(), "1.1")
    assert statuses(row) == ("present", "present", "present", "present", True)
    assert (row["plan_uid"], row["structure_set_uid"], row["image_series_uids"]) == (
        PLAN,
        RS,
        SERIES,
    )
    assert row["patient_id"] == "SYN-1"
    assert row["missing_images"] == 0
    assert (
        row["detail"]
        == "complete: plan, structure set and 1 image series (3 images) are in the archive"
    )


def test_missing_plan() -> None:
    archive = complete_archive()
    del archive.headers[PLAN]
    row = report_of(archive, "1.1")
    assert statuses(row) == ("present", "missing", "not checked", "not checked", False)
    assert row["detail"] == f"RT Plan {PLAN} is not in the archive"


def test_a_plan_the_archive_cannot_read_breaks_its_chain_only() -> None:
    """A damaged file (the archive's client raises) is no plan for its records; the other
    records' chains are still walked."""
    archive = complete_archive(record("1.2", plan="3.9"), plan("3.9"))

    def damaged(uid: str, sop_classes: Collection[str]) -> Dataset | None:
        if uid == PLAN:
            raise OrthancError("the archive's file is not readable DICOM: truncated")
        return archive.fetch(uid, sop_classes)

    report = chain_report(records("1.1", "1.2"), damaged, archive.holds)
    rows = {row["record_uid"]: row for row in report.to_dict("records")}
    assert statuses(rows["1.1"]) == ("present", "missing", "not checked", "not checked", False)
    assert statuses(rows["1.2"]) == ("present", "present", "present", "present", True)


def test_missing_structure_set() -> None:
    archive = complete_archive()
    del archive.headers[RS]
    row = report_of(archive, "1.1")
    assert statuses(row) == ("present", "present", "missing", "not checked", False)
    assert row["detail"] == f"RT Structure Set {RS} of RT Plan {PLAN} is not in the archive"


def test_missing_image_series_and_images() -> None:
    archive = complete_archive()
    archive.held = {QueryLevel.SERIES: set(), QueryLevel.IMAGE: set()}
    row = report_of(archive, "1.1")
    assert statuses(row) == ("present", "present", "present", "missing", False)
    assert row["missing_images"] == 3
    assert row["detail"] == (
        f"3 of the 3 images RT Structure Set {RS} references are not in the archive; "
        f"series {SERIES} not at all"
    )

    archive.held = {QueryLevel.SERIES: {SERIES}, QueryLevel.IMAGE: {"4.1.1", "4.1.3"}}
    row = report_of(archive, "1.1")
    assert statuses(row) == ("present", "present", "present", "partial", False)
    assert row["missing_images"] == 1


def test_record_without_plan_reference_is_a_finding() -> None:
    row = report_of(complete_archive(record("1.2", plan=None)), "1.2")
    assert statuses(row) == ("present", "not referenced", "not referenced", "not referenced", False)
    assert row["plan_uid"] == ""
    assert (
        row["detail"]
        == "the record references no RT Plan (Referenced RT Plan Sequence empty or absent)"
    )


def test_plan_without_structure_set_reference() -> None:
    archive = complete_archive(record("1.2", plan="2.2"), plan("2.2", structure_set=None))
    row = report_of(archive, "1.2")
    assert statuses(row) == ("present", "present", "not referenced", "not referenced", False)
    assert row["detail"] == "RT Plan 2.2 references no RT Structure Set"

    archive = complete_archive(
        record("1.3", plan="2.3"), plan("2.3", structure_set=None, geometry="TREATMENT_DEVICE")
    )
    row = report_of(archive, "1.3")
    assert statuses(row) == ("present", "present", "not referenced", "not referenced", True)


def test_structure_set_without_image_references() -> None:
    archive = complete_archive(
        record("1.2", plan="2.2"), plan("2.2", structure_set="3.2"), structure_set("3.2")
    )
    row = report_of(archive, "1.2")
    assert statuses(row) == ("present", "present", "present", "not referenced", False)


def test_record_not_in_the_archive() -> None:
    row = report_of(complete_archive(), "1.9")
    assert statuses(row) == ("missing", "not checked", "not checked", "not checked", False)
    assert row["detail"] == "the treatment record is not in the archive"


def test_shared_plan_and_structure_set_are_fetched_once() -> None:
    many = [record(f"1.{n}") for n in range(2, 200)]
    archive = complete_archive(*many)
    uids = ["1.1", *(str(ds.SOPInstanceUID) for ds in many), "1.1"]
    report = chain_report(records(*uids), archive.fetch, archive.holds)
    assert len(report) == 199
    assert report["complete"].all()
    fetched = [uid for uid, _ in archive.fetched]
    assert sorted(fetched) == sorted({*uids, PLAN, RS})
    assert dict(archive.fetched)[PLAN] == (RTPlanStorage,)
    assert dict(archive.fetched)[RS] == (RTStructureSetStorage,)
    assert archive.queries == [(QueryLevel.SERIES, {SERIES}), (QueryLevel.IMAGE, set(CT[SERIES]))]
    assert chain_summary(report) == {"records": 199, "complete": 199, "incomplete": 0}


def test_records_of_untold_class_are_fetched_as_any_record_and_others_left_out() -> None:
    summary = header(RTTreatmentSummaryRecordStorage, "1.50")
    archive = complete_archive(summary)
    report = chain_report(records("1.1", "1.50", sop_class=""), archive.fetch, archive.holds)
    assert report["record_uid"].tolist() == ["1.1"]
    assert RTTreatmentSummaryRecordStorage in dict(archive.fetched)["1.50"]
    assert RTBeamsTreatmentRecordStorage in dict(archive.fetched)["1.1"]


def test_treatment_records_from_manifests() -> None:
    def manifest(*rows: tuple[str, str, str]) -> pd.DataFrame:
        frame = pd.DataFrame(
            [{column: "" for column in MANIFEST_COLUMNS} for _ in rows], columns=MANIFEST_COLUMNS
        )
        frame[["sop_instance_uid", "sop_class_uid", "modality"]] = list(rows)
        return frame

    aria = manifest(
        ("1.1", RTBeamsTreatmentRecordStorage, "RTRECORD"),
        ("1.50", RTTreatmentSummaryRecordStorage, "RTRECORD"),
        (PLAN, RTPlanStorage, "RTPLAN"),
    )
    mim = manifest(("1.1", "", "RTRECORD"), ("1.2", "", "RTRECORD"), ("7.1", "", "CT"))
    selected = treatment_records([aria, mim])
    assert selected["sop_instance_uid"].tolist() == ["1.1", "1.2"]
    assert selected["sop_class_uid"].tolist() == [RTBeamsTreatmentRecordStorage, ""]
    assert treatment_records([]).empty


def test_summary_counts_complete_and_incomplete_records() -> None:
    archive = complete_archive(record("1.2", plan="2.2"), record("1.3"))
    report = chain_report(records("1.1", "1.2", "1.3"), archive.fetch, archive.holds)
    assert report["complete"].tolist() == [True, False, True]
    summary = {"records": 3, "complete": 2, "incomplete": 1}
    assert chain_summary(report) == summary
    assert chain_summary(report.astype(str)) == summary  # as read back from its CSV file
