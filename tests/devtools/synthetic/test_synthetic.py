"""Tests of the synthetic radiation-oncology DICOM generator."""

import dataclasses
import datetime
import inspect
import itertools
import pathlib
import subprocess
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

import numpy as np
import pytest
from pydicom import Dataset, dcmread
from pydicom.uid import (
    CTImageStorage,
    ExplicitVRLittleEndian,
    MRImageStorage,
    RTBeamsTreatmentRecordStorage,
    RTDoseStorage,
    RTPlanStorage,
    RTStructureSetStorage,
    SpatialRegistrationStorage,
)

from radonc_assets.devtools.synthetic import SyntheticSpec, generate, write

MONDAY = datetime.date(2024, 1, 1)
SPEC = SyntheticSpec(
    start=MONDAY,
    end=datetime.date(2024, 1, 12),
    patients=3,
    seed=7,
    ct_slices=12,
    image_size=32,
    fractions=5,
    mr_slices=4,
)
DCIODVFY = "/usr/bin/dciodvfy"  # dicom3tools, installed by scripts/setup.sh
SOP_CLASSES = {
    "CT": CTImageStorage,
    "MR": MRImageStorage,
    "REG": SpatialRegistrationStorage,
    "RTSTRUCT": RTStructureSetStorage,
    "RTPLAN": RTPlanStorage,
    "RTDOSE": RTDoseStorage,
    "RTRECORD": RTBeamsTreatmentRecordStorage,
}


def _date(value: str) -> datetime.date:
    return datetime.datetime.strptime(value, "%Y%m%d").date()


@pytest.fixture(scope="module")
def datasets() -> list[Dataset]:
    return list(generate(SPEC))


@pytest.fixture(scope="module")
def by_patient(datasets: list[Dataset]) -> dict[str, dict[str, list[Dataset]]]:
    grouped: dict[str, dict[str, list[Dataset]]] = defaultdict(lambda: defaultdict(list))
    for ds in datasets:
        grouped[ds.PatientID][ds.Modality].append(ds)
    return grouped


def _only(patient: dict[str, list[Dataset]], modality: str) -> Dataset:
    (ds,) = patient[modality]
    return ds


def _referenced(sequence: list[Dataset]) -> list[str]:
    return [item.ReferencedSOPInstanceUID for item in sequence]


def _devices(sequence: list[Dataset], keyword: str) -> list[tuple[str, Any]]:
    return [(item.RTBeamLimitingDeviceType, item[keyword].value) for item in sequence]


def _positions(control_point: Dataset) -> list[tuple[str, Any]]:
    return _devices(control_point.get("BeamLimitingDevicePositionSequence", []), "LeafJawPositions")


def test_generate_is_a_lazy_generator() -> None:
    huge = SyntheticSpec(start=MONDAY, end=MONDAY, patients=100_000, ct_slices=100_000)

    instances = generate(huge)
    first = next(instances)

    assert inspect.isgenerator(instances)
    assert first.Modality == "CT"
    assert first.PatientID == "SYN00-0001"


def test_same_spec_yields_the_same_uids(datasets: list[Dataset]) -> None:
    again = list(generate(SPEC))

    assert [ds.SOPInstanceUID for ds in again] == [ds.SOPInstanceUID for ds in datasets]
    assert [ds.SeriesInstanceUID for ds in again] == [ds.SeriesInstanceUID for ds in datasets]
    assert len({ds.SOPInstanceUID for ds in datasets}) == len(datasets)


def test_same_spec_writes_identical_bytes(tmp_path: pathlib.Path) -> None:
    first = write(SPEC, tmp_path / "a")
    second = write(SPEC, tmp_path / "b")

    assert [p.relative_to(tmp_path / "a") for p in first] == [
        p.relative_to(tmp_path / "b") for p in second
    ]
    for one, two in zip(first, second, strict=True):
        assert one.read_bytes() == two.read_bytes(), one.name


