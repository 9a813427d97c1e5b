"""The synthetic RT Dose: the plan's total dose on a small multi-frame grid.

The dose is a Gaussian centred on the plan isocentre that peaks at the prescribed total dose
(fraction dose times number of fractions), stored as 16-bit integers with the finest grid scaling
that holds the total dose, and referencing the patient's RT Plan.
"""

import datetime
import math

import numpy as np
import numpy.typing as npt
from pydicom.dataset import FileDataset
from pydicom.tag import Tag
from pydicom.uid import RTDoseStorage, RTPlanStorage

from radonc_assets.devtools.synthetic.geometry import AXIAL, isocenter
from radonc_assets.devtools.synthetic.patient import (
    Patient,
    SyntheticSpec,
    instance,
    reference,
    set_pixels,
)
from radonc_assets.devtools.synthetic.rtplan import FRACTION_DOSE_GY

_DOSE_FRAMES, _DOSE_ROWS, _DOSE_COLUMNS = 8, 16, 16
_DOSE_SPACING_MM = 10.0
_DOSE_FRAME_SPACING_MM = 5.0
_DOSE_SIGMA_MM = 40.0
# PS3.3 C.8.8.3.4.3: Bits Allocated is 16 or 32. 16, because dciodvfy (dicom3tools 1.00~20220618)
# aborts on 32-bit Pixel Data (assertion `bitsallocated <= bytesinword*8u` in attrothr.cc).
_DOSE_MAX_STORED = 2**16 - 1
_MICROGRAY_PER_GY = 1_000_000

_DOSE_TIME = datetime.time(11, 30)


def _total_dose_gy(spec: SyntheticSpec) -> float:
    """Return the prescribed total dose: the fraction dose times the number of fractions."""
    return FRACTION_DOSE_GY * spec.fractions


def _dose_grid_scaling(spec: SyntheticSpec) -> float:
    """Return the Dose Grid Scaling (Gy): the finest micro-gray step storing the dose in 16 bits."""
    micrograys = math.ceil(_total_dose_gy(spec) / _DOSE_MAX_STORED * _MICROGRAY_PER_GY)
    return micrograys / _MICROGRAY_PER_GY


def _dose_grid(spec: SyntheticSpec) -> npt.NDArray[np.uint16]:
    """Return the stored dose values: a Gaussian around the isocentre peaking at the total dose."""
    frames, rows, columns = np.indices((_DOSE_FRAMES, _DOSE_ROWS, _DOSE_COLUMNS), dtype=float)
    z = (frames - (_DOSE_FRAMES - 1) / 2) * _DOSE_FRAME_SPACING_MM
    y = (rows - (_DOSE_ROWS - 1) / 2) * _DOSE_SPACING_MM
    x = (columns - (_DOSE_COLUMNS - 1) / 2) * _DOSE_SPACING_MM
    dose = _total_dose_gy(spec) * np.exp(-(x**2 + y**2 + z**2) / _DOSE_SIGMA_MM**2 / 2)
    return np.rint(dose / _dose_grid_scaling(spec)).astype("<u2")


def dose(patient: Patient) -> FileDataset:
    """Return the planned RT Dose: a small multi-frame grid centred on the isocentre."""
    spec = patient.spec
    ds = instance(
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
        frame_of_reference=patient.frame_of_reference,
    )
    iso_x, iso_y, iso_z = isocenter(spec)
    ds.ImageType = ["DERIVED", "SECONDARY", "DOSE"]
    ds.PixelSpacing = [_DOSE_SPACING_MM, _DOSE_SPACING_MM]
    ds.ImageOrientationPatient = list(AXIAL)
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
    ds.DoseGridScaling = _dose_grid_scaling(spec)
    ds.ReferencedRTPlanSequence = [reference(RTPlanStorage, patient.uid("rtplan"))]
    set_pixels(ds, _dose_grid(spec))
    return ds
