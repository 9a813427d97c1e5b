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
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import dagster as dg
import pandas as pd

from radonc_assets.backup.audit_files import audit_path, read_frame, write_frame
from radonc_assets.backup.chain import chain_summary
from radonc_assets.backup.content_hash import deep_compare
from radonc_assets.backup.integrity import source_contents
from radonc_assets.backup.manifest import Status, manifest_frame
from radonc_assets.backup.source_queries import (
    KnownSeries,
    day_instances,
    day_study_state,
    enumeration_current,
    manifest_stands,
)
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
from resources.orthanc import OrthancClient

LOGGER = logging.getLogger(__name__)


class _LastManifest(NamedTuple):
    manifest: pd.DataFrame
    metadata: dict[str, Any]


def _last_manifest(
    context: dg.AssetExecutionContext,
    key: dg.AssetKey,
    path: Path,
    now: dt.datetime,
    reuse_hours: int,
) -> _LastManifest | None:
    """The day's last manifest (`key`) and its materialization's metadata.

    None when there is none, when the day's last enumeration in full is not current
    (:func:`~radonc_assets.backup.source_queries.enumeration_current`: then nothing of
    it is used, and its file is not read), or when its file no longer holds the
    instances it counted.
    """
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[context.partition_key]),
        limit=1,
    ).records
    materialization = records[0].asset_materialization if records else None
    if materialization is None or not path.exists():
        return None
    metadata = {name: value.value for name, value in materialization.metadata.items()}
    if not enumeration_current(metadata, now, reuse_hours):
        return None
    manifest = read_frame(path)
    return _LastManifest(manifest, metadata) if len(manifest) == metadata.get("instances") else None


def _source_client(context: dg.AssetExecutionContext, site: SiteConfig, alias: str) -> DicomClient:
    resource: DicomNodeResource = getattr(context.resources, node_key(site, alias))
    return resource.get_client()


