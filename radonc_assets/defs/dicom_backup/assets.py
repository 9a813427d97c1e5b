"""The backup assets of a site: each DICOM source's manifest and copy, and the report.

The site's daily validation report carries one asset check per source.

Asset keys are ``[site, source, "source_studies"]``, ``[site, source,
"orthanc_copies"]`` and ``[site, "validation_report"]`` (lower case); each site is
one asset group with daily partitions. Assets exchange manifests through the CSV
files of :mod:`radonc_assets.backup.audit_files`, which auditors can open directly.
"""

import datetime as dt
import logging
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd

from radonc_assets.backup.audit_files import audit_path, read_frame, write_frame
from radonc_assets.backup.chain import chain_summary
from radonc_assets.backup.content_hash import deep_compare
from radonc_assets.backup.coverage import day_status, verdict
from radonc_assets.backup.integrity import source_contents
from radonc_assets.backup.listing import Listing, listing_path, read_listing, unlisted
from radonc_assets.backup.manifest import INCOMPLETE, Status, source_row
from radonc_assets.backup.mosaiq.accounting import day_delivery_report
from radonc_assets.backup.source_queries import UndatedRecordsError, day_manifest
from radonc_assets.backup.transfers import SeriesMover, Transfer, move_missing, relay_missing
from radonc_assets.backup.validation import validate_day
from radonc_assets.defs.audit import run_audit
from radonc_assets.defs.copies import archive_client, copies_description, copy_day
from radonc_assets.defs.dicom_backup.checks import (
    chain_result,
    completeness_check_specs,
    completeness_result,
)
from radonc_assets.defs.metadata import rate, studies_table, table
from radonc_assets.defs.sources import record_listing, unreachable
from radonc_assets.site.config import DicomSource, SiteConfig
from radonc_assets.site.naming import (
    asset_key,
    group_name,
    manifest_name,
    node_key,
    source_kinds,
)
from radonc_assets.site.partitions import partition_date, site_partitions
from radonc_assets.site.resources import DicomNodeResource
from resources.dicom.client import DicomClient, SeriesCallback, SubOperations
from resources.errors import DicomError
from resources.orthanc import OrthancClient

LOGGER = logging.getLogger(__name__)


def _source_client(context: dg.AssetExecutionContext, site: SiteConfig, alias: str) -> DicomClient:
    resource: DicomNodeResource = getattr(context.resources, node_key(site, alias))
    return resource.get_client()


# The report of a date follows its copies: requested by the automation sensor after a
# copy of that date is updated by a run that did not run the report too (a sensor's run of
# one source, a copy run from the UI), once none is running, whether or not every
# source's copy of the date exists (a source not listed yet leaves today undecided, and
# makes a past date not_run). A run of the report (requested, in progress, materialized,
# or newly failed) handles what was copied before it: a backfill's run whose report fails
# is not followed by another report (Dagster's any_deps_updated() tells runs that also ran
# the report only by each asset's latest materialization, whatever its date). As eager()
# without in_latest_time_window(): any date, not only today's.
_REPORT_RAN: dg.AutomationCondition = (
    dg.AutomationCondition.newly_requested()
    | dg.AutomationCondition.newly_updated()
    | dg.AutomationCondition.in_progress()
    | dg.AutomationCondition.execution_failed().newly_true()
)
REPORT_FOLLOWS_COPIES: dg.AutomationCondition = (
    dg.AutomationCondition.any_deps_updated().since(_REPORT_RAN)
    & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.in_progress()
)


def _manifest(
    context: dg.AssetExecutionContext,
    key: dg.AssetKey,
    site: SiteConfig,
    alias: str,
    client: DicomClient,
    path: Path,
    on_series: SeriesCallback | None,
) -> tuple[pd.DataFrame, dg.MaterializeResult]:
    """The day's manifest, listed in full and written at `path`, and its materialization.

    Listed by :func:`~radonc_assets.backup.source_queries.day_manifest`; the listing is
    recorded beside the manifest (:mod:`radonc_assets.backup.listing`).
    """
    started = time.monotonic()
    day = partition_date(context.partition_key)
    source = site.dicom_sources[alias]
    listing = Listing.full()
    manifest = day_manifest(client, source, day, on_series)
    write_frame(manifest, path)
    listed = record_listing(context, site, alias, listing)
    seconds = time.monotonic() - started
    return manifest, dg.MaterializeResult(
        asset_key=key,
        metadata={
            **listed,
            "instances": len(manifest),
            "series": manifest["series_instance_uid"].nunique(),
            "studies": manifest["study_instance_uid"].nunique(),
            "modalities": ", ".join(sorted(set(manifest["modality"]) - {""})),
            "seconds": round(seconds, 2),
            "instances_per_second": rate(len(manifest), seconds),
            "studies_table": studies_table(manifest, show_patient_id=site.phi_in_metadata),
            "manifest": dg.MetadataValue.path(str(path)),
        },
    )


