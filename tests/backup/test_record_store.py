"""Generated instances stored into the archive directly, or through a staging SCP."""

import datetime as dt
from pathlib import Path

import pytest
from pydicom import dcmread

from radonc_assets.backup.manifest import manifest_frame, not_in
from radonc_assets.backup.transfers import store_records
from radonc_assets.devtools.demo import DemoServers
from radonc_assets.devtools.synthetic import SyntheticSpec, write
from radonc_assets.site.clients import archive_client, dicom_client
from resources.dicom.queries import InstanceRecord, instance_record


def records(folder: Path, seed: int) -> tuple[dict[str, Path], list[InstanceRecord]]:
    """A synthetic patient's RT Beams Treatment Records, by SOPInstanceUID."""
    spec = SyntheticSpec(
        start=dt.date(2026, 5, 4), end=dt.date(2026, 5, 8), patients=1, seed=seed, ct_slices=1
    )
    files = [p for p in write(spec, folder) if p.name.startswith("RTRECORD_")]
    found = [instance_record(*[dcmread(path, stop_before_pixels=True)] * 3) for path in files]
    return {r.sop_instance_uid: p for r, p in zip(found, files, strict=True)}, found


@pytest.mark.parametrize(("staged", "seed"), [(False, 51), (True, 52)])
def test_records_reach_the_archive_once(
    lab: DemoServers, tmp_path: Path, staged: bool, seed: int
) -> None:
    files, found = records(tmp_path, seed)
    manifest = manifest_frame(found)
    archive = archive_client(lab.site)
    staging = dicom_client(lab.site, "RESTORE") if staged else None

    transfer = store_records(files, archive, manifest, manifest, staging)

    assert len(files) >= 4
    assert {outcome for outcome, _ in transfer.outcomes.values()} == {"copied"}
    assert set(transfer.outcomes) == set(files)
    present = archive.archived_uids(set(manifest["study_instance_uid"]))
    assert not_in(manifest, present).empty
    again = store_records(files, archive, manifest, manifest, staging)
    assert {outcome for outcome, _ in again.outcomes.values()} == {"copied"}
    assert len(archive.archived_uids(set(manifest["study_instance_uid"]))) == len(present)
