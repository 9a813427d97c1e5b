"""Real servers run as child processes on free loopback ports.

Used by the pytest fixtures, the local demo and the benchmarks: each server gets
a generated configuration, its own storage under a working directory and a log
file there. Nothing goes through systemd and nothing is shared with a system-wide
installation (no system plugins, no ``/etc`` configuration).

- :class:`OrthancServer`: ``/usr/sbin/Orthanc`` with a generated JSON configuration.
- :class:`DcmqrscpServer`: DCMTK ``/usr/bin/dcmqrscp`` in its default fork mode
  (one child process per association).
- :class:`StorescpServer`: DCMTK ``/usr/bin/storescp``, a C-STORE destination only (a
  store-only staging node).
- :class:`PostgresServer`: a PostgreSQL cluster of its own (Debian ``postgresql``), for
  Dagster instances stored in PostgreSQL.
- :class:`TlsOrthancServer`: an Orthanc whose DICOM port speaks DICOM TLS only.
- :class:`StunnelServer`: Debian's ``stunnel4``, a TLS terminator in front of a port
  (HTTPS for Orthanc's REST API).

All run with ``TCP_NODELAY=1`` (DCMTK, the DICOM network layer of Orthanc, dcmqrscp and
storescp, leaves Nagle's algorithm on otherwise, which delays every small C-STORE) in a
session of their own, so stopping or suspending a server signals its whole process
group, forked children included.
"""

import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Self

import requests

from resources.dicom.client import DicomNode

LOGGER = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"

_ORTHANC = Path("/usr/sbin/Orthanc")
_DCMQRSCP = Path("/usr/bin/dcmqrscp")
_STUNNEL = Path("/usr/bin/stunnel")
# By absolute path: pynetdicom installs an `echoscu` and a `storescp` of its own into the
# virtualenv.
_ECHOSCU = Path("/usr/bin/echoscu")
_STORESCP = Path("/usr/bin/storescp")
# A parent started from a non-interactive background shell may pass SIGINT/SIGTERM on
# as ignored; dcmqrscp installs no handler and would then survive SIGTERM.
_RESET_SIGNALS = ("/usr/bin/env", "--default-signal=INT,TERM")

# Debian's postgresql packages: one folder of programs per major version.
_POSTGRES_VERSIONS = Path("/usr/lib/postgresql")
# The account they create; PostgreSQL refuses to run as root.
_POSTGRES_ACCOUNT = "postgres"
_RUNUSER = Path("/usr/sbin/runuser")
# Lines of the postmaster's lock file (postmaster.pid): its port, and its status.
_PID_FILE_PORT = 3
_PID_FILE_STATUS = 7

_POLL_INTERVAL = 0.05
_PROBE_TIMEOUT = 1.0
_STOP_TIMEOUT = 15.0
_TAIL_LINES = 20
_TAIL_BYTES = 16384
# dcmqrscp reads its configuration with fgets() into 512-byte buffers and splits
# values at whitespace, '=', ',', quotes and parentheses.
_DCMQRSCP_LINE_MAX = 510
_DCMQRSCP_TOKEN = re.compile(r"[^\s=,()'\"]{1,16}")
_DCMQRSCP_QUOTES = frozenset("()'\"")


def free_port() -> int:
    """Return a TCP port that is free on the loopback interface right now.

    The port is only probed (bound to ``127.0.0.1:0`` and released), so another
    process may take it before the caller binds it; :meth:`OrthancServer.start` and
    :meth:`DcmqrscpServer.start` then fail with a clear error.

    Returns:
        The port number.
    """
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """Return ``count`` distinct free loopback ports (their sockets are held together)."""
    with ExitStack() as stack:
        sockets = [
            stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            for _ in range(count)
        ]
        for sock in sockets:
            sock.bind((LOOPBACK, 0))
        return [int(sock.getsockname()[1]) for sock in sockets]


