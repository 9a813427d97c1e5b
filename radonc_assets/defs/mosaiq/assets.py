"""The Mosaiq assets of a site: the day's RT Beams Treatment Records, their copy, the census.

``[site, source, "treatment_records"]`` generates one record per patient, plan and
treatment session of the partition's date from Mosaiq's delivery history
(:mod:`radonc_assets.backup.mosaiq`), writes them as DICOM files with their
manifest; ``[site, source, "orthanc_copies"]`` stores what the archive lacks,
directly or through the site's staging SCP, and confirms each. The site's
validation report covers them like the DICOM sources' manifests.
``[site, source, "active_courses"]`` lists the courses on treatment that date.
"""

import time

import dagster as dg
import pandas as pd

from radonc_assets.backup.audit_files import audit_path, records_dir, write_frame
from radonc_assets.backup.listing import Listing
from radonc_assets.backup.manifest import manifest_frame
from radonc_assets.backup.mosaiq.accounting import not_converted_file, not_converted_frame
from radonc_assets.backup.mosaiq.model import SessionKey
from radonc_assets.backup.mosaiq.queries import (
    ACTIVE_DAYS,
    RECENT_DAYS,
    CourseStatus,
    active_courses,
    census_frame,
    courses_window,
    day_window,
    fetch_course_deliveries,
    read_sessions,
)
from radonc_assets.backup.mosaiq.records import encode_record, record_settings
from radonc_assets.backup.transfers import Transfer, store_records
from radonc_assets.defs.audit import run_audit
from radonc_assets.defs.copies import orthanc_copies_asset
from radonc_assets.defs.metadata import MAX_UIDS_IN_METADATA, rate, studies_table, table
from radonc_assets.defs.sources import record_listing, source_asset, unreachable
from radonc_assets.site.config import MosaiqSource, SiteConfig
from radonc_assets.site.naming import node_key
from radonc_assets.site.odbc_drivers import require_odbc_driver
from radonc_assets.site.partitions import partition_date, site_partitions
from radonc_assets.site.private_files import private_dir, write_private
from radonc_assets.site.resources import DicomNodeResource, MosaiqDatabaseResource
from resources.errors import MosaiqDatabaseError
from resources.orthanc import OrthancClient