def test_different_seed_shares_no_uid_or_patient_id(datasets: list[Dataset]) -> None:
    other = list(generate(SyntheticSpec(start=SPEC.start, end=SPEC.end, seed=8, mr_slices=1)))

    def uids(items: Iterable[Dataset]) -> set[str]:
        return {
            uid
            for ds in items
            for uid in (ds.SOPInstanceUID, ds.SeriesInstanceUID, ds.StudyInstanceUID)
        }

    assert uids(datasets).isdisjoint(uids(other))
    assert {ds.PatientID for ds in datasets} == {"SYN07-0001", "SYN07-0002", "SYN07-0003"}
    assert {ds.PatientID for ds in other} == {"SYN08-0001", "SYN08-0002", "SYN08-0003"}


def test_counts_per_patient(datasets: list[Dataset]) -> None:
    counts = Counter((ds.PatientID, ds.Modality) for ds in datasets)

    # Weekdays Jan 1-5 and 8-12; simulations on the 1st, 4th and 9th. The last patient has only
    # three weekdays left before `end`.
    for patient_id, records in (("SYN07-0001", 5), ("SYN07-0002", 5), ("SYN07-0003", 3)):
        assert counts[patient_id, "CT"] == SPEC.ct_slices
        assert counts[patient_id, "MR"] == SPEC.mr_slices
        assert counts[patient_id, "REG"] == 1
        assert counts[patient_id, "RTSTRUCT"] == 1
        assert counts[patient_id, "RTPLAN"] == 1
        assert counts[patient_id, "RTDOSE"] == 1
        assert counts[patient_id, "RTRECORD"] == records
    assert len(datasets) == 3 * (SPEC.ct_slices + SPEC.mr_slices + 4) + 13


def test_planning_objects_share_study_and_simulation_date(
    by_patient: dict[str, dict[str, list[Dataset]]],
) -> None:
    sim_dates = {}
    for patient_id, patient in by_patient.items():
        planning = [
            ds
            for modality in ("CT", "REG", "RTSTRUCT", "RTPLAN", "RTDOSE")
            for ds in patient[modality]
        ]
        in_study = [ds for modality in patient if modality != "MR" for ds in patient[modality]]
        assert {ds.StudyInstanceUID for ds in in_study} == {planning[0].StudyInstanceUID}
        assert {(ds.StudyDate, ds.SeriesDate, ds.ContentDate) for ds in planning} == {
            (planning[0].StudyDate,) * 3
        }
        assert len({ds.SeriesInstanceUID for ds in in_study}) == 5 + len(patient["RTRECORD"])
        sim_dates[patient_id] = planning[0].StudyDate
    assert sim_dates == {
        "SYN07-0001": "20240101",
        "SYN07-0002": "20240104",
        "SYN07-0003": "20240109",
    }


def test_mr_is_a_study_of_the_simulation_day(
    by_patient: dict[str, dict[str, list[Dataset]]],
) -> None:
    planning_studies = set()
    for patient in by_patient.values():
        ct, mrs = patient["CT"][0], patient["MR"]
        (study,) = {ds.StudyInstanceUID for ds in mrs}
        planning_studies.add(ct.StudyInstanceUID)

        assert study != ct.StudyInstanceUID
        assert len({ds.SeriesInstanceUID for ds in mrs}) == 1
        for ds in mrs:
            assert (ds.PatientID, ds.PatientName, ds.PatientBirthDate, ds.PatientSex) == (
                ct.PatientID,
                ct.PatientName,
                ct.PatientBirthDate,
                ct.PatientSex,
            )
            assert (ds.StudyDate, ds.SeriesDate, ds.ContentDate) == (ct.StudyDate,) * 3
            assert ds.StudyTime > ct.StudyTime
            assert ds.AccessionNumber != ct.AccessionNumber
            assert ds.StudyID != ct.StudyID
            assert "SYNTHETIC" in ds.StudyDescription
    assert len(planning_studies) == len(by_patient)


def test_patients_share_the_day_when_the_range_is_short() -> None:
    wednesday = datetime.date(2024, 1, 3)
    spec = SyntheticSpec(start=wednesday, end=wednesday, patients=3, ct_slices=2)

    instances = list(generate(spec))

    assert {ds.StudyDate for ds in instances} == {"20240103"}
    assert len({ds.PatientID for ds in instances}) == 3
    assert Counter(ds.Modality for ds in instances) == {
        "CT": 6,
        "RTSTRUCT": 3,
        "RTPLAN": 3,
        "RTDOSE": 3,
    }


