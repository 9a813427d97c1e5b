"""The production instance settings (deployment/dagster.yaml) on a real PostgreSQL server.

One server for the module (Debian's PostgreSQL, a cluster of its own on a free loopback
port); each test gets a database of its own there, the ``DAGSTER_PG_*`` variables naming
it, and ``tmp_path/dagster_home`` holding ``deployment/dagster.yaml`` as DAGSTER_HOME.
"""

import contextlib
import datetime as dt
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import psycopg2
import pytest
import yaml
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

from radonc_assets.backup.recovery import Selection, selected_instances
from radonc_assets.cli.main import main
from radonc_assets.devtools.demo import DemoServers
from radonc_assets.devtools.local_servers import PostgresServer
from radonc_assets.site.asset_keys import asset_key
from radonc_assets.site.clients import archive_client
from radonc_assets.site.loading import load_site_files
from radonc_assets.site.naming import RECOVERIES, RESTORE_CHECK, recovery_job_name
from radonc_assets.site.paths import SHIPPED_SETTINGS, ensure_instance_settings
from tests.support.serving import assert_backed_up, launch_backfill, start, stop, wait_for_backfill
from tests.support.sites import SiteFileWriter, variant

DEPLOYMENT_SETTINGS = Path(__file__).resolve().parents[2] / "deployment" / "dagster.yaml"
# The planning days 2026-01-05 and 06 are backed up by `lab_courses_planned`: the records
# of these dates have their whole treatment chain in the archive.
BACKFILL = ["2026-01-07", "2026-01-08"]
RECOVERY_DAY = dt.date(2026, 1, 6)


@pytest.fixture(scope="module")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    with PostgresServer(tmp_path_factory.mktemp("postgres")) as server:
        yield server


