"""The local demo site: real servers for every node of a site file, with synthetic RT data.

Sources asked for the day's treatment records (ARIA) run as Orthanc (it dates treatment
records by SeriesDate, as ARIA does), the others (MIM) as DCMTK dcmqrscp (strictly
hierarchical, like many vendor archives), each copied as its ``retrieve`` says (both
servers answer C-MOVE, to the archive, and C-GET), the archive and any other Orthanc target
(a drill's scratch node) as Orthanc, and a ``dicom_scp`` target as dcmqrscp. Every server listens on the
port the site file gives it, so the site file describes the demo exactly.
"""

import datetime as dt
import json
import logging
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import dagster as dg
from dagster._core.remote_representation.external import RemoteSensor
from dagster._core.scheduler.instigation import (
    InstigatorState,
    InstigatorStatus,
    InstigatorType,
    SensorInstigatorData,
)
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import WorkspaceFileTarget

from radonc_assets.definitions import site_definitions
from radonc_assets.defs.automation.sensors import SensorCursor
from radonc_assets.devtools.local_servers import DcmqrscpServer, OrthancServer, free_ports
from radonc_assets.devtools.synthetic import SyntheticSpec, write
from radonc_assets.devtools.synthetic.mosaiq import write_mosaiq_database
from radonc_assets.site.clients import dicom_client
from radonc_assets.site.config import DicomScpTarget, DicomSource, OrthancTarget, SiteConfig
from radonc_assets.site.errors import RunRefusedError
from radonc_assets.site.loading import read_secret
from radonc_assets.site.naming import new_data_sensor_name
from radonc_assets.site.resources import site_resources
from resources.dicom.client import DicomClient

LOGGER = logging.getLogger(__name__)

# What only a MIM server holds of each patient: the MR study it fused with the planning CT,
# and that registration. ARIA holds every other synthetic object.
MIM_ONLY_MODALITIES = frozenset({"MR", "REG"})
# What a MIM server holds of each patient: the images and contours it works on.
MIM_MODALITIES = frozenset({"CT", "RTSTRUCT"}) | MIM_ONLY_MODALITIES
# MR slices per synthetic patient.
_MR_SLICES = 8

# Days of synthetic data the demo loads, from its site's backfill_start.
DEMO_DAYS = 7
# The nodes of a loopback site (`write_loopback_site`), by the key of their port.
LOOPBACK_NODES = ("aria", "mim", "archive", "http", "restore", "scratch", "scratch_http")


def write_loopback_site(
    folder: Path,
    name: str,
    *,
    ports: Mapping[str, int] | None = None,
    aets: Mapping[str, str] | None = None,
    retrieve: Mapping[str, str] | None = None,
    settings: Mapping[str, bool | int | float | str] | None = None,
    mosaiq: Path | None = None,
    staging: bool = False,
    drill: Mapping[str, int | str] | None = None,
    archive_password_env_var: str | None = None,
) -> Path:
    """Write the site file of a site whose every node is on 127.0.0.1.

    The site has the sources ARIA and MIM, the Orthanc archive ARCHIVE (DICOM and
    REST) and the restore target RESTORE (``dicom_scp``); :func:`demo_servers`
    starts a server for each.

    Args:
        folder: Where to write ``{name}.toml`` (created if needed).
        name: The site name; AE titles default to ``{name}_{NODE}``.
        ports: Ports by node (keys of `LOOPBACK_NODES`); free ports where not given.
        aets: AE titles by node, where not the default.
        retrieve: ``retrieve`` of the sources ARIA and MIM by node (``"aria"``,
            ``"mim"``), where not their type's default (the file then writes none).
        settings: Keys of the site's ``[settings]`` table.
        mosaiq: A simulated Mosaiq database (SQLite) for a source MOSAIQ.
        staging: MOSAIQ's records go to the archive through RESTORE (staging SCP).
        archive_password_env_var: The archive's REST API wants the user ``radonc`` with
            the password in this environment variable (:func:`demo_servers` starts it so).
        drill: Keys of a ``[drill]`` table: with it, a scratch Orthanc SCRATCH (DICOM and
            REST) for restore drills, named by ``[drill] scratch``.

    Returns:
        The file written.
    """
    chosen = dict(zip(LOOPBACK_NODES, free_ports(len(LOOPBACK_NODES)), strict=True))
    port = {**chosen, **(ports or {})}
    aet = {node: f"{name}_{node.upper()}" for node in LOOPBACK_NODES} | dict(aets or {})
    retrieves = {node: f'retrieve = "{value}", ' for node, value in (retrieve or {}).items()}
    lines = [
        f"[{name}]",
        'default_source = "ARIA"',
        'default_backup = "ARCHIVE"',
        'backfill_start = "2026-01-01"',
        f'script_ae = {{ aet = "{name}_SCU" }}',
        f"[{name}.sources]",
        *(
            f'{node.upper()} = {{ type = "{node}", {retrieves.get(node, "")}aet = "{aet[node]}", '
            f'ip = "127.0.0.1", port = {port[node]} }}'
            for node in ("aria", "mim")
        ),
        *(
            [
                f'MOSAIQ = {{ type = "mosaiq", odbc_driver = "SQLite3", db_database = '
                f"{json.dumps(str(mosaiq))}"
                + (', staging_target_alias = "RESTORE"' if staging else "")
                + " }"
            ]
            if mosaiq
            else []
        ),
        f"[{name}.backup_targets]",
        f'ARCHIVE = {{ type = "orthanc", aet = "{aet["archive"]}", ip = "127.0.0.1", '
        f'port = {port["archive"]}, rest_url = "http://127.0.0.1:{port["http"]}"'
        + (
            f', rest_username = "radonc", rest_password_env_var = "{archive_password_env_var}"'
            if archive_password_env_var
            else ""
        )
        + " }",
        f'RESTORE = {{ type = "dicom_scp", aet = "{aet["restore"]}", ip = "127.0.0.1", '
        f"port = {port['restore']} }}",
        *(
            [
                f'SCRATCH = {{ type = "orthanc", aet = "{name}_SCRATCH", ip = "127.0.0.1", '
                f'port = {port["scratch"]}, rest_url = "http://127.0.0.1:{port["scratch_http"]}" }}',
                f"[{name}.drill]",
                'scratch = "SCRATCH"',
                *(f"{key} = {json.dumps(value)}" for key, value in drill.items()),
            ]
            if drill is not None
            else []
        ),
        f"[{name}.settings]",
        *(f"{key} = {json.dumps(value)}" for key, value in (settings or {}).items()),
    ]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name.lower()}.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@dataclass(frozen=True)
