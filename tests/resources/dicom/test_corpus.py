"""pydicom's own test files through C-GET and C-MOVE, against real servers.

A corpus of the DICOM files pydicom ships (many SOP classes and transfer
syntaxes) is stored over C-STORE into servers of its own: an Orthanc source, a
dcmqrscp source and an Orthanc archive, so that the session's shared servers,
whose instances other tests count, are not touched. Each instance is then
retrieved by C-GET from each source (one IMAGE-level request per instance, with
`sop_classes` from what was stored) and by C-MOVE from each source into the
archive, and compared with what was stored by `content_hash`: every element
outside group 0002, PixelData as encoded. ``pytest -s`` prints which (SOP class,
transfer syntax) pairs each path proved.

The corpus: pydicom's wheel ships no NM, XA, MG, PT, DX, CR or RT Image
instance (``get_testdata_file`` downloads those, and the tests have no network),
so these are copies of shipped files with another SOP Class UID and Modality,
their pixel data as shipped. Every file gets the corpus patient and study and
UIDs of its own (several of pydicom's files share a SOPInstanceUID), and loses
its Data Set Trailing Padding (FFFC,FFFC): both servers drop it (measured on
CT_small.dcm and MR_small_*.dcm), and PS3.10 7.2 gives it no meaning.

Known server limitations, measured with Orthanc 1.10.1 and DCMTK 3.6.7
dcmqrscp as `DcmqrscpServer` starts it (each is asserted below, so a change shows):

- dcmqrscp accepts storage contexts in uncompressed transfer syntaxes only (its
  default ``+x=``): a C-STORE of a compressed or deflated file finds no accepted
  context (its debug log: "Abstract Syntax Not Supported" for MR Image Storage in
  JPEG 2000 Lossless), so its corpus holds the uncompressed files. A compressed
  file indexed offline with ``dcmqridx`` fails C-GET and C-MOVE with 0xA702: it
  refuses the compressed contexts of a C-GET association too, then cannot send
  the file over the uncompressed one ("unable to convert DICOM file ... from
  'JPEG 2000 (Lossless only)' transfer syntax to 'Little Endian Explicit'").
- Over C-GET both servers send Implicit VR Little Endian and Explicit VR Big
  Endian instances as Explicit VR Little Endian: the uncompressed context offers
  all three and both accept Explicit VR Little Endian for it. Over C-MOVE Orthanc
  keeps the stored syntax and dcmqrscp sends Explicit VR Little Endian. The
  content is the same; a 16-bit Big Endian PixelData arrives byte-swapped and is
  compared swapped.
"""

import io
import logging
import shutil
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from copy import deepcopy
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import requests
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.uid import (
    UID,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    generate_uid,
)
from pynetdicom import sop_class as sc

from radonc_assets.backup.content_hash import content_hash
from radonc_assets.cli.main import main
from radonc_assets.devtools.local_servers import DcmqrscpServer, OrthancServer
from resources.dicom.client import DicomClient, DicomNode, StoreOutcome
from resources.dicom.contexts import (
    MAX_GET_STORAGE_CONTEXTS,
    UNCOMPRESSED_SYNTAXES,
    plan_associations,
    storage_contexts,
)
from resources.dicom.queries import QueryLevel, retrieve_identifier
from tests.support.sources import CALLING_AET

# One of pydicom's files carries a UID with a leading zero in a component.
pytestmark = pytest.mark.filterwarnings("ignore:Invalid value for VR UI")

PATIENT_ID = "PYDICOM-CORPUS"
ARCHIVE_AET = "CORPUS_ARCHIVE"
GET_ORTHANC, GET_DCMQRSCP = "C-GET from Orthanc", "C-GET from dcmqrscp"
MOVE_ORTHANC, MOVE_DCMQRSCP = "C-MOVE Orthanc->archive", "C-MOVE dcmqrscp->archive"
PATHS = (GET_ORTHANC, GET_DCMQRSCP, MOVE_ORTHANC, MOVE_DCMQRSCP)
# How dcmqrscp's C-STORE refusals and the syntaxes sent in their stead show in the table.
NOT_HELD = "not held"
AS_EXPLICIT_LE = "as Explicit VR LE"
AS_STORED = "as stored"


