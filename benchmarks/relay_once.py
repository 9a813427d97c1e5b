"""Relay one manifest from a C-GET source to an Orthanc archive, in a process of its own.

Prints the relay's duration and peak memory (VmHWM) as JSON.

Run by `benchmarks/run.py`; a process of its own makes the peak memory that of
the relay alone.
"""

import argparse
import json
import resource
import time
from pathlib import Path

from radonc_assets.backup.audit_files import read_frame
from radonc_assets.backup.transfers import relay_missing
from resources.dicom.client import DicomClient, DicomNode
from resources.orthanc import OrthancClient


def main() -> None:
    """Relay the manifest given on the command line; print the measures as JSON."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--manifest", type=Path, required=True)
    parser.add_argument("--source", required=True, help="AET@PORT")
    parser.add_argument("--archive", required=True, help="AET@PORT")
    parser.add_argument("--archive-url", required=True)
    args = parser.parse_args()
    source_aet, source_port = args.source.split("@")
    archive_aet, archive_port = args.archive.split("@")
    manifest = read_frame(args.manifest)
    source = DicomClient(DicomNode(source_aet, "127.0.0.1", int(source_port)), "BENCH_SCU")
    archive = OrthancClient(
        DicomClient(DicomNode(archive_aet, "127.0.0.1", int(archive_port)), "BENCH_SCU"),
        args.archive_url,
    )
    baseline_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    transfer = relay_missing(source, archive, manifest, manifest)
    seconds = time.monotonic() - started
    copied = sum(outcome == "copied" for outcome, _ in transfer.outcomes.values())
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = {
        "seconds": seconds,
        "copied": copied,
        "peak_mib": peak_kib / 1024,
        "before_relay_mib": baseline_kib / 1024,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
