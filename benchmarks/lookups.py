"""What the archive takes to answer the treatment chain's lookups, over REST and over DICOM.

    .venv/bin/python -m benchmarks.lookups [--ct-slices 60] [--repeats 20]

On an Orthanc of its own (loopback ports, a temporary folder, stopped at the end), one
synthetic patient (a CT series of `--ct-slices`, its RT Structure Set, Plan, Dose and
records) stored over REST. Then, with the archive's client over REST and without it
(DICOM only), the medians of `--repeats` calls, in milliseconds:

- ``held_uids``: the patient's 3 series (CT, RT Structure Set, RT Plan) at SERIES level,
  and the CT's instances at IMAGE level;
- ``instance_header`` of the RT Plan; without REST, a C-GET proposing the plan's class
  and one proposing every RT class (the default).

docs/benchmarks.md ("Figures behind design choices") holds its last figures.
"""

import argparse
import datetime as dt
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from pydicom import dcmwrite
from pydicom.uid import RTPlanStorage

from radonc_assets.devtools.local_servers import LOOPBACK, OrthancServer
from radonc_assets.devtools.synthetic import SyntheticSpec, generate
from resources.dicom.client import DicomClient, DicomNode
from resources.dicom.queries import QueryLevel
from resources.orthanc import DicomOrthanc, RestOrthanc

AET = "LOOKUPS"
CALLING_AET = "LOOKUPS_SCU"


def median_ms(call: Callable[[], object], repeats: int) -> float:
    """The median of `repeats` calls of `call`, in milliseconds (after one call unmeasured)."""
    call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main() -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ct-slices", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    spec = SyntheticSpec(
        start=dt.date(2026, 1, 5), end=dt.date(2026, 1, 6), patients=1, ct_slices=args.ct_slices
    )
    with tempfile.TemporaryDirectory() as work, OrthancServer(Path(work), AET) as server:
        node = DicomNode(AET, LOOPBACK, server.dicom_port)
        rest = RestOrthanc(DicomClient(node, CALLING_AET), server.url)
        dicom = DicomOrthanc(DicomClient(node, CALLING_AET))
        series: dict[str, str] = {}
        images: list[str] = []
        plan = ""
        for ds in generate(spec):
            encoded = Path(work) / "instance.dcm"
            dcmwrite(encoded, ds, enforce_file_format=True)
            rest.upload(encoded.read_bytes())
            series.setdefault(str(ds.Modality), str(ds.SeriesInstanceUID))
            if ds.Modality == "CT":
                images.append(str(ds.SOPInstanceUID))
            if ds.Modality == "RTPLAN":
                plan = str(ds.SOPInstanceUID)
        three = [series["CT"], series["RTSTRUCT"], series["RTPLAN"]]
        rows = [
            (f"held_uids, {len(three)} series", QueryLevel.SERIES, three),
            (f"held_uids, {len(images)} instances", QueryLevel.IMAGE, images),
        ]
        print(f"{'lookup':<45}{'REST':>10}{'DICOM':>10}  (ms, median of {args.repeats})")
        for label, level, uids in rows:
            print(
                f"{label:<45}"
                f"{median_ms(partial(rest.held_uids, level, uids), args.repeats):>10.1f}"
                f"{median_ms(partial(dicom.held_uids, level, uids), args.repeats):>10.1f}"
            )
        print(
            f"{'instance_header of the RT Plan, its class':<45}"
            f"{median_ms(lambda: rest.instance_header(plan, [RTPlanStorage]), args.repeats):>10.1f}"
            f"{median_ms(lambda: dicom.instance_header(plan, [RTPlanStorage]), args.repeats):>10.1f}"
        )
        print(
            f"{'instance_header of the RT Plan, every RT class':<45}{'':>10}"
            f"{median_ms(lambda: dicom.instance_header(plan), args.repeats):>10.1f}"
        )


if __name__ == "__main__":
    main()