@dataclass(frozen=True)
class CorpusFile:
    """A file of pydicom's test data, optionally as another SOP class."""

    name: str
    sop_class: str = ""
    modality: str = ""


CORPUS = (
    CorpusFile("CT_small.dcm"),  # Explicit VR Little Endian
    CorpusFile("693_J2KI.dcm"),  # JPEG 2000
    CorpusFile("J2K_pixelrep_mismatch.dcm"),  # JPEG 2000 Lossless
    CorpusFile("MR_small_implicit.dcm"),
    CorpusFile("MR_small_bigendian.dcm"),  # 16-bit Big Endian
    CorpusFile("MR_small_RLE.dcm"),
    CorpusFile("MR_small_jp2klossless.dcm"),
    CorpusFile("MR_small_jpeg_ls_lossless.dcm"),
    CorpusFile("examples_jpeg2k.dcm"),  # US, JPEG 2000 Lossless
    CorpusFile("ExplVR_BigEnd.dcm"),  # US, 8-bit RGB Big Endian
    CorpusFile("examples_ybr_color.dcm"),  # US multi-frame, JPEG Baseline
    CorpusFile("JPGExtended.dcm"),  # SC, JPEG Extended 12-bit
    CorpusFile("JPEG2000.dcm"),  # SC, JPEG 2000
    CorpusFile("JPEGLSNearLossless_08.dcm"),  # SC, JPEG-LS near-lossless
    CorpusFile("SC_rgb_jpeg_gdcm.dcm"),  # SC, JPEG Lossless SV1
    CorpusFile("SC_rgb_jpeg_dcmtk.dcm"),  # SC, JPEG Baseline
    CorpusFile("SC_rgb_rle.dcm"),
    CorpusFile("image_dfl.dcm"),  # SC, deflated
    CorpusFile("liver_1frame.dcm"),  # SEG
    CorpusFile("liver_expb_1frame.dcm"),  # SEG, 1-bit Big Endian
    CorpusFile("waveform_ecg.dcm"),  # 12-lead ECG
    CorpusFile("rtplan.dcm"),
    CorpusFile("rtdose.dcm"),  # Implicit VR Little Endian
    CorpusFile("rtdose_rle.dcm"),
    CorpusFile("rtstruct.dcm"),  # shipped without file meta: written with it
    CorpusFile("test-SR.dcm"),  # Comprehensive SR
    CorpusFile("reportsi.dcm"),  # Basic Text SR
    CorpusFile("JPGExtended.dcm", sc.NuclearMedicineImageStorage, "NM"),
    CorpusFile("MR_small_jpeg_ls_lossless.dcm", sc.XRayAngiographicImageStorage, "XA"),
    CorpusFile(
        "J2K_pixelrep_mismatch.dcm", sc.DigitalMammographyXRayImageStorageForPresentation, "MG"
    ),
    CorpusFile("MR_small_RLE.dcm", sc.PositronEmissionTomographyImageStorage, "PT"),
    CorpusFile("JPEGLSNearLossless_08.dcm", sc.DigitalXRayImageStorageForPresentation, "DX"),
    CorpusFile("MR_small_jp2klossless.dcm", sc.ComputedRadiographyImageStorage, "CR"),
    CorpusFile("693_J2KI.dcm", sc.RTImageStorage, "RTIMAGE"),
)


