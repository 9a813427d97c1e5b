"""``[site, "recoveries"]``: every restore from the archive, as an audit record.

Each materialization is one restore, launched with its config (the UI's launchpad shows
the typed form, ``radonc recover`` fills it): what was selected, where it went, how
(C-MOVE or relay), how fast, and what the verification by content found, with the
per-instance report as a CSV file. Its check fails when anything did not arrive intact.
"""

import datetime as dt
import time

import dagster as dg
from pydantic import Field

from radonc_assets.backup.audit_files import site_path, write_frame
from radonc_assets.backup.recovery import (
    RestoreStatus,
    Selection,
    restore,
    selected_instances,
    verify_restore,
)
from radonc_assets.defs.copies import archive_client
from radonc_assets.defs.metadata import rate, studies_table
from radonc_assets.site.config import SiteConfig
from radonc_assets.site.naming import asset_key, group_name, node_key
from radonc_assets.site.resources import DicomNodeResource

RESTORE_CHECK = "restore_verified"
_BYTES_PER_MB = 1_000_000


class RecoveryConfig(dg.Config):
    """What to restore from the archive, and where: one of patient, studies, series, date."""

    destination: str = Field(description="alias of a dicom_scp target of the site")
    patient_id: str | None = Field(default=None, description="every study of this patient")
    study_uids: list[str] = Field(default=[], description="these studies")
    series_uids: list[str] = Field(default=[], description="these series")
    date: str | None = Field(default=None, description="the studies of this date (YYYY-MM-DD)")

    def selection(self) -> Selection:
        """The selection this config names.

        Raises:
            ValueError: Not exactly one of them, or a date that is not YYYY-MM-DD.
        """
        return Selection(
            patient_id=self.patient_id,
            study_uids=tuple(self.study_uids),
            series_uids=tuple(self.series_uids),
            date=dt.date.fromisoformat(self.date) if self.date else None,
        )


def recoveries_asset(site: SiteConfig) -> dg.AssetsDefinition:
    """The recoveries of `site` (see the module docstring)."""
    key = asset_key(site, "recoveries")
    targets = site.restore_targets

    @dg.asset(
        key=key,
        group_name=group_name(site),
        required_resource_keys={
            node_key(site, site.default_backup),
            *(node_key(site, alias) for alias in targets),
        },
        kinds={"orthanc", "dicom"},
        check_specs=[
            dg.AssetCheckSpec(
                RESTORE_CHECK,
                asset=key,
                description="Every restored instance is in the destination with the "
                "archive's content.",
            )
        ],
        description=(
            f"Restores from {site.default_backup} into one of {', '.join(targets) or 'none'} "
            "(config: destination and one of patient_id, study_uids, series_uids, date), by "
            "C-MOVE or, when the archive cannot send to it, by C-GET and C-STORE; then every "
            "instance is retrieved from both sides and compared by content (outside group "
            "0002, PixelData as encoded). One materialization per restore: selection, "
            "destination, method, counts (restored, missing, mismatched), speed and the "
            "report file."
        ),
    )
    def recoveries(
        context: dg.AssetExecutionContext, config: RecoveryConfig
    ) -> dg.MaterializeResult:
        if config.destination not in targets:
            raise dg.Failure(
                f"{config.destination!r} is not a restore target of {site.name} "
                f"(dicom_scp targets: {', '.join(targets) or 'none'})"
            )
        try:
            selection = config.selection()
        except ValueError as exc:
            raise dg.Failure(str(exc)) from exc
        started = time.monotonic()
        destination: DicomNodeResource = getattr(
            context.resources, node_key(site, config.destination)
        )
        target = destination.get_client()
        with archive_client(context, site) as archive:
            rows = selected_instances(archive.dicom, selection)
            if rows.empty:
                raise dg.Failure(f"the archive holds nothing for {selection}")
            done = restore(archive.dicom, target, rows)
            report = verify_restore(archive.dicom, target, rows)
            sizes = archive.instance_sizes(sorted(set(rows["study_instance_uid"])))
        seconds = time.monotonic() - started
        path = write_frame(report, site_path(site.name, f"recoveries/{context.run.run_id}"))
        counts = report["status"].value_counts()
        restored = int(counts.get(RestoreStatus.RESTORED, 0))
        megabytes = sum(sizes.get(uid, 0) for uid in rows["sop_instance_uid"]) / _BYTES_PER_MB
        context.log.info("%s: %d of %d instances restored intact", selection, restored, len(rows))
        passed = restored == len(report)
        return dg.MaterializeResult(
            metadata={
                "selection": str(selection),
                "destination": config.destination,
                "method": done.method,
                "instances": len(report),
                **{str(s): int(counts.get(s, 0)) for s in RestoreStatus},
                "seconds": round(seconds, 2),
                "transfer_seconds": round(done.seconds, 2),
                "instances_per_second": rate(len(report), done.seconds),
                "megabytes_per_second": round(megabytes / done.seconds, 2) if done.seconds else 0.0,
                "studies_table": studies_table(report, show_patient_id=site.phi_in_metadata),
                "report": dg.MetadataValue.path(str(path)),
            },
            check_results=[
                dg.AssetCheckResult(
                    check_name=RESTORE_CHECK,
                    passed=passed,
                    description=None
                    if passed
                    else f"{len(report) - restored} of {len(report)} instances not restored "
                    "intact: "
                    + ", ".join(
                        f"{int(counts.get(s, 0))} {s}"
                        for s in (RestoreStatus.MISSING, RestoreStatus.MISMATCHED)
                    ),
                )
            ],
        )

    return recoveries
