"""Running a site's Dagster job from the command line, recorded in the Dagster instance.

Only the commands that run jobs (`radonc backup`, `radonc validate`) import this
module, so the other commands never load Dagster. Runs execute in this process
against the instance at ``$DAGSTER_HOME`` (default ``.radonc/dagster_home``), so
every run, materialization and check shows up in the UI. Before each run, runs
whose process is gone are marked failed and their pool slots freed; a pool held
by a live run is waited for, visibly and for a bounded time.
"""

import datetime as dt
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
import sqlalchemy.exc

from radonc_assets.backup.audit_files import audit_path, read_frame
from radonc_assets.backup.manifest import INCOMPLETE, Outcome, Status
from radonc_assets.backup.recovery import RestoreStatus
from radonc_assets.definitions import site_definitions
from radonc_assets.site.alerts import alert_message, deliver, run_url
from radonc_assets.site.asset_keys import asset_key, op_name
from radonc_assets.site.config import SiteConfig
from radonc_assets.site.errors import RunRefusedError
from radonc_assets.site.instance import (
    MAX_RETRIES_TAG,
    fail_dead_runs,
    fail_own_runs,
    failure_cause,
    open_instance,
    process_tags,
    wait_for_pools,
)
from radonc_assets.site.loading import read_secret
from radonc_assets.site.naming import (
    ACTIVE_COURSES,
    CHAIN_CHECK,
    ORTHANC_COPIES,
    RECOVERIES,
    RECOVERY_DRILLS,
    VALIDATION_REPORT,
    backup_job_name,
    check_name,
    drill_job_name,
    manifest_name,
    node_key,
    recovery_job_name,
)
from radonc_assets.site.partitions import site_partitions
from radonc_assets.site.paths import DAGSTER_HOME_VARIABLE, dagster_home, ensure_instance_settings

# Offending UIDs `radonc validate` and `radonc backup` list per source, at most.
LISTED_UIDS = 10


@dataclass(frozen=True)
class DayResult:
    """What one run did for one date: whether its sources are complete, and if not, why.

    Attributes:
        complete: Every source asked for is complete (and the chains, for all of them).
        copied: Instances copied.
        deferred: Instances left for the next run.
        problems: One line per source not complete and per failed step.
        sources: The sources not complete.
        run_id: The run.
    """

    complete: bool
    copied: int
    deferred: int
    problems: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    run_id: str = ""


def dagster_instance() -> dg.DagsterInstance:
    """The instance at :func:`~radonc_assets.site.paths.dagster_home`.

    With radonc's settings (:func:`~radonc_assets.site.paths.ensure_instance_settings`):
    one transfer at a time per source pool (see
    :func:`~radonc_assets.site.naming.node_key`), and run monitoring, with which a daemon
    fails the runs it launched whose worker died (the runs of this command line are
    recovered by :func:`~radonc_assets.site.instance.fail_dead_runs`).
    """
    home = dagster_home()
    os.environ[DAGSTER_HOME_VARIABLE] = str(home)
    ensure_instance_settings(home)
    return open_instance(home)


def check_dates(site: SiteConfig, days: Sequence[dt.date]) -> None:
    """Refuse dates outside the site's partitions, naming the valid range.

    Raises:
        RunRefusedError: A date before ``backfill_start`` or after today.
    """
    keys = site_partitions(site).get_partition_keys()
    first, last = dt.date.fromisoformat(keys[0]), dt.date.fromisoformat(keys[-1])
    wrong = [day for day in days if not first <= day <= last]
    if wrong:
        raise RunRefusedError(
            f"{wrong[0]} is not a date of site {site.name}: valid dates are {first} "
            f"(backfill_start) to {last} (today in {site.timezone})"
        )


def check_secrets(site: SiteConfig) -> None:
    """Read the secrets the backup job needs now, so a missing one is one clear line.

    Raises:
        MissingSecretError: Naming the variable and the key that names it.
    """
    archive = site.archive()
    if archive.rest_password_env_var:
        read_secret(
            site,
            f"backup_targets.{site.default_backup}.rest_password_env_var",
            archive.rest_password_env_var,
        )


