"""The copy of a source's day into the archive, whatever the source: one asset factory.

Each capability gives the way it copies (C-MOVE, the C-GET relay, C-STORE of
generated records); the asset reads the day's manifest, deletes from the archive what
the day's last validation found altered there (so that it is copied again), skips what
the archive holds, bounds the run by ``max_uids_per_run``, records each instance's
outcome in the copies file and its counts as metadata.
"""

import time
from collections.abc import Callable, Collection, Mapping, Set

import dagster as dg
import pandas as pd

from radonc_assets.backup.audit_files import REPORT, audit_path, read_frame, write_frame
from radonc_assets.backup.integrity import altered_rows, delete_altered
from radonc_assets.backup.listing import ListingStatus, listing_path, read_listing
from radonc_assets.backup.manifest import Outcome, cap, not_in
from radonc_assets.backup.transfers import Transfer
from radonc_assets.defs.audit import run_audit
from radonc_assets.defs.metadata import MAX_UIDS_IN_METADATA, rate, studies_table
from radonc_assets.defs.sources import source_asset, unreachable
from radonc_assets.site.config import SiteConfig
from radonc_assets.site.naming import asset_key, manifest_name, node_key
from radonc_assets.site.partitions import partition_date
from radonc_assets.site.resources import OrthancResource
from resources.orthanc import OrthancClient

# Copies the rows of a day's manifest (`todo`) the archive lacks: (context, archive,
# todo, manifest) -> what happened to each.
Copy = Callable[[dg.AssetExecutionContext, OrthancClient, pd.DataFrame, pd.DataFrame], Transfer]


def archive_client(context: dg.AssetExecutionContext, site: SiteConfig) -> OrthancClient:
    """The site's archive, from the run's resources."""
    resource: OrthancResource = getattr(context.resources, node_key(site, site.default_backup))
    return resource.get_client()


def copies_description(site: SiteConfig, alias: str, method: str) -> str:
    """The UI description of ``[site, source, "orthanc_copies"]`` copied by `method`."""
    limit = site.settings.max_uids_per_run
    bound = f", at most {limit} per run" if limit else ""
    return (
        f"The day's instances of {alias} in the Orthanc archive {site.default_backup}: what is "
        f"missing is copied ({method}{bound}), then every instance is confirmed in the "
        "archive; a series that fails is retried instance by instance. What the day's last "
        "validation found altered_in_archive is checked again and, still altered, deleted "
        "from the archive first, so that it is copied again. One row per "
        "instance with its outcome (already_present, copied, failed with its cause, "
        "deferred to the next run). Metadata: instances (the day's, in the manifest) "
        "and how many are already_present, copied, failed or deferred; replaced, the "
        "altered instances deleted to be copied again; bytes_of_day, "
        "the size in the archive of the day's instances (not of their whole studies); "
        "bytes_copied, the size of those this run copied (the archive's files, whether "
        "by C-MOVE, C-GET relay or C-STORE; 0 without the archive's REST API); "
        "retrieve_requests, the C-MOVE/C-GET/C-STORE requests made, of which "
        "series_moved_while_enumerating were whole series the archive lacked, C-MOVEd "
        "while the day was being enumerated; "
        "instances_per_second, copied instances over the run's time."
    )


