"""Treatment chains in the lab's Orthanc archive, read over REST and over DICOM alone.

The lab is shared by the whole session: these tests store a synthetic course of
their own (seed 77, June 2026) into the archive and delete it afterwards.
"""

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import CTImageStorage, RTPlanStorage

from radonc_assets.backup.chain import chain_report, treatment_records
from radonc_assets.backup.manifest import manifest_frame
from radonc_assets.devtools.demo import DemoServers
from radonc_assets.devtools.synthetic import SyntheticSpec, write
from radonc_assets.site.clients import archive_client
from resources.dicom.queries import QueryLevel, instance_record
from resources.errors import OrthancError
from resources.orthanc import DicomOrthanc, OrthancClient

SPEC = SyntheticSpec(
    start=dt.date(2026, 6, 1),
    end=dt.date(2026, 6, 5),
    patients=1,
    seed=77,
    ct_slices=4,
    image_size=16,
    fractions=3,
)


@pytest.fixture(scope="module")
def course(lab: DemoServers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """The course's files by SOPInstanceUID, stored in the archive for the module's tests."""
    files = {
        str(dcmread(path, stop_before_pixels=True).SOPInstanceUID): path
        for path in write(SPEC, tmp_path_factory.mktemp("chain"))
    }
    archive = archive_client(lab.site)
    try:
        for path in files.values():
            archive.upload(path.read_bytes())
        yield files
    finally:
        archive.delete_instances(files)


@pytest.fixture(params=["rest", "dicom"])
def client(request: pytest.FixtureRequest, lab: DemoServers) -> OrthancClient:
    archive = archive_client(lab.site)
    return archive if request.param == "rest" else DicomOrthanc(archive.dicom)


def headers(course: dict[str, Path]) -> list[Dataset]:
    return [dcmread(path, stop_before_pixels=True) for path in course.values()]


def uid_of(course: dict[str, Path], modality: str) -> str:
    return next(str(ds.SOPInstanceUID) for ds in headers(course) if ds.Modality == modality)


def report(client: OrthancClient, course: dict[str, Path]) -> pd.DataFrame:
    manifest = manifest_frame(instance_record(ds, ds, ds) for ds in headers(course))
    return chain_report(treatment_records([manifest]), client.instance_header, client.held_uids)


def test_instance_header_and_held_uids(client: OrthancClient, course: dict[str, Path]) -> None:
    plan = uid_of(course, "RTPLAN")
    header = client.instance_header(plan, [RTPlanStorage])
    assert header is not None
    assert header.SOPInstanceUID == plan
    assert "ReferencedStructureSetSequence" in header
    assert client.instance_header("2.25.77000000000000000000000001", [RTPlanStorage]) is None
    if not client.has_rest:
        # held, but not sendable in the contexts proposed: an error, not an absence
        with pytest.raises(OrthancError, match=rf"C-GET of {plan} from .*1 failed"):
            client.instance_header(plan, [CTImageStorage])

    ct = [ds for ds in headers(course) if ds.Modality == "CT"]
    series = {str(ct[0].SeriesInstanceUID)}
    images = {str(ds.SOPInstanceUID) for ds in ct}
    absent = "2.25.77000000000000000000000002"
    assert client.held_uids(QueryLevel.SERIES, [*series, absent]) == series
    assert client.held_uids(QueryLevel.IMAGE, [*images, absent]) == images
    assert client.held_uids(QueryLevel.IMAGE, []) == set()


def test_a_deleted_plan_or_image_breaks_the_chain_until_restored(
    lab: DemoServers, client: OrthancClient, course: dict[str, Path]
) -> None:
    complete = report(client, course)
    assert len(complete) == SPEC.fractions
    assert complete["complete"].all()
    assert set(complete["image_series_status"]) == {"present"}
    assert set(complete["patient_id"]) == {"SYN77-0001"}

    archive = archive_client(lab.site)
    plan = uid_of(course, "RTPLAN")
    image = next(
        str(ds.SOPInstanceUID) for ds in headers(course) if ds.SOPClassUID == CTImageStorage
    )
    try:
        assert archive.delete_instances([plan]) == 1
        broken = report(client, course)
        assert not broken["complete"].any()
        assert set(broken["plan_status"]) == {"missing"}
        assert set(broken["plan_uid"]) == {plan}
        assert set(broken["detail"]) == {f"RT Plan {plan} is not in the archive"}

        archive.upload(course[plan].read_bytes())
        assert archive.delete_instances([image]) == 1
        partial = report(client, course)
        assert set(partial["image_series_status"]) == {"partial"}
        assert set(partial["missing_images"]) == {1}
        assert not partial["complete"].any()
    finally:
        archive.upload(course[plan].read_bytes())
        archive.upload(course[image].read_bytes())
    assert report(client, course)["complete"].all()
