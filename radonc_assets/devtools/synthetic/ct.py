"""The synthetic planning CT: one axial slice at a time of a noisy ellipse phantom.

The phantom (body, lungs, spine, spinal cord from :mod:`.geometry`) is rasterised once per image
size and cached; each slice adds its own deterministic noise inside the body, so every slice of
every patient differs while the same spec always yields the same pixels.
"""

import numpy as np
import numpy.typing as npt
from pydicom.dataset import FileDataset
from pydicom.uid import CTImageStorage

from radonc_assets.devtools.synthetic.geometry import (
    AXIAL,
    CT_PHANTOM,
    PATIENT_POSITION,
    SLICE_SPACING_MM,
    phantom_image,
    pixel_centers,
    pixel_spacing,
    slice_z,
)
from radonc_assets.devtools.synthetic.patient import CT_TIME, Patient, instance, set_pixels

_HU_OFFSET = 1024
_NOISE_HU = 10.0


def _phantom(patient: Patient, slice_index: int) -> npt.NDArray[np.uint16]:
    """Return the stored CT values of a body-like ellipse phantom (lungs, spine) with noise."""
    rng = np.random.default_rng([patient.spec.seed, patient.index, slice_index])
    hu = phantom_image(CT_PHANTOM, patient.spec.image_size, rng, _NOISE_HU)
    return np.clip(np.rint(hu) + _HU_OFFSET, 0, 4095).astype("<u2")


def ct_slice(patient: Patient, slice_index: int) -> FileDataset:
    """Return CT slice number `slice_index` of the planning CT."""
    spec = patient.spec
    ds = instance(
        patient,
        sop_class=CTImageStorage,
        sop_instance=patient.uid("ct", slice_index),
        modality="CT",
        series=patient.uid("ct-series"),
        series_number=1,
        instance_number=slice_index + 1,
        date=patient.sim_date,
        time=CT_TIME,
        description="SYNTHETIC planning CT",
        frame_of_reference=patient.frame_of_reference,
    )
    z = slice_z(spec, slice_index)
    origin = float(pixel_centers(spec.image_size)[0])
    spacing = pixel_spacing(spec.image_size)
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    # PS3.3 C.7.3.1: Laterality (Type 2C) is required for a paired body part only; naming the
    # examined part says the thorax phantom is not one.
    ds.BodyPartExamined = "CHEST"
    ds.PatientPosition = PATIENT_POSITION
    ds.AcquisitionNumber = 1
    ds.KVP = 120
    ds.SliceThickness = SLICE_SPACING_MM
    ds.PixelSpacing = [spacing, spacing]
    ds.ImageOrientationPatient = list(AXIAL)
    ds.ImagePositionPatient = [origin, origin, z]
    ds.SliceLocation = z
    ds.RescaleIntercept = -_HU_OFFSET
    ds.RescaleSlope = 1
    ds.RescaleType = "HU"
    ds.WindowCenter = 40
    ds.WindowWidth = 400
    set_pixels(ds, _phantom(patient, slice_index))
    return ds