class DemoServers:
    """The running servers of a demo site, by alias."""

    site: SiteConfig
    servers: dict[str, OrthancServer | DcmqrscpServer]

    def client(self, alias: str) -> DicomClient:
        """A DICOM client for the node `alias`, as the site's script AE."""
        return dicom_client(self.site, alias)


@contextmanager
def demo_servers(site: SiteConfig, workdir: Path) -> Iterator[DemoServers]:
    """Start a server for every DICOM node of `site`; stop them all on exit.

    Raises:
        ValueError: A node that is not on 127.0.0.1, or an archive without ``rest_url``.
    """
    archive = site.archive()
    nodes = {**site.dicom_sources, **site.backup_targets}
    remote = [alias for alias, node in nodes.items() if node.ip != "127.0.0.1"]
    if remote:
        raise ValueError(f"the demo only starts servers on 127.0.0.1, not {', '.join(remote)}")
    if archive.rest_url is None:
        raise ValueError("the demo archive needs a rest_url on 127.0.0.1")
    http_port = urlparse(archive.rest_url).port
    to_archive = [archive.dicom_node]
    with ExitStack() as stack:
        servers: dict[str, OrthancServer | DcmqrscpServer] = {}
        for alias, node in nodes.items():
            server: OrthancServer | DcmqrscpServer
            if node is archive:
                # It can send to every other target (C-MOVE): a recovery's destination, a
                # drill's scratch node. It reads files from disk, not from a cache, so that
                # its MD5 check sees a file changed on disk at once.
                # With the REST login the site file names, its password from the environment.
                server = OrthancServer(
                    workdir,
                    node.aet,
                    dicom_port=node.port,
                    http_port=http_port,
                    peers=[t.dicom_node for t in site.backup_targets.values() if t is not archive],
                    username=archive.rest_username,
                    password=read_secret(
                        site,
                        f"backup_targets.{alias}.rest_password_env_var",
                        archive.rest_password_env_var,
                    )
                    if archive.rest_password_env_var
                    else None,
                    name=alias.lower(),
                    options={"MaximumStorageCacheSize": 0},
                )
            elif isinstance(node, OrthancTarget):
                server = OrthancServer(
                    workdir,
                    node.aet,
                    dicom_port=node.port,
                    http_port=urlparse(node.rest_url or "").port,
                    name=alias.lower(),
                )
            elif isinstance(node, DicomSource) and treatment_system(node):
                server = OrthancServer(
                    workdir, node.aet, dicom_port=node.port, peers=to_archive, name=alias.lower()
                )
            elif isinstance(node, DicomSource | DicomScpTarget):
                server = DcmqrscpServer(
                    workdir, node.aet, dicom_port=node.port, peers=to_archive, name=alias.lower()
                )
            else:
                continue
            stack.enter_context(server)
            servers[alias] = server
            LOGGER.info("Started %s for %s", server, alias)
        yield DemoServers(site, servers)


def demo_week(site: SiteConfig) -> tuple[dt.date, dt.date]:
    """The first and last dates of the demo's synthetic data: a week from ``backfill_start``.

    The site's partitions start at its data, so that the partitions view and the coverage
    open on the dates the demo backed up.

    Raises:
        RunRefusedError: The site sets no ``backfill_start``.
    """
    if site.backfill_start is None:
        raise RunRefusedError(
            f"site {site.name} sets no backfill_start: the demo loads its week of synthetic "
            "data from that date"
        )
    return site.backfill_start, site.backfill_start + dt.timedelta(days=DEMO_DAYS - 1)