class _ServerProcess(ABC):
    """Process handling shared by the servers: spawn, wait until ready, stop, suspend."""

    # The signal that asks the server to shut down.
    _stop_signal = signal.SIGTERM

    def __init__(self, workdir: Path, name: str) -> None:
        self.directory = workdir / name
        self.log_path = self.directory / "server.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._log_offset = 0

    @abstractmethod
    def _prepare(self) -> list[str]:
        """Write the configuration and create the storage; return the command line."""

    @abstractmethod
    def _probe(self) -> bool:
        """Whether the server answers as configured (one quick attempt)."""

    def _cwd(self) -> Path:
        """The folder the server runs in (called after :meth:`_prepare`)."""
        return self.directory

    @property
    def pid(self) -> int | None:
        """The PID of the server process (also its process group), or None when stopped."""
        return None if self._process is None else self._process.pid

    def start(self, timeout: float = 30.0) -> Self:
        """Spawn the server and wait until it answers.

        Args:
            timeout: Seconds to wait for the server to become ready.

        Returns:
            The server itself, running.

        Raises:
            RuntimeError: When it is already running, exits during start-up or is not
                ready within ``timeout`` (the message ends with the tail of its log).
        """
        if self._process is not None:
            raise RuntimeError(f"{self} is already running (pid {self._process.pid})")
        self.directory.mkdir(parents=True, exist_ok=True)
        command = self._prepare()
        self._log = self.log_path.open("ab")
        self._log_offset = self._log.tell()
        started = time.monotonic()
        try:
            self._process = subprocess.Popen(
                [*_RESET_SIGNALS, *command],
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                cwd=self._cwd(),
                env={**os.environ, "TCP_NODELAY": "1"},
                start_new_session=True,
            )
            LOGGER.debug("Started %s as pid %s: %s", self, self._process.pid, command)
            self._wait_ready(self._process, started, timeout)
        except BaseException:
            self.stop()
            raise
        LOGGER.info(
            "%s ready after %.2f s (pid %s)", self, time.monotonic() - started, self._process.pid
        )
        return self

    def stop(self) -> None:
        """Stop the server: its stop signal to its process group, SIGKILL after 15 s.

        The stop signal is SIGTERM, SIGINT for PostgreSQL (its fast shutdown).

        Whatever is left of the group once the server has exited (children it
        forked) is killed too. Does nothing when the server is not running, so it
        may be called any number of times.
        """
        process, self._process = self._process, None
        if process is not None:
            started = time.monotonic()
            if process.poll() is None:
                _signal_group(process.pid, self._stop_signal)
                # A suspended process acts on the signal only once continued.
                _signal_group(process.pid, signal.SIGCONT)
                try:
                    process.wait(timeout=_STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    LOGGER.warning(
                        "%s ignored %s for %s s: killing it",
                        self,
                        self._stop_signal.name,
                        _STOP_TIMEOUT,
                    )
                    _signal_group(process.pid, signal.SIGKILL)
                    process.wait()
            _signal_group(process.pid, signal.SIGKILL)
            LOGGER.info(
                "%s stopped in %.2f s (exit code %s)",
                self,
                time.monotonic() - started,
                process.returncode,
            )
        if self._log is not None:
            self._log.close()
            self._log = None

    def suspend(self) -> None:
        """Freeze the server's process group with SIGSTOP (simulates a hung peer).

        Raises:
            RuntimeError: When the server is not running.
        """
        _signal_group(self._running_pid(), signal.SIGSTOP)

    def resume(self) -> None:
        """Continue a suspended server with SIGCONT.

        Raises:
            RuntimeError: When the server is not running.
        """
        _signal_group(self._running_pid(), signal.SIGCONT)

    def log_tail(self, lines: int = _TAIL_LINES) -> str:
        """Return the last lines the server wrote to its log since it was last started.

        Args:
            lines: How many lines.

        Returns:
            The lines, or an empty string when there is no log yet.
        """
        try:
            with self.log_path.open("rb") as handle:
                size = handle.seek(0, os.SEEK_END)
                handle.seek(max(self._log_offset, size - _TAIL_BYTES))
                data = handle.read()
        except FileNotFoundError:
            return ""
        return "\n".join(data.decode(errors="replace").splitlines()[-lines:])

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _wait_ready(self, process: subprocess.Popen[bytes], started: float, timeout: float) -> None:
        while True:
            returncode = process.poll()
            if returncode is not None:
                raise RuntimeError(
                    f"{self} exited with code {returncode} while starting; "
                    f"end of {self.log_path}:\n{self.log_tail()}"
                )
            if self._probe():
                return
            if time.monotonic() - started >= timeout:
                raise RuntimeError(
                    f"{self} was not ready within {timeout:g} s; "
                    f"end of {self.log_path}:\n{self.log_tail()}"
                )
            time.sleep(_POLL_INTERVAL)

    def _running_pid(self) -> int:
        if self._process is None or self._process.poll() is not None:
            raise RuntimeError(f"{self} is not running")
        return self._process.pid


def _postgres_bin() -> Path:
    """The programs folder of the newest PostgreSQL installed (``/usr/lib/postgresql/N/bin``)."""
    versions = [path for path in _POSTGRES_VERSIONS.glob("*/bin") if path.parent.name.isdigit()]
    if not versions:
        raise RuntimeError(f"no PostgreSQL in {_POSTGRES_VERSIONS}: install Debian's postgresql")
    return max(versions, key=lambda path: int(path.parent.name))


def _as_postgres(command: list[str]) -> list[str]:
    """`command` run as the ``postgres`` account when we are root, else as it is."""
    if os.geteuid() != 0:
        return command
    return [str(_RUNUSER), "-u", _POSTGRES_ACCOUNT, "--", *command]


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        LOGGER.debug("No process left in group %s for %s", pgid, signum.name)


class OrthancServer(_ServerProcess):
    """An Orthanc server with its own configuration, storage and index.

    Everything lives in ``workdir/name``: ``orthanc.json``, ``storage/``, ``index/``
    and ``server.log``. No plugins are loaded. The HTTP API only accepts loopback
    clients (``RemoteAccessAllowed`` false); the DICOM port listens on all
    interfaces, as Orthanc 1.10 has no bind-address option.

    Attributes:
        aet: Orthanc's AE title (the called AE title is checked).
        dicom_port: Its DICOM port.
        http_port: Its HTTP (REST) port.
        peers: The modalities it may send to, registered under their lower-case AE title.
        directory: Its working directory.
        log_path: Its log file.
    """

    def __init__(
        self,
        workdir: Path,
        aet: str,
        *,
        dicom_port: int | None = None,
        http_port: int | None = None,
        peers: Sequence[DicomNode] = (),
        username: str | None = None,
        password: str | None = None,
        name: str = "orthanc",
        options: Mapping[str, object] | None = None,
    ) -> None:
        """Describe the server; nothing is written or started until :meth:`start`.

        Args:
            workdir: Parent of the server's working directory.
            aet: Orthanc's AE title.
            dicom_port: DICOM port; a free one when omitted.
            http_port: HTTP port; a free one when omitted.
            peers: Modalities Orthanc may send to (C-MOVE destinations, C-STORE targets).
            username: With ``password``, enables HTTP basic authentication for this user.
            password: The user's password.
            name: Name of the working directory (and of the Orthanc instance).
            options: Further Orthanc configuration keys, over the generated ones
                (e.g. ``{"UnknownSopClassAccepted": True}``).

        Raises:
            ValueError: When only one of ``username`` and ``password`` is given, or two
                peers share an AE title.
        """
        super().__init__(workdir, name)
        if (username is None) != (password is None):
            raise ValueError("username and password must be given together")
        modality_ids = [peer.aet.lower() for peer in peers]
        if len(set(modality_ids)) != len(modality_ids):
            raise ValueError(f"peers must have distinct AE titles: {modality_ids}")
        self.name = name
        self.aet = aet
        spare = [port for port in free_ports(2) if port not in (dicom_port, http_port)]
        self.dicom_port = spare.pop() if dicom_port is None else dicom_port
        self.http_port = spare.pop() if http_port is None else http_port
        self.peers = tuple(peers)
        self._auth = None if username is None or password is None else (username, password)
        self.options = dict(options or {})

    def __str__(self) -> str:
        return f"Orthanc {self.aet} (DICOM {self.dicom_port}, HTTP {self.http_port})"

    @property
    def url(self) -> str:
        """The base URL of the REST API."""
        return f"http://{LOOPBACK}:{self.http_port}"

    def config(self) -> dict[str, object]:
        """Return the Orthanc configuration this server runs with.

        Returns:
            The JSON document as a dictionary.
        """
        return {
            "Name": self.name,
            "StorageDirectory": str(self.directory / "storage"),
            "IndexDirectory": str(self.directory / "index"),
            "Plugins": [],
            "LuaScripts": [],
            "HttpServerEnabled": True,
            "HttpPort": self.http_port,
            "HttpThreadsCount": 20,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": self._auth is not None,
            "RegisteredUsers": {} if self._auth is None else {self._auth[0]: self._auth[1]},
            "WebDavEnabled": False,
            "DicomServerEnabled": True,
            "DicomAet": self.aet,
            "DicomPort": self.dicom_port,
            "DicomCheckCalledAet": True,
            "DicomScpTimeout": 30,
            "DicomModalities": {
                peer.aet.lower(): [peer.aet, peer.host, peer.port] for peer in self.peers
            },
            "DicomAlwaysAllowEcho": True,
            "DicomAlwaysAllowStore": True,
            "DicomAlwaysAllowFind": True,
            "DicomAlwaysAllowGet": True,
            "DicomAlwaysAllowMove": True,
            "StorageCompression": False,
            "OverwriteInstances": False,
            "StableAge": 1,
            "ConcurrentJobs": 2,
            # Jobs are not persisted: a restarted server does not resume old transfers.
            "SaveJobs": False,
            "LogExportedResources": False,
            **self.options,
        }

    def restart(self, timeout: float = 30.0) -> Self:
        """Stop the server and start it again, with its configuration, storage and ports.

        Orthanc serves the files it stored or read lately from its storage cache
        (``MaximumStorageCacheSize``): a file changed on disk is seen after a restart.

        Args:
            timeout: Seconds to wait for the server to become ready again.

        Returns:
            The server itself, running.
        """
        self.stop()
        return self.start(timeout)

    def stored_file(self, instance_id: str) -> Path:
        """The file on disk of an instance's DICOM attachment (what bit rot would change).

        Its storage identifier from ``/instances/{id}/attachments/dicom/info`` (``Uuid``),
        under ``StorageDirectory/<uuid[0:2]>/<uuid[2:4]>/<uuid>``.

        Args:
            instance_id: The instance's Orthanc identifier.
        """
        with requests.Session() as session:
            session.trust_env = False
            response = session.get(
                f"{self.url}/instances/{instance_id}/attachments/dicom/info",
                auth=self._auth,
                timeout=_PROBE_TIMEOUT,
            )
        response.raise_for_status()
        uuid = str(response.json()["Uuid"])
        return self.directory / "storage" / uuid[:2] / uuid[2:4] / uuid

    def _prepare(self) -> list[str]:
        for folder in ("storage", "index"):
            (self.directory / folder).mkdir(exist_ok=True)
        config_path = self.directory / "orthanc.json"
        config_path.write_text(json.dumps(self.config(), indent=2) + "\n", encoding="utf-8")
        return [str(_ORTHANC), str(config_path)]

    def _probe(self) -> bool:
        with requests.Session() as session:
            # Loopback only: never through a proxy from the environment.
            session.trust_env = False
            try:
                response = session.get(
                    f"{self.url}/system", auth=self._auth, timeout=_PROBE_TIMEOUT
                )
                system = response.json() if response.status_code == 200 else {}
            except (requests.RequestException, ValueError):
                return False
        return bool(
            system.get("DicomAet") == self.aet and system.get("DicomPort") == self.dicom_port
        )


class DcmqrscpServer(_ServerProcess):
    """A DCMTK dcmqrscp query/retrieve server with one storage AE title.

    Everything lives in ``workdir/name``: ``dcmqrscp.cfg``, ``storage/`` and
    ``server.log``. It accepts associations from any calling AE and can move to the
    configured peers. Like many vendor archives it is strictly hierarchical; it also
    serves C-GET. dcmqrscp caps the storage area at 500 studies of at most 1 GB each
    and deletes the oldest study when a 501st arrives.

    Attributes:
        aet: The storage AE title.
        dicom_port: Its DICOM port.
        peers: The C-MOVE destinations it knows (its HostTable).
        directory: Its working directory.
        log_path: Its log file.
    """

    def __init__(
        self,
        workdir: Path,
        aet: str,
        *,
        dicom_port: int | None = None,
        peers: Sequence[DicomNode] = (),
        name: str = "dcmqrscp",
    ) -> None:
        """Describe the server; nothing is written or started until :meth:`start`.

        Args:
            workdir: Parent of the server's working directory.
            aet: The storage AE title.
            dicom_port: DICOM port; a free one when omitted.
            peers: C-MOVE destinations.
            name: Name of the working directory.

        Raises:
            ValueError: When an AE title or host cannot be written in dcmqrscp's
                configuration format (1 to 16 characters without whitespace, ``=``,
                ``,``, quotes or parentheses).
        """
        super().__init__(workdir, name)
        for value in (aet, *(part for peer in peers for part in (peer.aet, peer.host))):
            if not _DCMQRSCP_TOKEN.fullmatch(value):
                raise ValueError(f"{value!r} cannot be written in a dcmqrscp configuration")
        self.aet = aet
        self.dicom_port = free_port() if dicom_port is None else dicom_port
        self.peers = tuple(peers)

    def __str__(self) -> str:
        return f"dcmqrscp {self.aet} (DICOM {self.dicom_port})"

    def config(self) -> str:
        """Return the dcmqrscp configuration file this server runs with.

        Returns:
            The file's text.

        Raises:
            ValueError: When the storage path has quotes or parentheses, or a line is
                too long for dcmqrscp (a very long storage path or very many peers).
        """
        symbols = [f"peer{number}" for number in range(1, len(self.peers) + 1)]
        host_table = [
            f"{symbol} = ({peer.aet}, {peer.host}, {peer.port})"
            for symbol, peer in zip(symbols, self.peers, strict=True)
        ]
        if symbols:
            host_table.append(f"peers = {', '.join(symbols)}")
        lines = [
            "# Generated by radonc_assets.devtools.local_servers",
            f"NetworkTCPPort = {self.dicom_port}",
            "MaxPDUSize = 16384",
            "MaxAssociations = 16",
            "HostTable BEGIN",
            *host_table,
            "HostTable END",
            "VendorTable BEGIN",
            "VendorTable END",
            "AETable BEGIN",
            f'{self.aet} "{self.directory / "storage"}" RW (500, 1024mb) ANY',
            "AETable END",
        ]
        if _DCMQRSCP_QUOTES & set(str(self.directory)):
            raise ValueError(f"dcmqrscp cannot read a storage path like {self.directory}")
        too_long = [line for line in lines if len(line.encode()) > _DCMQRSCP_LINE_MAX]
        if too_long:
            raise ValueError(f"dcmqrscp configuration lines are too long: {too_long}")
        return "\n".join(lines) + "\n"

    def _prepare(self) -> list[str]:
        (self.directory / "storage").mkdir(exist_ok=True)
        config_path = self.directory / "dcmqrscp.cfg"
        config_path.write_text(self.config(), encoding="utf-8")
        return [str(_DCMQRSCP), "--config", str(config_path)]

    def _probe(self) -> bool:
        return _answers_echo(self.aet, self.dicom_port)


class StorescpServer(_ServerProcess):
    """A DCMTK storescp: a C-STORE destination only, as a store-only staging node is.

    It accepts C-ECHO and C-STORE of the standard storage classes from any calling AE
    and writes each instance it receives into ``workdir/name/received``; it has no
    Query/Retrieve service (a C-MOVE finds no presentation context). One association at
    a time. Stopped by its PID (its process group), like the other servers.

    Attributes:
        aet: Its AE title.
        dicom_port: Its DICOM port.
        received: The folder of the instances it received.
        directory: Its working directory.
        log_path: Its log file.
    """

    def __init__(
        self,
        workdir: Path,
        aet: str,
        *,
        dicom_port: int | None = None,
        name: str = "storescp",
    ) -> None:
        """Describe the server; nothing is written or started until :meth:`start`.

        Args:
            workdir: Parent of the server's working directory.
            aet: Its AE title.
            dicom_port: DICOM port; a free one when omitted.
            name: Name of the working directory.
        """
        super().__init__(workdir, name)
        self.aet = aet
        self.dicom_port = free_port() if dicom_port is None else dicom_port
        self.received = self.directory / "received"

    def __str__(self) -> str:
        return f"storescp {self.aet} (DICOM {self.dicom_port})"

    def _prepare(self) -> list[str]:
        self.received.mkdir(exist_ok=True)
        return [
            str(_STORESCP),
            *("--aetitle", self.aet, "--output-directory", str(self.received)),
            str(self.dicom_port),
        ]

    def _probe(self) -> bool:
        return _answers_echo(self.aet, self.dicom_port)


def _answers_echo(aet: str, port: int) -> bool:
    """Whether the DICOM server `aet` on the loopback `port` answers a C-ECHO (one attempt)."""
    seconds = str(round(_PROBE_TIMEOUT))
    echo = [
        str(_ECHOSCU),
        *("--timeout", seconds, "--acse-timeout", seconds, "--dimse-timeout", seconds),
        *("--call", aet, LOOPBACK, str(port)),
    ]
    try:
        result = subprocess.run(
            echo,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=_PROBE_TIMEOUT + 2,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return False
    return result.returncode == 0


class PostgresServer(_ServerProcess):
    """A PostgreSQL server with a cluster of its own, for Dagster instances stored in it.

    PostgreSQL refuses to run as root: when root, ``initdb`` and ``postgres`` run as the
    ``postgres`` account of Debian's package (``runuser``), and the cluster lives in a
    folder of its own under the system's temporary folder (pytest's folders are private
    to root), owned by that account. :meth:`stop` removes that folder, so each start
    begins with an empty cluster holding :attr:`database`. ``workdir/name`` holds
    ``server.log``. The server listens on 127.0.0.1 only (and on a Unix socket in the
    cluster's folder), trusts every local connection (``initdb -A trust``: no password)
    and never waits for fsync: a server for tests and demonstrations only.

    Attributes:
        host: The loopback address it listens on.
        port: Its TCP port.
        user: Its superuser, the one role of the cluster.
        database: The database created at start, owned by ``user``.
        directory: Its working directory.
        log_path: Its log file.
    """

    # Fast shutdown: open sessions are ended rather than waited for (SIGTERM would wait).
    _stop_signal = signal.SIGINT

    def __init__(
        self,
        workdir: Path,
        *,
        port: int | None = None,
        user: str = "dagster",
        database: str = "dagster",
        name: str = "postgres",
    ) -> None:
        """Describe the server; nothing is written or started until :meth:`start`.

        Args:
            workdir: Parent of the server's working directory (its log).
            port: TCP port; a free one when omitted.
            user: Name of the superuser ``initdb`` creates.
            database: The database to create once the server runs.
            name: Name of the working directory.
        """
        super().__init__(workdir, name)
        self.host = LOOPBACK
        self.port = free_port() if port is None else port
        self.user = user
        self.database = database
        self._cluster: Path | None = None

    def __str__(self) -> str:
        return f"PostgreSQL (port {self.port})"

    @property
    def cluster(self) -> Path | None:
        """The folder of its cluster (``data/`` and the Unix socket), None when stopped."""
        return self._cluster

    def url(self, database: str | None = None) -> str:
        """The connection URL of a database of this server (libpq, SQLAlchemy).

        Args:
            database: Its name; :attr:`database` when omitted.

        Returns:
            The URL.
        """
        return f"postgresql://{self.user}@{self.host}:{self.port}/{database or self.database}"

    def instance_env(self, database: str | None = None) -> dict[str, str]:
        """The environment variables ``deployment/dagster.yaml`` reads, set for this server.

        Args:
            database: The database of the Dagster instance; :attr:`database` when omitted.

        Returns:
            ``DAGSTER_PG_HOST``, ``DAGSTER_PG_PORT``, ``DAGSTER_PG_USERNAME``,
            ``DAGSTER_PG_PASSWORD`` (empty) and ``DAGSTER_PG_DB``.
        """
        return {
            "DAGSTER_PG_HOST": self.host,
            "DAGSTER_PG_PORT": str(self.port),
            "DAGSTER_PG_USERNAME": self.user,
            "DAGSTER_PG_PASSWORD": "",
            "DAGSTER_PG_DB": database or self.database,
        }

    def start(self, timeout: float = 30.0) -> Self:
        """Create a new cluster, run the server on it and create :attr:`database`.

        Args:
            timeout: Seconds to wait for the server to accept connections.

        Returns:
            The server itself, running.

        Raises:
            RuntimeError: As :meth:`_ServerProcess.start`, or when ``initdb`` or
                ``createdb`` fails.
        """
        super().start(timeout)
        try:
            self.create_database(self.database)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the server (fast shutdown, by SIGINT) and remove its cluster."""
        super().stop()
        cluster, self._cluster = self._cluster, None
        if cluster is not None:
            shutil.rmtree(cluster)

    def create_database(self, name: str) -> None:
        """Create database `name`, owned by :attr:`user`, in the running server.

        Raises:
            RuntimeError: When ``createdb`` fails (e.g. the database exists).
        """
        self._run("createdb", "-h", self.host, "-p", str(self.port), "-U", self.user, name)

    def _prepare(self) -> list[str]:
        postgres = _postgres_bin() / "postgres"
        cluster = Path(tempfile.mkdtemp(prefix=f"radonc-{self.directory.name}-"))
        self._cluster = cluster
        try:
            if os.geteuid() == 0:
                shutil.chown(cluster, _POSTGRES_ACCOUNT, _POSTGRES_ACCOUNT)
            self._run(
                *("initdb", "-D", str(cluster / "data"), "-A", "trust", "-U", self.user),
                *("--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions"),
                as_postgres=True,
            )
        except BaseException:
            self.stop()
            raise
        settings = {
            "listen_addresses": LOOPBACK,
            "port": self.port,
            "unix_socket_directories": cluster,
            "fsync": "off",
            "full_page_writes": "off",
            "synchronous_commit": "off",
        }
        options = [f"--{key}={value}" for key, value in settings.items()]
        return _as_postgres([str(postgres), "-D", str(cluster / "data"), *options])

    def _cwd(self) -> Path:
        return self._cluster or self.directory

    def _probe(self) -> bool:
        # pg_ctl's own test: the postmaster's lock file in our cluster, naming our port,
        # says "ready" once it accepts connections.
        if self._cluster is None:
            return False
        try:
            lines = (self._cluster / "data" / "postmaster.pid").read_text().splitlines()
        except OSError:
            return False
        return (
            len(lines) > _PID_FILE_STATUS
            and lines[_PID_FILE_PORT].strip() == str(self.port)
            and lines[_PID_FILE_STATUS].strip() == "ready"
        )

    def _run(self, program: str, *args: str, as_postgres: bool = False) -> None:
        command = [str(_postgres_bin() / program), *args]
        result = subprocess.run(
            _as_postgres(command) if as_postgres else command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            cwd=self._cluster,
            check=False,
        )
        if result.returncode != 0:
            output = (result.stdout + result.stderr).decode(errors="replace").strip()
            raise RuntimeError(f"{program} for {self} failed ({result.returncode}): {output}")


@dataclass(frozen=True)
class DicomTls:
    """DICOM TLS of an Orthanc server (:class:`TlsOrthancServer`).

    Attributes:
        certificate: PEM certificate Orthanc presents, as SCP and as SCU (for C-MOVE).
        private_key: Its PEM private key.
        trusted: PEM file of the certificates (CAs) Orthanc trusts, both ways.
        client_certificate_required: Whether a client must present a certificate
            (``DicomTlsRemoteCertificateRequired``); without, one presented is verified.
    """

    certificate: Path
    private_key: Path
    trusted: Path
    client_certificate_required: bool = True


class TlsOrthancServer(OrthancServer):
    """An Orthanc server whose DICOM port accepts DICOM TLS only (Orthanc 1.9 or later).

    Its peers are reached over DICOM TLS too (``UseDicomTls`` in ``DicomModalities``):
    C-MOVE sends to them with the same certificate. The REST API stays plain HTTP on
    loopback: put a :class:`StunnelServer` in front of it for HTTPS (Orthanc 1.10.1's
    own HTTPS crashes on the first request).

    Attributes:
        tls: Its certificate, key and trusted certificates.
    """

    def __init__(
        self,
        workdir: Path,
        aet: str,
        tls: DicomTls,
        *,
        dicom_port: int | None = None,
        http_port: int | None = None,
        peers: Sequence[DicomNode] = (),
        name: str = "orthanc",
        options: Mapping[str, object] | None = None,
    ) -> None:
        """Describe the server; nothing is written or started until :meth:`start`.

        Args:
            workdir: Parent of the server's working directory.
            aet: Orthanc's AE title.
            tls: Its certificate, key and trusted certificates.
            dicom_port: DICOM TLS port; a free one when omitted.
            http_port: HTTP port; a free one when omitted.
            peers: Modalities Orthanc may send to, over DICOM TLS.
            name: Name of the working directory (and of the Orthanc instance).
            options: Further Orthanc configuration keys, over the generated ones.
        """
        super().__init__(
            workdir,
            aet,
            dicom_port=dicom_port,
            http_port=http_port,
            peers=peers,
            name=name,
            options=options,
        )
        self.tls = tls

    def __str__(self) -> str:
        return f"Orthanc {self.aet} (DICOM TLS {self.dicom_port}, HTTP {self.http_port})"

    def config(self) -> dict[str, object]:
        """Return the Orthanc configuration, with DICOM TLS.

        Returns:
            The JSON document as a dictionary.
        """
        return {
            **super().config(),
            "DicomTlsEnabled": True,
            "DicomTlsCertificate": str(self.tls.certificate),
            "DicomTlsPrivateKey": str(self.tls.private_key),
            "DicomTlsTrustedCertificates": str(self.tls.trusted),
            "DicomTlsRemoteCertificateRequired": self.tls.client_certificate_required,
            "DicomModalities": {
                peer.aet.lower(): {
                    "AET": peer.aet,
                    "Host": peer.host,
                    "Port": peer.port,
                    "UseDicomTls": True,
                }
                for peer in self.peers
            },
            **self.options,
        }


class StunnelServer(_ServerProcess):
    """A TLS terminator (Debian's ``stunnel4``) in front of a loopback TCP port.

    HTTPS for Orthanc's REST API: stunnel accepts TLS on :attr:`port` (127.0.0.1 only)
    with the given certificate and forwards the plain stream to ``target_port``.
    Everything lives in ``workdir/name``: ``stunnel.conf`` and ``server.log``.

    Attributes:
        port: The TLS port it accepts on.
        target_port: The loopback port it forwards to.
        directory: Its working directory.
        log_path: Its log file.
    """

    def __init__(
        self,
        workdir: Path,
        certificate: Path,
        private_key: Path,
        target_port: int,
        *,
        port: int | None = None,
        name: str = "stunnel",
    ) -> None:
        """Describe the terminator; nothing is written or started until :meth:`start`.

        Args:
            workdir: Parent of its working directory.
            certificate: PEM certificate it presents (with its chain, if any).
            private_key: Its PEM private key.
            target_port: The loopback port it forwards to (Orthanc's HTTP port).
            port: The TLS port; a free one when omitted.
            name: Name of the working directory.
        """
        super().__init__(workdir, name)
        self.certificate = certificate
        self.private_key = private_key
        self.target_port = target_port
        self.port = free_port() if port is None else port

    def __str__(self) -> str:
        return f"stunnel (TLS {self.port} -> {self.target_port})"

    @property
    def url(self) -> str:
        """The HTTPS base URL of what it forwards to."""
        return f"https://{LOOPBACK}:{self.port}"

    def config(self) -> str:
        """Return the stunnel configuration this terminator runs with.

        Returns:
            The file's text.
        """
        lines = [
            "; Generated by radonc_assets.devtools.local_servers",
            "foreground = yes",
            "pid =",
            "debug = notice",
            "[https]",
            f"accept = {LOOPBACK}:{self.port}",
            f"connect = {LOOPBACK}:{self.target_port}",
            f"cert = {self.certificate}",
            f"key = {self.private_key}",
            "sslVersionMin = TLSv1.2",
        ]
        return "\n".join(lines) + "\n"

    def _prepare(self) -> list[str]:
        config_path = self.directory / "stunnel.conf"
        config_path.write_text(self.config(), encoding="utf-8")
        return [str(_STUNNEL), str(config_path)]

    def _probe(self) -> bool:
        try:
            with socket.create_connection((LOOPBACK, self.port), timeout=_PROBE_TIMEOUT):
                return True
        except OSError:
            return False