def run_day(
    site: SiteConfig, day: dt.date, aliases: Sequence[str], *, copy: bool, pool_wait: float
) -> DayResult:
    """Validate every source of `site` for `day`, first copying `aliases` when `copy`.

    Prints one line per source of `aliases`, and the offending UIDs of an
    incomplete source.

    Raises:
        RunRefusedError: A pool stays busy, or the instance's database is locked.
    """
    try:
        return _run_day(site, day, aliases, copy=copy, pool_wait=pool_wait)
    except sqlalchemy.exc.OperationalError as exc:
        raise _locked(exc) from exc


def wait_for_sources(site: SiteConfig, aliases: Sequence[str], pool_wait: float) -> None:
    """Wait, as :func:`run_day` does, until no live run holds the pool of `aliases`.

    Runs of this machine whose process is gone are marked failed first (their slots freed).

    Raises:
        RunRefusedError: A pool stays busy, or the instance's database is locked.
    """
    try:
        _free_pools(dagster_instance(), site, aliases, pool_wait)
    except sqlalchemy.exc.OperationalError as exc:
        raise _locked(exc) from exc


def _free_pools(
    instance: dg.DagsterInstance, site: SiteConfig, aliases: Iterable[str], pool_wait: float
) -> None:
    for run in fail_dead_runs(instance):
        print(f"run {run.run_id} had lost its process: marked failed, its pool slots freed")
    wait_for_pools(
        instance,
        sorted({node_key(site, alias) for alias in aliases}),
        pool_wait,
        lambda line: print(line, flush=True),
    )


def _locked(exc: sqlalchemy.exc.OperationalError) -> RunRefusedError:
    return RunRefusedError(
        f"the Dagster instance at {dagster_home()} cannot be used now ({exc.orig}); "
        "another process holds its database: try again"
    )


def run_recovery(site: SiteConfig, config: dict[str, Any]) -> int:
    """Run the recovery job of `site` with `config` (:class:`RecoveryConfig` fields).

    Prints the restore's summary and what did not arrive intact.

    Returns:
        0 when every instance was restored intact, else 1.

    Raises:
        RunRefusedError: The job failed before restoring (nothing selected, a node down).
    """
    print(f"Restoring from {site.default_backup} to {config['destination']}...", flush=True)
    meta = _run_restore(
        site,
        "recovery",
        recovery_job_name(site),
        asset_key(site, RECOVERIES),
        {"config": config},
    )
    return _print_restore(site, f"{meta['selection']}", str(meta["destination"]), meta)


def run_drill(site: SiteConfig, scratch: str) -> int:
    """Run the restore drill of `site` into its scratch node `scratch`, as its schedule does.

    Returns:
        0 when every sampled instance was restored intact, else 1.

    Raises:
        RunRefusedError: The drill failed before restoring (nothing verified to draw from).
    """
    print(f"Drill: a sample of the verified backups from {site.default_backup} to {scratch}...")
    meta = _run_restore(site, "drill", drill_job_name(site), asset_key(site, RECOVERY_DRILLS), {})
    status = _print_restore(site, "drill", scratch, meta)
    print(
        f"  {meta['deleted_after']} instances deleted from {scratch} again"
        f" ({meta['leftovers_deleted_first']} left by an earlier drill deleted first)"
    )
    return status


def _run_restore(
    site: SiteConfig, label: str, job_name: str, key: dg.AssetKey, op_config: dict[str, Any]
) -> dict[str, Any]:
    """Run the restore job `job_name`; the metadata of its materialization of `key`.

    Raises:
        RunRefusedError: The job failed, with the causes, as the `label` that did not run.
    """
    instance = dagster_instance()
    for run in fail_dead_runs(instance):
        print(f"run {run.run_id} had lost its process: marked failed, its pool slots freed")
    job = site_definitions(site).resolve_job_def(job_name)
    result = job.execute_in_process(
        instance=instance,
        raise_on_error=False,
        run_config={
            "ops": {op_name(key): op_config} if op_config else {},
            "loggers": {"console": {"config": {"log_level": "CRITICAL"}}},
        },
        tags={**process_tags(), MAX_RETRIES_TAG: "0"},
    )
    if not result.success:
        causes = [failure_cause(e) for e in result.get_step_failure_events()]
        raise RunRefusedError(f"the {label} did not run: {'; '.join(causes) or 'failed'}")
    (event,) = [e for e in result.get_asset_materialization_events() if e.asset_key == key]
    return {"run_id": result.run_id} | {
        k: v.value for k, v in event.materialization.metadata.items()
    }


