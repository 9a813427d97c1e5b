"""The example deployment files of deployment/, checked by Dagster's own loaders and schemas.

Nothing is started: each file is read the way the program that uses it reads it (Dagster's
workspace loader, instance config schema, run launcher and executor schemas, the command
lines of ``dagster api grpc``, ``dagster-webserver`` and ``dagster-daemon``, dagster_k8s's
construction of a run's Kubernetes Job, ``systemd-analyze``). A broken copy of each kind
of file is rejected by the same check. What cannot be checked here (the Helm chart's own
schema and templates) is listed in docs/deployment.md.
"""

import re
import shutil
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any, NamedTuple

import dagster as dg
import pytest
import yaml
from dagster._cli.api import grpc_command
from dagster._config import validate_config
from dagster._core.code_pointer import CodePointer
from dagster._core.definitions.definitions_load_context import (
    DefinitionsLoadContext,
    DefinitionsLoadType,
)
from dagster._core.definitions.reconstruct import initialize_repository_def_from_pointer
from dagster._core.errors import DagsterInvalidConfigError
from dagster._core.instance.config import dagster_instance_config
from dagster._core.workspace.load import location_origins_from_yaml_paths
from dagster._daemon.cli import run_command
from dagster._serdes import class_from_code_pointer
from dagster_celery.cli import get_validated_config
from dagster_k8s import construct_dagster_k8s_job
from dagster_k8s.container_context import K8sContainerContext
from dagster_shared.cli import PythonPointerOpts
from dagster_webserver.cli import dagster_webserver

from radonc_assets.cli.main import build_parser
from radonc_assets.cli.processes import INTERRUPT_GRACE, TERMINATE_GRACE
from radonc_assets.definitions import CELERY_CONFIG_VARIABLE, executor
from radonc_assets.site.errors import ConfigError
from radonc_assets.site.paths import (
    DAGSTER_HOME_VARIABLE,
    DATA_DIR_VARIABLE,
    ENVIRONMENTS_VARIABLE,
    SHIPPED_SETTINGS,
)
from radonc_assets.site.workspace import DEFINITIONS_MODULE, workspace_yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOYMENT = ROOT / "deployment"
EXAMPLE_SITE_FILES = ROOT / "environments" / "examples"
WORKSPACE = DEPLOYMENT / "workspace.yaml"
HELM_VALUES = DEPLOYMENT / "helm" / "values.yaml"
CELERY_EXECUTOR = DEPLOYMENT / "celery" / "executor.yaml"
UNITS = DEPLOYMENT / "systemd"
# Where the units expect the workspace (deployment/workspace.yaml, or one written by
# `radonc environments workspace --output`).
INSTALLED_WORKSPACE = "/etc/radonc/workspace.yaml"
# What the chart fills in from the release: its namespace, name and service account.
NAMESPACE = "radonc"
RELEASE = "radonc-dagster"
SERVICE_ACCOUNT = "radonc-dagster"
CHART_DAGSTER_HOME = "/opt/dagster/dagster_home"
# Keys of the chart's k8sRunLauncher values copied into the launcher's config as they are.
LAUNCHER_KEYS = {
    "envVars": "env_vars",
    "volumeMounts": "volume_mounts",
    "volumes": "volumes",
    "labels": "labels",
    "resources": "resources",
}


@pytest.fixture
def example_site_files(monkeypatch: pytest.MonkeyPatch) -> Path:
    """The environments folder of the Dagster processes: the two example site files."""
    monkeypatch.setenv(ENVIRONMENTS_VARIABLE, str(EXAMPLE_SITE_FILES))
    return EXAMPLE_SITE_FILES


def load_location(module_name: str, attribute: str) -> dg.RepositoryDefinition:
    """A code location loaded as ``dagster api grpc -m MODULE -a ATTRIBUTE`` loads it."""
    initialization = DefinitionsLoadContext(load_type=DefinitionsLoadType.INITIALIZATION)
    with DefinitionsLoadContext.scoped(initialization):
        return initialize_repository_def_from_pointer(
            CodePointer.from_module(module_name, attribute, None)
        )


# --- several sites side by side: deployment/workspace.yaml ---------------------------------


