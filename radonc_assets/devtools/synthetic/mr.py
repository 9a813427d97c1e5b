"""The synthetic planning MR: an axial T2-weighted-like series of the thorax phantom.

The MR is a study of its own (another order, another scanner) on the simulation day, in a frame of
reference of its own: its slices cover the anatomy of the CT on the CT's in-plane grid, thicker and
fewer, positioned in MR coordinates (CT coordinates minus :data:`.geometry.MR_TO_CT_MM`). Only the
MIM server holds it, with the registration (:mod:`.registration`) that maps it onto the CT.
"""

import numpy as np
import numpy.typing as npt
from pydicom.dataset import FileDataset
from pydicom.uid import MRImageStorage

from radonc_assets.devtools.synthetic.geometry import (
    AXIAL,
    MR_PHANTOM,
    MR_SLICE_SPACING_MM,
    MR_TO_CT_MM,
    PATIENT_POSITION,
    mr_slice_z,
    phantom_image,
    pixel_centers,
    pixel_spacing,
)
from radonc_assets.devtools.synthetic.patient import MR_TIME, Patient, instance, set_pixels

_NOISE = 15.0
# Keeps the MR's noise apart from the CT's, whose generator is seeded [seed, patient, slice].
_NOISE_STREAM = 1


def _position(patient: Patient, slice_index: int) -> list[float]:
    """Return the Image Position (Patient) of an MR slice, in the MR's frame of reference."""
    origin = float(pixel_centers(patient.spec.image_size)[0])
    in_ct = (origin, origin, mr_slice_z(patient.spec, slice_index))
    return [round(ct - shift, 4) for ct, shift in zip(in_ct, MR_TO_CT_MM, strict=True)]


def _phantom(patient: Patient, slice_index: int) -> npt.NDArray[np.uint16]:
    """Return the stored MR values of the phantom with noise, never below 0."""
    rng = np.random.default_rng([patient.spec.seed, patient.index, slice_index, _NOISE_STREAM])
    signal = phantom_image(MR_PHANTOM, patient.spec.image_size, rng, _NOISE)
    return np.clip(np.rint(signal), 0, 4095).astype("<u2")


def mr_slice(patient: Patient, slice_index: int) -> FileDataset:
    """Return MR slice number `slice_index` of the MR study of the simulation day."""
    spec = patient.spec
    ds = instance(
        patient,
        sop_class=MRImageStorage,
        sop_instance=patient.uid("mr", slice_index),
        modality="MR",
        series=patient.uid("mr-series"),
        series_number=1,
        instance_number=slice_index + 1,
        date=patient.sim_date,
        time=MR_TIME,
        description="SYNTHETIC T2 axial for planning",
        frame_of_reference=patient.mr_frame_of_reference,
        study=patient.mr_study,
    )
    position = _position(patient, slice_index)
    spacing = pixel_spacing(spec.image_size)
    ds.ImageType = ["ORIGINAL", "PRIMARY", "OTHER"]
    # PS3.3 C.7.3.1: as for the CT, the examined part says the phantom is not a paired body part.
    ds.BodyPartExamined = "CHEST"
    ds.PatientPosition = PATIENT_POSITION
    ds.AcquisitionNumber = 1
    ds.ScanningSequence = "SE"
    ds.SequenceVariant = "NONE"
    ds.ScanOptions = ""
    ds.MRAcquisitionType = "2D"
    ds.RepetitionTime = 4000
    ds.EchoTime = 90
    ds.EchoTrainLength = 1
    ds.MagneticFieldStrength = 1.5
    ds.ImagedNucleus = "1H"
    ds.SliceThickness = MR_SLICE_SPACING_MM
    ds.SpacingBetweenSlices = MR_SLICE_SPACING_MM
    ds.PixelSpacing = [spacing, spacing]
    ds.ImageOrientationPatient = list(AXIAL)
    ds.ImagePositionPatient = position
    ds.SliceLocation = position[2]
    ds.WindowCenter = 400
    ds.WindowWidth = 800
    set_pixels(ds, _phantom(patient, slice_index))
    return ds
