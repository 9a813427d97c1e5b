"""``[site, "coverage"]``: every date's status at a glance, for auditors."""

import datetime as dt

import dagster as dg
import pandas as pd

from radonc_assets.backup.audit_files import site_path, write_frame
from radonc_assets.backup.content_verification import read_ledger
from radonc_assets.backup.coverage import DayStatus, coverage_frame
from radonc_assets.backup.manifest import Status
from radonc_assets.backup.rolling_content import content_state
from radonc_assets.defs.audit import run_audit
from radonc_assets.defs.dicom_backup.descriptions import coverage_description
from radonc_assets.defs.metadata import table
from radonc_assets.site.asset_keys import asset_key
from radonc_assets.site.config import SiteConfig
from radonc_assets.site.naming import (
    CONTENT_VERIFICATION,
    COVERAGE,
    VALIDATION_REPORT,
    maintenance_group_name,
)
from radonc_assets.site.partitions import site_partitions, site_today

# Dates the table in the UI shows at most, newest first; the CSV holds them all.
SHOWN_DATES = 366
# Materialized once, then after any date's report and every 10 minutes. A report that
# fails (an unverified date) is no materialization to follow: the run failure sensor
# requests the coverage then ({site}_coverage). Not AutomationCondition.eager(): it waits
# for every parent partition to exist, and the dates never backed up never do.
_UPDATES: dg.AutomationCondition = (
    dg.AutomationCondition.missing()
    | dg.AutomationCondition.any_deps_updated()
    | dg.AutomationCondition.cron_tick_passed("*/10 * * * *")
)
UPDATED_AFTER_ANY_REPORT = _UPDATES.since_last_handled() & ~dg.AutomationCondition.in_progress()


def month_rows(coverage: pd.DataFrame) -> list[dict[str, str | int]]:
    """One row per month, newest first: how many of its dates have each status."""
    months = coverage.assign(month=coverage["date"].str[:7])
    rows: list[dict[str, str | int]] = []
    for month, dates in sorted(months.groupby("month"), reverse=True):
        counts = dates["status"].value_counts()
        rows.append({"month": str(month), **{str(s): int(counts.get(s, 0)) for s in DayStatus}})
    return rows


def _content_metadata(frame: pd.DataFrame, days: int) -> dict[str, float | int]:
    """The verified instances proven identical within the last `days` days, and their share.

    Of the dates with their report's rows: those past the retention cannot be compared.
    """
    known = pd.to_numeric(frame["content_verified"], errors="coerce")
    verified = int(frame.loc[known.notna(), str(Status.VERIFIED)].sum())
    proven = int(known.sum())
    return {
        "content_verified": proven,
        "content_verified_fraction": round(proven / verified, 4) if verified else 0.0,
        "content_verification_days": days,
    }


def coverage_asset(site: SiteConfig) -> dg.AssetsDefinition:
    """The coverage of `site`: one row per date with its status and counts.

    With the rolling content verification, each date's report is read with the ledger's
    findings, and the coverage follows the verification too.
    """
    rolling = site.settings.rolling_content_days

    @dg.asset(
        key=asset_key(site, COVERAGE),
        deps=[
            asset_key(site, VALIDATION_REPORT),
            *([asset_key(site, CONTENT_VERIFICATION)] if rolling else []),
        ],
        group_name=maintenance_group_name(site),
        kinds={"csv"},
        automation_condition=UPDATED_AFTER_ANY_REPORT,
        description=coverage_description(site),
    )
    def coverage(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        run_audit(context)
        days = [dt.date.fromisoformat(key) for key in site_partitions(site).get_partition_keys()]
        content = (
            content_state(read_ledger(site.name), site_today(site).date(), rolling)
            if rolling
            else None
        )
        frame = coverage_frame(site.name, days, content)
        path = write_frame(frame, site_path(site.name, COVERAGE))
        counts = frame["status"].value_counts()
        newest = frame.iloc[::-1].head(SHOWN_DATES)
        context.log.info("coverage of %d dates written to %s", len(frame), path)
        return dg.MaterializeResult(
            metadata={
                **{str(status): int(counts.get(status, 0)) for status in DayStatus},
                "dates": len(frame),
                **(_content_metadata(frame, rolling) if rolling else {}),
                "months": table(month_rows(frame), ["month", *(str(s) for s in DayStatus)]),
                "by_date": table(
                    newest.to_dict(orient="records"),  # type: ignore[arg-type]
                    list(frame.columns),
                ),
                "coverage": dg.MetadataValue.path(str(path)),
            }
        )

    return coverage
