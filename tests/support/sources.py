"""The DICOM sources of the tests: the synthetic data set they hold, what the tests know of
each instance, and a running source server with its client."""

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from radonc_assets.devtools.local_servers import DcmqrscpServer, OrthancServer
from radonc_assets.devtools.synthetic import SyntheticSpec
from resources.dicom.client import DicomClient, DicomNode

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
