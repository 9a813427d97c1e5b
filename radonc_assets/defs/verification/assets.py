"""``[site, "content_verification"]``: each materialization is one day's slice, compared.

With ``settings.rolling_content_days = N``, every instance the site's validation reports
list as verified is compared by content with its source at least once every N days,
about a N-th of them a day (:mod:`radonc_assets.backup.rolling_content` says which):
retrieved from the archive and from its source and hashed outside group 0002
(:mod:`radonc_assets.backup.content_verification`). Each result is appended to the
ledger ``SITE/content_verification.csv``; the check ``content_verified`` fails when any
instance differs or could not be retrieved from either side, and the coverage shows a
date with an instance whose archived content differs as incomplete.
"""

import time
from typing import Any

import dagster as dg
import pandas as pd

from radonc_assets.backup.content_verification import (
    ContentSource,
    dicom_source,
    records_source,
    verify_day,
)
from radonc_assets.backup.manifest import Status
from radonc_assets.backup.rolling_content import ContentState, Due, Result, content_state
from radonc_assets.defs.audit import run_audit
from radonc_assets.defs.copies import archive_client
from radonc_assets.defs.metadata import MAX_UIDS_IN_METADATA, rate, table
from radonc_assets.site.config import SiteConfig
from radonc_assets.site.naming import (
    CONTENT_CHECK,
    asset_key,
    maintenance_group_name,
    node_key,
)
from radonc_assets.site.partitions import partition_date, site_partitions, site_today
from radonc_assets.site.resources import DicomNodeResource

# The results that fail the check: anything but identical.
_FAILED = [r for r in Result if r != Result.IDENTICAL]
_SOURCE_COLUMNS = ["source", "instances", "due", *(str(r) for r in Result), "bytes"]


def _sources(context: dg.AssetExecutionContext, site: SiteConfig) -> dict[str, ContentSource]:
    """Where each source's instances are read: by C-GET, or (Mosaiq) the records folder."""
    sources: dict[str, ContentSource] = {}
    for alias in site.sources:
        if alias in site.dicom_sources:
            resource: DicomNodeResource = getattr(context.resources, node_key(site, alias))
            sources[alias] = dicom_source(resource.get_client())
        else:
            sources[alias] = records_source(site.name, alias)
    return sources


def content_fraction(reports: pd.DataFrame, state: ContentState) -> float:
    """The fraction of the instances `reports` list as verified proven identical lately.

    Proven by `state`: identical at its latest verification, within the N days. An
    instance with a finding counts as not verified.
    """
    if reports.empty:
        return 0.0
    listed = state.apply(reports)
    verified = int((listed["status"] == Status.VERIFIED).sum())
    return round(state.verified(listed) / verified, 4) if verified else 0.0


def _check(rows: pd.DataFrame) -> dg.AssetCheckResult:
    """``content_verified``: every instance compared was identical."""
    failed = rows[rows["result"] != Result.IDENTICAL]
    counts = rows["result"].value_counts()
    shown = failed.head(MAX_UIDS_IN_METADATA)
    description = None
    if not failed.empty:
        first = failed.iloc[0]
        description = (
            f"{len(failed)} of {len(rows)} instances not verified by content: "
            + ", ".join(f"{int(counts.get(r, 0))} {r}" for r in _FAILED)
            + f"; e.g. {first['source']} {first['sop_instance_uid']} (of "
            f"{first['date']}): {first['detail']}"
        )
    return dg.AssetCheckResult(
        check_name=CONTENT_CHECK,
        passed=failed.empty,
        description=description,
        metadata={
            **{str(r): int(counts.get(r, 0)) for r in Result},
            "sources": dg.MetadataValue.json(sorted(set(failed["source"]))),
            "offending": table(
                shown.to_dict(orient="records"),  # type: ignore[arg-type]
                ["source", "date", "sop_instance_uid", "result", "detail"],
            ),
        },
    )


def content_verification_asset(site: SiteConfig, days: int) -> dg.AssetsDefinition:
    """The rolling content verification of `site`, every instance once in `days` days."""
    key = asset_key(site, "content_verification")

    @dg.asset(
        key=key,
        deps=[asset_key(site, "validation_report")],
        group_name=maintenance_group_name(site),
        kinds={"orthanc", "csv"},
        required_resource_keys={
            node_key(site, site.default_backup),
            *(node_key(site, alias) for alias in site.dicom_sources),
        },
        check_specs=[
            dg.AssetCheckSpec(
                CONTENT_CHECK,
                asset=key,
                description="Every instance compared today is in the archive with its "
                "source's content (outside group 0002, PixelData as encoded).",
            )
        ],
        description=(
            f"Rolling content verification (settings.rolling_content_days = {days}): every "
            f"instance the validation reports list as verified is compared by content with "
            f"its source at least once every {days} days, about a {days}-th of them a day: "
            "retrieved from the archive and from the source (DICOM sources by C-GET, Mosaiq "
            "records from the records folder of their date) and hashed outside group 0002. "
            "Due on a day: the instances of its slot (a stable hash of the SOPInstanceUID), "
            "and, at most as many more, those whose last verification failed, then the "
            "longest overdue. Each result is appended to SITE/content_verification.csv; the "
            "check content_verified fails when an instance differs or could not be retrieved "
            "from either side, and a date with an instance whose archived content differs "
            "is incomplete in the coverage. Metadata: instances due and why, verified, "
            "differing, seconds, instances/s, bytes read from the sources, the fraction of "
            f"the verified instances proven identical within the last {days} days."
        ),
    )
    def content_verification(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        audit = run_audit(context)
        started = time.monotonic()
        now = site_today(site)
        with archive_client(context, site) as archive:
            day = verify_day(
                site.name,
                map(partition_date, site_partitions(site).get_partition_keys()),
                _sources(context, site),
                archive.dicom,
                now,
                days,
            )
        done, due, instances = day.done, day.due, day.instances
        seconds = time.monotonic() - started
        results = done.rows["result"].value_counts()
        reasons = due["due"].value_counts()
        per_source: list[dict[str, str | int]] = []
        for alias in site.sources:
            mine = done.rows[done.rows["source"] == alias]["result"].value_counts()
            per_source.append(
                {
                    "source": alias,
                    "instances": int((instances["source"] == alias).sum()),
                    "due": int(mine.sum()),
                    **{str(r): int(mine.get(r, 0)) for r in Result},
                    "bytes": done.source_bytes[alias],
                }
            )
        metadata: dict[str, Any] = {
            "days": days,
            "instances": len(instances),
            "due": len(due),
            **{f"due_{reason}": int(reasons.get(reason, 0)) for reason in Due},
            "verified": int(results.get(Result.IDENTICAL, 0)),
            "differing": int(results.get(Result.DIFFERS, 0)),
            **{str(r): int(results.get(r, 0)) for r in _FAILED if r != Result.DIFFERS},
            "seconds": round(seconds, 2),
            "instances_per_second": rate(len(due), seconds),
            "source_bytes": sum(done.source_bytes[alias] for alias in site.dicom_sources),
            "archive_bytes": done.archive_bytes,
            "content_verified_fraction": content_fraction(
                day.reports, content_state(day.ledger, now.date(), days)
            ),
            "sources": table(per_source, _SOURCE_COLUMNS),
            "ledger": dg.MetadataValue.path(str(day.path)),
            "launched_by": audit["launched_by"],
            "started_by": audit["started_by"],
        }
        check = _check(done.rows)
        if not check.passed:
            context.log.warning("%s", check.description)
        return dg.MaterializeResult(metadata=metadata, check_results=[check])

    return content_verification
