"""Whether each archived file of a day is still the one the archive stored.

Every validation checks it for every instance it finds in the archive, in one of two ways
(the report's metadata ``archive_integrity`` says which):

- ``orthanc_md5``, with the archive's REST API: Orthanc reads each stored file again and
  compares its MD5 with the one it recorded when it stored it
  (:meth:`~resources.orthanc.OrthancClient.altered_files`). A file that differs, or that
  it cannot read, is ``altered_in_archive``.
- ``content_hash``, without it: the archive's copy is retrieved by C-GET and its content
  hash compared with the source's (:func:`~radonc_assets.backup.content_hash.compare_content`),
  a DICOM source's copy retrieved by C-GET too (as deep validation does: the source must
  answer C-GET), a Mosaiq source's records read from the files it generated for the day.
  A difference is ``mismatched``, as in deep validation: the archive does not hold what
  the source holds, and which side changed cannot be told.

The next copy of the day deletes from the archive what the day's last report found
``altered_in_archive``, once checked again, so that it is copied again from the source
(:func:`delete_altered`). Without REST nothing is deleted (DICOM cannot delete): what
differs stays ``mismatched`` until someone deletes it in the archive, after which the
next backup copies it again.
"""

import datetime as dt
import logging
from collections.abc import Callable, Mapping, Sequence
from enum import StrEnum
from functools import partial

import pandas as pd

from radonc_assets.backup.audit_files import records_dir
from radonc_assets.backup.content_hash import (
    SourceContent,
    compare_content,
    file_hashes,
    retrieved_hashes,
)
from radonc_assets.backup.manifest import Status, among, identities
from radonc_assets.site.config import SiteConfig
from resources.dicom.client import DicomClient
from resources.orthanc import OrthancClient

LOGGER = logging.getLogger(__name__)

CONTENT_CHECK = "content check (the archive has no REST API to verify its files)"


class IntegrityMethod(StrEnum):
    """How a validation checked that the archive's files are the ones it stored."""

    ORTHANC_MD5 = "orthanc_md5"
    CONTENT_HASH = "content_hash"


def integrity_method(archive: OrthancClient) -> IntegrityMethod:
    """The method the validation uses with `archive`: Orthanc's MD5 check needs REST."""
    return IntegrityMethod.ORTHANC_MD5 if archive.has_rest else IntegrityMethod.CONTENT_HASH


def check_archive_files(
    archive: OrthancClient,
    reports: Sequence[pd.DataFrame],
    contents: Sequence[SourceContent],
) -> list[pd.DataFrame]:
    """The sources' reports, their verified instances checked for intactness in the archive.

    With REST, each instance the reports verified is checked once, however many sources
    list it; without, each report's against its source's content.

    Args:
        archive: The archive.
        reports: Each source's rows of the validation report.
        contents: Each source's content, in the order of `reports`; needed only without
            the archive's REST API.

    Raises:
        ValueError: No REST API, and not every source's content given.
    """
    if archive.has_rest:
        verified = [report[report["status"] == Status.VERIFIED] for report in reports]
        altered = archive.altered_files(dict.fromkeys(identities(verified)))
        return [mark_altered(report, altered) for report in reports]
    if len(contents) != len(reports):
        raise ValueError(
            f"{archive.dicom.peer} has no REST API: its files are checked against each "
            f"source's content, and {len(contents)} of {len(reports)} sources' were given"
        )
    return [
        compare_content(report, content, archive.dicom, CONTENT_CHECK)
        for report, content in zip(reports, contents, strict=True)
    ]


def mark_altered(report: pd.DataFrame, altered: Mapping[str, str]) -> pd.DataFrame:
    """`report` with its verified instances named in `altered` as ``altered_in_archive``.

    Args:
        report: A source's rows of the validation report.
        altered: What is wrong with each altered file, by SOPInstanceUID.
    """
    hit = (report["status"] == Status.VERIFIED) & among(report["sop_instance_uid"], altered)
    if not hit.any():
        return report
    report = report.copy()
    report.loc[hit, "status"] = Status.ALTERED_IN_ARCHIVE
    report.loc[hit, "detail"] = [altered[uid] for uid in report.loc[hit, "sop_instance_uid"]]
    return report


def source_contents(
    site: SiteConfig, day: dt.date, client: Callable[[str], DicomClient]
) -> dict[str, SourceContent]:
    """How each source of `site` gives the content of its instances of `day`, by alias.

    A DICOM source by C-GET (its client from `client`, asked only when used); a Mosaiq
    source from the records it generated for the day.
    """
    return {
        alias: (
            partial(_retrieved, client, alias)
            if alias in site.dicom_sources
            else file_hashes(records_dir(site.name, day, alias))
        )
        for alias in site.sources
    }


def _retrieved(
    client: Callable[[str], DicomClient], alias: str, rows: pd.DataFrame
) -> dict[str, str]:
    return retrieved_hashes(client(alias), rows).hashes


def altered_rows(report: pd.DataFrame | None, alias: str, manifest: pd.DataFrame) -> pd.DataFrame:
    """The rows of `manifest` that the day's last `report` found altered in the archive.

    Only what `alias` still lists: what the source no longer holds is never deleted.
    """
    if report is None or report.empty:
        return manifest.iloc[:0]
    found = report[(report["source"] == alias) & (report["status"] == Status.ALTERED_IN_ARCHIVE)]
    return manifest[among(manifest["sop_instance_uid"], set(found["sop_instance_uid"]))]


def delete_altered(archive: OrthancClient, rows: pd.DataFrame) -> dict[str, str]:
    """Delete from the archive those of `rows` whose file is still altered, to copy them again.

    Each is checked again first (:meth:`~resources.orthanc.OrthancClient.altered_files`):
    one already stored again is kept. Without the archive's REST API nothing can be
    checked or deleted.

    Args:
        archive: The archive.
        rows: Manifest rows the day's last report found altered (:func:`altered_rows`).

    Returns:
        What was wrong with each instance deleted, by SOPInstanceUID.
    """
    if rows.empty:
        return {}
    if not archive.has_rest:
        LOGGER.warning(
            "%s instances differ in %s, which has no REST API: they cannot be deleted to be "
            "copied again; delete them in the archive and back up the day again",
            len(rows),
            archive.dicom.peer,
        )
        return {}
    altered = archive.altered_files(identities([rows]))
    if altered:
        archive.delete_instances(altered)
        LOGGER.warning(
            "Deleted %s instances whose file in %s was altered, to copy them again: %s",
            len(altered),
            archive.dicom.peer,
            ", ".join(altered),
        )
    return altered
