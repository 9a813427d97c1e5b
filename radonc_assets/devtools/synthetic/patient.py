"""The spec, the synthetic patients and the modules every synthetic DICOM object shares.

:class:`SyntheticSpec` says what to generate; :func:`patients` turns it into :class:`Patient`
records carrying everything more than one object needs (dates, sessions, demographics, beam
metersets, studies, frames of reference, deterministic UIDs). :func:`instance` builds the file
meta, SOP Common, Patient, Study, Series and Equipment modules common to all objects, and
:func:`item`, :func:`reference`, :func:`set_pixels`, :func:`da` and :func:`tm` are the small DICOM
helpers the object modules use.
"""

import datetime
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from pydicom import Dataset
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.tag import Tag
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    ExplicitVRLittleEndian,
    generate_uid,
)

MANUFACTURER = "radonc-backup synthetic"
INSTITUTION = "SYNTHETIC CLINIC"
_IMPLEMENTATION_VERSION = "RADONC_SYN_1"
_MAX_SEED = 999_999  # keeps AccessionNumber (SH, at most 16 characters) valid

CT_TIME = datetime.time(8, 0)
MR_TIME = datetime.time(9, 0)


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
        mr_slices: MR slices per patient, 0 for none: an MR study of the simulation day and its
            registration to the planning CT, which only a MIM server holds.
    """

    start: datetime.date
    end: datetime.date
    patients: int = 3
    seed: int = 0
    ct_slices: int = 20
    image_size: int = 64
    fractions: int = 5
    mr_slices: int = 0

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
        if self.mr_slices < 0:
            raise ValueError(f"mr_slices must be at least 0, got {self.mr_slices}")


@dataclass(frozen=True)
class Study:
    """The General Study module of one of a patient's studies.

    Attributes:
        uid: Study Instance UID.
        study_id: Study ID.
        accession_number: Accession Number.
        time: Study Time (the study is dated the simulation day).
        description: Study Description.
    """

    uid: UID
    study_id: str
    accession_number: str
    time: datetime.time
    description: str


@dataclass(frozen=True)
class Patient:
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
        source = f"{MANUFACTURER}|seed={self.spec.seed}|patient={self.index}|{obj}|{index}"
        return generate_uid(entropy_srcs=[source])

    @property
    def planning_study(self) -> Study:
        """The planning study: CT, structures, plan, dose, treatment records and registration."""
        return Study(
            uid=self.uid("study"),
            study_id=f"SYN{self.index + 1:04d}",
            accession_number=f"A{self.spec.seed:02d}-{self.index + 1:04d}",
            time=CT_TIME,
            description="SYNTHETIC radiotherapy planning (not a real patient)",
        )

    @property
    def mr_study(self) -> Study:
        """The MR study of the simulation day, ordered and acquired apart from the planning CT."""
        return Study(
            uid=self.uid("mr-study"),
            study_id=f"MR{self.index + 1:04d}",
            accession_number=f"A{self.spec.seed:02d}-{self.index + 1:04d}MR",
            time=MR_TIME,
            description="SYNTHETIC MR for radiotherapy planning (not a real patient)",
        )

    @property
    def frame_of_reference(self) -> UID:
        """The planning CT's Frame of Reference UID, shared by the objects planned on it."""
        return self.uid("frame-of-reference")

    @property
    def mr_frame_of_reference(self) -> UID:
        """The MR's own Frame of Reference UID: another scanner, another patient set-up."""
        return self.uid("mr-frame-of-reference")


def _weekdays(start: datetime.date, end: datetime.date) -> list[datetime.date]:
    """Return the weekdays (Monday to Friday) in [start, end]."""
    days = (start + datetime.timedelta(days=offset) for offset in range((end - start).days + 1))
    return [day for day in days if day.weekday() < 5]


def patients(spec: SyntheticSpec) -> Iterator[Patient]:
    """Yield the patients, their simulation days spread evenly over the weekdays of the range."""
    days = _weekdays(spec.start, spec.end)
    for index in range(spec.patients):
        sim = index * len(days) // spec.patients
        rng = np.random.default_rng([spec.seed, index])
        birth_offset = int(rng.integers(0, 45 * 365))
        sex = ("F", "M")[int(rng.integers(0, 2))]
        beams = int(rng.integers(2, 5))
        yield Patient(
            spec=spec,
            index=index,
            sim_date=days[sim],
            sessions=tuple(days[sim + 1 : sim + 1 + spec.fractions]),
            birth_date=datetime.date(1940, 1, 1) + datetime.timedelta(days=birth_offset),
            sex=sex,
            metersets=tuple(round(float(rng.uniform(180, 260)) / beams, 1) for _ in range(beams)),
        )


def da(date: datetime.date) -> str:
    """Format a DICOM DA value."""
    return date.strftime("%Y%m%d")


def tm(time: datetime.time) -> str:
    """Format a DICOM TM value."""
    return time.strftime("%H%M%S")


def item(**elements: object) -> Dataset:
    """Return a sequence item with the given elements (by keyword)."""
    item = Dataset()
    for keyword, value in elements.items():
        setattr(item, keyword, value)
    return item


def reference(sop_class: str, sop_instance: str) -> Dataset:
    """Return a Referenced SOP Class / Instance UID item."""
    return item(ReferencedSOPClassUID=sop_class, ReferencedSOPInstanceUID=sop_instance)


def instance(
    patient: Patient,
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
    frame_of_reference: UID | None,
    study: Study | None = None,
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
        frame_of_reference: The Frame of Reference module's UID, None for no such module.
        study: The study, the planning study if None.

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
    ds.InstanceCreationDate = da(date)
    ds.InstanceCreationTime = tm(time)
    ds.InstanceNumber = instance_number

    ds.PatientName = f"SYNTHETIC^PATIENT{patient.index + 1:03d}"
    ds.PatientID = patient.patient_id
    ds.PatientBirthDate = da(patient.birth_date)
    ds.PatientSex = patient.sex
    ds.PatientComments = "Synthetic test patient generated by radonc-backup, not a real person"

    study = study or patient.planning_study
    ds.StudyInstanceUID = study.uid
    ds.StudyDate = da(patient.sim_date)
    ds.StudyTime = tm(study.time)
    ds.StudyID = study.study_id
    ds.AccessionNumber = study.accession_number
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = study.description

    ds.Modality = modality
    ds.SeriesInstanceUID = series
    ds.SeriesNumber = series_number
    ds.SeriesDate = da(date)
    ds.SeriesTime = tm(time)
    ds.SeriesDescription = description
    ds.OperatorsName = ""
    ds.ContentDate = da(date)
    ds.ContentTime = tm(time)

    ds.Manufacturer = MANUFACTURER
    ds.InstitutionName = INSTITUTION
    if frame_of_reference is not None:
        ds.FrameOfReferenceUID = frame_of_reference
        ds.PositionReferenceIndicator = ""
    return ds


def set_pixels(ds: Dataset, pixels: npt.NDArray[np.unsignedinteger]) -> None:
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