def _print_restore(site: SiteConfig, what: str, destination: str, meta: dict[str, Any]) -> int:
    """Print a restore's one-line summary and what did not arrive intact; its exit status."""
    intact = meta[RestoreStatus.RESTORED] == meta["instances"]
    print(
        f"{site.name}: {what}: {meta[RestoreStatus.RESTORED]} of {meta['instances']} "
        f"instances restored intact to {destination} by {meta['method']} in "
        f"{meta['transfer_seconds']} s ({meta['instances_per_second']} instances/s, "
        f"{meta['megabytes_per_second']} MB/s); "
        + ", ".join(
            f"{meta[s]} {s}".replace("_", " ")
            for s in (RestoreStatus.MISSING, RestoreStatus.MISMATCHED, RestoreStatus.ALTERED)
        )
    )
    if not intact:
        report = read_frame(Path(str(meta["report"])))
        bad = report[report["status"] != RestoreStatus.RESTORED]
        for row in bad.head(LISTED_UIDS).itertuples(index=False):
            print(f"  {row.status}: {row.sop_instance_uid} ({row.modality}): {row.detail}")
    print(f"  report: {meta['report']}")
    print(f"  run {meta['run_id']}")
    return 0 if intact else 1


def _run_day(
    site: SiteConfig, day: dt.date, aliases: Sequence[str], *, copy: bool, pool_wait: float
) -> DayResult:
    # Only `aliases` are contacted; the report gives every source's verdict, the others'
    # from their last listing.
    selection = [
        *(asset_key(site, a, manifest_name(site.sources[a])) for a in aliases),
        *(asset_key(site, a, ORTHANC_COPIES) for a in aliases if copy),
        *(asset_key(site, a, ACTIVE_COURSES) for a in aliases if a in site.mosaiq_sources and copy),
        asset_key(site, VALIDATION_REPORT),
    ]
    instance = dagster_instance()
    _free_pools(instance, site, site.sources, pool_wait)
    job = site_definitions(site).resolve_job_def(backup_job_name(site))
    try:
        result = job.execute_in_process(
            partition_key=day.isoformat(),
            instance=instance,
            asset_selection=selection,
            raise_on_error=False,
            # Not retried by the daemon: the command reports the failure and exits non-zero.
            tags={**process_tags(), MAX_RETRIES_TAG: "0"},
            run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
        )
    except BaseException:
        fail_own_runs(instance)  # stopped (Ctrl-C, SIGTERM): never leave the run STARTED
        raise
    if any(
        e.step_failure_data.error.cls_name == "DagsterExecutionInterruptedError"
        for e in result.get_step_failure_events()
        if e.step_failure_data.error is not None
    ):
        # Dagster turned Ctrl-C or SIGTERM into a failed run: stop here too.
        raise KeyboardInterrupt
    summary = _print_summary(result, site, day, aliases)
    print(f"{day} {site.name}: run {result.run_id}", flush=True)
    return summary


