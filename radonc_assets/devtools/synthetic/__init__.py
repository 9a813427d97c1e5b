"""Deterministic synthetic radiation-oncology DICOM data for tests and benchmarks.

Every patient gets a planning CT, an RT Structure Set, an RT Plan, an RT Dose and one RT Beams
Treatment Record per treatment session, all consistently cross-referenced; when the spec asks for
MR slices, also an MR study of the simulation day in a frame of reference of its own and a Spatial
Registration of that frame to the CT's (what a MIM server holds and a record-and-verify system
does not). The data is clearly fake: patient names are ``SYNTHETIC^PATIENTnnn``, the study
description contains ``SYNTHETIC`` and the manufacturer is ``radonc-backup synthetic``.
Everything (UIDs, dates, pixel values) derives from the :class:`SyntheticSpec` alone, so the same
spec always yields byte-identical files and different seeds never share a UID or a PatientID.
"""

import pathlib
from collections.abc import Iterator

from pydicom import dcmwrite
from pydicom.dataset import FileDataset

from radonc_assets.devtools.synthetic.ct import ct_slice
from radonc_assets.devtools.synthetic.mr import mr_slice
from radonc_assets.devtools.synthetic.patient import SyntheticSpec, patients
from radonc_assets.devtools.synthetic.records import fraction_record
from radonc_assets.devtools.synthetic.registration import spatial_registration
from radonc_assets.devtools.synthetic.rtdose import dose
from radonc_assets.devtools.synthetic.rtplan import plan
from radonc_assets.devtools.synthetic.rtstruct import structure_set

__all__ = ["SyntheticSpec", "generate", "write"]


def generate(spec: SyntheticSpec) -> Iterator[FileDataset]:
    """Yield every instance of the synthetic data set, one at a time.

    Per patient, in order: `spec.ct_slices` CT images, `spec.mr_slices` MR images and (if there
    are any) their Spatial Registration, the RT Structure Set, the RT Plan, the RT Dose and one RT
    Beams Treatment Record per session. Nothing is kept between items, so the generator runs in
    constant memory however large the spec.

    Args:
        spec: What to generate.

    Yields:
        A dataset with file meta information (Explicit VR Little Endian), ready for `dcmwrite`.
    """
    for patient in patients(spec):
        for slice_index in range(spec.ct_slices):
            yield ct_slice(patient, slice_index)
        for slice_index in range(spec.mr_slices):
            yield mr_slice(patient, slice_index)
        if spec.mr_slices:
            yield spatial_registration(patient)
        yield structure_set(patient)
        yield plan(patient)
        yield dose(patient)
        for session in range(len(patient.sessions)):
            yield fraction_record(patient, session)


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
