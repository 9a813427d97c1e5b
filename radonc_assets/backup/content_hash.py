"""A hash of what a DICOM instance says, independent of how it was encoded.

Orthanc rewrites the file meta information (group 0002) and may store an
instance in another uncompressed transfer syntax than it received, so files are
not byte-identical to the source's. This hash covers every data element outside
group 0002, by tag and decoded value (sequences recursively); PixelData counts
as its encoded bytes, so a compressed image that was transcoded does not match.
"""

import hashlib
import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from radonc_assets.backup.manifest import Status, not_in
from radonc_assets.backup.transfers import (
    get_requests,
    instance_requests,
    retrieve_requests,
)
from resources.dicom.client import DicomClient

_PIXEL_DATA = 0x7FE00010

# A source's content hash (:func:`content_hash`) of each instance of manifest rows it can
# give, by SOPInstanceUID.
SourceContent = Callable[[pd.DataFrame], Mapping[str, str]]


def content_hash(dataset: Dataset) -> str:
    """SHA-256 (hex) of the data elements of `dataset` outside group 0002."""
    digest = hashlib.sha256()
    _feed(digest, dataset)
    return digest.hexdigest()


@dataclass(frozen=True)
class Retrieved:
    """The content hashes of retrieved instances, and what retrieving them took.

    Attributes:
        hashes: The content hash of each instance received, by SOPInstanceUID.
        bytes: The encoded size of the instances received.
    """

    hashes: dict[str, str]
    bytes: int


def retrieved_hashes(
    client: DicomClient,
    rows: pd.DataFrame,
    *,
    series: pd.DataFrame | None = None,
    isolate_failures: bool = False,
) -> Retrieved:
    """The content hash of each instance of `rows` (manifest rows), retrieved by C-GET.

    Instances are hashed as they arrive and not kept.

    Args:
        client: The node to retrieve from.
        rows: The instances.
        series: Manifest rows of every instance of the series of `rows` (default:
            `rows`): a series whose instances are all in `rows` is asked for whole, the
            others by lists of their instances
            (:func:`~radonc_assets.backup.transfers.listed_requests`), so that no
            more than `rows` is retrieved; what did not come is asked for again instance
            by instance.
        isolate_failures: A request that fails leaves its instances out of the hashes
            instead of raising (:meth:`~resources.dicom.client.DicomClient.get`).
    """
    hashes: dict[str, str] = {}
    size = 0

    def keep(encoded: bytes) -> None:
        nonlocal size
        size += len(encoded)
        dataset = dcmread(io.BytesIO(encoded))
        hashes[str(dataset.SOPInstanceUID)] = content_hash(dataset)

    requests = retrieve_requests(rows, rows if series is None else series, listed=True)
    get_requests(client, requests, keep, isolate_failures=isolate_failures)
    absent = not_in(rows, hashes)
    if not absent.empty:
        get_requests(client, instance_requests(absent), keep, isolate_failures=isolate_failures)
    return Retrieved(hashes, size)


def deep_compare(report: pd.DataFrame, source: DicomClient, archive: DicomClient) -> pd.DataFrame:
    """Mark the verified instances of a report whose content differs in the archive.

    Both copies are retrieved by C-GET and hashed (:func:`content_hash`).
    """
    return compare_content(
        report, lambda rows: retrieved_hashes(source, rows).hashes, archive, "deep check"
    )


def compare_content(
    report: pd.DataFrame, source: SourceContent, archive: DicomClient, check: str
) -> pd.DataFrame:
    """Mark the verified instances of a report whose content in the archive is not the source's.

    The archive's copies are retrieved by C-GET and hashed (:func:`content_hash`); an
    instance whose hash differs from the source's, or that the source cannot give, is
    ``mismatched``, its detail starting with `check`.

    Args:
        report: A source's rows of the validation report.
        source: The source's content hash of the instances of manifest rows.
        archive: The archive, over DICOM.
        check: What compares, for the detail (``deep check``...).
    """
    verified = report[report["status"] == Status.VERIFIED]
    if verified.empty:
        return report
    ours, theirs = source(verified), retrieved_hashes(archive, verified).hashes
    report = report.copy()
    for index, uid in verified["sop_instance_uid"].items():
        if uid not in ours:
            report.loc[index, ["status", "detail"]] = [
                Status.MISMATCHED,
                f"{check}: not retrievable from the source",
            ]
        elif theirs.get(uid) != ours[uid]:
            report.loc[index, ["status", "detail"]] = [
                Status.MISMATCHED,
                f"{check}: content differs from the source",
            ]
    return report


def file_hash(path: Path) -> tuple[str, int] | None:
    """The content hash of the DICOM file at `path`, and its size; None without a readable one."""
    try:
        encoded = path.read_bytes()
        return content_hash(dcmread(io.BytesIO(encoded))), len(encoded)
    except (FileNotFoundError, InvalidDicomError):
        return None


def file_hashes(folder: Path) -> SourceContent:
    """The content hashes of the instances of manifest rows read from `folder`.

    Each instance is the file ``SOPInstanceUID.dcm`` there (the records a Mosaiq source
    generated for the day); one without a readable file has no hash.
    """

    def hashes(rows: pd.DataFrame) -> dict[str, str]:
        found = ((uid, file_hash(folder / f"{uid}.dcm")) for uid in rows["sop_instance_uid"])
        return {uid: hashed[0] for uid, hashed in found if hashed is not None}

    return hashes


def _feed(digest: "hashlib._Hash", dataset: Dataset) -> None:
    for element in dataset:
        if element.tag.group == 0x0002:
            continue
        digest.update(int(element.tag).to_bytes(4, "big"))
        if element.VR == "SQ":
            for item in element.value:
                digest.update(b"item")
                _feed(digest, item)
        elif int(element.tag) == _PIXEL_DATA:
            digest.update(element.value)
        else:
            digest.update(repr(element.value).encode())