def dicom_source_assets(
    site: SiteConfig, alias: str, source: DicomSource, partitions: dg.PartitionsDefinition
) -> dg.AssetsDefinition:
    """``[site, source, "source_studies"]`` and ``[site, source, "orthanc_copies"]``, one step.

    The step materializes either or both. With both, a C-MOVE source's series of which
    the archive holds nothing are C-MOVEd as soon as the enumeration has listed them,
    while it lists the others (:class:`~radonc_assets.backup.transfers.SeriesMover`),
    unless ``max_uids_per_run`` bounds the run (which copies the first instances in
    manifest order); the copy then confirms every instance and retrieves what is still
    missing. A C-GET source's copy (the relay) follows its enumeration.
    """
    manifest_key = asset_key(site, alias, "source_studies")
    copies_key = asset_key(site, alias, "orthanc_copies")
    # A run bounded by max_uids_per_run copies the first instances in manifest order.
    overlap = source.moves and site.settings.max_uids_per_run is None

    @dg.multi_asset(
        name=f"{asset_key(site, alias).to_python_identifier()}__backup",
        specs=[
            dg.AssetSpec(
                manifest_key,
                group_name=group_name(site),
                kinds=source_kinds(alias, "dicom"),
                description=(
                    f"Manifest of what {alias} ({source.type.upper()}, {source.aet}) holds for "
                    f"the day: one row per instance, listed in full by C-FIND study -> series "
                    f"-> image ({', '.join(source.daily_queries)}; image queries over "
                    f"{source.associations} association(s)) on every run; the validation's "
                    "verdict rests on this listing (metadata listed_at). A source that cannot "
                    "be listed is materialized with listing: unreachable and its cause, and "
                    "the report says so for the day, while the other sources go on."
                    + (
                        " Materialized with the copy, each series the archive holds none of "
                        "is C-MOVEd as soon as it is listed."
                        if overlap
                        else ""
                    )
                ),
            ),
            dg.AssetSpec(
                copies_key,
                deps=[manifest_key],
                group_name=group_name(site),
                kinds=source_kinds(alias, "orthanc"),
                description=copies_description(
                    site, alias, "C-MOVE" if source.moves else "C-GET relayed"
                ),
            ),
        ],
        partitions_def=partitions,
        pool=node_key(site, alias),
        can_subset=True,
        required_resource_keys={node_key(site, alias), node_key(site, site.default_backup)},
    )
    def backup(context: dg.AssetExecutionContext) -> Iterator[dg.MaterializeResult]:
        run_audit(context)
        selected = context.selected_asset_keys
        client = _source_client(context, site, alias)
        day = partition_date(context.partition_key)
        path = audit_path(site.name, day, f"{alias}_source_studies")
        moved: dict[str, SubOperations] = {}
        try:
            if manifest_key not in selected:
                manifest = read_frame(path)
            elif overlap and copies_key in selected:
                with (
                    archive_client(context, site) as archive,
                    SeriesMover(client, archive) as mover,
                ):
                    manifest, result = _manifest(
                        context, manifest_key, site, alias, client, path, mover.offer
                    )
                moved = mover.moved
            else:
                manifest, result = _manifest(context, manifest_key, site, alias, client, path, None)
        except (DicomError, UndatedRecordsError) as exc:
            keys = [k for k in (manifest_key, copies_key) if k in selected]
            yield from unreachable(
                context, site, alias, keys, f"{alias} could not be listed: {exc}"
            )
            return
        if manifest_key in selected:
            yield result
        if copies_key not in selected:
            return

        def copy(
            context: dg.AssetExecutionContext,
            archive: OrthancClient,
            todo: pd.DataFrame,
            manifest: pd.DataFrame,
        ) -> Transfer:
            if source.moves:
                return move_missing(client, archive, todo, manifest, moved)
            return relay_missing(client, archive, todo, manifest)

        yield copy_day(context, site, alias, manifest, copy, key=copies_key, copying=moved)

    return backup


