"""A day's validation: each source's manifest against what the archive holds.

What the ``validation_report`` asset does with the archive, apart from Dagster and
the optional deep check (and what ``benchmarks.isolated validate`` measures).
"""

import time
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from radonc_assets.backup.chain import chain_report, treatment_records
from radonc_assets.backup.content_hash import SourceContent
from radonc_assets.backup.integrity import IntegrityMethod, check_archive_files, integrity_method
from radonc_assets.backup.manifest import (
    compare,
    explain_absent,
    extras,
    identities,
    manifest_frame,
)
from resources.orthanc import OrthancClient


@dataclass(frozen=True)
class DayValidation:
    """What the archive holds of a day's manifests.

    Attributes:
        reports: Each manifest's rows with their ``status`` and ``detail``
            (:func:`~radonc_assets.backup.manifest.compare`, explained by the copies,
            the archived files checked by :mod:`~radonc_assets.backup.integrity`).
        extra: What the archive holds of the day's studies that no manifest lists.
        chains: Each treatment record's plan, structure set and images, found or not.
        studies: How many studies the manifests list.
        integrity: How the archived files were checked.
        integrity_seconds: How long that check took.
    """

    reports: list[pd.DataFrame]
    extra: pd.DataFrame
    chains: pd.DataFrame
    studies: int
    integrity: IntegrityMethod
    integrity_seconds: float


def validate_day(
    archive: OrthancClient,
    manifests: Sequence[pd.DataFrame],
    copies: Sequence[pd.DataFrame | None],
    contents: Sequence[SourceContent] = (),
) -> DayValidation:
    """Compare each manifest with the archive, in one listing of the day's studies.

    Every instance found in the archive is then checked to be the file the archive
    stored (:func:`~radonc_assets.backup.integrity.check_archive_files`).

    Args:
        archive: The archive.
        manifests: The day's manifests, one per source.
        copies: Each source's copies file of the day, None before any copy.
        contents: Each source's content, in the order of `manifests`: needed only
            when the archive has no REST API, whose files are then checked against it.
    """
    archived = manifest_frame(archive.archived_instances(identities(manifests)))
    compared = [
        explain_absent(compare(manifest, archived), copied)
        for manifest, copied in zip(manifests, copies, strict=True)
    ]
    started = time.monotonic()
    reports = check_archive_files(archive, compared, contents)
    integrity_seconds = time.monotonic() - started
    chains = chain_report(treatment_records(manifests), archive.instance_header, archive.held_uids)
    studies = set().union(*(m["study_instance_uid"].tolist() for m in manifests))
    return DayValidation(
        reports,
        extras(manifests, archived),
        chains,
        len(studies),
        integrity_method(archive),
        integrity_seconds,
    )