def seed_sensor_cursors(
    site: SiteConfig, instance: dg.DagsterInstance, workspace: Path
) -> dict[str, str]:
    """Set the cursor of each new-data sensor of `site` to what it finds now, in `instance`.

    For after the demo's backup: each sensor is evaluated once here as the daemon would
    (its run requests dropped: the backup did them), and its cursor stored for the sensor
    as the code locations of `workspace` name it, so that the daemon's first ticks request
    nothing. The retries the evaluation noted are not kept: a date the backup left
    incomplete is the sensor's to request again. A sensor is stored as declared in code
    (running or not as the site file says) unless the instance already holds its state.

    Returns:
        The cursors set, by sensor name; a sensor whose source did not answer has none.
    """
    definitions = site_definitions(site)
    cursors: dict[str, str] = {}
    for alias in site.sources:
        name = new_data_sensor_name(site, alias)
        with dg.build_sensor_context(
            instance=instance, resources=site_resources(site), definitions=definitions
        ) as context:
            data = definitions.resolve_sensor_def(name).evaluate_tick(context)
        if data.cursor is None:
            LOGGER.warning("%s: no cursor set: %s", name, data.skip_message)
            continue
        cursor = SensorCursor.parse(data.cursor)
        cursor.retries = {}
        cursors[name] = str(cursor)
    with WorkspaceProcessContext(instance, WorkspaceFileTarget([str(workspace)])) as process:
        for entry in process.create_request_context().get_code_location_entries().values():
            for repository in (
                entry.code_location.get_repositories().values() if entry.code_location else ()
            ):
                for sensor in repository.get_sensors():
                    if sensor.name in cursors:
                        _store_cursor(instance, sensor, cursors[sensor.name])
    return cursors


def _store_cursor(instance: dg.DagsterInstance, sensor: RemoteSensor, cursor: str) -> None:
    """Store `cursor` as `sensor`'s, as the UI's "set cursor" does (Dagster 1.13)."""
    stored = instance.get_instigator_state(sensor.get_remote_origin_id(), sensor.selector_id)
    if stored is None:
        instance.add_instigator_state(
            InstigatorState(
                sensor.get_remote_origin(),
                InstigatorType.SENSOR,
                InstigatorStatus.DECLARED_IN_CODE,
                SensorInstigatorData(
                    min_interval=sensor.min_interval_seconds,
                    cursor=cursor,
                    sensor_type=sensor.sensor_type,
                ),
            )
        )
        return
    data = stored.instigator_data
    assert isinstance(data, SensorInstigatorData)
    instance.update_instigator_state(stored.with_data(data._replace(cursor=cursor)))


def treatment_system(source: DicomSource) -> bool:
    """Whether the demo plays `source` as the treatment system (ARIA) rather than MIM.

    A source asked for the day's treatment records (ARIA's default daily queries) is
    an Orthanc, which dates them by SeriesDate, holding every synthetic object but
    MIM's own; any other a dcmqrscp holding MIM's share. Its `retrieve` plays no part.
    """
    return "treatment_records" in source.daily_queries


def _holds(source: DicomSource, modality: str) -> bool:
    """Whether `source` holds the synthetic objects of `modality` (their file name's prefix)."""
    if treatment_system(source):
        return modality not in MIM_ONLY_MODALITIES
    return modality in MIM_MODALITIES


def week_spec(last_day: dt.date, patients: int) -> SyntheticSpec:
    """The synthetic week (:data:`DEMO_DAYS`) ending `last_day` that the sources are loaded with."""
    return SyntheticSpec(
        start=last_day - dt.timedelta(days=DEMO_DAYS - 1),
        end=last_day,
        patients=patients,
        mr_slices=_MR_SLICES,
    )


def load_synthetic_week(
    servers: DemoServers, data_dir: Path, last_day: dt.date, patients: int = 4
) -> dict[str, int]:
    """Write a synthetic week ending `last_day` to `data_dir` and store it into the sources.

    The treatment system's sources (:func:`treatment_system`: ARIA) receive every object
    but the MR and its registration, which the others (MIM) hold besides the CT and
    structure sets; a simulated Mosaiq (SQLite) gets
    the week's plans and deliveries, written to its database file.

    Returns:
        Instances stored per DICOM source alias, deliveries per Mosaiq source alias.
    """
    spec = week_spec(last_day, patients)
    files = write(spec, data_dir)
    stored: dict[str, int] = {}
    for alias, source in servers.site.dicom_sources.items():
        wanted = [path for path in files if _holds(source, path.name.split("_", 1)[0])]
        outcomes = servers.client(alias).store(wanted)
        stored[alias] = sum(o.ok for o in outcomes)
    for alias, mosaiq in servers.site.mosaiq_sources.items():
        if mosaiq.is_sqlite:
            stored[alias] = write_mosaiq_database(spec, Path(mosaiq.db_database)).deliveries
    return stored