def test_ct_geometry_and_phantom(by_patient: dict[str, dict[str, list[Dataset]]]) -> None:
    for patient in by_patient.values():
        cts = patient["CT"]
        z = [float(ds.ImagePositionPatient[2]) for ds in cts]
        assert [b - a for a, b in itertools.pairwise(z)] == [2.5] * (SPEC.ct_slices - 1)
        assert [float(ds.SliceLocation) for ds in cts] == z
        assert [ds.InstanceNumber for ds in cts] == list(range(1, SPEC.ct_slices + 1))
        assert len({ds.FrameOfReferenceUID for ds in cts}) == 1
        for ds in cts:
            assert (ds.Rows, ds.Columns) == (SPEC.image_size, SPEC.image_size)
            assert [float(v) for v in ds.ImageOrientationPatient] == [1, 0, 0, 0, 1, 0]
            hu = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
            assert hu[0, 0] == -1000  # air outside the body
            centre = SPEC.image_size // 2
            assert -50 < hu[centre, centre] < 50  # soft tissue inside the body


def _registered(matrix: list[float], point: list[float]) -> list[float]:
    """Apply a 4x4 Frame of Reference Transformation Matrix (row by row) to a point."""
    mapped = np.array(matrix, dtype=float).reshape(4, 4) @ np.array([*point, 1.0])
    return [round(float(v), 4) for v in mapped[:3]]


def test_mr_geometry_and_phantom(by_patient: dict[str, dict[str, list[Dataset]]]) -> None:
    for patient in by_patient.values():
        ct, mrs = patient["CT"][0], patient["MR"]
        z = [float(ds.ImagePositionPatient[2]) for ds in mrs]
        assert [b - a for a, b in itertools.pairwise(z)] == [5.0] * (SPEC.mr_slices - 1)
        assert [float(ds.SliceLocation) for ds in mrs] == z
        assert [ds.InstanceNumber for ds in mrs] == list(range(1, SPEC.mr_slices + 1))
        assert len({ds.FrameOfReferenceUID for ds in mrs}) == 1
        assert mrs[0].FrameOfReferenceUID != ct.FrameOfReferenceUID
        assert len({ds.pixel_array.tobytes() for ds in mrs}) == SPEC.mr_slices  # own noise
        for ds in mrs:
            assert (ds.Rows, ds.Columns) == (SPEC.image_size, SPEC.image_size)
            assert ds.PixelSpacing == ct.PixelSpacing
            assert [float(v) for v in ds.ImageOrientationPatient] == [1, 0, 0, 0, 1, 0]
            assert ds.PatientPosition == ct.PatientPosition
            signal = ds.pixel_array
            centre = SPEC.image_size // 2
            assert signal[0, 0] == 0  # air outside the body
            assert 300 < signal[centre, centre] < 500  # soft tissue inside the body


