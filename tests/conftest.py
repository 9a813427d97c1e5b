"""Real servers for the tests: an Orthanc archive and two independent source
implementations (an Orthanc and DCMTK dcmqrscp), on free loopback ports with
temporary storage, loaded once per session with synthetic RT data.
"""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from pydicom import dcmread

from radonc_assets.devtools.demo import (
    DemoServers,
    demo_servers,
    load_synthetic_week,
    write_loopback_site,
)
from radonc_assets.devtools.local_servers import DcmqrscpServer, OrthancServer
from radonc_assets.devtools.synthetic import write
from radonc_assets.site.dagster_resources import site_resources
from radonc_assets.site.loading import load_sites
from resources.dicom.client import DicomClient, DicomNode
from resources.orthanc import OrthancClient, RestOrthanc
from tests.support.sites import LAB_SETTINGS, LAB_WEEK_END, SiteFileWriter, daily_assets
from tests.support.sources import (
    ARCHIVE_AET,
    CALLING_AET,
    SOURCE_SPEC,
    Source,
    SyntheticInstance,
)


@pytest.fixture(scope="session")
def site_file(tmp_path_factory: pytest.TempPathFactory) -> SiteFileWriter:
    """The one way tests write site files: each call a new folder holding one site."""

    def write(name: str, **options: Any) -> Path:
        return write_loopback_site(tmp_path_factory.mktemp("sites"), name, **options)

    return write


@pytest.fixture(scope="session")
def synthetic_files(tmp_path_factory: pytest.TempPathFactory) -> list[SyntheticInstance]:
    """The synthetic data set every source holds."""
    instances = []
    for path in write(SOURCE_SPEC, tmp_path_factory.mktemp("synthetic")):
        ds = dcmread(path, stop_before_pixels=True)
        instances.append(
            SyntheticInstance(
                path=path,
                patient_id=str(ds.PatientID),
                study_uid=str(ds.StudyInstanceUID),
                series_uid=str(ds.SeriesInstanceUID),
                sop_instance_uid=str(ds.SOPInstanceUID),
                sop_class_uid=str(ds.SOPClassUID),
                modality=str(ds.Modality),
                study_date=str(ds.StudyDate),
            )
        )
    return instances


@pytest.fixture(scope="session")
def archive_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrthancServer]:
    """The Orthanc archive (REST and DICOM)."""
    with OrthancServer(tmp_path_factory.mktemp("archive"), ARCHIVE_AET, name="archive") as server:
        yield server


@pytest.fixture(scope="session")
def archive_node(archive_server: OrthancServer) -> DicomNode:
    return DicomNode(ARCHIVE_AET, "127.0.0.1", archive_server.dicom_port)


@pytest.fixture
def archive(archive_server: OrthancServer, archive_node: DicomNode) -> OrthancClient:
    """A REST + DICOM client of the archive."""
    return RestOrthanc(DicomClient(archive_node, CALLING_AET), archive_server.url)


def _start_source(
    kind: str, workdir: Path, archive_node: DicomNode
) -> OrthancServer | DcmqrscpServer:
    peers = [DicomNode(archive_node.aet, archive_node.host, archive_node.port)]
    if kind == "orthanc":
        return OrthancServer(workdir, "ORTHANC_SRC", peers=peers, name="orthanc-source").start()
    return DcmqrscpServer(workdir, "DCMQR_SRC", peers=peers, name="dcmqrscp-source").start()


@pytest.fixture(scope="session", params=["orthanc", "dcmqrscp"])
def source(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    archive_node: DicomNode,
    synthetic_files: list[SyntheticInstance],
) -> Iterator[Source]:
    """Each source implementation in turn, loaded with `synthetic_files` over C-STORE."""
    kind = request.param
    server = _start_source(kind, tmp_path_factory.mktemp(kind), archive_node)
    try:
        loaded = Source(kind, DicomNode(server.aet, "127.0.0.1", server.dicom_port), server)
        outcomes = loaded.client().store([i.path for i in synthetic_files])
        assert all(o.ok for o in outcomes)
        assert len(outcomes) == len(synthetic_files)
        yield loaded
    finally:
        server.stop()


@pytest.fixture(scope="session")
def lab(
    tmp_path_factory: pytest.TempPathFactory, site_file: SiteFileWriter
) -> Iterator[DemoServers]:
    """The site LAB: a server per node (as the demo runs them), loaded with a synthetic
    week (2026-01-05 to 2026-01-09, 3 patients)."""
    workdir = tmp_path_factory.mktemp("lab")
    # Its drills draw from every backup of the last ten years: the lab's week is in 2026.
    site = load_sites(site_file("LAB", settings=LAB_SETTINGS, drill={"lookback_days": 3650}))["LAB"]
    with demo_servers(site, workdir / "servers") as servers:
        load_synthetic_week(servers, workdir / "synthetic", LAB_WEEK_END, patients=3)
        yield servers


@pytest.fixture(scope="session")
def lab_courses_planned(lab: DemoServers, tmp_path_factory: pytest.TempPathFactory) -> None:
    """The lab's planning days (2026-01-05 and 06) backed up: the treatment records of the
    days after have their chain (plan, structure set, images) in the archive. Its files go
    to a folder of its own (it runs before any test's `data_dir`)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RADONC_DATA_DIR", str(tmp_path_factory.mktemp("planned")))
        for day in ("2026-01-05", "2026-01-06"):
            result = dg.materialize(
                daily_assets(lab.site),
                partition_key=day,
                resources=site_resources(lab.site),
                raise_on_error=False,
            )
            assert result.get_asset_check_evaluations()


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Manifests and reports of each test in its own folder."""
    monkeypatch.setenv("RADONC_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"
