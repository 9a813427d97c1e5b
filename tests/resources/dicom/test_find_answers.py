"""Malformed C-FIND answers are skipped with a warning, not filed or raised.

The peer here is a hand-written pynetdicom SCP with scripted answers, because no
real server produces these faults: Orthanc and dcmqrscp always return the unique
key of the level and the parents' keys they matched on. Vendor archives have
been seen to do otherwise; these answers stand for them.
"""

import logging
from collections.abc import Iterator

import pytest
from pydicom.dataset import Dataset
from pynetdicom import AE, evt
from pynetdicom.events import Event
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind

from radonc_assets.devtools.local_servers import free_port
from resources.dicom.client import DicomClient, DicomNode
from tests.support.sources import CALLING_AET

STUDY = "1.2.826.0.1.3680043.9.9999.1"
OTHER_STUDY = "1.2.826.0.1.3680043.9.9999.2"
SERIES = "1.2.826.0.1.3680043.9.9999.1.1"
OTHER_SERIES = "1.2.826.0.1.3680043.9.9999.1.2"
IMAGE = "1.2.826.0.1.3680043.9.9999.1.1.1"


def answer(**keys: str) -> Dataset:
    ds = Dataset()
    for keyword, value in keys.items():
        setattr(ds, keyword, value)
    return ds


# What the scripted peer answers at each level, whatever the query.
ANSWERS = {
    "STUDY": [
        answer(QueryRetrieveLevel="STUDY", StudyInstanceUID=STUDY, StudyDate="20260105"),
        answer(QueryRetrieveLevel="STUDY", PatientID="NO-UID", StudyDate="20260105"),
    ],
    "SERIES": [
        answer(StudyInstanceUID=STUDY, SeriesInstanceUID=SERIES, Modality="CT"),
        answer(StudyInstanceUID=OTHER_STUDY, SeriesInstanceUID=OTHER_SERIES, Modality="CT"),
        answer(StudyInstanceUID=STUDY, Modality="RTPLAN"),
    ],
    "IMAGE": [
        answer(StudyInstanceUID=STUDY, SeriesInstanceUID=SERIES, SOPInstanceUID=IMAGE),
        answer(StudyInstanceUID=STUDY, SeriesInstanceUID=SERIES, InstanceNumber="2"),
        answer(StudyInstanceUID=STUDY, SeriesInstanceUID=OTHER_SERIES, SOPInstanceUID=IMAGE + "9"),
    ],
}


@pytest.fixture
def scripted_peer() -> Iterator[DicomNode]:
    def handle_find(event: Event) -> Iterator[tuple[int, Dataset]]:
        for match in ANSWERS[str(event.identifier.QueryRetrieveLevel)]:
            yield 0xFF00, match

    ae = AE("SCRIPTED")
    ae.add_supported_context(StudyRootQueryRetrieveInformationModelFind)
    port = free_port()
    server = ae.start_server(
        ("127.0.0.1", port), block=False, evt_handlers=[(evt.EVT_C_FIND, handle_find)]
    )
    try:
        yield DicomNode("SCRIPTED", "127.0.0.1", port)
    finally:
        server.shutdown()


def test_malformed_answers_are_skipped_with_a_warning(
    scripted_peer: DicomNode, caplog: pytest.LogCaptureFixture
) -> None:
    client = DicomClient(scripted_peer, CALLING_AET, connect_timeout=2, timeout=5, retries=0)
    with caplog.at_level(logging.WARNING, logger="resources.dicom.client"):
        records = client.enumerate_instances({"StudyDate": "20260105"})

    assert [(r.study_instance_uid, r.series_instance_uid, r.sop_instance_uid) for r in records] == [
        (STUDY, SERIES, IMAGE)
    ]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    peer = f"SCRIPTED@127.0.0.1:{scripted_peer.port}: skipping an answer to the"
    assert warnings == [
        f"{peer} STUDY query (StudyDate=20260105): it has no StudyInstanceUID",
        f"{peer} SERIES query (StudyInstanceUID={STUDY}): "
        f"its StudyInstanceUID {OTHER_STUDY} is not the queried {STUDY}",
        f"{peer} SERIES query (StudyInstanceUID={STUDY}): it has no SeriesInstanceUID",
        f"{peer} IMAGE query (StudyInstanceUID={STUDY}, SeriesInstanceUID={SERIES}): "
        "it has no SOPInstanceUID",
        f"{peer} IMAGE query (StudyInstanceUID={STUDY}, SeriesInstanceUID={SERIES}): "
        f"its SeriesInstanceUID {OTHER_SERIES} is not the queried {SERIES}",
    ]
