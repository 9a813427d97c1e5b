"""Asset checks of the validation report, one per source.

A check fails when anything its source holds for the day is missing from the
archive or differs there, or (Mosaiq) when a delivery of the day made no record
and nobody acknowledged it.
"""

import warnings
from collections.abc import Iterable
from typing import Any

import dagster as dg
import pandas as pd

from radonc_assets.backup.chain import chain_summary
from radonc_assets.backup.coverage import DayStatus, verdict
from radonc_assets.backup.manifest import INCOMPLETE, UNLISTED, Status
from radonc_assets.defs.metadata import MAX_UIDS_IN_METADATA
from radonc_assets.site.naming import CHAIN_CHECK, check_name

# The statuses of a report's rows that are Mosaiq deliveries, not instances.
DELIVERY_STATUSES = (Status.NOT_CONVERTED, Status.ACKNOWLEDGED)


def completeness_check_specs(
    key: dg.AssetKey, aliases: Iterable[str], partitions: dg.PartitionsDefinition
) -> list[dg.AssetCheckSpec]:
    """One blocking check per source on the validation report `key`, and the chains'.

    The checks are partitioned as the report is: each date has its own result, so the UI
    shows which dates failed (Dagster's partitioned checks, a preview feature in 1.13,
    whose warning is not for the users of ``radonc``).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return _check_specs(key, aliases, partitions)


def _check_specs(
    key: dg.AssetKey, aliases: Iterable[str], partitions: dg.PartitionsDefinition
) -> list[dg.AssetCheckSpec]:
    return [
        *(
            dg.AssetCheckSpec(
                check_name(alias),
                asset=key,
                blocking=True,
                partitions_def=partitions,
                description=f"Everything {alias} holds for the day is in the archive, unchanged.",
            )
            for alias in aliases
        ),
        dg.AssetCheckSpec(
            CHAIN_CHECK,
            asset=key,
            blocking=True,
            partitions_def=partitions,
            description=(
                "Each RT Beams Treatment Record of the day has, in the archive, its RT Plan, "
                "the plan's RT Structure Set and the image series the structure set references."
            ),
        ),
    ]


def chain_result(chains: pd.DataFrame) -> dg.AssetCheckResult:
    """The treatment chain check from the day's chain report."""
    summary = chain_summary(chains)
    incomplete = chains[chains["complete"].astype(str) != "True"]
    return dg.AssetCheckResult(
        check_name=CHAIN_CHECK,
        passed=incomplete.empty,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            **summary,
            "incomplete_records": dg.MetadataValue.json(
                list(incomplete["record_uid"][:MAX_UIDS_IN_METADATA])
            ),
        },
        description=None
        if incomplete.empty
        else f"{summary['incomplete']} of {summary['records']} treatment records lack part of "
        f"their chain, e.g. {incomplete['detail'].iloc[0]}",
    )


def completeness_result(
    alias: str, report: pd.DataFrame, *, day_over: bool = True
) -> dg.AssetCheckResult:
    """The check of one source from its rows of the validation report: its verdict.

    It passes only when the verdict is complete
    (:func:`~radonc_assets.backup.coverage.verdict`). A source of a day not over yet
    that has not been listed (``not_run``) fails as a warning: the day is undecided. A
    Mosaiq source's rows are its records (instances) and its deliveries that made no
    record (``not_converted``, ``acknowledged``): the latter fail the check unless
    acknowledged, and are counted apart from the instances.

    Args:
        alias: The source.
        report: Its rows of the day's report.
        day_over: Whether the day has ended in the site's time zone.
    """
    status = verdict(report["status"].tolist())
    instances = report[report["sop_instance_uid"] != ""]
    deliveries = report[report["status"].isin(DELIVERY_STATUSES)]
    bad = instances[instances["status"].isin(INCOMPLETE)]
    counts = {s: int((report["status"] == s).sum()) for s in INCOMPLETE}
    unconverted = deliveries[deliveries["status"] == Status.NOT_CONVERTED]
    metadata: dict[str, Any] = {
        "verdict": str(status),
        "instances": len(instances),
        **{str(s): count for s, count in counts.items()},
        str(Status.ACKNOWLEDGED): int((deliveries["status"] == Status.ACKNOWLEDGED).sum()),
        "offending_uids": dg.MetadataValue.json(
            list(bad["sop_instance_uid"][:MAX_UIDS_IN_METADATA])
        ),
    }
    if not unconverted.empty:
        metadata["offending_deliveries"] = dg.MetadataValue.json(
            [f"DHS_ID={dhs_id}" for dhs_id in unconverted["dhs_id"][:MAX_UIDS_IN_METADATA]]
        )
    unlisted = report[report["status"].isin(UNLISTED)]
    if not unlisted.empty:
        metadata["cause"] = str(unlisted["detail"].iloc[0])
    provisional = status == DayStatus.NOT_RUN and not day_over
    return dg.AssetCheckResult(
        check_name=check_name(alias),
        passed=status == DayStatus.COMPLETE,
        severity=dg.AssetCheckSeverity.WARN if provisional else dg.AssetCheckSeverity.ERROR,
        metadata=metadata,
        description=None
        if status == DayStatus.COMPLETE
        else _verdict_line(alias, status, len(instances), len(deliveries), counts, metadata),
    )


def _verdict_line(
    alias: str,
    status: DayStatus,
    instances: int,
    deliveries: int,
    counts: dict[Status, int],
    metadata: dict[str, Any],
) -> str:
    """Why a source's check failed, in one line."""
    if status in (DayStatus.UNREACHABLE, DayStatus.NOT_RUN):
        return f"{alias} {status}: {metadata['cause']}"
    what = "instances and deliveries" if deliveries else "instances"
    return (
        f"{sum(counts.values())} of {instances + deliveries} {what} not verified: "
        + ", ".join(f"{count} {s}" for s, count in counts.items() if count)
        + (
            " (deferred: max_uids_per_run was reached; the next run continues)"
            if counts[Status.DEFERRED]
            else ""
        )
        + (
            " (not_converted: Mosaiq deliveries that made no record, named in the report "
            "with their reason; acknowledge them in the site's acknowledgements file)"
            if counts[Status.NOT_CONVERTED]
            else ""
        )
    )
