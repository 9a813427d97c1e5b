"""What Nagle's algorithm costs a small C-STORE to Orthanc (resources.dicom.workarounds.NoDelayAE).

    .venv/bin/python -m benchmarks.nodelay [--instances 50]

On an Orthanc of its own (loopback ports, a temporary folder, started with
``TCP_NODELAY=1`` as every server of the project), `--instances` small synthetic CT
slices (8x8) are C-STOREd over one association by pynetdicom's ``AE``, whose socket
leaves Nagle's algorithm on, and by ``NoDelayAE``, whose socket turns it off; Orthanc
deletes them after each pass. Two rounds, alternating, the first AE's first pass warming
Orthanc up for both. Prints milliseconds per C-STORE and instances a second.

docs/benchmarks.md ("Figures behind design choices") holds its last figures.
"""

import argparse
import datetime as dt
import itertools
import tempfile
import time
from pathlib import Path

import requests
from pydicom.dataset import FileDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian
from pynetdicom import AE

from radonc_assets.devtools.local_servers import LOOPBACK, OrthancServer
from radonc_assets.devtools.synthetic import SyntheticSpec, generate
from resources.dicom.workarounds import NoDelayAE, keep_responses_from_the_reactor

AET = "NODELAY"


def stores_per_second(
    ae_class: type[AE], server: OrthancServer, instances: list[FileDataset]
) -> float:
    """C-STORE `instances` over one association of a new `ae_class`; instances a second."""
    ae = ae_class()
    ae.add_requested_context(CTImageStorage, ExplicitVRLittleEndian)
    assoc = ae.associate(LOOPBACK, server.dicom_port, ae_title=AET)
    if not assoc.is_established:
        raise RuntimeError(f"{server} refused the association")
    # Both with the project's other work-around: only Nagle's algorithm differs.
    keep_responses_from_the_reactor(assoc)
    start = time.perf_counter()
    for ds in instances:
        status = assoc.send_c_store(ds)
        if status.get("Status") != 0:
            raise RuntimeError(f"C-STORE of {ds.SOPInstanceUID} answered {status or 'nothing'}")
    seconds = time.perf_counter() - start
    assoc.release()
    requests.delete(f"{server.url}/patients/{requests.get(f'{server.url}/patients').json()[0]}")
    return len(instances) / seconds


def main() -> None:
    """Measure and print the two rates."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=50)
    args = parser.parse_args()
    spec = SyntheticSpec(
        start=dt.date(2026, 1, 5),
        end=dt.date(2026, 1, 6),
        patients=1,
        ct_slices=args.instances,
        image_size=8,
    )
    instances = list(itertools.islice(generate(spec), args.instances))
    with tempfile.TemporaryDirectory() as work, OrthancServer(Path(work), AET) as server:
        for label, ae_class in 2 * (("Nagle on (AE)", AE), ("Nagle off (NoDelayAE)", NoDelayAE)):
            rate = stores_per_second(ae_class, server, instances)
            print(f"{label:<24}{1000 / rate:8.1f} ms a C-STORE{rate:8.1f} instances/s")


if __name__ == "__main__":
    main()