# The report of a date follows its copies: requested by the automation sensor after a
# copy of that date is updated (a sensor's run of one source, a copy run from the UI),
# once every source's copy of the date exists and none is running. As eager() without
# in_latest_time_window(): any date, not only today's. A run that updates the copies and
# the report together handles it.
REPORT_FOLLOWS_COPIES: dg.AutomationCondition = (
    dg.AutomationCondition.any_deps_updated().since_last_handled()
    & ~dg.AutomationCondition.any_deps_missing()
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
    """The day's manifest at `path` (kept, or enumerated and written) and its materialization.

    The study-level C-FIND of :func:`~radonc_assets.backup.source_queries.day_study_state`
    asks for every study the day's queries search: none answering, there is nothing to
    enumerate; answering as before the last enumeration, the last manifest stands;
    otherwise, within ``manifest_reuse_hours`` of the last enumeration in full, only
    the series whose counts changed are listed
    (:class:`~radonc_assets.backup.source_queries.KnownSeries`).
    """
    started = time.monotonic()
    day = partition_date(context.partition_key)
    source = site.dicom_sources[alias]
    # A deep validation compares content from a complete enumeration.
    reuse_hours = 0 if site.settings.deep_validation else site.settings.manifest_reuse_hours
    state = day_study_state(client, source, day)
    now = dt.datetime.now(dt.UTC)
    last = _last_manifest(context, key, path, now, reuse_hours)
    if last is not None and manifest_stands(last.metadata, state, now, reuse_hours):
        enumerated = False
        manifest, enumerated_at = last.manifest, str(last.metadata["enumerated_at"])
        reused = manifest["series_instance_uid"].nunique()
        LOGGER.info("%s: the studies of %s are unchanged; its manifest stands", alias, day)
    else:
        enumerated = True
        known: KnownSeries | None = None
        enumerated_at = now.isoformat(timespec="seconds")
        if last is not None and state.counted:
            known = KnownSeries(last.manifest)
            enumerated_at = str(last.metadata["enumerated_at"])
        found = day_instances(client, source, day, on_series, known) if state.studies else []
        manifest = manifest_frame(found)
        write_frame(manifest, path)
        reused = 0 if known is None else len(known.reused)
    seconds = time.monotonic() - started
    return manifest, dg.MaterializeResult(
        asset_key=key,
        metadata={
            "instances": len(manifest),
            "series": manifest["series_instance_uid"].nunique(),
            "studies": manifest["study_instance_uid"].nunique(),
            "modalities": ", ".join(sorted(set(manifest["modality"]) - {""})),
            "seconds": round(seconds, 2),
            "instances_per_second": rate(len(manifest), seconds),
            "enumerated": enumerated,
            "series_reused": reused,
            "enumerated_at": enumerated_at,
            "study_digest": state.digest,
            "studies_table": studies_table(manifest, show_patient_id=site.phi_in_metadata),
            "manifest": dg.MetadataValue.path(str(path)),
        },
    )


def dicom_source_assets(
    site: SiteConfig, alias: str, source: DicomSource, partitions: dg.PartitionsDefinition
) -> dg.AssetsDefinition:
    """``[site, source, "source_studies"]`` and ``[site, source, "orthanc_copies"]``, one step.

    The step materializes either or both. With both, an ARIA source's series of which
    the archive holds nothing are C-MOVEd as soon as the enumeration has listed them,
    while it lists the others (:class:`~radonc_assets.backup.transfers.SeriesMover`),
    unless ``max_uids_per_run`` bounds the run (which copies the first instances in
    manifest order); the copy then confirms every instance and retrieves what is still
    missing. MIM's copy (the C-GET relay) follows its enumeration.
    """
    manifest_key = asset_key(site, alias, "source_studies")
    copies_key = asset_key(site, alias, "orthanc_copies")
    aria = source.type == "aria"
    # A run bounded by max_uids_per_run copies the first instances in manifest order.
    overlap = aria and site.settings.max_uids_per_run is None

    @dg.multi_asset(
        name=f"{asset_key(site, alias).to_python_identifier()}__backup",
        specs=[
            dg.AssetSpec(
                manifest_key,
                group_name=group_name(site),
                kinds=source_kinds(alias, "dicom"),
                description=(
                    f"Manifest of what {alias} ({source.type.upper()}, {source.aet}) holds for "
                    f"the day: one row per instance, found by C-FIND study -> series -> image "
                    f"({', '.join(source.daily_queries)}; image queries over "
                    f"{source.associations} association(s)). A study-level C-FIND with the "
                    "studies' counts comes first: while it answers as it did before the day's "
                    "last enumeration (less than settings.manifest_reuse_hours ago), that "
                    "manifest stands and is not enumerated again; when it changed, only the "
                    "series whose counts of instances changed are listed (metadata: "
                    "enumerated, series_reused, enumerated_at, study_digest)."
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
                description=copies_description(site, alias, "C-MOVE" if aria else "C-GET relayed"),
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
        path = audit_path(site.name, context.partition_key, f"{alias}_source_studies")
        moved: dict[str, SubOperations] = {}
        if manifest_key not in selected:
            manifest = read_frame(path)
        elif overlap and copies_key in selected:
            with archive_client(context, site) as archive, SeriesMover(client, archive) as mover:
                manifest, result = _manifest(
                    context, manifest_key, site, alias, client, path, mover.offer
                )
                yield result
            moved = mover.moved
        else:
            manifest, result = _manifest(context, manifest_key, site, alias, client, path, None)
            yield result
        if copies_key not in selected:
            return

        def copy(
            context: dg.AssetExecutionContext,
            archive: OrthancClient,
            todo: pd.DataFrame,
            manifest: pd.DataFrame,
        ) -> Transfer:
            if aria:
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
            "plan, structure set or images are not in the archive. Metadata: the counts per "
            "status for all sources and per source (the sources table), the studies and "
            "the paths of the report and treatment chain files."
        ),
    )
    def validation_report(
        context: dg.AssetExecutionContext,
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        started = time.monotonic()
        day = context.partition_key
        manifests = {
            alias: read_frame(audit_path(site.name, day, f"{alias}_{manifest_name(source)}"))
            for alias, source in sources.items()
        }
        contents = source_contents(site, day, lambda alias: _source_client(context, site, alias))
        with archive_client(context, site) as archive:
            checked = validate_day(
                archive,
                list(manifests.values()),
                [_last_copies(site, day, alias) for alias in manifests],
                [contents[alias] for alias in manifests],
            )
            reports = dict(zip(manifests, checked.reports, strict=True))
            for alias in deep:
                reports[alias] = deep_compare(
                    reports[alias], _source_client(context, site, alias), archive.dicom
                )
        report = pd.concat(
            [r.assign(source=alias) for alias, r in reports.items()]
            + [checked.extra.assign(source="")],
            ignore_index=True,
        )
        path = write_frame(
            report.assign(**run_audit(context)), audit_path(site.name, day, "validation_report")
        )
        chains_path = write_frame(checked.chains, audit_path(site.name, day, "treatment_chains"))
        counts = report["status"].value_counts()
        metadata: dict[str, Any] = {
            **{str(status): int(counts.get(status, 0)) for status in Status},
            "sources": table(
                [{"source": alias, **status_counts(rows)} for alias, rows in reports.items()],
                ["source", *(str(status) for status in Status if status != Status.EXTRA)],
            ),
            "studies": checked.studies,
            "deep_validation": site.settings.deep_validation,
            "archive_integrity": str(checked.integrity),
            "archive_integrity_seconds": round(checked.integrity_seconds, 2),
            "seconds": round(time.monotonic() - started, 2),
            "studies_table": studies_table(
                report[report["source"] != ""], show_patient_id=site.phi_in_metadata
            ),
            "report": dg.MetadataValue.path(str(path)),
            **{f"treatment_records_{k}": v for k, v in chain_summary(checked.chains).items()},
            "treatment_chains": dg.MetadataValue.path(str(chains_path)),
        }
        results = [
            *(completeness_result(alias, r) for alias, r in reports.items()),
            chain_result(checked.chains),
        ]
        failed = [result for result in results if not result.passed]
        if not failed:
            yield dg.MaterializeResult(metadata=metadata, check_results=results)
            return
        # An incomplete day: the checks and the report's metadata are recorded, then the
        # step fails without a materialization, so that the date shows as failed in the
        # partitions view (Dagster 1.13 colours a partition by its materializations only).
        context.log_event(dg.AssetObservation(asset_key=key, partition=day, metadata=metadata))
        yield from results
        raise dg.Failure(
            description=f"{day} is not verified: "
            + "; ".join(f"{r.check_name}: {r.description}" for r in failed),
            metadata={"report": dg.MetadataValue.path(str(path))},
        )

    return validation_report


def status_counts(report: pd.DataFrame) -> dict[str, int]:
    """How many rows of a source's report have each status."""
    counts = report["status"].value_counts()
    return {str(status): int(counts.get(status, 0)) for status in Status if status != Status.EXTRA}


def _last_copies(site: SiteConfig, day: str, alias: str) -> pd.DataFrame | None:
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