@dataclass(frozen=True)
class Instance:
    """One stored corpus file and what its copies must be."""

    path: Path
    study_uid: str
    series_uid: str
    sop_instance_uid: str
    sop_class_uid: str
    transfer_syntax: str
    content: str
    content_as_little_endian: str

    @property
    def pair(self) -> tuple[str, str]:
        return UID(self.sop_class_uid).keyword, UID(self.transfer_syntax).keyword

    @property
    def uncompressed(self) -> bool:
        return self.transfer_syntax in UNCOMPRESSED_SYNTAXES

    def query(self) -> Dataset:
        return retrieve_identifier(
            QueryLevel.IMAGE,
            {
                "StudyInstanceUID": self.study_uid,
                "SeriesInstanceUID": self.series_uid,
                "SOPInstanceUID": self.sop_instance_uid,
            },
        )

    def check(self, copy: Dataset, little_endian: bool) -> str:
        """Compare a copy; `little_endian`: an uncompressed copy may be Explicit VR LE."""
        syntax = copy.file_meta.TransferSyntaxUID
        if syntax == self.transfer_syntax:
            assert content_hash(copy) == self.content, self.pair
            return AS_STORED
        assert little_endian, (self.pair, UID(syntax).name)
        assert self.uncompressed, self.pair
        assert syntax == ExplicitVRLittleEndian, (self.pair, UID(syntax).name)
        assert content_hash(copy) == self.content_as_little_endian, self.pair
        return AS_EXPLICIT_LE


class Received(dict[str, Dataset]):
    """A C-GET callback keeping each received instance by its SOPInstanceUID."""

    def __call__(self, encoded: bytes) -> None:
        copy = dcmread(io.BytesIO(encoded))
        self[str(copy.SOPInstanceUID)] = copy


def as_little_endian(dataset: Dataset) -> Dataset:
    """The data set as a server sends it in Explicit VR Little Endian (PixelData swapped)."""
    copy = deepcopy(dataset)
    width = int(dataset.get("BitsAllocated", 8)) // 8
    if dataset.file_meta.TransferSyntaxUID == ExplicitVRBigEndian and width > 1:
        pixels = np.frombuffer(dataset.PixelData, dtype=f">u{width}")
        copy.PixelData = pixels.astype(f"<u{width}").tobytes()
    return copy


def build_corpus(folder: Path) -> list[Instance]:
    """Write the corpus as one patient and study, one series per file."""
    study = generate_uid(entropy_srcs=["radonc corpus study"])
    instances = []
    for number, item in enumerate(CORPUS, start=1):
        ds = dcmread(get_testdata_file(item.name), force=True)
        if item.sop_class:
            ds.SOPClassUID, ds.Modality = item.sop_class, item.modality
        ds.PatientID, ds.PatientName = PATIENT_ID, "CORPUS^PYDICOM"
        ds.StudyInstanceUID, ds.StudyDate, ds.StudyID = study, "20260201", "1"
        ds.SeriesInstanceUID = generate_uid(entropy_srcs=["radonc corpus series", str(number)])
        ds.SOPInstanceUID = generate_uid(entropy_srcs=["radonc corpus instance", str(number)])
        ds.SeriesNumber, ds.InstanceNumber = number, 1
        ds.Modality = ds.get("Modality") or "OT"
        if 0xFFFCFFFC in ds:
            del ds[0xFFFCFFFC]
        ds.file_meta.TransferSyntaxUID = ds.file_meta.get(
            "TransferSyntaxUID", ImplicitVRLittleEndian
        )
        ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        path = folder / f"{number:02d}_{item.name}"
        ds.save_as(path, enforce_file_format=True)
        stored = dcmread(path)
        instances.append(
            Instance(
                path=path,
                study_uid=study,
                series_uid=str(ds.SeriesInstanceUID),
                sop_instance_uid=str(ds.SOPInstanceUID),
                sop_class_uid=str(ds.SOPClassUID),
                transfer_syntax=str(stored.file_meta.TransferSyntaxUID),
                content=content_hash(stored),
                content_as_little_endian=content_hash(as_little_endian(stored)),
            )
        )
    return instances


