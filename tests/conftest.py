"""Real servers for the tests: an Orthanc archive and two independent source
implementations (an Orthanc and DCMTK dcmqrscp), on free loopback ports with
temporary storage, loaded once per session with synthetic RT data.
"""

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import dagster as dg
import pytest
from pydicom import dcmread

from radonc_assets.definitions import site_definitions
from radonc_assets.devtools.demo import (
    DemoServers,
    demo_servers,
    load_synthetic_week,
    write_loopback_site,
)
from radonc_assets.devtools.local_servers import DcmqrscpServer, OrthancServer
from radonc_assets.devtools.synthetic import SyntheticSpec, write
from radonc_assets.site.config import SiteConfig
from radonc_assets.site.dagster_resources import site_resources
from radonc_assets.site.loading import load_sites
from resources.dicom.client import DicomClient, DicomNode
from resources.orthanc import OrthancClient, RestOrthanc

CALLING_AET = "RADONC_TEST"
ARCHIVE_AET = "TEST_ARCHIVE"
SOURCE_SPEC = SyntheticSpec(
    start=dt.date(2026, 1, 5),
    end=dt.date(2026, 1, 9),
    patients=2,
    seed=7,
    ct_slices=6,
    image_size=32,
    fractions=2,
)


@dataclass(frozen=True)
class SyntheticInstance:
    """What the tests know about one generated instance."""

    path: Path
    patient_id: str
    study_uid: str
    series_uid: str
    sop_instance_uid: str
    sop_class_uid: str
    modality: str
    study_date: str


@dataclass(frozen=True)
class Source:
    """A running source server, its DICOM node and the data loaded into it."""

    kind: str
    node: DicomNode
    server: OrthancServer | DcmqrscpServer

    def client(self, timeout: float = 10.0, retries: int = 0, associations: int = 1) -> DicomClient:
        return DicomClient(
            self.node,
            CALLING_AET,
            connect_timeout=5.0,
            timeout=timeout,
            retries=retries,
            associations=associations,
        )


class SiteFileWriter(Protocol):
    """Writes a loopback site file into a new folder (options of `write_loopback_site`)."""

    def __call__(self, name: str, **options: Any) -> Path: ...


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


LAB_WEEK_END = dt.date(2026, 1, 9)
LAB_SETTINGS = {"max_uids_per_run": 1000, "connect_timeout": 5, "network_timeout": 20}


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


def daily_assets(site: SiteConfig) -> list[dg.AssetsDefinition]:
    """The assets of one date's backup: the partitioned ones (not the coverage nor the
    recoveries, which take a config)."""
    return [
        a
        for a in site_definitions(site).assets or []
        if isinstance(a, dg.AssetsDefinition) and a.partitions_def is not None
    ]


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


def variant(lab: DemoServers, site_file: SiteFileWriter, **options: Any) -> Path:
    """A site file for the servers of `lab` (its ports), with other `options`.

    A setting given as None is left out of the file (its default applies).
    """
    archive = lab.site.archive()
    assert archive.rest_url
    ports = {
        "aria": lab.site.node("ARIA").port,
        "mim": lab.site.node("MIM").port,
        "archive": archive.port,
        "http": int(archive.rest_url.rsplit(":", 1)[1]),
        "restore": lab.site.node("RESTORE").port,
        **options.pop("ports", {}),
    }
    settings = LAB_SETTINGS | options.pop("settings", {})
    given = {key: value for key, value in settings.items() if value is not None}
    return site_file("LAB", ports=ports, settings=given, **options)


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Manifests and reports of each test in its own folder."""
    monkeypatch.setenv("RADONC_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"