@pytest.fixture
def database(
    postgres: PostgresServer, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> str:
    """A new database named after the test, which the ``DAGSTER_PG_*`` variables name."""
    name = re.sub(r"[^a-z0-9]+", "_", request.node.name.lower())[:63]
    postgres.create_database(name)
    for variable, value in postgres.instance_env(name).items():
        monkeypatch.setenv(variable, value)
    return name


@pytest.fixture
def home(database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """DAGSTER_HOME: ``tmp_path/dagster_home`` with deployment/dagster.yaml."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(DEPLOYMENT_SETTINGS, home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


def rows(postgres: PostgresServer, database: str, sql: str, *params: object) -> list[tuple]:
    """What `sql` returns in `database`, read with psycopg2 rather than through Dagster."""
    connection = psycopg2.connect(postgres.url(database))
    with contextlib.closing(connection), connection.cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())


def test_the_deployment_settings_are_the_shipped_ones_stored_in_postgresql() -> None:
    deployment = yaml.safe_load(DEPLOYMENT_SETTINGS.read_text())
    storage = deployment.pop("storage")
    assert deployment == yaml.safe_load(SHIPPED_SETTINGS.read_text())
    assert storage == {
        "postgres": {
            "postgres_db": {
                "hostname": {"env": "DAGSTER_PG_HOST"},
                "port": {"env": "DAGSTER_PG_PORT"},
                "username": {"env": "DAGSTER_PG_USERNAME"},
                "password": {"env": "DAGSTER_PG_PASSWORD"},
                "db_name": {"env": "DAGSTER_PG_DB"},
                "scheme": "postgresql+psycopg2",
            }
        }
    }


def test_dagster_loads_the_deployment_settings_into_a_postgresql_instance(
    home: Path, postgres: PostgresServer, database: str
) -> None:
    # radonc keeps the file: its first line is not the shipped one's.
    ensure_instance_settings(home)
    assert (home / "dagster.yaml").read_text() == DEPLOYMENT_SETTINGS.read_text()

    with dg.DagsterInstance.get() as instance:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
        assert isinstance(instance.run_coordinator, dg.QueuedRunCoordinator)
        concurrency = instance.get_concurrency_config()
        assert concurrency.pool_config.default_pool_limit == 1
        assert concurrency.run_queue_config is not None
        assert concurrency.run_queue_config.max_concurrent_runs == 4
        assert instance.run_monitoring_enabled
        assert instance.run_monitoring_start_timeout_seconds == 180
        assert instance.run_monitoring_max_resume_run_attempts == 0
        assert instance.run_retries_enabled
        assert instance.run_retries_max_retries == 2
        assert not instance.run_retries_retry_on_asset_or_op_failure
        assert not instance.telemetry_enabled
        assert not instance.nux_enabled

    tables = {
        name
        for (name,) in rows(postgres, database, "SELECT table_name FROM information_schema.tables")
    }
    assert {"runs", "event_logs", "jobs", "concurrency_limits"} <= tables
    assert not list(home.rglob("*.db"))  # no SQLite storage beside it


@pytest.mark.usefixtures("lab_courses_planned")
def test_a_backfill_through_the_daemon_is_recorded_in_postgresql(
    lab: DemoServers,
    site_file: SiteFileWriter,
    home: Path,
    postgres: PostgresServer,
    database: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    environments = variant(lab, site_file).parent
    monkeypatch.setenv("RADONC_ENVIRONMENTS", str(environments))
    (site,) = load_site_files().sites.values()
    served = start(environments, tmp_path)  # DAGSTER_PG_* and its DAGSTER_HOME: `home`
    try:
        backfill_id = launch_backfill(served, site, BACKFILL)
        assert wait_for_backfill(served, backfill_id, timeout=300) == "COMPLETED_SUCCESS"
    finally:
        stop(served)

    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        assert_backed_up(instance, site, backfill_id, BACKFILL)
        runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/backfill": backfill_id}))
    assert rows(
        postgres,
        database,
        "SELECT count(*) FROM run_tags WHERE key = 'dagster/backfill' AND value = %s",
        backfill_id,
    ) == [(len(runs),)]
    assert not list(home.rglob("*.db"))


@pytest.mark.usefixtures("lab_courses_planned")
def test_a_recovery_is_recorded_in_postgresql(
    lab: DemoServers,
    home: Path,
    postgres: PostgresServer,
    database: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RADONC_ENVIRONMENTS", str(lab.site.source_file.parent))
    archived = selected_instances(archive_client(lab.site).dicom, Selection(date=RECOVERY_DAY))
    sizes = archived.groupby("study_instance_uid").size()
    study = str(sizes.idxmin())

    assert main(["recover", "LAB", "--to", "RESTORE", "--study-uid", study]) == 0

    key = asset_key(lab.site, RECOVERIES)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        (run,) = instance.get_runs()
        assert run.job_name == recovery_job_name(lab.site)
        assert run.status == dg.DagsterRunStatus.SUCCESS
        (event,) = instance.fetch_materializations(key, limit=10).records
        materialization = event.asset_materialization
        assert materialization is not None
        assert materialization.metadata["restored"].value == sizes[study]
        (check,) = [
            record.dagster_event.event_specific_data
            for record in instance.all_logs(
                run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
            )
            if record.dagster_event is not None
        ]
        assert isinstance(check, dg.AssetCheckEvaluation)
        assert (check.check_name, check.passed) == (RESTORE_CHECK, True)

    # In PostgreSQL itself: the run, its materialization and its check's execution.
    assert rows(postgres, database, "SELECT run_id, status FROM runs") == [(run.run_id, "SUCCESS")]
    assert rows(
        postgres,
        database,
        "SELECT count(*) FROM event_logs WHERE run_id = %s AND asset_key = %s "
        "AND dagster_event_type = 'ASSET_MATERIALIZATION'",
        run.run_id,
        key.to_string(),
    ) == [(1,)]
    assert rows(
        postgres,
        database,
        "SELECT check_name, execution_status FROM asset_check_executions "
        "WHERE run_id = %s AND asset_key = %s",
        run.run_id,
        key.to_string(),
    ) == [(RESTORE_CHECK, "SUCCEEDED")]
