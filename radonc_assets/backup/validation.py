"""A day's validation: each source's manifest against what the archive holds.

What the ``validation_report`` asset does with the archive, apart from Dagster and
the optional deep check (and what ``benchmarks.isolated validate`` measures).
"""

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from radonc_assets.backup.chain import chain_report, treatment_records
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
            (:func:`~radonc_assets.backup.manifest.compare`, explained by the copies).
        extra: What the archive holds of the day's studies that no manifest lists.
        chains: Each treatment record's plan, structure set and images, found or not.
        studies: How many studies the manifests list.
    """

    reports: list[pd.DataFrame]
    extra: pd.DataFrame
    chains: pd.DataFrame
    studies: int


def validate_day(
    archive: OrthancClient,
    manifests: Sequence[pd.DataFrame],
    copies: Sequence[pd.DataFrame | None],
) -> DayValidation:
    """Compare each manifest with the archive, in one listing of the day's studies.

    Args:
        archive: The archive.
        manifests: The day's manifests, one per source.
        copies: Each source's copies file of the day, None before any copy.
    """
    archived = manifest_frame(archive.archived_instances(identities(manifests)))
    reports = [
        explain_absent(compare(manifest, archived), copied)
        for manifest, copied in zip(manifests, copies, strict=True)
    ]
    chains = chain_report(treatment_records(manifests), archive.instance_header, archive.held_uids)
    studies = set().union(*(m["study_instance_uid"].tolist() for m in manifests))
    return DayValidation(reports, extras(manifests, archived), chains, len(studies))
