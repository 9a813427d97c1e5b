"""Patient-coordinate geometry shared by the synthetic images, structures, plan and dose.

The body, lungs, spine and target are axial ellipses (mm, patient coordinates): :data:`CT_PHANTOM`
and :data:`MR_PHANTOM` give them their CT and MR values (:func:`phantom_image` draws either) and
:data:`ROIS` contours them in the structure set. The CT grid (:func:`pixel_spacing`,
:func:`pixel_centers`, :func:`slice_z`) is centred on the origin, and the plan isocentre
(:func:`isocenter`) is the PTV centre on the middle CT slice. The MR, in a frame of reference of
its own, covers the same anatomy on the same in-plane grid with thicker slices
(:func:`mr_slice_z`); :data:`MR_TO_CT_MM` translates its coordinates into the CT's.
"""

import functools
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from radonc_assets.devtools.synthetic.patient import SyntheticSpec

_FIELD_OF_VIEW_MM = 500.0
SLICE_SPACING_MM = 2.5
MR_SLICE_SPACING_MM = 5.0
# The rigid registration of the MR to the planning CT: CT coordinates = MR coordinates + this.
MR_TO_CT_MM = (4.0, -6.0, 25.0)
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


@dataclass(frozen=True)
class Phantom:
    """The phantom as one kind of image shows it: a value per shape, over the shapes before it."""

    background: float
    shapes: tuple[tuple[_Ellipse, float], ...]


BODY = _Ellipse(0.0, 0.0, 175.0, 125.0)
_PTV = _Ellipse(0.0, -20.0, 30.0, 30.0)
_RIGHT_LUNG = _Ellipse(-90.0, -10.0, 55.0, 75.0)
_LEFT_LUNG = _Ellipse(90.0, -10.0, 55.0, 75.0)
_VERTEBRA = _Ellipse(0.0, 80.0, 18.0, 18.0)
_SPINAL_CORD = _Ellipse(0.0, 80.0, 7.0, 7.0)
# Hounsfield units.
CT_PHANTOM = Phantom(
    -1000.0,
    (
        (BODY, 0.0),
        (_RIGHT_LUNG, -800.0),
        (_LEFT_LUNG, -800.0),
        (_VERTEBRA, 700.0),
        (_SPINAL_CORD, 30.0),
    ),
)
# T2-weighted-like signal: air and lungs dark, bone darker than soft tissue, the cord bright.
MR_PHANTOM = Phantom(
    0.0,
    (
        (BODY, 400.0),
        (_RIGHT_LUNG, 20.0),
        (_LEFT_LUNG, 20.0),
        (_VERTEBRA, 150.0),
        (_SPINAL_CORD, 700.0),
    ),
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


@functools.lru_cache(maxsize=8)
def _rasterised(
    phantom: Phantom, image_size: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """Return the noiseless phantom on the CT grid and its body mask, read-only and cached."""
    centers = pixel_centers(image_size)
    x, y = np.meshgrid(centers, centers)
    values = np.full(x.shape, phantom.background)
    for shape, value in phantom.shapes:
        values[shape.contains(x, y)] = value
    body = BODY.contains(x, y)
    values.flags.writeable = False
    body.flags.writeable = False
    return values, body


def phantom_image(
    phantom: Phantom, image_size: int, rng: np.random.Generator, noise: float
) -> npt.NDArray[np.float64]:
    """Return one axial image of `phantom` with Gaussian noise (SD `noise`) inside the body.

    Args:
        phantom: The values to draw.
        image_size: Rows = Columns, on the CT grid (:func:`pixel_centers`).
        rng: Where the noise comes from, seeded per image for deterministic pixels.
        noise: Standard deviation of the noise, in the phantom's units.

    Returns:
        A new array, Rows x Columns.
    """
    values, body = _rasterised(phantom, image_size)
    image = values.copy()
    image[body] += rng.normal(0.0, noise, int(body.sum()))
    return image


def _stack_z(slice_index: int, slices: int, spacing: float) -> float:
    """Return the z coordinate (mm) of slice `slice_index` of a stack centred on 0."""
    return round((slice_index - (slices - 1) / 2) * spacing, 4)


def slice_z(spec: SyntheticSpec, slice_index: int) -> float:
    """Return the z coordinate (mm) of a CT slice, the stack centred on 0."""
    return _stack_z(slice_index, spec.ct_slices, SLICE_SPACING_MM)


def mr_slice_z(spec: SyntheticSpec, slice_index: int) -> float:
    """Return the z coordinate (mm, in the CT's frame) of an MR slice, the stack centred on 0."""
    return _stack_z(slice_index, spec.mr_slices, MR_SLICE_SPACING_MM)


def isocenter(spec: SyntheticSpec) -> list[float]:
    """Return the plan isocentre: the PTV centre on the middle CT slice."""
    return [_PTV.center_x, _PTV.center_y, slice_z(spec, spec.ct_slices // 2)]