def test_registration_maps_the_mr_frame_onto_the_ct_frame(
    by_patient: dict[str, dict[str, list[Dataset]]],
) -> None:
    for patient in by_patient.values():
        cts, mrs = patient["CT"], patient["MR"]
        reg = _only(patient, "REG")
        ct_item, mr_item = reg.RegistrationSequence

        assert reg.StudyInstanceUID == cts[0].StudyInstanceUID
        assert reg.FrameOfReferenceUID == cts[0].FrameOfReferenceUID
        assert ct_item.FrameOfReferenceUID == cts[0].FrameOfReferenceUID
        assert mr_item.FrameOfReferenceUID == mrs[0].FrameOfReferenceUID
        assert _referenced(ct_item.ReferencedImageSequence) == [ds.SOPInstanceUID for ds in cts]
        assert _referenced(mr_item.ReferencedImageSequence) == [ds.SOPInstanceUID for ds in mrs]
        matrices = []
        for registration in (ct_item, mr_item):
            (matrix_registration,) = registration.MatrixRegistrationSequence
            (matrix,) = matrix_registration.MatrixSequence
            (method,) = matrix_registration.RegistrationTypeCodeSequence
            assert method.CodingSchemeDesignator == "DCM"
            assert matrix.FrameOfReferenceTransformationMatrixType == "RIGID"
            matrices.append([float(v) for v in matrix.FrameOfReferenceTransformationMatrix])
        identity, mr_to_ct = matrices
        assert identity == np.eye(4).ravel().tolist()
        assert np.allclose(np.array(mr_to_ct).reshape(4, 4)[:3, :3], np.eye(3))
        assert mr_to_ct[3::4] != [0.0, 0.0, 0.0, 1.0]  # a translation, not the identity
        # the MR grid, mapped into the CT's frame, lies on the CT grid inside the CT stack
        ct_z = [float(ds.ImagePositionPatient[2]) for ds in cts]
        for mr in mrs:
            x, y, z = _registered(mr_to_ct, [float(v) for v in mr.ImagePositionPatient])
            assert [x, y] == [float(v) for v in cts[0].ImagePositionPatient[:2]]
            assert min(ct_z) <= z <= max(ct_z)
            # the same anatomy on both grids: air and lungs dark in the MR where the CT has them
            ct_hu = cts[0].pixel_array * float(cts[0].RescaleSlope) + float(cts[0].RescaleIntercept)
            assert np.array_equal(mr.pixel_array < 80, ct_hu < -500)


def test_registration_lists_every_image_it_references(
    by_patient: dict[str, dict[str, list[Dataset]]],
) -> None:
    for patient in by_patient.values():
        cts, mrs = patient["CT"], patient["MR"]
        reg = _only(patient, "REG")
        (ct_series,) = reg.ReferencedSeriesSequence
        (mr_study,) = reg.StudiesContainingOtherReferencedInstancesSequence
        (mr_series,) = mr_study.ReferencedSeriesSequence

        assert ct_series.SeriesInstanceUID == cts[0].SeriesInstanceUID
        assert _referenced(ct_series.ReferencedInstanceSequence) == [
            ds.SOPInstanceUID for ds in cts
        ]
        assert mr_study.StudyInstanceUID == mrs[0].StudyInstanceUID
        assert mr_series.SeriesInstanceUID == mrs[0].SeriesInstanceUID
        assert _referenced(mr_series.ReferencedInstanceSequence) == [
            ds.SOPInstanceUID for ds in mrs
        ]
        assert {
            item.ReferencedSOPClassUID
            for series in (ct_series, mr_series)
            for item in series.ReferencedInstanceSequence
        } == {CTImageStorage, MRImageStorage}


def test_structure_set_references_ct_slices(
    by_patient: dict[str, dict[str, list[Dataset]]],
) -> None:
    for patient in by_patient.values():
        cts = {ds.SOPInstanceUID: ds for ds in patient["CT"]}
        rtstruct = _only(patient, "RTSTRUCT")
        (frame,) = rtstruct.ReferencedFrameOfReferenceSequence
        (study,) = frame.RTReferencedStudySequence
        (series,) = study.RTReferencedSeriesSequence

        assert frame.FrameOfReferenceUID == next(iter(cts.values())).FrameOfReferenceUID
        assert study.ReferencedSOPInstanceUID == rtstruct.StudyInstanceUID
        assert series.SeriesInstanceUID == next(iter(cts.values())).SeriesInstanceUID
        assert _referenced(series.ContourImageSequence) == list(cts)
        assert [roi.ROIName for roi in rtstruct.StructureSetROISequence] == [
            "BODY",
            "PTV",
            "SPINAL_CORD",
        ]
        assert [obs.RTROIInterpretedType for obs in rtstruct.RTROIObservationsSequence] == [
            "EXTERNAL",
            "PTV",
            "ORGAN",
        ]
        contour_counts = []
        for roi in rtstruct.ROIContourSequence:
            contour_counts.append(len(roi.ContourSequence))
            for contour in roi.ContourSequence:
                (image,) = contour.ContourImageSequence
                ct = cts[image.ReferencedSOPInstanceUID]
                points = [float(v) for v in contour.ContourData]
                assert contour.ContourGeometricType == "CLOSED_PLANAR"
                assert len(points) == 3 * contour.NumberOfContourPoints
                assert set(points[2::3]) == {float(ct.ImagePositionPatient[2])}
        assert contour_counts == [SPEC.ct_slices, 5, SPEC.ct_slices]