def workspace_locations(path: Path) -> dict[str, tuple[str, str]]:
    """Dagster's workspace loader: location name -> (module, attribute)."""
    locations = {}
    for origin in location_origins_from_yaml_paths([str(path)]):
        target = origin.loadable_target_origin
        locations[origin.location_name] = (target.module_name, target.attribute)
    return locations


def test_the_workspace_is_the_one_radonc_writes_for_the_example_site_files(
    example_site_files: Path,
) -> None:
    assert WORKSPACE.read_text(encoding="utf-8") == workspace_yaml()


def test_each_workspace_location_loads_its_site_file(example_site_files: Path) -> None:
    locations = workspace_locations(WORKSPACE)
    assert locations == {
        "tju.toml": (DEFINITIONS_MODULE, "tju.toml"),
        "ucla.toml": (DEFINITIONS_MODULE, "ucla.toml"),
    }
    for name, (module, attribute) in locations.items():
        site = name.removesuffix(".toml")
        assert f"{site}_backup" in load_location(module, attribute).job_names


# --- Kubernetes: deployment/helm/values.yaml -----------------------------------------------


def helm_values(text: str | None = None) -> dict[str, Any]:
    return dict(yaml.safe_load(HELM_VALUES.read_text() if text is None else text))


def user_deployments(values: Mapping[str, Any]) -> list[dict[str, Any]]:
    return list(values["dagster-user-deployments"]["deployments"])


def k8s_run_launcher_config(values: Mapping[str, Any]) -> dict[str, Any]:
    """``run_launcher.config`` as the chart renders it (templates/helpers/instance/
    _run-launcher.tpl, for the keys the values set)."""
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    config = {
        "load_incluster_config": launcher["loadInclusterConfig"],
        "job_namespace": launcher.get("jobNamespace") or NAMESPACE,
        "image_pull_policy": launcher["imagePullPolicy"],
        "service_account_name": SERVICE_ACCOUNT,
        "dagster_home": CHART_DAGSTER_HOME,
        "instance_config_map": f"{RELEASE}-instance",
        "postgres_password_secret": values["global"]["postgresqlSecretName"],
    }
    config |= {name: launcher[key] for key, name in LAUNCHER_KEYS.items() if launcher.get(key)}
    for key, name in (("envConfigMaps", "env_config_maps"), ("envSecrets", "env_secrets")):
        if launcher.get(key):
            config[name] = [source["name"] for source in launcher[key]]
    return config


def helm_instance(values: Mapping[str, Any]) -> dict[str, Any]:
    """The chart's dagster.yaml (templates/configmap-instance.yaml) for these values."""
    postgresql = values["postgresql"]
    database = {
        "postgres_db": {
            "username": postgresql["postgresqlUsername"],
            "password": {"env": "DAGSTER_PG_PASSWORD"},
            "hostname": postgresql["postgresqlHost"],
            "db_name": postgresql["postgresqlDatabase"],
            "port": postgresql["service"]["port"],
            "params": postgresql["postgresqlParams"],
            "scheme": postgresql["postgresqlScheme"],
        }
    }
    daemon = values["dagsterDaemon"]
    monitoring = daemon["runMonitoring"]
    retries = daemon["runRetries"]
    concurrency = values["concurrency"]
    assert daemon["enabled"]
    assert daemon["runCoordinator"]["enabled"]
    assert concurrency["enabled"]
    assert daemon["runCoordinator"]["type"] == "QueuedRunCoordinator"
    return {
        "scheduler": {"module": "dagster._core.scheduler", "class": "DagsterDaemonScheduler"},
        "schedule_storage": {
            "module": "dagster_postgres.schedule_storage",
            "class": "PostgresScheduleStorage",
            "config": database,
        },
        "run_launcher": {
            "module": "dagster_k8s",
            "class": "K8sRunLauncher",
            "config": k8s_run_launcher_config(values),
        },
        "run_storage": {
            "module": "dagster_postgres.run_storage",
            "class": "PostgresRunStorage",
            "config": database,
        },
        "event_log_storage": {
            "module": "dagster_postgres.event_log",
            "class": "PostgresEventLogStorage",
            "config": database,
        },
        "run_coordinator": {
            "module": "dagster._core.run_coordinator",
            "class": "QueuedRunCoordinator",
        },
        "run_monitoring": {
            "enabled": monitoring["enabled"],
            "start_timeout_seconds": monitoring["startTimeoutSeconds"],
            "cancel_timeout_seconds": monitoring["cancelTimeoutSeconds"],
            "max_resume_run_attempts": monitoring["maxResumeRunAttempts"],
            "poll_interval_seconds": monitoring["pollIntervalSeconds"],
            "free_slots_after_run_end_seconds": monitoring["freeSlotsAfterRunEndSeconds"],
        },
        "run_retries": {
            "enabled": retries["enabled"],
            "max_retries": retries["maxRetries"],
            "retry_on_asset_or_op_failure": retries["retryOnAssetOrOpFailure"],
        },
        "telemetry": {"enabled": values["telemetry"]["enabled"]},
        "concurrency": {
            "pools": {
                "default_limit": concurrency["pools"]["defaultLimit"],
                "op_granularity_run_buffer": concurrency["pools"]["opGranularityRunBuffer"],
            },
            "runs": {"max_concurrent_runs": concurrency["runs"]["maxConcurrentRuns"]},
        },
    }


