"""The synthetic RT Structure Set: BODY, PTV and SPINAL_CORD contoured on the planning CT.

Each ROI of :data:`.geometry.ROIS` is drawn as one closed planar polygon per CT slice it covers,
and every contour references its CT image, so the structure set is consistent with the CT series
generated for the same patient.
"""

import datetime

from pydicom import Dataset
from pydicom.dataset import FileDataset
from pydicom.uid import CTImageStorage, RTStructureSetStorage

from radonc_assets.devtools.synthetic.geometry import ROIS, Roi, slice_z
from radonc_assets.devtools.synthetic.patient import (
    Patient,
    SyntheticSpec,
    da,
    instance,
    item,
    reference,
    tm,
)

_DETACHED_STUDY_MANAGEMENT = "1.2.840.10008.3.1.2.3.1"
_STRUCTURE_SET_TIME = datetime.time(10, 0)


def _roi_slices(roi: Roi, spec: SyntheticSpec) -> range:
    """Return the CT slice indices on which `roi` is contoured."""
    if roi.half_extent is None:
        return range(spec.ct_slices)
    middle = spec.ct_slices // 2
    return range(
        max(0, middle - roi.half_extent), min(spec.ct_slices, middle + roi.half_extent + 1)
    )


def _contour(patient: Patient, roi: Roi, number: int, slice_index: int) -> Dataset:
    """Return contour `number` of `roi`: a closed polygon on CT slice `slice_index`."""
    data = roi.shape.contour(slice_z(patient.spec, slice_index))
    return item(
        ContourNumber=number,
        ContourImageSequence=[reference(CTImageStorage, patient.uid("ct", slice_index))],
        ContourGeometricType="CLOSED_PLANAR",
        NumberOfContourPoints=len(data) // 3,
        ContourData=data,
    )


def structure_set(patient: Patient) -> FileDataset:
    """Return the RT Structure Set (BODY, PTV, SPINAL_CORD) drawn on the planning CT."""
    spec = patient.spec
    ds = instance(
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
        # PS3.3 A.19.3: the Frame of Reference module; every contour lies in the CT's frame.
        frame_of_reference=patient.frame_of_reference,
    )
    frame_of_reference = patient.frame_of_reference
    ds.StructureSetLabel = "SYNTHETIC"
    ds.StructureSetDate = da(patient.sim_date)
    ds.StructureSetTime = tm(_STRUCTURE_SET_TIME)
    series = item(
        SeriesInstanceUID=patient.uid("ct-series"),
        ContourImageSequence=[
            reference(CTImageStorage, patient.uid("ct", k)) for k in range(spec.ct_slices)
        ],
    )
    study = reference(_DETACHED_STUDY_MANAGEMENT, patient.planning_study.uid)
    study.RTReferencedSeriesSequence = [series]
    ds.ReferencedFrameOfReferenceSequence = [
        item(FrameOfReferenceUID=frame_of_reference, RTReferencedStudySequence=[study])
    ]
    ds.StructureSetROISequence = [
        item(
            ROINumber=roi.number,
            ReferencedFrameOfReferenceUID=frame_of_reference,
            ROIName=roi.name,
            ROIGenerationAlgorithm="MANUAL",
        )
        for roi in ROIS
    ]
    ds.ROIContourSequence = [
        item(
            ROIDisplayColor=list(roi.color),
            ReferencedROINumber=roi.number,
            ContourSequence=[
                _contour(patient, roi, number, k)
                for number, k in enumerate(_roi_slices(roi, spec), start=1)
            ],
        )
        for roi in ROIS
    ]
    ds.RTROIObservationsSequence = [
        item(
            ObservationNumber=roi.number,
            ReferencedROINumber=roi.number,
            RTROIInterpretedType=roi.interpreted_type,
            ROIInterpreter="",
        )
        for roi in ROIS
    ]
    return ds