def validation_report_asset(
    site: SiteConfig, partitions: dg.PartitionsDefinition
) -> dg.AssetsDefinition:
    """``[site, "validation_report"]``: every source's manifest against the archive."""
    key = asset_key(site, "validation_report")
    sources = site.sources
    rest = site.archive().rest_url is not None
    # Without the archive's REST API, validate_day compares every source's content anyway.
    deep = [a for a in site.dicom_sources if site.settings.deep_validation and rest]

    @dg.asset(
        key=key,
        deps=[asset_key(site, alias, "orthanc_copies") for alias in sources],
        group_name=group_name(site),
        partitions_def=partitions,
        required_resource_keys={
            node_key(site, site.default_backup),
            *(node_key(site, a) for a in (deep if rest else site.dicom_sources)),
        },
        kinds={"orthanc"},
        check_specs=completeness_check_specs(key, sources, partitions),
        automation_condition=REPORT_FOLLOWS_COPIES,
        # Not materialized while today is undecided (a source not listed yet).
        output_required=False,
        description=(
            "Compares each source's manifest for the day with the archive: verified, missing "
            "(with the cause the last copy gave), deferred (left for the next run by "
            "max_uids_per_run), mismatched (other series, SOP class or modality; with "
            "deep_validation, other content of a DICOM source; without the archive's REST "
            "API, that of every instance), altered_in_archive (the archive's file is no "
            "longer the one it stored: Orthanc's MD5 check of each file) and extra "
            "instances. Mosaiq's "
            "manifest is the records generated for the day. Extra: instances the archive "
            "holds in the day's studies that no source listed for the day (another day's "
            "instances of the same study, or ones stored in the archive by other means); "
            "listed, never a failure. One asset check per source, per date, fails when "
            "anything is missing, deferred or mismatched; another when a treatment record's "
            "plan, structure set or images are not in the archive. Metadata, first whether the "
            "date is safe: the verdict, then per source (the sources table) its verdict, the "
            "instances it holds, those in the archive and the counts per status; then the "
            "day's instances counted once across sources (distinct_*: a CT that ARIA and MIM "
            "both hold is one instance); below them the extra instances (extra_in_archive, "
            "not a failure); the studies (with the sources that list each) and the paths of "
            "the report and treatment chain files."
        ),
    )
    def validation_report(
        context: dg.AssetExecutionContext,
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        started = time.monotonic()
        day = partition_date(context.partition_key)
        now = dt.datetime.now(dt.UTC)
        day_end = context.partition_time_window.end
        reports: dict[str, pd.DataFrame] = {}
        manifests: dict[str, pd.DataFrame] = {}
        for alias, source in sources.items():
            problem = unlisted(read_listing(listing_path(site.name, day, alias)), day_end, now)
            if problem is None:
                path = audit_path(site.name, day, f"{alias}_{manifest_name(source)}")
                manifests[alias] = read_frame(path)
            else:
                reports[alias] = source_row(*problem)
        contents = source_contents(site, day, lambda alias: _source_client(context, site, alias))
        with archive_client(context, site) as archive:
            checked = validate_day(
                archive,
                list(manifests.values()),
                [_last_copies(site, day, alias) for alias in manifests],
                [contents[alias] for alias in manifests],
            )
            reports |= dict(zip(manifests, checked.reports, strict=True))
            for alias in (a for a in deep if a in manifests):
                reports[alias] = deep_compare(
                    reports[alias], _source_client(context, site, alias), archive.dicom
                )
        # Mosaiq: each delivery of the day that made no record, not converted or acknowledged.
        for alias in (a for a in site.mosaiq_sources if a in manifests):
            deliveries = day_delivery_report(site, day, alias)
            reports[alias] = pd.concat([reports[alias], deliveries], ignore_index=True)
        reports = {alias: reports[alias] for alias in sources}
        report = pd.concat(
            [r.assign(source=alias) for alias, r in reports.items()]
            + [checked.extra.assign(source="")],
            ignore_index=True,
        )
        path = write_frame(
            report.assign(**run_audit(context)), audit_path(site.name, day, "validation_report")
        )
        chains_path = write_frame(checked.chains, audit_path(site.name, day, "treatment_chains"))
        # First whether the date is safe, per source; then the distinct instances.
        metadata: dict[str, Any] = {
            "verdict": str(day_status(report)),
            "sources": table(
                [source_summary(alias, rows) for alias, rows in reports.items()],
                list(SOURCE_COLUMNS),
            ),
            **distinct_counts(reports.values()),
            "extra_in_archive": len(checked.extra),
            "extra_in_archive_means": EXTRA_MEANS,
            "studies": checked.studies,
            "deep_validation": site.settings.deep_validation,
            "archive_integrity": str(checked.integrity),
            "archive_integrity_seconds": round(checked.integrity_seconds, 2),
            "seconds": round(time.monotonic() - started, 2),
            "studies_table": studies_table(
                report[report["sop_instance_uid"] != ""], show_patient_id=site.phi_in_metadata
            ),
            "report": dg.MetadataValue.path(str(path)),
            **chain_counts(chain_summary(checked.chains)),
            "treatment_chains": dg.MetadataValue.path(str(chains_path)),
        }
        results = [
            *(
                completeness_result(alias, r, day_over=now >= day_end)
                for alias, r in reports.items()
            ),
            chain_result(checked.chains),
        ]
        failed = [result for result in results if not result.passed]
        if not failed:
            yield dg.MaterializeResult(metadata=metadata, check_results=results)
            return
        # The checks and the report's metadata are recorded; the date's materialization
        # waits for its verdict. Sources of today not listed yet (warnings) leave the date
        # undecided: no materialization, no failure. Anything else fails the step without a
        # materialization, so that the date shows as failed in the partitions view
        # (Dagster 1.13 colours a partition by its materializations only).
        context.log_event(
            dg.AssetObservation(asset_key=key, partition=context.partition_key, metadata=metadata)
        )
        yield from results
        errors = [r for r in failed if r.severity == dg.AssetCheckSeverity.ERROR]
        if not errors:
            context.log.info("%s is not over and not every source has been listed yet", day)
            return
        raise dg.Failure(
            description=f"{day} is not verified: "
            + "; ".join(f"{r.check_name}: {r.description}" for r in errors),
            metadata={"report": dg.MetadataValue.path(str(path))},
        )

    return validation_report


# The statuses a source's instances (and Mosaiq's deliveries) can have in a report.
_COUNTED = (Status.VERIFIED, *INCOMPLETE, Status.ACKNOWLEDGED)
# Where the archive holds a source's instance, as it is or not.
_IN_ARCHIVE = (Status.VERIFIED, Status.MISMATCHED, Status.ALTERED_IN_ARCHIVE)
# The columns of the report's table of sources: is the date safe for each source?
SOURCE_COLUMNS = ("source", "verdict", "held_by_source", "in_archive", *(str(s) for s in _COUNTED))
EXTRA_MEANS = (
    "not a failure: instances the archive holds in the day's studies that no source listed "
    "for the day (another day's instances of the same studies, or ones stored by other means)"
)


def source_summary(alias: str, report: pd.DataFrame) -> dict[str, str | int]:
    """A source's row of the report's table of sources: its verdict and its counts.

    ``held_by_source``: the instances the source listed for the day (Mosaiq: its
    records); ``in_archive``: those the archive holds, as they are or not.
    """
    counts = report["status"].value_counts()
    instances = report[report["sop_instance_uid"] != ""]
    return {
        "source": alias,
        "verdict": str(verdict(report["status"].tolist())),
        "held_by_source": len(instances),
        "in_archive": int(instances["status"].isin(_IN_ARCHIVE).sum()),
        **{str(status): int(counts.get(status, 0)) for status in _COUNTED},
    }


def distinct_counts(reports: Iterable[pd.DataFrame]) -> dict[str, int]:
    """The day's instances across sources, each counted once, by status.

    An instance that several sources hold (a CT in ARIA and MIM) is one instance:
    ``distinct_instances`` of them the sources hold, ``distinct_in_archive`` the archive
    holds, ``distinct_{status}`` have that status for at least one source. Mosaiq's
    deliveries that made no record (``not_converted``, ``acknowledged``) have no
    instance and are counted as they are.
    """
    rows = pd.concat(list(reports), ignore_index=True)
    instances = rows[rows["sop_instance_uid"] != ""]

    def distinct(statuses: Iterable[Status]) -> int:
        return int(
            instances[instances["status"].isin(list(statuses))]["sop_instance_uid"].nunique()
        )

    return {
        "distinct_instances": int(instances["sop_instance_uid"].nunique()),
        "distinct_in_archive": distinct(_IN_ARCHIVE),
        **{
            f"distinct_{status}": distinct([status])
            for status in (Status.VERIFIED, *INCOMPLETE)
            if status != Status.NOT_CONVERTED
        },
        **{
            str(status): int((rows["status"] == status).sum())
            for status in (Status.NOT_CONVERTED, Status.ACKNOWLEDGED)
        },
    }


def chain_counts(summary: dict[str, int]) -> dict[str, int]:
    """The treatment chain check's counts (:func:`~.chain.chain_summary`), named for the report."""
    return {
        "treatment_records_checked": summary["records"],
        "treatment_records_chain_complete": summary["complete"],
        "treatment_records_chain_incomplete": summary["incomplete"],
    }


def _last_copies(site: SiteConfig, day: dt.date, alias: str) -> pd.DataFrame | None:
    """The copies file of `alias` for `day`, if a copy ran."""
    path = audit_path(site.name, day, f"{alias}_orthanc_copies")
    return read_frame(path) if path.exists() else None


def site_assets(site: SiteConfig) -> list[dg.AssetsDefinition]:
    """Every backup asset of `site`."""
    partitions = site_partitions(site)
    assets = []
    for alias, source in site.dicom_sources.items():
        assets.append(dicom_source_assets(site, alias, source, partitions))
    if site.sources:
        assets.append(validation_report_asset(site, partitions))
    return assets