def check_instance(settings: Mapping[str, Any], home: Path) -> dict[str, Any]:
    """Dagster's instance schema, then each configured class's own config schema.

    Returns:
        The settings as Dagster validated them.
    """
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(yaml.safe_dump(dict(settings)))
    validated, _ = dagster_instance_config(str(home))
    for key, value in settings.items():
        if isinstance(value, Mapping) and "module" in value:
            cls: Any = class_from_code_pointer(value["module"], value["class"])
            result = validate_config(cls.config_type(), value.get("config", {}))
            if not result.success:
                raise DagsterInvalidConfigError(f"{key}: {cls.__name__}", result.errors, value)
    return dict(validated)


def run_pod(values: Mapping[str, Any], deployment: Mapping[str, Any]) -> Any:
    """The pod of a run of `deployment`, as the K8sRunLauncher builds its Job.

    The deployment's container context is the chart's (dagster-user-deployments
    _helpers.tpl, k8sContainerContext, for the keys the values set), merged into the
    launcher's, then the Job built by dagster_k8s.
    """
    launcher = k8s_run_launcher_config(values)
    context = {
        "image_pull_policy": deployment["image"]["pullPolicy"],
        "env_config_maps": [f"{RELEASE}-{deployment['name']}-user-env"],
        "env_secrets": [source["name"] for source in deployment.get("envSecrets", [])],
        "volume_mounts": deployment.get("volumeMounts", []),
        "volumes": deployment.get("volumes", []),
        "namespace": NAMESPACE,
        "service_account_name": SERVICE_ACCOUNT,
        "env": deployment.get("env", []),
        "run_k8s_config": {"pod_spec_config": {"automount_service_account_token": True}},
    }
    assert deployment["includeConfigInLaunchedRuns"]["enabled"]
    merged = K8sContainerContext(
        image_pull_policy=launcher["image_pull_policy"],
        labels=launcher.get("labels"),
        namespace=launcher["job_namespace"],
        service_account_name=launcher["service_account_name"],
    ).merge(K8sContainerContext.create_from_config({"k8s": context}))
    image = f"{deployment['image']['repository']}:{deployment['image']['tag']}"
    job_config = merged.get_k8s_job_config(
        job_image=image, run_launcher=SimpleNamespace(job_image=None, **launcher)
    )
    job = construct_dagster_k8s_job(
        job_config,
        ["dagster", "api", "execute_run", "{}"],
        "dagster-run-example",
        user_defined_k8s_config=merged.run_k8s_config,
        pod_name="dagster-run-example",
        component="run_worker",
    )
    return job.spec.template.spec


def grpc_location(args: list[str], port: int) -> tuple[str, str]:
    """(module, attribute) of ``dagster api grpc -h 0.0.0.0 -p PORT ARGS``, as the chart runs it."""
    context = grpc_command.make_context("grpc", ["-h", "0.0.0.0", "-p", str(port), *args])
    pointer = PythonPointerOpts.extract_from_cli_options(dict(context.params))
    assert pointer.module_name is not None
    assert pointer.attribute is not None
    return pointer.module_name, pointer.attribute


