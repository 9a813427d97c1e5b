"""Restores from the archive, each one an audit record: recoveries and restore drills.

``[site, "recoveries"]``: each materialization is one restore, launched with its config
(the UI's launchpad shows the typed form, ``radonc recover`` fills it): what was selected,
where it went, how (C-MOVE or relay), how fast, and what the verification by content
found, with the per-instance report as a CSV file.

``[site, "recovery_drills"]``: each materialization is one drill: a random sample of
each source's verified backups restored into the scratch node, verified the same way,
then deleted from it again.

The check of both fails when anything did not arrive intact.
"""

import datetime as dt
import random
import time
from typing import Any

import dagster as dg
import pandas as pd
from pydantic import Field

from radonc_assets.backup.audit_files import site_path, validation_reports, write_frame
from radonc_assets.backup.manifest import identities
from radonc_assets.backup.recovery import (
    RestoreStatus,
    Selection,
    drill_sample,
    restore,
    selected_instances,
    verify_restore,
)
from radonc_assets.defs.audit import dagster_user, run_audit
from radonc_assets.defs.copies import archive_client
from radonc_assets.defs.metadata import rate, studies_table, table
from radonc_assets.site.access_log import Access, logged
from radonc_assets.site.config import SiteConfig
from radonc_assets.site.naming import (
    asset_key,
    node_key,
    recovery_job_name,
    restores_group_name,
)
from radonc_assets.site.partitions import site_partitions, site_today
from radonc_assets.site.resources import DicomNodeResource, OrthancResource
from resources.dicom.client import DicomClient
from resources.orthanc import OrthancClient

RESTORE_CHECK = "restore_verified"
_BYTES_PER_MB = 1_000_000
_NOT_INTACT = (RestoreStatus.MISSING, RestoreStatus.MISMATCHED, RestoreStatus.ALTERED)
_VERIFICATION = (
    "every instance is retrieved from both sides and compared by content (outside group "
    "0002, PixelData as encoded), and the archive's files are checked against the MD5 the "
    "archive recorded when it stored them (a copy altered since the backup is "
    "altered_in_archive)"
)


class RecoveryConfig(dg.Config):
    """What to restore from the archive, and where: one of patient, studies, series, date.

    An empty ``patient_id`` or ``date`` (what the launchpad's "Scaffold missing config"
    writes) selects nothing.
    """

    destination: str = Field(description="alias of a dicom_scp target of the site")
    patient_id: str | None = Field(
        default=None, description="every study of this patient (PatientID)"
    )
    study_uids: list[str] = Field(default=[], description="these studies (StudyInstanceUIDs)")
    series_uids: list[str] = Field(default=[], description="these series (SeriesInstanceUIDs)")
    date: str | None = Field(
        default=None, description="the studies of this date (YYYY-MM-DD, StudyDate)"
    )

    def selection(self) -> Selection:
        """The selection this config names.

        Raises:
            ValueError: Not exactly one of them, or a date that is not YYYY-MM-DD.
        """
        return Selection(
            patient_id=self.patient_id or None,
            study_uids=tuple(self.study_uids),
            series_uids=tuple(self.series_uids),
            date=dt.date.fromisoformat(self.date) if self.date else None,
        )


def recovery_config_schema(site: SiteConfig) -> dict[str, dg.Field]:
    """The recovery's config as the launchpad shows and checks it, every key required.

    ``destination`` is an enum of the site's restore targets (a wrong one is refused at
    launch, before any run); the four selections are shown by "Scaffold missing config"
    (empty), with :class:`RecoveryConfig`'s descriptions; exactly one must be filled in,
    which the run checks before anything moves.
    """
    fields = RecoveryConfig.model_fields
    # Dagster's refusal names the enum ("not in enum type ... got X"): it lists the targets.
    targets = dg.Enum(
        f"{site.name} restore targets: {', '.join(site.restore_targets) or 'none'}",
        [
            dg.EnumValue(alias, description=f"dicom_scp target {alias}")
            for alias in site.restore_targets
        ],
    )
    types: dict[str, Any] = {
        "destination": targets,
        "patient_id": dg.Noneable(str),
        "study_uids": [str],
        "series_uids": [str],
        "date": dg.Noneable(str),
    }
    return {
        name: dg.Field(config_type, is_required=True, description=fields[name].description)
        for name, config_type in types.items()
    }


def recovery_example(site: SiteConfig) -> str:
    """A run config of the recovery of `site` to copy into the launchpad (YAML).

    The restore of the first date of the site's partitions into its first restore target.
    """
    key = asset_key(site, "recoveries")
    destination = site.restore_targets[0] if site.restore_targets else "''  # no dicom_scp target"
    return (
        "ops:\n"
        f"  {'__'.join(key.path)}:\n"
        "    config:\n"
        f"      destination: {destination}\n"
        "      patient_id: null\n"
        "      study_uids: []\n"
        "      series_uids: []\n"
        f"      date: '{site_partitions(site).get_first_partition_key()}'\n"
    )


