"""The UI's launch paths, as docs/operations.md gives them, sent as the UI sends them.

Each test starts `radonc serve` (the console script: webserver and daemon) on the lab's
servers and talks GraphQL to it: a backfill of a date range from the site's asset group
("Materialize all") and from its backup job, and a recovery from the launchpad with the
example config of the job's description.
"""

import datetime as dt
import re
import time
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml

from radonc_assets.backup.recovery import Selection, selected_instances
from radonc_assets.defs.dicom_backup.jobs import backup_assets
from radonc_assets.devtools.backfills import LAUNCH_BACKFILL
from radonc_assets.devtools.demo import DemoServers
from radonc_assets.site.asset_keys import asset_key, op_name
from radonc_assets.site.clients import archive_client, dicom_client
from radonc_assets.site.config import SiteConfig
from radonc_assets.site.dagster_resources import site_resources
from radonc_assets.site.loading import load_sites
from radonc_assets.site.naming import (
    RECOVERIES,
    RESTORE_CHECK,
    backup_job_name,
    group_name,
    recovery_job_name,
)
from tests.support.serving import Served, assert_backed_up, start, stop, wait_for_backfill
from tests.support.sites import SiteFileWriter, variant

REPOSITORY = "__repository__"
FIRST_DATE = "2026-01-05"  # the lab's first day with data: its backfill_start here
DAY = dt.date.fromisoformat(FIRST_DATE)
RUN_TIMEOUT = 300.0
FINISHED = ("SUCCESS", "FAILURE", "CANCELED")

LAUNCH_RUN = """mutation ($params: ExecutionParams!) {
    launchPipelineExecution(executionParams: $params) {
        __typename
        ... on LaunchRunSuccess { run { runId } }
        ... on RunConfigValidationInvalid { errors { message } }
        ... on PythonError { message }
    } }"""
RUN_STATUS = """query ($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }"""
JOB_DESCRIPTION = """query ($selector: PipelineSelector!) { pipelineOrError(params: $selector) {
    ... on Pipeline { description tags { key value } } } }"""
CONFIG_SCHEMA = """query ($selector: PipelineSelector!) {
    runConfigSchemaOrError(selector: $selector) { ... on RunConfigSchema {
        rootConfigType { key }
        allConfigTypes {
            key
            ... on EnumConfigType { values { value } }
            ... on CompositeConfigType {
                fields { name description isRequired configTypeKey }
            }
        }
    } } }"""


def lab_served(
    lab: DemoServers, site_file: SiteFileWriter, tmp_path: Path
) -> tuple[Served, SiteConfig]:
    """`radonc serve` on a site file of the lab whose partitions start at its first day."""
    path = variant(lab, site_file)
    path.write_text(
        path.read_text().replace(
            'backfill_start = "2026-01-01"', f'backfill_start = "{FIRST_DATE}"'
        )
    )
    return start(path.parent, tmp_path), load_sites(path.parent)["LAB"]


def location(served: Served) -> str:
    (name,) = [
        entry["name"]
        for entry in served.graphql(
            "{ workspaceOrError { ... on Workspace { locationEntries { name } } } }"
        )["workspaceOrError"]["locationEntries"]
    ]
    return str(name)


def job_selector(served: Served, job: str) -> dict[str, str]:
    return {
        "repositoryLocationName": location(served),
        "repositoryName": REPOSITORY,
        "pipelineName": job,
    }


def launch_run(served: Served, job: str, run_config: str) -> dict[str, Any]:
    """The launchpad's "Launch Run": the YAML of its editor and the job's tags, as Dagster
    1.13's UI sends them (recorded from it)."""
    return dict(
        served.graphql(
            LAUNCH_RUN,
            params={
                "runConfigData": run_config,
                "selector": {
                    **job_selector(served, job),
                    "assetSelection": [],
                    "assetCheckSelection": [],
                },
                "mode": "default",
                "executionMetadata": {
                    "tags": [
                        {"key": "dagster/retry_on_asset_or_op_failure", "value": "false"},
                        {"key": "dagster/from_ui", "value": "true"},
                    ]
                },
            },
        )["launchPipelineExecution"]
    )