def test_each_user_code_deployment_serves_one_site_file_of_the_workspace(
    example_site_files: Path,
) -> None:
    deployments = user_deployments(helm_values())
    served = {}
    for deployment in deployments:
        module, attribute = grpc_location(deployment["dagsterApiGrpcArgs"], deployment["port"])
        served[attribute] = module
        site = attribute.removesuffix(".toml")
        assert f"{site}_backup" in load_location(module, attribute).job_names
    # The same code locations as the workspace of one machine.
    assert served == {
        attribute: module for module, attribute in workspace_locations(WORKSPACE).values()
    }


def test_the_chart_instance_is_a_valid_dagster_instance_with_radoncs_settings(
    tmp_path: Path,
) -> None:
    validated = check_instance(helm_instance(helm_values()), tmp_path / "dagster_home")
    shipped = yaml.safe_load(SHIPPED_SETTINGS.read_text())
    for key in ("concurrency", "run_retries", "telemetry"):
        assert validated[key] == shipped[key], key
    # Kubernetes only waits longer for a run's pod to start (an image may be pulled).
    monitoring = {**validated["run_monitoring"], "start_timeout_seconds": 180}
    assert monitoring == shipped["run_monitoring"]


def test_runs_get_the_site_files_the_data_folder_and_their_sites_secrets() -> None:
    values = helm_values()
    for deployment in user_deployments(values):
        pod = run_pod(values, deployment)
        (container,) = pod.containers
        env = {variable.name: variable.value for variable in container.env}
        mounts = {mount.mount_path: mount for mount in container.volume_mounts}
        volumes = {volume.name: volume for volume in pod.volumes}
        environments = mounts[env[ENVIRONMENTS_VARIABLE]]
        assert environments.read_only
        assert volumes[environments.name].config_map.name == "radonc-site-files"
        data = mounts[env[DATA_DIR_VARIABLE]]
        assert volumes[data.name].persistent_volume_claim.claim_name == "radonc-data"
        secrets = {source.secret_ref.name for source in container.env_from if source.secret_ref}
        assert f"{deployment['name']}-secrets" in secrets
        assert container.image.endswith(":0.1.0")


# --- Celery: deployment/celery/executor.yaml -----------------------------------------------

BROKER = "pyamqp://radonc:secret@rabbitmq.example.org:5672//"


@pytest.fixture
def broker(monkeypatch: pytest.MonkeyPatch) -> str:
    """The broker's URL in the environment, with the secret the UCLA example names."""
    monkeypatch.setenv("DAGSTER_CELERY_BROKER_URL", BROKER)
    monkeypatch.setenv("UCLA_MOSAIQ_DB_PASSWORD", "example")
    return BROKER


def test_the_celery_workers_read_the_executor_config(broker: str) -> None:
    config = get_validated_config(str(CELERY_EXECUTOR))
    assert config["broker"] == broker
    assert config["backend"] == "rpc://"