def _check_spec(key: dg.AssetKey) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        RESTORE_CHECK,
        asset=key,
        description="Every restored instance is in the destination with the archive's "
        "content, and the archive's copy is the one it stored.",
    )


def _access(
    context: dg.AssetExecutionContext,
    site: SiteConfig,
    audit: dict[str, str],
    asked: dict[str, str],
    written: str,
) -> Access:
    """The access log entry of a restore from the archive of `site` into `written`."""
    job = context.job_name
    return Access(
        f"materialize {context.asset_key.to_user_string()}" if job.startswith("__") else job,
        site.name,
        site.default_backup,
        asked,
        written=written,
        dagster_user=dagster_user(context.run.tags),
        launched_by=audit["launched_by"],
        run=audit["run_id"],
    )


def _logged_counts(access: Access, sample: pd.DataFrame, metadata: dict[str, Any]) -> None:
    """The patients of `sample` and the instances restored intact, into `access`."""
    access.patients = int(sample["patient_id"].nunique())
    access.instances = int(metadata[RestoreStatus.RESTORED])
    if access.instances < metadata["instances"]:
        access.outcome = (
            f"failed: {metadata['instances'] - access.instances} of {metadata['instances']} "
            "instances not restored intact"
        )


def _restored(
    context: dg.AssetExecutionContext,
    site: SiteConfig,
    archive: OrthancClient,
    destination: DicomClient,
    rows: pd.DataFrame,
    report_name: str,
    audit: dict[str, str],
) -> tuple[dict[str, Any], dg.AssetCheckResult]:
    """Restore `rows` into `destination` and verify them: metadata and the check's result.

    The report file and the metadata name the run and who started it (`audit`, from
    :func:`~radonc_assets.defs.audit.run_audit`).
    """
    done = restore(archive.dicom, destination, rows)
    uids = list(rows["sop_instance_uid"])
    altered = archive.altered_files(identities([rows])) if archive.has_rest else {}
    report = verify_restore(archive.dicom, destination, rows, altered)
    sizes = archive.instance_sizes(sorted(set(rows["study_instance_uid"])))
    path = write_frame(report.assign(**audit), site_path(site.name, report_name))
    counts = report["status"].value_counts()
    restored = int(counts.get(RestoreStatus.RESTORED, 0))
    megabytes = sum(sizes.get(uid, 0) for uid in uids) / _BYTES_PER_MB
    passed = restored == len(report)
    metadata = {
        "launched_by": audit["launched_by"],
        "started_by": audit["started_by"],
        "method": done.method,
        "instances": len(report),
        **{str(s): int(counts.get(s, 0)) for s in RestoreStatus},
        "archive_md5_checked": archive.has_rest,
        "transfer_seconds": round(done.seconds, 2),
        "instances_per_second": rate(len(report), done.seconds),
        "megabytes": round(megabytes, 2),
        "megabytes_per_second": round(megabytes / done.seconds, 2) if done.seconds else 0.0,
        "studies_table": studies_table(report, show_patient_id=site.phi_in_metadata),
        "report": dg.MetadataValue.path(str(path)),
    }
    check = dg.AssetCheckResult(
        check_name=RESTORE_CHECK,
        passed=passed,
        description=None
        if passed
        else f"{len(report) - restored} of {len(report)} instances not restored intact: "
        + ", ".join(f"{int(counts.get(s, 0))} {s}" for s in _NOT_INTACT),
        metadata={str(s): int(counts.get(s, 0)) for s in _NOT_INTACT},
    )
    return metadata, check