def test_plan_references_structure_set(by_patient: dict[str, dict[str, list[Dataset]]]) -> None:
    for patient in by_patient.values():
        plan = _only(patient, "RTPLAN")
        (structure_set,) = plan.ReferencedStructureSetSequence
        (fraction_group,) = plan.FractionGroupSequence
        beams = plan.BeamSequence

        assert structure_set.ReferencedSOPClassUID == RTStructureSetStorage
        assert structure_set.ReferencedSOPInstanceUID == _only(patient, "RTSTRUCT").SOPInstanceUID
        assert fraction_group.NumberOfFractionsPlanned == SPEC.fractions
        assert 2 <= len(beams) <= 4
        assert fraction_group.NumberOfBeams == len(beams)
        assert [b.ReferencedBeamNumber for b in fraction_group.ReferencedBeamSequence] == [
            b.BeamNumber for b in beams
        ]
        assert all(float(b.BeamMeterset) > 0 for b in fraction_group.ReferencedBeamSequence)
        angles = [float(b.ControlPointSequence[0].GantryAngle) for b in beams]
        assert angles == [360 * i / len(beams) for i in range(len(beams))]
        for beam in beams:
            first, last = beam.ControlPointSequence
            assert beam.NumberOfControlPoints == 2
            assert beam.RadiationType == "PHOTON"
            assert (first.CumulativeMetersetWeight, last.CumulativeMetersetWeight) == (0, 1)
            assert first.NominalBeamEnergy == 6
            # PS3.3 C.8.8.14: the first control point positions every device of the beam.
            devices = [d.RTBeamLimitingDeviceType for d in beam.BeamLimitingDeviceSequence]
            assert devices[:2] == ["ASYMX", "ASYMY"]
            assert [
                d.RTBeamLimitingDeviceType for d in first.BeamLimitingDevicePositionSequence
            ] == devices


def test_dose_references_plan(by_patient: dict[str, dict[str, list[Dataset]]]) -> None:
    for patient in by_patient.values():
        dose = _only(patient, "RTDOSE")
        (plan,) = dose.ReferencedRTPlanSequence
        grid = dose.pixel_array * float(dose.DoseGridScaling)

        assert plan.ReferencedSOPClassUID == RTPlanStorage
        assert plan.ReferencedSOPInstanceUID == _only(patient, "RTPLAN").SOPInstanceUID
        assert dose.FrameOfReferenceUID == patient["CT"][0].FrameOfReferenceUID
        assert (dose.DoseUnits, dose.DoseType, dose.DoseSummationType) == ("GY", "PHYSICAL", "PLAN")
        assert grid.shape == (dose.NumberOfFrames, dose.Rows, dose.Columns)
        assert len(dose.GridFrameOffsetVector) == dose.NumberOfFrames
        assert 0.9 * 2 * SPEC.fractions < grid.max() <= 2 * SPEC.fractions


