"""``[site, "retention"]``: each materialization is one purge of the data folder, audited.

The files of the dates older than ``settings.retention_days`` (manifests, copies,
reports, generated records: they name patients) are deleted, each date keeping its
validation summary; restore reports older than that too, and the access log's lines of
older accesses (:func:`~radonc_assets.backup.retention.purge`).
"""

import datetime as dt

import dagster as dg

from radonc_assets.backup.retention import purge
from radonc_assets.defs.audit import run_audit
from radonc_assets.site.config import SiteConfig
from radonc_assets.site.naming import asset_key, maintenance_group_name
from radonc_assets.site.partitions import site_today


def retention_asset(site: SiteConfig, days: int) -> dg.AssetsDefinition:
    """The purges of `site` keeping `days` days (see the module docstring)."""

    @dg.asset(
        key=asset_key(site, "retention"),
        group_name=maintenance_group_name(site),
        kinds={"file"},
        description=(
            f"Deletes the data folder's files of the dates more than {days} days old "
            "(settings.retention_days): manifests, copies files, validation reports, "
            "treatment chains and generated RT Records, which name patients; each date "
            "keeps its validation summary (instances per source and status, no identifier) "
            "so that the coverage still shows it. Restore and drill reports older than "
            f"{days} days are deleted too, and so are the access log's lines of older "
            "accesses. One materialization per purge: the cutoff, the dates, files, bytes "
            "and access log lines deleted, who ran it."
        ),
    )
    def retention(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        cutoff = site_today(site).date() - dt.timedelta(days=days)
        purged = purge(site.name, cutoff)
        audit = run_audit(context)
        context.log.info(
            "Purged %d files of %d dates before %s", purged.files, len(purged.days), cutoff
        )
        return dg.MaterializeResult(
            metadata={
                "cutoff": cutoff.isoformat(),
                "dates_purged": len(purged.days),
                "first_date_purged": min(purged.days).isoformat() if purged.days else "",
                "last_date_purged": max(purged.days).isoformat() if purged.days else "",
                "files_deleted": purged.files,
                "bytes_deleted": purged.bytes,
                "access_log_lines_deleted": purged.access_lines,
                "launched_by": audit["launched_by"],
                "started_by": audit["started_by"],
            }
        )

    return retention