def recoveries_asset(site: SiteConfig) -> dg.AssetsDefinition:
    """The recoveries of `site` (see the module docstring)."""
    key = asset_key(site, "recoveries")
    targets = site.restore_targets

    @dg.asset(
        key=key,
        group_name=restores_group_name(site),
        required_resource_keys={
            node_key(site, site.default_backup),
            *(node_key(site, alias) for alias in targets),
        },
        kinds={"orthanc", "dicom"},
        check_specs=[_check_spec(key)],
        config_schema=recovery_config_schema(site),
        description=(
            f"Restores from {site.default_backup} into one of {', '.join(targets) or 'none'} "
            "(config: destination and one of patient_id, study_uids, series_uids, date), by "
            f"C-MOVE or, when the archive cannot send to it, by C-GET and C-STORE; then "
            f"{_VERIFICATION}. One materialization per restore: selection, destination, "
            "method, counts (restored, missing, mismatched, altered_in_archive), speed and "
            "the report file. Launched from the job "
            f"{recovery_job_name(site)}, with a run config such as:\n\n"
            f"```yaml\n{recovery_example(site)}```"
        ),
    )
    def recoveries(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        audit = run_audit(context)  # first: a run that fails says who started it too
        config = RecoveryConfig(**context.op_execution_context.op_config)
        try:
            selection = config.selection()
        except ValueError as exc:
            raise dg.Failure(
                f"the config does not say what to restore: {exc} (fill in exactly one of "
                "patient_id, study_uids, series_uids, date as YYYY-MM-DD)"
            ) from exc
        started = time.monotonic()
        destination: DicomNodeResource = getattr(
            context.resources, node_key(site, config.destination)
        )
        asked = {
            "mrn": config.patient_id or "",
            "study_uid": ",".join(config.study_uids),
            "series_uid": ",".join(config.series_uids),
            "date": config.date or "",
        }
        access = _access(context, site, audit, asked, config.destination)
        with logged(access), archive_client(context, site) as archive:
            rows = selected_instances(archive.dicom, selection)
            if rows.empty:
                access.patients = access.instances = 0
                raise dg.Failure(f"the archive holds nothing for {selection}")
            metadata, check = _restored(
                context,
                site,
                archive,
                destination.get_client(),
                rows,
                f"recoveries/{context.run.run_id}",
                audit,
            )
            _logged_counts(access, rows, metadata)
        context.log.info(
            "%s: %d of %d instances restored intact",
            selection,
            metadata[RestoreStatus.RESTORED],
            metadata["instances"],
        )
        return dg.MaterializeResult(
            metadata={
                "selection": str(selection),
                "destination": config.destination,
                "seconds": round(time.monotonic() - started, 2),
                **metadata,
            },
            check_results=[check],
        )

    return recoveries


def recovery_drills_asset(site: SiteConfig, scratch: str) -> dg.AssetsDefinition:
    """The restore drills of `site` into its scratch node `scratch` (module docstring)."""
    key = asset_key(site, "recovery_drills")
    drill = site.drill
    modalities = ", ".join(drill.modalities) or "every modality"

    @dg.asset(
        key=key,
        group_name=restores_group_name(site),
        required_resource_keys={node_key(site, site.default_backup), node_key(site, scratch)},
        kinds={"orthanc", "dicom"},
        check_specs=[_check_spec(key)],
        description=(
            f"A restore drill: {drill.studies_per_source} stud(ies) per source drawn at random "
            f"(seeded by the run ID) from the verified backups of the last "
            f"{drill.lookback_days} days ({modalities}), restored from {site.default_backup} "
            f"into the scratch node {scratch}; then {_VERIFICATION}; then deleted from "
            f"{scratch} again. One materialization per drill: the sample per source, method, "
            "counts, restore speed (instances/s, MB/s), what was cleaned and the report file."
        ),
    )
    def recovery_drills(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        audit = run_audit(context)  # first: a run that fails says who started it too
        started = time.monotonic()
        today = site_today(site).date()
        days = [today - dt.timedelta(days=n) for n in range(drill.lookback_days)]
        sample = drill_sample(
            validation_reports(site.name, days),
            random.Random(context.run.run_id),
            drill.studies_per_source,
            drill.modalities,
        )
        if sample.empty:
            of = f" of {modalities}" if drill.modalities else ""
            raise dg.Failure(
                f"nothing{of} verified in the validation reports of the last "
                f"{drill.lookback_days} days: no backup to drill on"
            )
        node: OrthancResource = getattr(context.resources, node_key(site, scratch))
        uids = list(sample["sop_instance_uid"])
        access = _access(context, site, audit, {"date": f"{days[-1]}..{days[0]}"}, scratch)
        with (
            logged(access),
            archive_client(context, site) as archive,
            node.get_client() as target,
        ):
            leftovers = target.delete_instances(uids)
            try:
                metadata, check = _restored(
                    context,
                    site,
                    archive,
                    target.dicom,
                    sample,
                    f"drills/{context.run.run_id}",
                    audit,
                )
            finally:
                cleaned = target.delete_instances(uids)
            _logged_counts(access, sample, metadata)
        context.log.info(
            "Drill: %d of %d instances restored intact into %s; %d deleted again",
            metadata[RestoreStatus.RESTORED],
            metadata["instances"],
            scratch,
            cleaned,
        )
        per_source: list[dict[str, str | int]] = [
            {
                "source": str(source),
                "studies": int(rows["study_instance_uid"].nunique()),
                "instances": len(rows),
                "modalities": ", ".join(sorted(set(rows["modality"]))),
            }
            for source, rows in sample.groupby("source", sort=True)
        ]
        return dg.MaterializeResult(
            metadata={
                "scratch": scratch,
                "sample": table(per_source, ["source", "studies", "instances", "modalities"]),
                "seconds": round(time.monotonic() - started, 2),
                **metadata,
                "leftovers_deleted_first": leftovers,
                "deleted_after": cleaned,
            },
            check_results=[check],
        )

    return recovery_drills