def test_records_reference_plan_on_weekdays_after_simulation(
    by_patient: dict[str, dict[str, list[Dataset]]],
) -> None:
    for patient in by_patient.values():
        plan = _only(patient, "RTPLAN")
        sim_date = _date(plan.StudyDate)
        metersets = {
            b.ReferencedBeamNumber: float(b.BeamMeterset)
            for b in plan.FractionGroupSequence[0].ReferencedBeamSequence
        }
        planned_beams = {b.BeamNumber: b for b in plan.BeamSequence}
        dates = []
        for fraction, record in enumerate(patient["RTRECORD"], start=1):
            (referenced_plan,) = record.ReferencedRTPlanSequence
            date = _date(record.TreatmentDate)
            dates.append(date)
            assert referenced_plan.ReferencedSOPInstanceUID == plan.SOPInstanceUID
            assert record.SeriesDate == record.TreatmentDate
            assert SPEC.start <= date <= SPEC.end
            assert date > sim_date
            assert date.weekday() < 5
            assert record.NumberOfFractionsPlanned == SPEC.fractions
            assert record.PrimaryDosimeterUnit == "MU"
            delivered = {}
            for beam in record.TreatmentSessionBeamSequence:
                assert beam.CurrentFractionNumber == fraction
                assert beam.TreatmentDeliveryType == "TREATMENT"
                assert beam.TreatmentTerminationStatus == "NORMAL"
                assert len(beam.ControlPointDeliverySequence) == 2
                planned = planned_beams[beam.ReferencedBeamNumber]
                leaf_pairs = _devices(
                    beam.BeamLimitingDeviceLeafPairsSequence, "NumberOfLeafJawPairs"
                )
                assert leaf_pairs == _devices(
                    planned.BeamLimitingDeviceSequence, "NumberOfLeafJawPairs"
                )
                for point, planned_point in zip(
                    beam.ControlPointDeliverySequence, planned.ControlPointSequence, strict=True
                ):
                    assert _positions(point) == _positions(planned_point)
                delivered[beam.ReferencedBeamNumber] = float(beam.DeliveredPrimaryMeterset)
            assert delivered == metersets
        assert dates == sorted(set(dates))


def test_written_files_read_back(tmp_path: pathlib.Path) -> None:
    paths = write(SPEC, tmp_path)

    assert len(paths) == len(list(tmp_path.rglob("*.dcm")))
    modalities: Counter[str] = Counter()
    for path in paths:
        ds = dcmread(path)
        modalities[ds.Modality] += 1
        assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
        assert ds.SOPClassUID == SOP_CLASSES[ds.Modality]
        assert ds.file_meta.MediaStorageSOPClassUID == ds.SOPClassUID
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert str(ds.PatientName).startswith("SYNTHETIC")
        assert "SYNTHETIC" in ds.StudyDescription
        assert ds.Manufacturer == "radonc-backup synthetic"
        assert path.relative_to(tmp_path) == pathlib.Path(
            ds.PatientID, f"{ds.Modality}_{ds.SOPInstanceUID}.dcm"
        )
    assert modalities == {
        "CT": 36,
        "MR": 12,
        "REG": 3,
        "RTSTRUCT": 3,
        "RTPLAN": 3,
        "RTDOSE": 3,
        "RTRECORD": 13,
    }


def test_every_object_kind_passes_dciodvfy(tmp_path: pathlib.Path) -> None:
    spec = SyntheticSpec(
        start=MONDAY,
        end=MONDAY + datetime.timedelta(days=1),
        patients=1,
        ct_slices=2,
        fractions=1,
        mr_slices=2,
    )
    first_of_kind: dict[str, pathlib.Path] = {}
    for path in write(spec, tmp_path):
        first_of_kind.setdefault(dcmread(path, stop_before_pixels=True).Modality, path)

    problems = {}
    for modality, path in first_of_kind.items():
        result = subprocess.run([DCIODVFY, str(path)], capture_output=True, text=True, check=False)
        output = (result.stdout + result.stderr).splitlines()
        errors = [line for line in output if line.startswith("Error")]
        if result.returncode and not errors:  # a crash: dciodvfy aborts on what it cannot read
            errors = [f"exit {result.returncode}: {output[-1] if output else ''}"]
        if errors:
            problems[modality] = errors

    assert set(first_of_kind) == set(SOP_CLASSES)
    assert not problems, "\n".join(
        f"{modality}: {line}" for modality, lines in problems.items() for line in lines
    )


@pytest.mark.parametrize(
    "changes",
    [
        {"end": MONDAY - datetime.timedelta(days=1)},
        {"start": datetime.date(2024, 1, 6), "end": datetime.date(2024, 1, 7)},
        {"patients": 0},
        {"ct_slices": 0},
        {"fractions": 0},
        {"mr_slices": -1},
        {"seed": -1},
    ],
)
def test_invalid_spec_is_rejected(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"before start|no weekday|must be"):
        dataclasses.replace(SPEC, **changes)
