"""Deterministic synthetic radiation-oncology DICOM data for tests and benchmarks.

Every patient gets a planning CT, an RT Structure Set, an RT Plan, an RT Dose and one RT Beams
Treatment Record per treatment session, all consistently cross-referenced. The data is clearly
fake: patient names are ``SYNTHETIC^PATIENTnnn``, the study description contains ``SYNTHETIC`` and
the manufacturer is ``radonc-backup synthetic``. Everything (UIDs, dates, pixel values) derives
from the :class:`SyntheticSpec` alone, so the same spec always yields byte-identical files and
different seeds never share a UID or a PatientID.
"""

import datetime
import functools
import math
import pathlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from pydicom import Dataset, dcmwrite
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.tag import Tag
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    CTImageStorage,
    ExplicitVRLittleEndian,
    RTBeamsTreatmentRecordStorage,
    RTDoseStorage,
    RTPlanStorage,
    RTStructureSetStorage,
    generate_uid,
)

_MANUFACTURER = "radonc-backup synthetic"
_INSTITUTION = "SYNTHETIC CLINIC"
_IMPLEMENTATION_VERSION = "RADONC_SYN_1"
_DETACHED_STUDY_MANAGEMENT = "1.2.840.10008.3.1.2.3.1"
_MAX_SEED = 999_999  # keeps AccessionNumber (SH, at most 16 characters) valid

_FIELD_OF_VIEW_MM = 500.0
_SLICE_SPACING_MM = 2.5
_HU_OFFSET = 1024
_NOISE_HU = 10.0
_AXIAL = (1, 0, 0, 0, 1, 0)
_PATIENT_POSITION = "HFS"

_MACHINE = "SYN_LINAC1"
_ENERGY_MV = 6
_DOSE_RATE = 600
_FRACTION_DOSE_GY = 2.0
_JAW_HALF_WIDTH_MM = 40.0
_SESSION_SLOT_MINUTES = 15
_BEAM_SLOT_MINUTES = 2

_DOSE_FRAMES, _DOSE_ROWS, _DOSE_COLUMNS = 8, 16, 16
_DOSE_SPACING_MM = 10.0
_DOSE_FRAME_SPACING_MM = 5.0
_DOSE_SIGMA_MM = 40.0
_DOSE_GRID_SCALING = 1e-4

_CT_TIME = datetime.time(8, 0)
_STRUCTURE_SET_TIME = datetime.time(10, 0)
_PLAN_TIME = datetime.time(11, 0)
_DOSE_TIME = datetime.time(11, 30)
_FIRST_SESSION_TIME = datetime.time(8, 0)


