"""Patient-coordinate geometry shared by the synthetic CT, structures, plan and dose.

The body, lungs, spine and target are axial ellipses (mm, patient coordinates): :data:`PHANTOM`
fills the CT with them and :data:`ROIS` contours them in the structure set. The CT grid
(:func:`pixel_spacing`, :func:`pixel_centers`, :func:`slice_z`) is centred on the origin, and the
plan isocentre (:func:`isocenter`) is the PTV centre on the middle CT slice.
"""

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from radonc_assets.devtools.synthetic.patient import SyntheticSpec

_FIELD_OF_VIEW_MM = 500.0
SLICE_SPACING_MM = 2.5
AXIAL = (1, 0, 0, 0, 1, 0)
PATIENT_POSITION = "HFS"


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


BODY = _Ellipse(0.0, 0.0, 175.0, 125.0)
_PTV = _Ellipse(0.0, -20.0, 30.0, 30.0)
_SPINAL_CORD = _Ellipse(0.0, 80.0, 7.0, 7.0)
PHANTOM: tuple[tuple[_Ellipse, float], ...] = (
    (BODY, 0.0),
    (_Ellipse(-90.0, -10.0, 55.0, 75.0), -800.0),
    (_Ellipse(90.0, -10.0, 55.0, 75.0), -800.0),
    (_Ellipse(0.0, 80.0, 18.0, 18.0), 700.0),
    (_SPINAL_CORD, 30.0),
)


@dataclass(frozen=True)
class Roi:
    """A structure: `half_extent` slices either side of the centre slice, None for all."""

    number: int
    name: str
    interpreted_type: str
    color: tuple[int, int, int]
    shape: _Ellipse
    half_extent: int | None


ROIS = (
    Roi(1, "BODY", "EXTERNAL", (0, 255, 0), BODY, None),
    Roi(2, "PTV", "PTV", (255, 0, 0), _PTV, 2),
    Roi(3, "SPINAL_CORD", "ORGAN", (255, 255, 0), _SPINAL_CORD, None),
)


def pixel_spacing(image_size: int) -> float:
    """Return the CT pixel spacing (mm) for a fixed field of view."""
    return round(_FIELD_OF_VIEW_MM / image_size, 4)


def pixel_centers(image_size: int) -> npt.NDArray[np.float64]:
    """Return the x (= y) coordinates (mm) of the CT pixel centres, centred on 0."""
    spacing = pixel_spacing(image_size)
    return np.round((np.arange(image_size) - (image_size - 1) / 2) * spacing, 4)


def slice_z(spec: SyntheticSpec, slice_index: int) -> float:
    """Return the z coordinate (mm) of a CT slice, the stack centred on 0."""
    return round((slice_index - (spec.ct_slices - 1) / 2) * SLICE_SPACING_MM, 4)


def isocenter(spec: SyntheticSpec) -> list[float]:
    """Return the plan isocentre: the PTV centre on the middle CT slice."""
    return [_PTV.center_x, _PTV.center_y, slice_z(spec, spec.ct_slices // 2)]
