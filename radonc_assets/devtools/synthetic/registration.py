"""The synthetic Spatial Registration: the planning MR registered rigidly to the planning CT.

As a treatment planning system saves a fusion, the registration lies in the planning CT's frame of
reference (the registered coordinate system) and has one item per registered frame (PS3.3
C.20.2): the CT's own, by identity, and the MR's, by the translation
:data:`.geometry.MR_TO_CT_MM`. It is a series of the planning study dated the simulation day,
between the MR and the contours drawn with it, and its Common Instance Reference module lists
every image it registers: the CT slices in this study, the MR slices in the MR study.
"""

import datetime

from pydicom import Dataset
from pydicom.dataset import FileDataset
from pydicom.uid import UID, CTImageStorage, MRImageStorage, SpatialRegistrationStorage

from radonc_assets.devtools.synthetic.geometry import MR_TO_CT_MM
from radonc_assets.devtools.synthetic.patient import Patient, instance, item, reference

_REGISTRATION_TIME = datetime.time(9, 30)
# PS3.16 CID 7100 (RCS Registration Method), coding scheme DCM.
_IDENTITY = ("125021", "Frame of Reference Identity")
_IMAGE_CONTENT = ("125024", "Image Content-based Alignment")


def _matrix(translation: tuple[float, float, float]) -> list[float]:
    """Return a rigid 4x4 matrix (row by row) that translates by `translation` (mm)."""
    x, y, z = translation
    return [1.0, 0.0, 0.0, x, 0.0, 1.0, 0.0, y, 0.0, 0.0, 1.0, z, 0.0, 0.0, 0.0, 1.0]


def _registration(
    frame_of_reference: UID,
    images: list[Dataset],
    method: tuple[str, str],
    translation: tuple[float, float, float],
) -> Dataset:
    """Return a Registration Sequence item: `images` of a frame, mapped by a rigid translation."""
    code, meaning = method
    return item(
        FrameOfReferenceUID=frame_of_reference,
        ReferencedImageSequence=images,
        MatrixRegistrationSequence=[
            item(
                RegistrationTypeCodeSequence=[
                    item(CodeValue=code, CodingSchemeDesignator="DCM", CodeMeaning=meaning)
                ],
                MatrixSequence=[
                    item(
                        FrameOfReferenceTransformationMatrixType="RIGID",
                        FrameOfReferenceTransformationMatrix=_matrix(translation),
                    )
                ],
            )
        ],
    )


def _images(patient: Patient, sop_class: UID, obj: str, count: int) -> list[Dataset]:
    """Return references to the `count` images `obj` of the patient (new items each call)."""
    return [reference(sop_class, patient.uid(obj, k)) for k in range(count)]


def _series(series: UID, images: list[Dataset]) -> Dataset:
    """Return a Referenced Series Sequence item of the Common Instance Reference module."""
    return item(SeriesInstanceUID=series, ReferencedInstanceSequence=images)


def spatial_registration(patient: Patient) -> FileDataset:
    """Return the rigid registration of the MR's frame of reference to the planning CT's."""
    spec = patient.spec
    ds = instance(
        patient,
        sop_class=SpatialRegistrationStorage,
        sop_instance=patient.uid("reg"),
        modality="REG",
        series=patient.uid("reg-series"),
        series_number=5,
        instance_number=1,
        date=patient.sim_date,
        time=_REGISTRATION_TIME,
        description="SYNTHETIC MR to planning CT registration",
        frame_of_reference=patient.frame_of_reference,
    )
    # PS3.3 C.7.3.1: as for the images, the examined part says there is no Laterality to give.
    ds.BodyPartExamined = "CHEST"
    ds.ContentLabel = "MR_TO_CT"
    ds.ContentDescription = "SYNTHETIC rigid registration of the MR to the planning CT"
    ds.ContentCreatorName = ""
    ds.RegistrationSequence = [
        _registration(
            patient.frame_of_reference,
            _images(patient, CTImageStorage, "ct", spec.ct_slices),
            _IDENTITY,
            (0.0, 0.0, 0.0),
        ),
        _registration(
            patient.mr_frame_of_reference,
            _images(patient, MRImageStorage, "mr", spec.mr_slices),
            _IMAGE_CONTENT,
            MR_TO_CT_MM,
        ),
    ]
    ds.ReferencedSeriesSequence = [
        _series(patient.uid("ct-series"), _images(patient, CTImageStorage, "ct", spec.ct_slices))
    ]
    ds.StudiesContainingOtherReferencedInstancesSequence = [
        item(
            StudyInstanceUID=patient.mr_study.uid,
            ReferencedSeriesSequence=[
                _series(
                    patient.uid("mr-series"),
                    _images(patient, MRImageStorage, "mr", spec.mr_slices),
                )
            ],
        )
    ]
    return ds