@dataclass
class CorpusServers:
    """The corpus, its servers and what each path proved."""

    instances: list[Instance]
    archive: OrthancServer
    orthanc: OrthancServer
    dcmqrscp: DcmqrscpServer
    dcmqrscp_outcomes: list[StoreOutcome]
    proven: dict[str, dict[int, str]]

    def client(self, server: OrthancServer | DcmqrscpServer) -> DicomClient:
        node = DicomNode(server.aet, "127.0.0.1", server.dicom_port)
        return DicomClient(node, CALLING_AET, connect_timeout=5, timeout=20, retries=0)

    def held_by_dcmqrscp(self) -> list[Instance]:
        return [i for i, o in zip(self.instances, self.dcmqrscp_outcomes, strict=True) if o.ok]

    def archived_copy(self, instance: Instance) -> Dataset:
        """The archive's file of an instance, as stored (REST)."""
        with requests.Session() as http:
            http.trust_env = False  # loopback only, never a proxy
            (found,) = http.post(
                f"{self.archive.url}/tools/lookup", data=instance.sop_instance_uid, timeout=10
            ).json()
            response = http.get(f"{self.archive.url}/instances/{found['ID']}/file", timeout=10)
        response.raise_for_status()
        return dcmread(io.BytesIO(response.content))

    def table(self) -> str:
        rows = [("SOP class", "transfer syntax", *PATHS)]
        for index, instance in enumerate(self.instances):
            cells = [self.proven[path].get(index, "") for path in PATHS]
            rows.append((*instance.pair, *cells))
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        lines = ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in rows]
        return "\n".join([lines[0], "-" * len(lines[0]), *lines[1:]])


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CorpusServers]:
    """The corpus in its own Orthanc source, dcmqrscp source and Orthanc archive."""
    workdir = tmp_path_factory.mktemp("corpus")
    (workdir / "files").mkdir()
    instances = build_corpus(workdir / "files")
    archive = OrthancServer(workdir, ARCHIVE_AET, name="corpus-archive")
    peers = [DicomNode(ARCHIVE_AET, "127.0.0.1", archive.dicom_port)]
    orthanc = OrthancServer(workdir, "CORPUS_ORTHANC", peers=peers, name="corpus-orthanc")
    dcmqrscp = DcmqrscpServer(workdir, "CORPUS_DCMQR", peers=peers, name="corpus-dcmqrscp")
    servers = (archive, orthanc, dcmqrscp)
    try:
        for server in servers:
            server.start()
        loaded = CorpusServers(
            instances, archive, orthanc, dcmqrscp, [], {path: {} for path in PATHS}
        )
        outcomes = loaded.client(orthanc).store([i.path for i in instances])
        assert [(o.sop_instance_uid, o.status) for o in outcomes] == [
            (i.sop_instance_uid, 0) for i in instances
        ]
        loaded.dcmqrscp_outcomes = loaded.client(dcmqrscp).store([i.path for i in instances])
        yield loaded
        print(f"\nCorpus: (SOP class, transfer syntax) pairs proven per path\n{loaded.table()}")
    finally:
        # Orthanc takes ~3.5 s to stop: stop the three at once.
        with ThreadPoolExecutor(len(servers)) as pool:
            list(pool.map(lambda server: server.stop(), servers))


def test_dcmqrscp_holds_the_uncompressed_files_only(corpus: CorpusServers) -> None:
    for instance, outcome in zip(corpus.instances, corpus.dcmqrscp_outcomes, strict=True):
        if instance.uncompressed:
            assert outcome.status == 0, instance.pair
        else:
            assert outcome.status == 0x0122, instance.pair
            name = UID(instance.sop_class_uid).name
            assert f"accepted no presentation context for {name} in" in outcome.detail
            corpus.proven[GET_DCMQRSCP][corpus.instances.index(instance)] = NOT_HELD
            corpus.proven[MOVE_DCMQRSCP][corpus.instances.index(instance)] = NOT_HELD
    assert len(corpus.held_by_dcmqrscp()) == 12