def wait_for_run(served: Served, run_id: str) -> str:
    deadline = time.monotonic() + RUN_TIMEOUT
    status = ""
    while time.monotonic() < deadline:
        status = str(served.graphql(RUN_STATUS, id=run_id)["runOrError"]["status"])
        if status in FINISHED:
            return status
        time.sleep(1)
    raise AssertionError(f"run {run_id} still {status} after {RUN_TIMEOUT} s")


def launch_backfill(served: Served, params: dict[str, Any]) -> str:
    launched = served.graphql(LAUNCH_BACKFILL, params=params)["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    return str(launched["backfillId"])


def group_keys(served: Served, site: SiteConfig) -> list[list[str]]:
    """The assets the asset graph of the site's group shows ("Materialize all")."""
    nodes = served.graphql(
        """query ($group: AssetGroupSelector!) { assetNodes(group: $group) {
            assetKey { path } } }""",
        group={
            "groupName": group_name(site),
            "repositoryName": REPOSITORY,
            "repositoryLocationName": location(served),
        },
    )["assetNodes"]
    return [list(node["assetKey"]["path"]) for node in nodes]


@pytest.mark.usefixtures("lab_courses_planned")  # the chains of the dates' records
def test_a_backfill_of_two_dates_from_the_sites_group_and_from_its_job(
    lab: DemoServers, site_file: SiteFileWriter, tmp_path: Path
) -> None:
    """docs/operations.md: the group's "Materialize all" with a range, or the backup job's
    backfill; both complete with every check passed, and the group holds nothing that
    needs a config (the launchpad would open instead of the partitions dialog)."""
    served, site = lab_served(lab, site_file, tmp_path)
    try:
        keys = group_keys(served, site)
        assert sorted(keys) == sorted(key.path for key in backup_assets(site))
        dates = ["2026-01-07", "2026-01-08"]
        # What the dialog of "Materialize all" sends, recorded from Dagster 1.13's UI.
        params = {
            "tags": [{"key": "dagster/from_ui", "value": "true"}],
            "assetSelection": [{"path": k} for k in keys],
            "partitionNames": dates,
            "fromFailure": False,
        }
        from_group = launch_backfill(served, params)
        instance = dg.DagsterInstance.from_config(str(served.home))
        assert wait_for_backfill(served, from_group, timeout=RUN_TIMEOUT) == "COMPLETED_SUCCESS", [
            (r.job_name, r.asset_selection, str(r.status), r.tags.get("dagster/partition"))
            for r in instance.get_runs()
        ]
        assert_backed_up(instance, site, from_group, dates)

        # From the job's page the same, naming the job's partition set.
        selector = {
            "partitionSetName": f"{backup_job_name(site)}_partition_set",
            "repositorySelector": {
                "repositoryLocationName": location(served),
                "repositoryName": REPOSITORY,
            },
        }
        from_job = launch_backfill(served, {**params, "selector": selector})
        assert wait_for_backfill(served, from_job, timeout=RUN_TIMEOUT) == "COMPLETED_SUCCESS"
        assert_backed_up(instance, site, from_job, dates)
    finally:
        stop(served)


def config_types(served: Served, job: str) -> tuple[str, dict[str, dict[str, Any]]]:
    """The launchpad's schema of `job`: its root type's key, and every type by key."""
    schema = served.graphql(CONFIG_SCHEMA, selector=job_selector(served, job))[
        "runConfigSchemaOrError"
    ]
    return schema["rootConfigType"]["key"], {t["key"]: t for t in schema["allConfigTypes"]}


def field(types: dict[str, dict[str, Any]], key: str, *path: str) -> dict[str, Any]:
    """The field at `path` below the type `key`."""
    found: dict[str, Any] = {"configTypeKey": key}
    for name in path:
        (found,) = [f for f in types[found["configTypeKey"]]["fields"] if f["name"] == name]
    return found


@pytest.mark.usefixtures("lab_courses_planned")
def test_a_recovery_from_the_launchpad_with_the_documented_example(
    lab: DemoServers, site_file: SiteFileWriter, tmp_path: Path
) -> None:
    """The recovery job's launchpad: the destination an enum of the restore targets, every
    selection shown with its description, resources not editable; the example of the job's
    description restores its date into RESTORE, verified; a wrong destination is refused
    at launch (no run); two selections fail the run before anything moves, not retried."""
    served, site = lab_served(lab, site_file, tmp_path)
    try:
        job = recovery_job_name(site)
        root, types = config_types(served, job)
        config = field(types, root, "ops", op_name(asset_key(site, RECOVERIES)), "config")
        fields = {f["name"]: f for f in types[config["configTypeKey"]]["fields"]}
        assert list(fields) == ["date", "destination", "patient_id", "series_uids", "study_uids"]
        assert all(f["isRequired"] and f["description"] for f in fields.values())
        assert types[fields["destination"]["configTypeKey"]]["values"] == [{"value": "RESTORE"}]
        resources = types[field(types, root, "resources")["configTypeKey"]]["fields"]
        nodes = [r["name"] for r in resources if r["name"] != "io_manager"]  # Dagster's own
        assert sorted(nodes) == sorted(site_resources(site))
        for node in nodes:
            settable = field(types, root, "resources", node, "config")
            assert types[settable["configTypeKey"]]["fields"] == [], node

        shown = served.graphql(JOB_DESCRIPTION, selector=job_selector(served, job))[
            "pipelineOrError"
        ]
        # The launchpad launches with the job's tags: no run retry of a failed restore.
        assert {"key": "dagster/retry_on_asset_or_op_failure", "value": "false"} in shown["tags"]
        (example,) = re.findall(r"```yaml\n(.*?)```", shown["description"], flags=re.DOTALL)
        assert yaml.safe_load(example)["ops"][op_name(asset_key(site, RECOVERIES))]["config"] == {
            "destination": "RESTORE",
            "patient_id": None,
            "study_uids": [],
            "series_uids": [],
            "date": FIRST_DATE,
        }
        launched = launch_run(served, job, example)
        assert launched["__typename"] == "LaunchRunSuccess", launched
        run_id = launched["run"]["runId"]
        assert wait_for_run(served, run_id) == "SUCCESS"
        instance = dg.DagsterInstance.from_config(str(served.home))
        archived = selected_instances(archive_client(site).dicom, Selection(date=DAY))
        (event,) = instance.fetch_materializations(asset_key(site, RECOVERIES), limit=10).records
        metadata = event.asset_materialization.metadata  # type: ignore[union-attr]
        assert (metadata["restored"].value, metadata["missing"].value) == (len(archived), 0)
        assert metadata["launched_by"].value == "ui"
        (check,) = [
            record.dagster_event.event_specific_data
            for record in instance.all_logs(
                run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
            )
            if record.dagster_event is not None
        ]
        assert isinstance(check, dg.AssetCheckEvaluation)
        assert (check.check_name, check.passed) == (RESTORE_CHECK, True)
        restored = selected_instances(dicom_client(site, "RESTORE"), Selection(date=DAY))
        assert set(archived["sop_instance_uid"]) <= set(restored["sop_instance_uid"])

        refused = launch_run(served, job, example.replace("RESTORE", "RESTORE_SCP"))
        assert refused["__typename"] == "RunConfigValidationInvalid", refused
        (error,) = refused["errors"]
        assert error["message"].endswith(
            "not in enum type LAB restore targets: RESTORE got RESTORE_SCP"
        ), error

        both = example.replace("patient_id: null", "patient_id: SYN07-0001")
        launched = launch_run(served, job, both)
        assert launched["__typename"] == "LaunchRunSuccess", launched
        failed = launched["run"]["runId"]
        assert wait_for_run(served, failed) == "FAILURE"
        (failure,) = [
            record.dagster_event.event_specific_data
            for record in instance.all_logs(failed, of_type=dg.DagsterEventType.STEP_FAILURE)
            if record.dagster_event is not None
        ]
        assert "fill in exactly one of patient_id, study_uids, series_uids, date" in str(
            failure.error.message  # type: ignore[union-attr]
        )
        time.sleep(15)  # the daemon's run retries would have launched a retry by now
        retries = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/parent_run_id": failed}))
        assert retries == []
    finally:
        stop(served)
