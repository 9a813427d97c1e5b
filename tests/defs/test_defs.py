"""Every site's Dagster objects, snapshotted: a renamed asset, check, job, pool or
resource is a reviewed change (`pytest --snapshot-update` rewrites the snapshot)."""

from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from syrupy.assertion import SnapshotAssertion

from radonc_assets.definitions import defs, site_definitions, site_file_definitions
from radonc_assets.site.asset_keys import asset_key
from radonc_assets.site.loading import load_sites, site_files
from radonc_assets.site.naming import (
    ACTIVE_COURSES,
    CONTENT_VERIFICATION,
    COVERAGE,
    ORTHANC_COPIES,
    RECOVERIES,
    RECOVERY_DRILLS,
    RETENTION,
    SOURCE_STUDIES,
    TREATMENT_RECORDS,
    VALIDATION_REPORT,
    automation_sensor_name,
    backup_job_name,
    group_name,
    maintenance_group_name,
    restores_group_name,
)

ENVIRONMENTS = Path(__file__).resolve().parents[2] / "environments"


def summary(definitions: dg.Definitions) -> dict[str, Any]:
    """What users and operators see by name: assets with their pools, partitions and
    checks, jobs with the assets each runs, sensors, schedules with their job and default
    state, resources and the executor."""
    assets = [a for a in definitions.assets or [] if isinstance(a, dg.AssetsDefinition)]
    return {
        "assets": {
            key.to_user_string(): {
                "group": a.group_names_by_key[key],
                "deps": sorted(dep.to_user_string() for dep in a.asset_deps[key]),
                "pool": a.op.pool,
                "partitions": str(a.partitions_def),
                "checks": sorted(spec.name for spec in a.check_specs),
                "resources": sorted(a.required_resource_keys),
            }
            for a in assets
            for key in sorted(a.keys, key=lambda k: k.to_user_string())
        },
        "jobs": {
            job.name: sorted(key.to_user_string() for key in job.asset_layer.selected_asset_keys)
            for job in definitions.get_repository_def().get_all_jobs()
            if not job.name.startswith("__")
        },
        "sensors": {
            sensor.name: str(sensor.default_status)
            for sensor in definitions.get_repository_def().sensor_defs
        },
        "schedules": {
            schedule.name: f"{schedule.job_name}: {schedule.cron_schedule} "
            f"{schedule.execution_timezone} {schedule.default_status}"
            for schedule in definitions.get_repository_def().schedule_defs
        },
        "resources": sorted(definitions.resources or {}),
        "executor": definitions.executor.name if definitions.executor else None,
    }


def test_the_code_location_loads_the_shipped_sites(snapshot: SnapshotAssertion) -> None:
    loaded = defs()
    dg.Definitions.validate_loadable(loaded)
    assert summary(loaded) == snapshot


@pytest.mark.parametrize("site", ["UCLA", "TJU"])
def test_example_sites(site: str, snapshot: SnapshotAssertion) -> None:
    """The examples of docs/configuration.md (not loaded by the code location)."""
    definitions = site_definitions(load_sites(ENVIRONMENTS / "examples")[site])
    dg.Definitions.validate_loadable(definitions)
    assert summary(definitions) == snapshot


@pytest.mark.parametrize(
    "folder", [ENVIRONMENTS, ENVIRONMENTS / "examples"], ids=["shipped", "examples"]
)
def test_one_code_location_per_site_file_holds_what_defs_holds(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The locations of the generated workspace.yaml, one per file, add up to `defs`."""
    monkeypatch.setenv("RADONC_ENVIRONMENTS", str(folder))
    locations = [site_file_definitions(file.name) for file in site_files()]
    for location in locations:
        dg.Definitions.validate_loadable(location)
    assert summary(dg.Definitions.merge(*locations)) == summary(defs())


def test_the_backup_job_runs_a_dates_backup_and_nothing_else() -> None:
    """Drills, purges, recoveries and the coverage run from their own jobs and schedules."""
    repository = defs().get_repository_def()
    backup = {k.path[-1] for k in repository.get_job("demo_backup").asset_layer.selected_asset_keys}
    assert backup == {
        SOURCE_STUDIES,
        TREATMENT_RECORDS,
        ORTHANC_COPIES,
        ACTIVE_COURSES,
        VALIDATION_REPORT,
    }
    schedules = {s.name: s.job_name for s in repository.schedule_defs}
    assert schedules["demo_nightly_backup"] == "demo_backup"
    assert schedules["demo_recovery_drill"] == "demo_drill"
    assert schedules["demo_daily_retention"] == "demo_retention"


@pytest.mark.parametrize(
    "folder", [ENVIRONMENTS, ENVIRONMENTS / "examples"], ids=["shipped", "examples"]
)
def test_a_sites_group_is_its_daily_backup_chain(folder: Path) -> None:
    """The group's "Materialize all" backfills dates: it holds each date's backup (the
    backup job's assets), nothing that takes a config or spans dates; the restores and
    what spans dates have groups of their own, and the automation sensor still sees every
    asset with an automation condition."""
    for site in load_sites(folder).values():
        definitions = site_definitions(site)
        graph = definitions.resolve_asset_graph()

        def group(name: str, graph: Any = graph) -> set[dg.AssetKey]:
            return set(dg.AssetSelection.groups(name).resolve(graph))

        backup = definitions.resolve_job_def(backup_job_name(site)).asset_layer
        assert group(group_name(site)) == set(backup.selected_asset_keys)
        drills = [asset_key(site, RECOVERY_DRILLS)] if site.drill.scratch else []
        assert group(restores_group_name(site)) == {asset_key(site, RECOVERIES), *drills}
        upkeep = {asset_key(site, COVERAGE)} | {
            asset_key(site, name)
            for name, setting in [
                (RETENTION, site.settings.retention_days),
                (CONTENT_VERIFICATION, site.settings.rolling_content_days),
            ]
            if setting is not None
        }
        assert group(maintenance_group_name(site)) == upkeep
        automated = {
            key for key in graph.get_all_asset_keys() if graph.get(key).automation_condition
        }
        sensor = definitions.resolve_sensor_def(automation_sensor_name(site))
        assert isinstance(sensor, dg.AutomationConditionSensorDefinition)
        assert automated
        assert automated <= set(sensor.asset_selection.resolve(graph))