def copy_day(
    context: dg.AssetExecutionContext,
    site: SiteConfig,
    alias: str,
    manifest: pd.DataFrame,
    copy: Copy,
    *,
    key: dg.AssetKey | None = None,
    copying: Collection[str] = frozenset(),
) -> dg.MaterializeResult:
    """Copy what the archive lacks of the day's `manifest`; the copies file and metadata.

    Args:
        context: The step's context.
        site: The site.
        alias: The source.
        manifest: The day's manifest of `alias`.
        copy: Copies the rows the archive lacks.
        key: The asset materialized, when the step materializes several.
        copying: Series (SeriesInstanceUIDs) already being copied by this run, which
            the archive held none of (never with ``max_uids_per_run``): their
            instances count as copied, not as present.
    """
    started = time.monotonic()
    day = partition_date(context.partition_key)
    limit = site.settings.max_uids_per_run
    studies = sorted(set(manifest["study_instance_uid"]))
    report = audit_path(site.name, day, REPORT)
    with archive_client(context, site) as archive:
        replaced = delete_altered(
            archive, altered_rows(read_frame(report) if report.exists() else None, alias, manifest)
        )
        sizes = archive.archived_files(studies)
        present = set(sizes) - set(
            manifest["sop_instance_uid"][manifest["series_instance_uid"].isin(copying)]
        )
        todo, deferred = cap(not_in(manifest, present), limit)
        outcomes: dict[str, tuple[Outcome, str]] = {
            uid: (
                Outcome.DEFERRED,
                f"max_uids_per_run ({limit}) reached; the next run continues",
            )
            for uid in deferred["sop_instance_uid"]
        }
        requests = 0
        notes: Mapping[str, str] = {}
        if not todo.empty:
            transfer = copy(context, archive, todo, manifest)
            outcomes |= transfer.outcomes
            requests = transfer.requests
            notes = transfer.metadata
            # The copy's last listing covers the studies it copied into; the first one
            # the others.
            if transfer.archived is None:
                sizes = archive.archived_files(studies)
            else:
                sizes |= transfer.archived
    for uid, problem in replaced.items():
        if outcomes.get(uid, (Outcome.ALREADY_PRESENT, ""))[0] == Outcome.COPIED:
            outcomes[uid] = (Outcome.COPIED, f"copied again, as {problem}")
    outcome = [
        outcomes.get(uid, (Outcome.ALREADY_PRESENT, "")) for uid in manifest["sop_instance_uid"]
    ]
    copies = manifest.assign(outcome=[o for o, _ in outcome], reason=[r for _, r in outcome])
    path = write_frame(
        copies.assign(**run_audit(context)),
        audit_path(site.name, day, f"{alias}_orthanc_copies"),
    )
    seconds = time.monotonic() - started
    counts = copies["outcome"].value_counts()
    copied = int(counts.get(Outcome.COPIED, 0))
    not_copied = copies[~copies["outcome"].isin([Outcome.COPIED, Outcome.ALREADY_PRESENT])]
    if not not_copied.empty:
        context.log.error(
            "%d of %d instances of %s are not in the archive for %s",
            len(not_copied),
            len(copies),
            alias,
            day,
        )
    return dg.MaterializeResult(
        asset_key=key,
        metadata={
            "instances": len(copies),
            **{str(outcome): int(counts.get(outcome, 0)) for outcome in Outcome},
            "replaced": len(replaced),
            "retrieve_requests": requests,
            "series_moved_while_enumerating": len(copying),
            "bytes_of_day": sum(sizes.get(uid, 0) for uid in manifest["sop_instance_uid"]),
            "bytes_copied": sum(
                sizes.get(uid, 0)
                for uid, (outcome, _) in outcomes.items()
                if outcome == Outcome.COPIED
            ),
            "seconds": round(seconds, 2),
            "instances_per_second": rate(copied, seconds),
            "not_copied_uids": dg.MetadataValue.json(
                list(not_copied["sop_instance_uid"][:MAX_UIDS_IN_METADATA])
            ),
            "studies_table": studies_table(
                copies.rename(columns={"outcome": "status"}),
                show_patient_id=site.phi_in_metadata,
            ),
            "copies": dg.MetadataValue.path(str(path)),
            **notes,
        },
    )


def orthanc_copies_asset(
    site: SiteConfig,
    alias: str,
    partitions: dg.PartitionsDefinition,
    *,
    method: str,
    copy: Copy,
    resources: Set[str],
) -> dg.AssetsDefinition:
    """``[site, source, "orthanc_copies"]``: the day's manifest copied into the archive.

    Args:
        site: The site.
        alias: The source.
        partitions: The site's daily partitions.
        method: How `copy` copies, for the description (``C-MOVE``...).
        copy: Copies the rows of the day's manifest that the archive lacks.
        resources: The resources `copy` needs, beside the archive's.
    """
    upstream = manifest_name(site.sources[alias])

    @dg.asset(
        **source_asset(site, alias, "orthanc_copies", partitions, "orthanc"),
        deps=[asset_key(site, alias, upstream)],
        required_resource_keys={*resources, node_key(site, site.default_backup)},
        description=copies_description(site, alias, method),
    )
    def orthanc_copies(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        day = partition_date(context.partition_key)
        listing = read_listing(listing_path(site.name, day, alias))
        if listing is not None and listing.status == ListingStatus.UNREACHABLE:
            (result,) = unreachable(context, site, alias, [context.asset_key], listing.cause)
            return result
        manifest = read_frame(audit_path(site.name, day, f"{alias}_{upstream}"))
        return copy_day(context, site, alias, manifest, copy)

    return orthanc_copies