def test_the_executor_file_puts_every_job_on_celery(
    broker: str, example_site_files: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run with no config (a sensor's, a schedule's) gets the broker from the environment."""
    monkeypatch.setenv(CELERY_CONFIG_VARIABLE, str(CELERY_EXECUTOR))
    job = load_location(DEFINITIONS_MODULE, "ucla.toml").get_job("ucla_backup")

    assert job.executor_def.name == "celery"
    resolved = dg.validate_run_config(job, {})
    assert resolved["execution"]["celery"]["broker"] == broker
    assert resolved["execution"]["celery"]["backend"] == "rpc://"


def test_without_the_executor_file_jobs_run_in_process_and_refuse_celery_config(
    broker: str, example_site_files: Path
) -> None:
    run_config = yaml.safe_load(CELERY_EXECUTOR.read_text())
    shipped = load_location(DEFINITIONS_MODULE, "ucla.toml").get_job("ucla_backup")
    assert shipped.executor_def.name == "in_process"
    with pytest.raises(
        DagsterInvalidConfigError,
        match=r"unexpected config entries .*'broker'.* at path root:execution:config",
    ):
        dg.validate_run_config(shipped, run_config)


def test_an_unreadable_executor_file_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CELERY_CONFIG_VARIABLE, str(tmp_path / "missing.yaml"))
    with pytest.raises(ConfigError, match=r"missing.yaml: execution.config: not a Celery"):
        executor()


# --- One machine: deployment/systemd/*.service ---------------------------------------------


def unit_settings(path: Path) -> dict[str, dict[str, list[str]]]:
    """A unit file's sections, each key with its values in order (keys may repeat)."""
    sections: dict[str, dict[str, list[str]]] = {}
    section: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = sections.setdefault(line.strip("[]"), {})
            continue
        key, value = line.split("=", 1)
        section.setdefault(key, []).append(value)
    return sections


def unit_environment(service: Mapping[str, list[str]]) -> dict[str, str]:
    words = (word for line in service["Environment"] for word in line.split())
    return dict(word.split("=", 1) for word in words)


UNIT_NAMES = ["radonc.service", "radonc-daemon.service", "radonc-webserver.service"]


@pytest.mark.parametrize("name", UNIT_NAMES)
def test_each_unit_runs_as_radonc_on_the_instance_with_secrets_from_a_file(name: str) -> None:
    service = unit_settings(UNITS / name)["Service"]
    assert service["User"] == ["radonc"]
    environment = unit_environment(service)
    assert environment[DAGSTER_HOME_VARIABLE] == "/srv/radonc/dagster_home"
    assert environment[DATA_DIR_VARIABLE] == "/srv/radonc/data"
    assert environment[ENVIRONMENTS_VARIABLE] == "/etc/radonc/environments"
    assert service["EnvironmentFile"] == ["/etc/radonc/secrets.env"]
    # Writable: the instance and the data folder, nothing else.
    assert service["ProtectSystem"] == ["strict"]
    assert service["ReadWritePaths"] == ["/srv/radonc"]
    for key in ("NoNewPrivileges", "PrivateTmp", "PrivateDevices", "ProtectHome"):
        assert service[key] == ["yes"], key
    # DICOM, Orthanc's REST API, ODBC, SMTP and the UI need IPv4 and IPv6 sockets.
    assert service["RestrictAddressFamilies"] == ["AF_UNIX AF_INET AF_INET6"]


@pytest.mark.parametrize("name", UNIT_NAMES)
def test_each_unit_stops_cleanly_within_its_timeout(name: str) -> None:
    service = unit_settings(UNITS / name)["Service"]
    assert service["KillSignal"] == ["SIGTERM"]
    # Longer than `radonc serve` may take to stop its guarded children (processes.py).
    assert int(service["TimeoutStopSec"][0]) > INTERRUPT_GRACE + TERMINATE_GRACE + 2
    # radonc serve stops its own tree (only it gets SIGTERM); the Dagster processes of the
    # split units each take SIGTERM as an interruption.
    assert service["KillMode"] == ["mixed" if name == "radonc.service" else "control-group"]
    assert service["Restart"] == ["on-failure"]


def unit_command(name: str) -> list[str]:
    (command,) = unit_settings(UNITS / name)["Service"]["ExecStart"]
    program, *args = command.split()
    assert program.startswith("/opt/radonc-backup/.venv/bin/")
    return [Path(program).name, *args]


def test_radonc_service_runs_radonc_serve_on_the_loopback_interface() -> None:
    program, *args = unit_command("radonc.service")
    assert program == "radonc"
    parsed = build_parser().parse_args(args)
    assert (parsed.command, parsed.host, parsed.port) == ("serve", "127.0.0.1", 3000)


def test_the_split_units_run_the_webserver_and_the_daemon_on_the_same_workspace() -> None:
    installed = {INSTALLED_WORKSPACE: str(WORKSPACE)}  # click checks that the file exists
    program, *args = unit_command("radonc-webserver.service")
    assert program == "dagster-webserver"
    webserver = dagster_webserver.make_context(program, [installed.get(a, a) for a in args])
    assert (webserver.params["host"], webserver.params["port"]) == ("127.0.0.1", 3000)
    program, subcommand, *args = unit_command("radonc-daemon.service")
    assert (program, subcommand) == ("dagster-daemon", "run")
    daemon = run_command.make_context(subcommand, [installed.get(a, a) for a in args])
    assert webserver.params["workspace"] == daemon.params["workspace"] == (str(WORKSPACE),)


def make_unit_root(root: Path) -> Path:
    """A file system root for the units: their folder, and stand-ins for the programs they
    start (``systemd-analyze verify`` checks that those exist and are executable)."""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (Debian package systemd)")
    (root / "etc" / "systemd" / "system").mkdir(parents=True)
    for name in UNIT_NAMES:
        command = unit_settings(UNITS / name)["Service"]["ExecStart"][0]
        program = root / Path(command.split()[0]).relative_to("/")
        program.parent.mkdir(parents=True, exist_ok=True)
        program.write_text("#!/bin/sh\n")
        program.chmod(0o755)
    return root


@pytest.fixture
def unit_root(tmp_path: Path) -> Path:
    return make_unit_root(tmp_path)


def systemd_analyze(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["systemd-analyze", f"--root={root}", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def install_unit(root: Path, name: str, text: str) -> str:
    path = root / "etc" / "systemd" / "system" / name
    path.write_text(text)
    return f"/{path.relative_to(root)}"


def verify_unit(root: Path, name: str, text: str) -> subprocess.CompletedProcess[str]:
    unit = install_unit(root, name, text)
    return systemd_analyze(root, "verify", "--man=no", "--recursive-errors=no", unit)


@pytest.mark.parametrize("name", UNIT_NAMES)
def test_systemd_verifies_each_unit_and_rates_its_exposure_ok(name: str, unit_root: Path) -> None:
    done = verify_unit(unit_root, name, (UNITS / name).read_text())
    assert (done.returncode, done.stdout + done.stderr) == (0, "")
    # Exposure 2.0 or lower on systemd's scale of 10 ("OK"); 9.2 without the hardening.
    done = systemd_analyze(unit_root, "security", "--offline=true", "--threshold=20", name)
    assert done.returncode == 0, done.stdout


# --- Each check rejects a broken copy ------------------------------------------------------


def check_workspace(text: str, tmp_path: Path) -> None:
    path = tmp_path / "workspace.yaml"
    path.write_text(text)
    workspace_locations(path)


def check_helm_instance(text: str, tmp_path: Path) -> None:
    check_instance(helm_instance(helm_values(text)), tmp_path / "dagster_home")


def check_helm_run_pods(text: str, tmp_path: Path) -> None:
    values = helm_values(text)
    for deployment in user_deployments(values):
        run_pod(values, deployment)


def check_unit(text: str, tmp_path: Path) -> None:
    done = verify_unit(make_unit_root(tmp_path), "radonc.service", text)
    if done.returncode or done.stderr:
        raise AssertionError(done.stderr)


class Broken(NamedTuple):
    """A deliberate mistake in a copy of an example file, and how its check rejects it."""

    path: Path
    good: str
    bad: str
    check: Callable[[str, Path], None]
    error: type[Exception]
    message: str


BROKEN = {
    "workspace: misspelt key": Broken(
        WORKSPACE,
        "module_name:",
        "module:",
        check_workspace,
        DagsterInvalidConfigError,
        'Missing required config entry "module_name"',
    ),
    "instance: run limit not a number": Broken(
        HELM_VALUES,
        "maxConcurrentRuns: 4",
        "maxConcurrentRuns: four",
        check_helm_instance,
        DagsterInvalidConfigError,
        "dagster instance config",
    ),
    "run launcher: not a boolean": Broken(
        HELM_VALUES,
        "loadInclusterConfig: true",
        "loadInclusterConfig: in cluster",
        check_helm_instance,
        DagsterInvalidConfigError,
        "run_launcher: K8sRunLauncher",
    ),
    "run pod: misspelt volume key": Broken(
        HELM_VALUES,
        "claimName: radonc-data",
        "claimname: radonc-data",
        check_helm_run_pods,
        Exception,
        "Unexpected keys in model class V1PersistentVolumeClaimVolumeSource",
    ),
    "unit: misspelt key": Broken(
        UNITS / "radonc.service",
        "KillMode=mixed",
        "KilMode=mixed",
        check_unit,
        AssertionError,
        "Unknown key 'KilMode'",
    ),
}


@pytest.mark.parametrize("case", BROKEN)
def test_a_broken_copy_is_rejected_by_the_same_check(case: str, tmp_path: Path) -> None:
    broken = BROKEN[case]
    text = broken.path.read_text()
    assert broken.good in text
    for folder in ("good", "bad"):
        (tmp_path / folder).mkdir()
    broken.check(text, tmp_path / "good")
    with pytest.raises(broken.error, match=re.escape(broken.message)):
        broken.check(text.replace(broken.good, broken.bad), tmp_path / "bad")