@dataclass(frozen=True)
class SyntheticSpec:
    """What to generate.

    Attributes:
        start: First date of the range (inclusive).
        end: Last date of the range (inclusive).
        patients: Number of patients.
        seed: Distinguishes data sets; different seeds share no UID or PatientID.
        ct_slices: CT slices per patient.
        image_size: CT Rows = Columns.
        fractions: Treatment sessions per patient (weekdays after the simulation, until `end`).
    """

    start: datetime.date
    end: datetime.date
    patients: int = 3
    seed: int = 0
    ct_slices: int = 20
    image_size: int = 64
    fractions: int = 5

    def __post_init__(self) -> None:
        """Reject specs that cannot produce consistent data.

        Raises:
            ValueError: If the range is empty or has no weekday, or a count is out of range.
        """
        if self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        if not _weekdays(self.start, self.end):
            raise ValueError(f"no weekday between {self.start} and {self.end}")
        if not 0 <= self.seed <= _MAX_SEED:
            raise ValueError(f"seed must be in [0, {_MAX_SEED}], got {self.seed}")
        for name in ("patients", "ct_slices", "image_size", "fractions"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")


@dataclass(frozen=True)
class _Ellipse:
    """An axial ellipse (mm, patient coordinates) used for both the phantom and the contours."""

    center_x: float
    center_y: float
    semi_x: float
    semi_y: float

    def contains(
        self, x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.bool_]:
        """Return a mask of the points (x, y) inside the ellipse."""
        return ((x - self.center_x) / self.semi_x) ** 2 + (
            (y - self.center_y) / self.semi_y
        ) ** 2 <= 1.0

    def contour(self, z: float, points: int = 32) -> list[float]:
        """Return the ellipse as flat ContourData (x, y, z triplets) at height z."""
        data: list[float] = []
        for step in range(points):
            angle = 2 * math.pi * step / points
            data += [
                round(self.center_x + self.semi_x * math.cos(angle), 2),
                round(self.center_y + self.semi_y * math.sin(angle), 2),
                z,
            ]
        return data


_BODY = _Ellipse(0.0, 0.0, 175.0, 125.0)
_PTV = _Ellipse(0.0, -20.0, 30.0, 30.0)
_SPINAL_CORD = _Ellipse(0.0, 80.0, 7.0, 7.0)
_PHANTOM: tuple[tuple[_Ellipse, float], ...] = (
    (_BODY, 0.0),
    (_Ellipse(-90.0, -10.0, 55.0, 75.0), -800.0),
    (_Ellipse(90.0, -10.0, 55.0, 75.0), -800.0),
    (_Ellipse(0.0, 80.0, 18.0, 18.0), 700.0),
    (_SPINAL_CORD, 30.0),
)


@dataclass(frozen=True)
class _Roi:
    """A structure: `half_extent` slices either side of the centre slice, None for all."""

    number: int
    name: str
    interpreted_type: str
    color: tuple[int, int, int]
    shape: _Ellipse
    half_extent: int | None


_ROIS = (
    _Roi(1, "BODY", "EXTERNAL", (0, 255, 0), _BODY, None),
    _Roi(2, "PTV", "PTV", (255, 0, 0), _PTV, 2),
    _Roi(3, "SPINAL_CORD", "ORGAN", (255, 255, 0), _SPINAL_CORD, None),
)


@dataclass(frozen=True)
class _Patient:
    """Everything about one synthetic patient that more than one object needs."""

    spec: SyntheticSpec
    index: int
    sim_date: datetime.date
    sessions: tuple[datetime.date, ...]
    birth_date: datetime.date
    sex: str
    metersets: tuple[float, ...]

    @property
    def patient_id(self) -> str:
        """PatientID, unique across seeds."""
        return f"SYN{self.spec.seed:02d}-{self.index + 1:04d}"

    def uid(self, obj: str, index: int = 0) -> UID:
        """Return the deterministic UID of object `obj` number `index` of this patient."""
        source = f"{_MANUFACTURER}|seed={self.spec.seed}|patient={self.index}|{obj}|{index}"
        return generate_uid(entropy_srcs=[source])


def generate(spec: SyntheticSpec) -> Iterator[FileDataset]:
    """Yield every instance of the synthetic data set, one at a time.

    Per patient, in order: `spec.ct_slices` CT images, the RT Structure Set, the RT Plan, the RT
    Dose and one RT Beams Treatment Record per session. Nothing is kept between items, so the
    generator runs in constant memory however large the spec.

    Args:
        spec: What to generate.

    Yields:
        A dataset with file meta information (Explicit VR Little Endian), ready for `dcmwrite`.
    """
    for patient in _patients(spec):
        for slice_index in range(spec.ct_slices):
            yield _ct_slice(patient, slice_index)
        yield _structure_set(patient)
        yield _plan(patient)
        yield _dose(patient)
        for session in range(len(patient.sessions)):
            yield _treatment_record(patient, session)


def write(spec: SyntheticSpec, out_dir: pathlib.Path) -> list[pathlib.Path]:
    """Write the synthetic data set as DICOM Part 10 files.

    Args:
        spec: What to generate.
        out_dir: Root directory; each file goes to
            ``out_dir/<PatientID>/<Modality>_<SOPInstanceUID>.dcm``.

    Returns:
        The paths written, in generation order.
    """
    paths: list[pathlib.Path] = []
    for ds in generate(spec):
        path = out_dir / str(ds.PatientID) / f"{ds.Modality}_{ds.SOPInstanceUID}.dcm"
        path.parent.mkdir(parents=True, exist_ok=True)
        dcmwrite(path, ds, enforce_file_format=True)
        paths.append(path)
    return paths


def _weekdays(start: datetime.date, end: datetime.date) -> list[datetime.date]:
    """Return the weekdays (Monday to Friday) in [start, end]."""
    days = (start + datetime.timedelta(days=offset) for offset in range((end - start).days + 1))
    return [day for day in days if day.weekday() < 5]


def _patients(spec: SyntheticSpec) -> Iterator[_Patient]:
    """Yield the patients, their simulation days spread evenly over the weekdays of the range."""
    days = _weekdays(spec.start, spec.end)
    for index in range(spec.patients):
        sim = index * len(days) // spec.patients
        rng = np.random.default_rng([spec.seed, index])
        birth_offset = int(rng.integers(0, 45 * 365))
        sex = ("F", "M")[int(rng.integers(0, 2))]
        beams = int(rng.integers(2, 5))
        yield _Patient(
            spec=spec,
            index=index,
            sim_date=days[sim],
            sessions=tuple(days[sim + 1 : sim + 1 + spec.fractions]),
            birth_date=datetime.date(1940, 1, 1) + datetime.timedelta(days=birth_offset),
            sex=sex,
            metersets=tuple(round(float(rng.uniform(180, 260)) / beams, 1) for _ in range(beams)),
        )


def _da(date: datetime.date) -> str:
    """Format a DICOM DA value."""
    return date.strftime("%Y%m%d")


def _tm(time: datetime.time) -> str:
    """Format a DICOM TM value."""
    return time.strftime("%H%M%S")


def _item(**elements: object) -> Dataset:
    """Return a sequence item with the given elements (by keyword)."""
    item = Dataset()
    for keyword, value in elements.items():
        setattr(item, keyword, value)
    return item


def _reference(sop_class: str, sop_instance: str) -> Dataset:
    """Return a Referenced SOP Class / Instance UID item."""
    return _item(ReferencedSOPClassUID=sop_class, ReferencedSOPInstanceUID=sop_instance)


def _instance(
    patient: _Patient,
    *,
    sop_class: UID,
    sop_instance: UID,
    modality: str,
    series: UID,
    series_number: int,
    instance_number: int,
    date: datetime.date,
    time: datetime.time,
    description: str,
    frame_of_reference: bool,
) -> FileDataset:
    """Return a dataset with file meta, SOP Common, Patient, Study, Series and Equipment modules.

    Args:
        patient: Whose instance it is.
        sop_class: SOP Class UID.
        sop_instance: SOP Instance UID.
        modality: Modality of the series.
        series: Series Instance UID.
        series_number: Series Number.
        instance_number: Instance Number.
        date: Series, content and instance creation date.
        time: Series, content and instance creation time.
        description: Series Description.
        frame_of_reference: Whether to add the Frame of Reference module.

    Returns:
        The dataset, to be completed with the modality-specific modules.
    """
    file_meta = FileMetaDataset()
    file_meta.MediaStorageSOPClassUID = sop_class
    file_meta.MediaStorageSOPInstanceUID = sop_instance
    file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    file_meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    file_meta.ImplementationVersionName = _IMPLEMENTATION_VERSION
    ds = FileDataset("", Dataset(), file_meta=file_meta, preamble=b"\0" * 128, is_implicit_VR=False)
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_instance
    ds.InstanceCreationDate = _da(date)
    ds.InstanceCreationTime = _tm(time)
    ds.InstanceNumber = instance_number

    ds.PatientName = f"SYNTHETIC^PATIENT{patient.index + 1:03d}"
    ds.PatientID = patient.patient_id
    ds.PatientBirthDate = _da(patient.birth_date)
    ds.PatientSex = patient.sex
    ds.PatientComments = "Synthetic test patient generated by radonc-backup, not a real person"

    ds.StudyInstanceUID = patient.uid("study")
    ds.StudyDate = _da(patient.sim_date)
    ds.StudyTime = _tm(_CT_TIME)
    ds.StudyID = f"SYN{patient.index + 1:04d}"
    ds.AccessionNumber = f"A{patient.spec.seed:02d}-{patient.index + 1:04d}"
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = "SYNTHETIC radiotherapy planning (not a real patient)"

    ds.Modality = modality
    ds.SeriesInstanceUID = series
    ds.SeriesNumber = series_number
    ds.SeriesDate = _da(date)
    ds.SeriesTime = _tm(time)
    ds.SeriesDescription = description
    ds.OperatorsName = ""
    ds.ContentDate = _da(date)
    ds.ContentTime = _tm(time)

    ds.Manufacturer = _MANUFACTURER
    ds.InstitutionName = _INSTITUTION
    if frame_of_reference:
        ds.FrameOfReferenceUID = patient.uid("frame-of-reference")
        ds.PositionReferenceIndicator = ""
    return ds


def _set_pixels(ds: Dataset, pixels: npt.NDArray[np.unsignedinteger]) -> None:
    """Set the Image Pixel module of a grayscale image from a little-endian unsigned array."""
    bits = pixels.dtype.itemsize * 8
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = pixels.shape[-2:]
    ds.BitsAllocated = bits
    ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 0
    ds.add_new(Tag("PixelData"), "OW", pixels.tobytes())


def _pixel_spacing(image_size: int) -> float:
    """Return the CT pixel spacing (mm) for a fixed field of view."""
    return round(_FIELD_OF_VIEW_MM / image_size, 4)


def _pixel_centers(image_size: int) -> npt.NDArray[np.float64]:
    """Return the x (= y) coordinates (mm) of the CT pixel centres, centred on 0."""
    spacing = _pixel_spacing(image_size)
    return np.round((np.arange(image_size) - (image_size - 1) / 2) * spacing, 4)


def _slice_z(spec: SyntheticSpec, slice_index: int) -> float:
    """Return the z coordinate (mm) of a CT slice, the stack centred on 0."""
    return round((slice_index - (spec.ct_slices - 1) / 2) * _SLICE_SPACING_MM, 4)


def _isocenter(spec: SyntheticSpec) -> list[float]:
    """Return the plan isocentre: the PTV centre on the middle CT slice."""
    return [_PTV.center_x, _PTV.center_y, _slice_z(spec, spec.ct_slices // 2)]


@functools.lru_cache(maxsize=4)
def _phantom_hu(image_size: int) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """Return the noiseless phantom (HU) and its body mask, read-only and cached per size."""
    centers = _pixel_centers(image_size)
    x, y = np.meshgrid(centers, centers)
    hu = np.full(x.shape, -1000.0)
    for shape, value in _PHANTOM:
        hu[shape.contains(x, y)] = value
    body = _BODY.contains(x, y)
    hu.flags.writeable = False
    body.flags.writeable = False
    return hu, body


def _phantom(patient: _Patient, slice_index: int) -> npt.NDArray[np.uint16]:
    """Return the stored CT values of a body-like ellipse phantom (lungs, spine) with noise."""
    phantom, body = _phantom_hu(patient.spec.image_size)
    hu = phantom.copy()
    rng = np.random.default_rng([patient.spec.seed, patient.index, slice_index])
    hu[body] += rng.normal(0.0, _NOISE_HU, int(body.sum()))
    return np.clip(np.rint(hu) + _HU_OFFSET, 0, 4095).astype("<u2")


def _ct_slice(patient: _Patient, slice_index: int) -> FileDataset:
    """Return CT slice number `slice_index` of the planning CT."""
    spec = patient.spec
    ds = _instance(
        patient,
        sop_class=CTImageStorage,
        sop_instance=patient.uid("ct", slice_index),
        modality="CT",
        series=patient.uid("ct-series"),
        series_number=1,
        instance_number=slice_index + 1,
        date=patient.sim_date,
        time=_CT_TIME,
        description="SYNTHETIC planning CT",
        frame_of_reference=True,
    )
    z = _slice_z(spec, slice_index)
    origin = float(_pixel_centers(spec.image_size)[0])
    spacing = _pixel_spacing(spec.image_size)
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.PatientPosition = _PATIENT_POSITION
    ds.AcquisitionNumber = 1
    ds.KVP = 120
    ds.SliceThickness = _SLICE_SPACING_MM
    ds.PixelSpacing = [spacing, spacing]
    ds.ImageOrientationPatient = list(_AXIAL)
    ds.ImagePositionPatient = [origin, origin, z]
    ds.SliceLocation = z
    ds.RescaleIntercept = -_HU_OFFSET
    ds.RescaleSlope = 1
    ds.RescaleType = "HU"
    ds.WindowCenter = 40
    ds.WindowWidth = 400
    _set_pixels(ds, _phantom(patient, slice_index))
    return ds


def _roi_slices(roi: _Roi, spec: SyntheticSpec) -> range:
    """Return the CT slice indices on which `roi` is contoured."""
    if roi.half_extent is None:
        return range(spec.ct_slices)
    middle = spec.ct_slices // 2
    return range(
        max(0, middle - roi.half_extent), min(spec.ct_slices, middle + roi.half_extent + 1)
    )


def _contour(patient: _Patient, roi: _Roi, number: int, slice_index: int) -> Dataset:
    """Return contour `number` of `roi`: a closed polygon on CT slice `slice_index`."""
    data = roi.shape.contour(_slice_z(patient.spec, slice_index))
    return _item(
        ContourNumber=number,
        ContourImageSequence=[_reference(CTImageStorage, patient.uid("ct", slice_index))],
        ContourGeometricType="CLOSED_PLANAR",
        NumberOfContourPoints=len(data) // 3,
        ContourData=data,
    )


def _structure_set(patient: _Patient) -> FileDataset:
    """Return the RT Structure Set (BODY, PTV, SPINAL_CORD) drawn on the planning CT."""
    spec = patient.spec
    ds = _instance(
        patient,
        sop_class=RTStructureSetStorage,
        sop_instance=patient.uid("rtstruct"),
        modality="RTSTRUCT",
        series=patient.uid("rtstruct-series"),
        series_number=2,
        instance_number=1,
        date=patient.sim_date,
        time=_STRUCTURE_SET_TIME,
        description="SYNTHETIC structures",
        frame_of_reference=False,
    )
    frame_of_reference = patient.uid("frame-of-reference")
    ds.StructureSetLabel = "SYNTHETIC"
    ds.StructureSetDate = _da(patient.sim_date)
    ds.StructureSetTime = _tm(_STRUCTURE_SET_TIME)
    series = _item(
        SeriesInstanceUID=patient.uid("ct-series"),
        ContourImageSequence=[
            _reference(CTImageStorage, patient.uid("ct", k)) for k in range(spec.ct_slices)
        ],
    )
    study = _reference(_DETACHED_STUDY_MANAGEMENT, patient.uid("study"))
    study.RTReferencedSeriesSequence = [series]
    ds.ReferencedFrameOfReferenceSequence = [
        _item(FrameOfReferenceUID=frame_of_reference, RTReferencedStudySequence=[study])
    ]
    ds.StructureSetROISequence = [
        _item(
            ROINumber=roi.number,
            ReferencedFrameOfReferenceUID=frame_of_reference,
            ROIName=roi.name,
            ROIGenerationAlgorithm="MANUAL",
        )
        for roi in _ROIS
    ]
    ds.ROIContourSequence = [
        _item(
            ROIDisplayColor=list(roi.color),
            ReferencedROINumber=roi.number,
            ContourSequence=[
                _contour(patient, roi, number, k)
                for number, k in enumerate(_roi_slices(roi, spec), start=1)
            ],
        )
        for roi in _ROIS
    ]
    ds.RTROIObservationsSequence = [
        _item(
            ObservationNumber=roi.number,
            ReferencedROINumber=roi.number,
            RTROIInterpretedType=roi.interpreted_type,
            ROIInterpreter="",
        )
        for roi in _ROIS
    ]
    return ds


def _gantry_angle(patient: _Patient, beam_number: int) -> float:
    """Return the gantry angle of a beam: the beams are spread evenly around the patient."""
    return 360.0 * (beam_number - 1) / len(patient.metersets)


def _beam(patient: _Patient, beam_number: int) -> Dataset:
    """Return a static 6 MV photon beam with two control points."""
    jaws = [-_JAW_HALF_WIDTH_MM, _JAW_HALF_WIDTH_MM]
    gantry = _gantry_angle(patient, beam_number)
    first = _item(
        ControlPointIndex=0,
        NominalBeamEnergy=_ENERGY_MV,
        DoseRateSet=_DOSE_RATE,
        BeamLimitingDevicePositionSequence=[
            _item(RTBeamLimitingDeviceType=device, LeafJawPositions=jaws)
            for device in ("ASYMX", "ASYMY")
        ],
        GantryAngle=gantry,
        GantryRotationDirection="NONE",
        BeamLimitingDeviceAngle=0,
        BeamLimitingDeviceRotationDirection="NONE",
        PatientSupportAngle=0,
        PatientSupportRotationDirection="NONE",
        TableTopEccentricAngle=0,
        TableTopEccentricRotationDirection="NONE",
        TableTopVerticalPosition=None,
        TableTopLongitudinalPosition=None,
        TableTopLateralPosition=None,
        IsocenterPosition=_isocenter(patient.spec),
        CumulativeMetersetWeight=0,
    )
    last = _item(ControlPointIndex=1, CumulativeMetersetWeight=1)
    return _item(
        BeamNumber=beam_number,
        BeamName=f"G{gantry:03.0f}",
        BeamType="STATIC",
        RadiationType="PHOTON",
        TreatmentMachineName=_MACHINE,
        PrimaryDosimeterUnit="MU",
        SourceAxisDistance=1000,
        BeamLimitingDeviceSequence=[
            _item(RTBeamLimitingDeviceType=device, NumberOfLeafJawPairs=1)
            for device in ("ASYMX", "ASYMY")
        ],
        TreatmentDeliveryType="TREATMENT",
        NumberOfWedges=0,
        NumberOfCompensators=0,
        NumberOfBoli=0,
        NumberOfBlocks=0,
        FinalCumulativeMetersetWeight=1,
        NumberOfControlPoints=2,
        ControlPointSequence=[first, last],
        ReferencedPatientSetupNumber=1,
    )


def _plan(patient: _Patient) -> FileDataset:
    """Return the approved RT Plan: one fraction group of 2-4 static beams on the PTV."""
    spec = patient.spec
    ds = _instance(
        patient,
        sop_class=RTPlanStorage,
        sop_instance=patient.uid("rtplan"),
        modality="RTPLAN",
        series=patient.uid("rtplan-series"),
        series_number=3,
        instance_number=1,
        date=patient.sim_date,
        time=_PLAN_TIME,
        description="SYNTHETIC plan",
        frame_of_reference=True,
    )
    beam_numbers = range(1, len(patient.metersets) + 1)
    ds.RTPlanLabel = "SYN PLAN"
    ds.RTPlanName = "SYNTHETIC 3D-CRT"
    ds.RTPlanDate = _da(patient.sim_date)
    ds.RTPlanTime = _tm(_PLAN_TIME)
    ds.RTPlanGeometry = "PATIENT"
    ds.ReferencedStructureSetSequence = [_reference(RTStructureSetStorage, patient.uid("rtstruct"))]
    ds.DoseReferenceSequence = [
        _item(
            DoseReferenceNumber=1,
            DoseReferenceUID=patient.uid("dose-reference"),
            DoseReferenceStructureType="SITE",
            DoseReferenceDescription="PTV",
            DoseReferenceType="TARGET",
            TargetPrescriptionDose=_FRACTION_DOSE_GY * spec.fractions,
        )
    ]
    ds.PatientSetupSequence = [
        _item(PatientSetupNumber=1, PatientPosition=_PATIENT_POSITION, SetupTechnique="ISOCENTRIC")
    ]
    ds.FractionGroupSequence = [
        _item(
            FractionGroupNumber=1,
            NumberOfFractionsPlanned=spec.fractions,
            NumberOfBeams=len(beam_numbers),
            NumberOfBrachyApplicationSetups=0,
            ReferencedBeamSequence=[
                _item(
                    ReferencedBeamNumber=number,
                    BeamMeterset=meterset,
                    BeamDose=round(_FRACTION_DOSE_GY / len(beam_numbers), 4),
                )
                for number, meterset in zip(beam_numbers, patient.metersets, strict=True)
            ],
        )
    ]
    ds.BeamSequence = [_beam(patient, number) for number in beam_numbers]
    ds.ApprovalStatus = "APPROVED"
    ds.ReviewDate = _da(patient.sim_date)
    ds.ReviewTime = _tm(_PLAN_TIME)
    ds.ReviewerName = "SYNTHETIC^PHYSICIST"
    return ds


def _dose_grid(spec: SyntheticSpec) -> npt.NDArray[np.uint32]:
    """Return the stored dose values: a Gaussian around the isocentre peaking at the total dose."""
    frames, rows, columns = np.indices((_DOSE_FRAMES, _DOSE_ROWS, _DOSE_COLUMNS), dtype=float)
    z = (frames - (_DOSE_FRAMES - 1) / 2) * _DOSE_FRAME_SPACING_MM
    y = (rows - (_DOSE_ROWS - 1) / 2) * _DOSE_SPACING_MM
    x = (columns - (_DOSE_COLUMNS - 1) / 2) * _DOSE_SPACING_MM
    dose = (
        _FRACTION_DOSE_GY * spec.fractions * np.exp(-(x**2 + y**2 + z**2) / _DOSE_SIGMA_MM**2 / 2)
    )
    return np.rint(dose / _DOSE_GRID_SCALING).astype("<u4")


def _dose(patient: _Patient) -> FileDataset:
    """Return the planned RT Dose: a small multi-frame grid centred on the isocentre."""
    spec = patient.spec
    ds = _instance(
        patient,
        sop_class=RTDoseStorage,
        sop_instance=patient.uid("rtdose"),
        modality="RTDOSE",
        series=patient.uid("rtdose-series"),
        series_number=4,
        instance_number=1,
        date=patient.sim_date,
        time=_DOSE_TIME,
        description="SYNTHETIC plan dose",
        frame_of_reference=True,
    )
    iso_x, iso_y, iso_z = _isocenter(spec)
    ds.ImageType = ["DERIVED", "SECONDARY", "DOSE"]
    ds.PixelSpacing = [_DOSE_SPACING_MM, _DOSE_SPACING_MM]
    ds.ImageOrientationPatient = list(_AXIAL)
    ds.ImagePositionPatient = [
        iso_x - (_DOSE_COLUMNS - 1) / 2 * _DOSE_SPACING_MM,
        iso_y - (_DOSE_ROWS - 1) / 2 * _DOSE_SPACING_MM,
        iso_z - (_DOSE_FRAMES - 1) / 2 * _DOSE_FRAME_SPACING_MM,
    ]
    ds.SliceThickness = None
    ds.NumberOfFrames = _DOSE_FRAMES
    ds.FrameIncrementPointer = Tag("GridFrameOffsetVector")
    ds.GridFrameOffsetVector = [k * _DOSE_FRAME_SPACING_MM for k in range(_DOSE_FRAMES)]
    ds.DoseUnits = "GY"
    ds.DoseType = "PHYSICAL"
    ds.DoseSummationType = "PLAN"
    ds.DoseGridScaling = _DOSE_GRID_SCALING
    ds.ReferencedRTPlanSequence = [_reference(RTPlanStorage, patient.uid("rtplan"))]
    _set_pixels(ds, _dose_grid(spec))
    return ds


def _session_beam(patient: _Patient, beam_number: int, session: int) -> Dataset:
    """Return the delivery record of one beam in treatment session `session` (0-based)."""
    meterset = patient.metersets[beam_number - 1]
    start = datetime.datetime.combine(
        patient.sessions[session], _session_time(patient)
    ) + datetime.timedelta(minutes=_BEAM_SLOT_MINUTES * (beam_number - 1))
    end = start + datetime.timedelta(minutes=1)
    control_points = [
        _item(
            ReferencedControlPointIndex=index,
            TreatmentControlPointDate=_da(moment.date()),
            TreatmentControlPointTime=_tm(moment.time()),
            SpecifiedMeterset=weight * meterset,
            DeliveredMeterset=weight * meterset,
            DoseRateDelivered=_DOSE_RATE,
        )
        for index, (moment, weight) in enumerate([(start, 0), (end, 1)])
    ]
    control_points[0].NominalBeamEnergy = _ENERGY_MV
    control_points[0].GantryAngle = _gantry_angle(patient, beam_number)
    return _item(
        ReferencedBeamNumber=beam_number,
        BeamName=f"G{_gantry_angle(patient, beam_number):03.0f}",
        BeamType="STATIC",
        RadiationType="PHOTON",
        NumberOfWedges=0,
        NumberOfCompensators=0,
        NumberOfBoli=0,
        NumberOfBlocks=0,
        CurrentFractionNumber=session + 1,
        TreatmentDeliveryType="TREATMENT",
        TreatmentTerminationStatus="NORMAL",
        TreatmentVerificationStatus="VERIFIED",
        SpecifiedPrimaryMeterset=meterset,
        DeliveredPrimaryMeterset=meterset,
        NumberOfControlPoints=2,
        ControlPointDeliverySequence=control_points,
    )


def _session_time(patient: _Patient) -> datetime.time:
    """Return the patient's daily treatment slot (from 08:00, 15 minutes apart)."""
    minutes = _FIRST_SESSION_TIME.hour * 60 + _SESSION_SLOT_MINUTES * (patient.index % 36)
    return datetime.time(minutes // 60, minutes % 60)


def _treatment_record(patient: _Patient, session: int) -> FileDataset:
    """Return the RT Beams Treatment Record of treatment session `session` (0-based)."""
    date = patient.sessions[session]
    time = _session_time(patient)
    ds = _instance(
        patient,
        sop_class=RTBeamsTreatmentRecordStorage,
        sop_instance=patient.uid("rtrecord", session),
        modality="RTRECORD",
        series=patient.uid("rtrecord-series", session),
        series_number=101 + session,
        instance_number=session + 1,
        date=date,
        time=time,
        description=f"SYNTHETIC treatment fraction {session + 1}",
        frame_of_reference=False,
    )
    ds.TreatmentDate = _da(date)
    ds.TreatmentTime = _tm(time)
    ds.ReferencedRTPlanSequence = [_reference(RTPlanStorage, patient.uid("rtplan"))]
    ds.TreatmentMachineSequence = [
        _item(
            TreatmentMachineName=_MACHINE,
            Manufacturer=_MANUFACTURER,
            InstitutionName=_INSTITUTION,
            ManufacturerModelName="SYNTHETIC LINAC",
            DeviceSerialNumber="SYN-0001",
        )
    ]
    ds.ReferencedFractionGroupNumber = 1
    ds.NumberOfFractionsPlanned = patient.spec.fractions
    ds.PrimaryDosimeterUnit = "MU"
    ds.TreatmentSessionBeamSequence = [
        _session_beam(patient, number, session) for number in range(1, len(patient.metersets) + 1)
    ]
    return ds