def _print_summary(
    result: dg.ExecuteInProcessResult, site: SiteConfig, day: dt.date, aliases: Sequence[str]
) -> DayResult:
    """Print one line per source, then what is not verified."""
    materialized: dict[dg.AssetKey, dict[str, Any]] = {
        e.asset_key: {k: v.value for k, v in e.materialization.metadata.items()}
        for e in result.get_asset_materialization_events()
        if e.asset_key is not None
    }
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    # The report's step fails when a blocking check fails: the checks say why, below.
    failures = [
        f"{e.step_key}: {failure_cause(e)}"
        for e in result.get_step_failure_events()
        if not (e.step_key or "").endswith(VALIDATION_REPORT)
    ]
    complete = True
    copied = deferred = 0
    problems: list[str] = []
    sources: list[str] = []
    for alias in aliases:
        copies = materialized.get(asset_key(site, alias, ORTHANC_COPIES))
        check = checks.get(check_name(alias))
        parts = []
        if copies is not None and "cause" not in copies:
            copied += int(copies[Outcome.COPIED])
            deferred += int(copies[Outcome.DEFERRED])
            parts.append(
                f"{copies['instances']} instances: "
                + ", ".join(f"{copies[outcome]} {outcome}".replace("_", " ") for outcome in Outcome)
            )
        if check is None:
            parts.append("not validated (the run failed)")
            complete = False
        elif "cause" in check.metadata:
            parts.append(
                f"{str(check.metadata['verdict'].value).upper()}: {check.metadata['cause'].value}"
            )
            complete = False
        else:
            verdict = "complete" if check.passed else str(check.metadata["verdict"].value).upper()
            counts = ", ".join(f"{check.metadata[s].value} {s}" for s in INCOMPLETE)
            parts.append(f"{verdict} ({counts})")
            complete = complete and check.passed
        line = f"{day} {site.name} {alias}: " + "; ".join(parts)
        if check is None or not check.passed:
            problems.append(line)
            sources.append(alias)
        print(line, flush=True)
    chains = checks.get(CHAIN_CHECK)
    if chains is not None:
        records = chains.metadata["records"].value
        if chains.passed:
            print(f"{day} {site.name} treatment chains: complete ({records} records)")
        else:
            print(f"{day} {site.name} treatment chains: INCOMPLETE ({chains.description})")
        # The chains span every source: they decide only a backup of all of them.
        if set(aliases) == set(site.sources):
            complete = complete and chains.passed
            if not chains.passed:
                problems.append(f"treatment chains: {chains.description}")
    for failure in failures:
        print(f"  failed step {failure}", file=sys.stderr)
    if not complete:
        _print_offending(site, day, aliases)
    problems += [f"failed step {failure}" for failure in failures]
    return DayResult(complete, copied, deferred, tuple(problems), tuple(sources), result.run_id)


def alert_incomplete(site: SiteConfig, day: dt.date, result: DayResult, command: str) -> None:
    """Alert `site`'s ``[SITE.alerts]`` that `command` left `day` incomplete.

    Runs of the command line are seen by no sensor (they carry no code location), and
    departments run nightly backups from cron: the command alerts by itself. An alert
    that cannot be delivered is said on standard error.
    """
    if not site.alerts.enabled:
        return
    message = alert_message(
        site.name,
        f"radonc {command} left the date incomplete",
        day.isoformat(),
        list(result.problems) or ["the run failed"],
        run_url(site.alerts, result.run_id),
        list(result.sources),
        subject=site.alerts.subject,
    )
    for problem in deliver(site, message):
        print(f"radonc: alert not delivered: {problem}", file=sys.stderr)


def _print_offending(site: SiteConfig, day: dt.date, aliases: Sequence[str]) -> None:
    """List up to `LISTED_UIDS` unverified instances per source, and the report file."""
    path = audit_path(site.name, day, VALIDATION_REPORT)
    if not path.exists():
        return
    report = read_frame(path)
    for alias in aliases:
        bad: pd.DataFrame = report[
            (report["source"] == alias) & report["status"].isin([str(s) for s in INCOMPLETE])
        ]
        for row in bad.head(LISTED_UIDS).itertuples(index=False):
            what = (  # a Mosaiq delivery that made no record has a DHS_ID, no UID
                f"Dose_Hst DHS_ID={row.dhs_id}"
                if row.status == Status.NOT_CONVERTED
                else f"{row.sop_instance_uid} ({row.modality}, series {row.series_instance_uid})"
            )
            print(f"  {alias} {row.status}: {what}: {row.detail}")
        if len(bad) > LISTED_UIDS:
            print(f"  {alias}: {len(bad) - LISTED_UIDS} more")
    print(f"  report: {path}")