@pytest.mark.parametrize("kind", ["orthanc", "dcmqrscp"])
def test_c_get_brings_each_instance_as_stored(
    corpus: CorpusServers, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    server = corpus.orthanc if kind == "orthanc" else corpus.dcmqrscp
    instances = corpus.instances if kind == "orthanc" else corpus.held_by_dcmqrscp()
    received = Received()
    sop_classes = [{i.sop_class_uid} for i in instances]
    with caplog.at_level(logging.INFO, logger="resources.dicom.client"):
        results = corpus.client(server).get(
            [i.query() for i in instances], received, sop_classes=sop_classes
        )

    associations = len(plan_associations(sop_classes))
    # 19 classes, 14 of them images: 159 contexts, two associations.
    assert associations == (2 if kind == "orthanc" else 1)
    if associations > 1:
        assert f"over {associations} associations" in caplog.text
    path = GET_ORTHANC if kind == "orthanc" else GET_DCMQRSCP
    for instance, result in zip(instances, results, strict=True):
        # In query order: each result comes from an association proposing its class.
        assert instance.sop_class_uid in result.proposed
        assert (result.status, result.completed, result.failed) == (0, 1, 0), instance.pair
        copy = received[instance.sop_instance_uid]
        corpus.proven[path][corpus.instances.index(instance)] = instance.check(copy, True)


@pytest.mark.parametrize("kind", ["orthanc", "dcmqrscp"])
def test_c_move_copies_each_instance_into_the_archive(corpus: CorpusServers, kind: str) -> None:
    server = corpus.orthanc if kind == "orthanc" else corpus.dcmqrscp
    instances = corpus.instances if kind == "orthanc" else corpus.held_by_dcmqrscp()
    archive = corpus.client(corpus.archive)
    with requests.Session() as http:
        http.trust_env = False
        for patient in http.get(f"{corpus.archive.url}/patients", timeout=10).json():
            http.delete(f"{corpus.archive.url}/patients/{patient}", timeout=10)
    assert archive.find(retrieve_identifier(QueryLevel.STUDY, {"PatientID": PATIENT_ID})) == []

    results = corpus.client(server).move([i.query() for i in instances], ARCHIVE_AET)

    path = MOVE_ORTHANC if kind == "orthanc" else MOVE_DCMQRSCP
    for instance, result in zip(instances, results, strict=True):
        assert (result.status, result.completed, result.failed) == (0, 1, 0), instance.pair
        copy = corpus.archived_copy(instance)
        # Orthanc sends what it stores; dcmqrscp proposes Explicit VR LE first.
        corpus.proven[path][corpus.instances.index(instance)] = instance.check(
            copy, kind == "dcmqrscp"
        )


def test_a_study_with_more_classes_than_contexts_arrives_whole(corpus: CorpusServers) -> None:
    """One C-GET of the whole study: every class, fewer compressed contexts.

    Orthanc decompresses what it holds in a syntax left out (measured: RLE and
    JPEG Extended arrive as Explicit VR Little Endian).
    """
    classes = {i.sop_class_uid for i in corpus.instances}
    proposed = {
        (str(cx.abstract_syntax), str(ts))
        for cx in storage_contexts(classes, limit=MAX_GET_STORAGE_CONTEXTS)
        for ts in cx.transfer_syntax
    }
    left_out = [i for i in corpus.instances if (i.sop_class_uid, i.transfer_syntax) not in proposed]
    assert left_out
    assert not any(i.uncompressed for i in left_out)
    print("\nLeft out of the study's C-GET contexts, sent decompressed:")
    print("\n".join(f"  {name}, {syntax}" for name, syntax in (i.pair for i in left_out)))
    received = Received()
    study = corpus.instances[0].study_uid

    (result,) = corpus.client(corpus.orthanc).get(
        [retrieve_identifier(QueryLevel.STUDY, {"StudyInstanceUID": study})],
        received,
        sop_classes=[classes],
    )

    assert (result.status, result.completed, result.failed) == (0, len(corpus.instances), 0)
    for instance in corpus.instances:
        copy = received[instance.sop_instance_uid]
        if instance in left_out:
            assert copy.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian, instance.pair
        else:
            instance.check(copy, True)


def test_a_class_not_proposed_fails_its_sub_operation(corpus: CorpusServers) -> None:
    """Orthanc counts the failure but says nothing of the reason: `proposed` does."""
    us = next(i for i in corpus.instances if i.sop_class_uid == sc.UltrasoundImageStorage)
    (result,) = corpus.client(corpus.orthanc).get(
        [us.query()], lambda encoded: None, sop_classes=[{sc.CTImageStorage}], isolate_failures=True
    )
    assert (result.status, result.completed, result.failed) == (0xC000, 0, 1)
    assert (result.failed_uids, result.errors) == ((), ())
    assert us.sop_class_uid not in result.proposed
    assert f"No presentation context for: (US) {us.sop_class_uid}" in corpus.orthanc.log_tail()


def test_dcmqrscp_cannot_send_a_compressed_instance(corpus: CorpusServers) -> None:
    """A compressed file indexed offline (dcmqridx) fails C-GET and C-MOVE with 0xA702."""
    j2k = next(i for i in corpus.instances if i.transfer_syntax == "1.2.840.10008.1.2.4.90")
    storage = corpus.dcmqrscp.directory / "storage"
    shutil.copy(j2k.path, storage / j2k.path.name)
    subprocess.run(
        ["/usr/bin/dcmqridx", str(storage), str(storage / j2k.path.name)], check=True, timeout=30
    )
    client = corpus.client(corpus.dcmqrscp)
    (got,) = client.get([j2k.query()], lambda encoded: None, sop_classes=[{j2k.sop_class_uid}])
    (moved,) = client.move([j2k.query()], ARCHIVE_AET)
    for result in (got, moved):
        assert (result.status, result.completed, result.failed) == (0xA702, 0, 1)
    assert got.failed_uids == (j2k.sop_instance_uid,)


def test_cli_store_counts_only_what_was_stored(
    corpus: CorpusServers, capsys: pytest.CaptureFixture[str]
) -> None:
    node = [
        "--aec",
        corpus.dcmqrscp.aet,
        "--host",
        "127.0.0.1",
        "--port",
        str(corpus.dcmqrscp.dicom_port),
    ]
    folder = corpus.instances[0].path.parent
    assert main(["dicom", "store", *node, "--filepath", str(folder)]) == 1
    out, err = capsys.readouterr()
    held, refused = 12, len(corpus.instances) - 12
    assert f"{held} stored, {refused} failed, 0 skipped (not DICOM)" in out
    assert out.count("accepted no presentation context for") == refused
    assert err.splitlines()[-1].startswith(
        f"stored: {held}/{len(corpus.instances)}, failed {refused} ("
    )


def test_cli_get_receives_a_class_outside_the_default_set_when_told(
    corpus: CorpusServers, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    us = next(i for i in corpus.instances if i.sop_class_uid == sc.UltrasoundImageStorage)
    command = [
        *("dicom", "get", "--aec", corpus.orthanc.aet, "--host", "127.0.0.1"),
        *("--port", str(corpus.orthanc.dicom_port), "--query-level", "IMAGE"),
        *("--study-uid", us.study_uid, "--series-uid", us.series_uid),
        *("--sop-instance-uid", us.sop_instance_uid, "--out-dir", str(tmp_path)),
    ]
    assert main(command) == 1
    out = capsys.readouterr().out
    assert "the source gave no reason; 23 SOP classes were proposed" in out
    assert "0 file(s) written" in out

    assert main([*command, "--sop-class", us.sop_class_uid]) == 0
    assert "1 file(s) written" in capsys.readouterr().out
    assert us.check(dcmread(tmp_path / f"{us.sop_instance_uid}.dcm"), False) == AS_STORED