def treatment_records_asset(
    site: SiteConfig, alias: str, source: MosaiqSource, partitions: dg.PartitionsDefinition
) -> dg.AssetsDefinition:
    """``[site, source, "treatment_records"]``: the day's records generated from Mosaiq."""

    @dg.asset(
        **source_asset(site, alias, "treatment_records", partitions, "dicom"),
        required_resource_keys={node_key(site, alias)},
        description=(
            f"RT Beams Treatment Records of the day generated from {alias}'s delivery history "
            f"({source.db_database} via {source.odbc_driver}): one per patient, plan and "
            "treatment session, with deterministic UIDs, written as DICOM files with their "
            "manifest. Rows that cannot make a record are listed with their reason; every "
            "delivery (Dose_Hst) of the day that is in no record is written to "
            f"{alias}_not_converted.csv with its patient, time, field, reason and the record "
            "of its session that lacks it (the validation report fails on them unless "
            "acknowledged)."
        ),
    )
    def treatment_records(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        started = time.monotonic()
        run_audit(context)
        day = partition_date(context.partition_key)
        require_odbc_driver(site, alias)
        resource: MosaiqDatabaseResource = getattr(context.resources, node_key(site, alias))
        listing = Listing.full()
        try:
            parsed = read_sessions(
                resource.get_database(),
                day_window(day),
                site_query=site.settings.mosaiq_backup_sql_query,
            )
        except MosaiqDatabaseError as exc:
            (result,) = unreachable(
                context, site, alias, [context.asset_key], f"{alias} could not be read: {exc}"
            )
            return result
        settings = record_settings(site)
        folder = private_dir(records_dir(site.name, day, alias))
        records = []
        by_session: dict[SessionKey, str] = {}
        for session in parsed.items:
            record = encode_record(session, settings)
            write_private(folder / f"{record.uids.instance}.dcm", record.data)
            records.append(record.instance())
            by_session[session.key] = record.uids.instance
        manifest = manifest_frame(records)
        path = write_frame(manifest, audit_path(site.name, day, f"{alias}_treatment_records"))
        unconverted = not_converted_frame(parsed.not_converted, by_session)
        unconverted_path = write_frame(unconverted, not_converted_file(site.name, day, alias))
        if not unconverted.empty:
            context.log.warning(
                "%d Mosaiq deliveries of %s are in no record: %s",
                len(unconverted),
                day,
                unconverted_path,
            )
        skipped = pd.DataFrame(
            [vars(row) for row in parsed.skipped], columns=["table", "key", "reason"]
        )
        if not skipped.empty:
            context.log.warning("%d Mosaiq rows left out of the records of %s", len(skipped), day)
        if parsed.query.warning:
            context.log.warning(parsed.query.warning)
        listed = record_listing(context, site, alias, listing)
        seconds = time.monotonic() - started
        return dg.MaterializeResult(
            metadata={
                **listed,
                "records": len(manifest),
                "deliveries": sum(len(s.deliveries) for s in parsed.items),
                "patients": manifest["patient_id"].nunique(),
                "skipped_rows": len(skipped),
                "skipped_rows_listed": dg.MetadataValue.json(
                    skipped.head(MAX_UIDS_IN_METADATA).to_dict(orient="records")
                ),
                "not_converted": len(unconverted),
                "not_converted_deliveries": dg.MetadataValue.json(
                    not_converted_rows(unconverted, show_patient=site.phi_in_metadata)
                ),
                "not_converted_file": dg.MetadataValue.path(str(unconverted_path)),
                "seconds": round(seconds, 2),
                "records_per_second": rate(len(manifest), seconds),
                "studies_table": studies_table(manifest, show_patient_id=site.phi_in_metadata),
                "manifest": dg.MetadataValue.path(str(path)),
                "records_folder": dg.MetadataValue.path(str(folder)),
                "deliveries_query": parsed.query.name,
                **(
                    {"deliveries_query_warning": parsed.query.warning}
                    if parsed.query.warning
                    else {}
                ),
            }
        )

    return treatment_records


def not_converted_rows(
    unconverted: pd.DataFrame, *, show_patient: bool, limit: int = MAX_UIDS_IN_METADATA
) -> list[dict[str, str]]:
    """The first `limit` rows of a not-converted file for metadata.

    The patient (MRN and ``Pat_ID1``) only when `show_patient` (the site's ``phi_in_metadata``).
    """
    shown = unconverted if show_patient else unconverted.drop(columns=["patient_id", "pat_id1"])
    return [
        {str(column): str(value) for column, value in row.items()}
        for row in shown.head(limit).to_dict(orient="records")
    ]


def records_copies_asset(
    site: SiteConfig, alias: str, source: MosaiqSource, partitions: dg.PartitionsDefinition
) -> dg.AssetsDefinition:
    """``[site, source, "orthanc_copies"]`` of Mosaiq: the generated records stored."""
    staging = source.staging_target_alias

    def copy(
        context: dg.AssetExecutionContext,
        archive: OrthancClient,
        todo: pd.DataFrame,
        manifest: pd.DataFrame,
    ) -> Transfer:
        folder = records_dir(site.name, partition_date(context.partition_key), alias)
        files = {uid: folder / f"{uid}.dcm" for uid in todo["sop_instance_uid"]}
        stage = None
        if staging is not None:
            resource: DicomNodeResource = getattr(context.resources, node_key(site, staging))
            stage = resource.get_client()
        return store_records(files, archive, todo, manifest, stage)

    return orthanc_copies_asset(
        site,
        alias,
        partitions,
        method=(
            f"C-STORE to the staging node {staging}, then C-MOVE from it, or, when it cannot "
            "C-MOVE to the archive, C-STORE directly to the archive too; metadata "
            "staging_mode says which (relay or store-only)"
            if staging
            else "stored"
        ),
        copy=copy,
        resources={node_key(site, staging)} if staging else set(),
    )


CENSUS_TABLE_COLUMNS = (
    "MRN",
    "patient",
    "site",
    "plan",
    "machine",
    "fractions",
    "first",
    "last",
    "status",
)


def census_rows(
    census: pd.DataFrame, *, show_patient: bool, limit: int = 50
) -> list[dict[str, str | int]]:
    """One row per course of the census file (:func:`.census_frame`), at most `limit`.

    MRN and patient name appear only when `show_patient` (the site's ``phi_in_metadata``).
    """
    counts = census[["fractions_delivered", "fractions_planned"]].astype("string").fillna("?")
    shown = pd.DataFrame(
        {
            "MRN": census["mrn"],
            "patient": census["patient_name"],
            "site": census["site_name"],
            "plan": census["plan_label"],
            "machine": census["machine"],
            "fractions": counts["fractions_delivered"] + " / " + counts["fractions_planned"],
            "first": census["first_treatment"],
            "last": census["last_treatment"],
            "status": census["status"],
        },
        columns=list(CENSUS_TABLE_COLUMNS),
    )
    if not show_patient:
        shown = shown.drop(columns=["MRN", "patient"])
    return [
        {str(column): str(value) for column, value in row.items()}
        for row in shown.head(limit).to_dict(orient="records")
    ]


def active_courses_asset(
    site: SiteConfig, alias: str, source: MosaiqSource, partitions: dg.PartitionsDefinition
) -> dg.AssetsDefinition:
    """``[site, source, "active_courses"]``: the census of the courses on treatment that date."""

    @dg.asset(
        **source_asset(site, alias, "active_courses", partitions, "csv"),
        required_resource_keys={node_key(site, alias)},
        description=(
            f"Census of the courses on treatment on the day, from {alias}'s delivery history "
            f"({source.db_database} via {source.odbc_driver}). A course is a patient's Mosaiq "
            f"site (prescription); it is active when treated in the {ACTIVE_DAYS} days up to "
            "the day and either has fewer fractions delivered than planned (on treatment, or "
            f"interrupted when not treated in the last {RECENT_DAYS} days) or was last treated "
            f"in the last {RECENT_DAYS} days (completed, beyond planned, or fractions unknown). "
            "One row per course: MRN, patient, site, plan, fractions delivered (highest "
            "fraction number) of planned, treatment days, machine, first and last treatment, "
            "status; written as a CSV file."
        ),
    )
    def active_courses_census(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        started = time.monotonic()
        run_audit(context)
        day = partition_date(context.partition_key)
        require_odbc_driver(site, alias)
        resource: MosaiqDatabaseResource = getattr(context.resources, node_key(site, alias))
        deliveries = fetch_course_deliveries(resource.get_database(), day)
        parsed = active_courses(deliveries, day)
        census = census_frame(parsed.items)
        path = write_frame(census, audit_path(site.name, day, f"{alias}_active_courses"))
        if parsed.skipped:
            context.log.warning(
                "%d Mosaiq rows left out of the census of %s", len(parsed.skipped), day
            )
        counts = census["status"].value_counts()
        window = courses_window(day)
        return dg.MaterializeResult(
            metadata={
                "courses": len(census),
                **{str(status): int(counts.get(status, 0)) for status in CourseStatus},
                "patients": census["mrn"].nunique(),
                "deliveries_read": deliveries["DHS_ID"].nunique(),
                "window": f"{window[0]} to {day}",
                "skipped_rows": len(parsed.skipped),
                "skipped_rows_listed": dg.MetadataValue.json(
                    [vars(row) for row in parsed.skipped[:MAX_UIDS_IN_METADATA]]
                ),
                "seconds": round(time.monotonic() - started, 2),
                "census_table": table(
                    census_rows(census, show_patient=site.phi_in_metadata),
                    [
                        c
                        for c in CENSUS_TABLE_COLUMNS
                        if site.phi_in_metadata or c not in ("MRN", "patient")
                    ],
                ),
                "census": dg.MetadataValue.path(str(path)),
            }
        )

    return active_courses_census


def site_assets(site: SiteConfig) -> list[dg.AssetsDefinition]:
    """Every Mosaiq asset of `site`."""
    partitions = site_partitions(site)
    assets = []
    for alias, source in site.mosaiq_sources.items():
        assets += [
            treatment_records_asset(site, alias, source, partitions),
            records_copies_asset(site, alias, source, partitions),
            active_courses_asset(site, alias, source, partitions),
        ]
    return assets
