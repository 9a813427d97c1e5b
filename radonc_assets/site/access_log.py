"""The access log of patient data: who asked for which patient, when, and what came back.

Every command and job that reads or writes identifiable data appends one line to its
site's log, ``<data>/<site>/access.log`` (``<data>/access.log`` for a command that names
no site, such as ``radonc dicom find --host ...``): a JSON object with the UTC time, the
operating system user, the Dagster user where a run has one, the host, the command or
job, the site, the source or node, what was asked (MRN, study, series, date), how many
patients, instances and rows came back, where files went, and the outcome. Nothing else:
never the command line as a whole, never a password.

Each file is owner-only (0600, set again at every write) and only ever appended to
(``O_APPEND``, one ``write`` per line). Past :data:`MAX_BYTES` it is renamed
``access.log.1`` (the older ones shifted up to :data:`ROTATED`, the oldest dropped),
under an exclusive lock (``access.log.lock``) that every writer takes, so that
processes writing at the same time neither interleave nor lose lines. Retention
(:func:`purge_before`) drops the lines older than the site keeps.

A command opens its log before the lookup (:func:`logged`) and writes the line after
it, with the counts; a log that cannot be written stops the command
(:class:`~radonc_assets.site.errors.AccessLogError`) before it shows what it read.
"""

import datetime as dt
import fcntl
import getpass
import json
import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from radonc_assets.site.errors import AccessLogError
from radonc_assets.site.paths import data_dir
from radonc_assets.site.private_files import OWNER_ONLY_FILE, private_dir, write_private

LOGGER = logging.getLogger(__name__)

ACCESS_LOG = "access.log"
# A file grows to 10 MB (about 30,000 lines), then rotates; 9 rotated files are kept.
MAX_BYTES = 10_000_000
ROTATED = 9
# The longest outcome kept of an error's message (its first line).
_OUTCOME_CHARS = 300
_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass
class Access:
    """One access to patient data, filled in as the lookup goes.

    Attributes:
        command: The command (``report``, ``dicom get``) or the job (``lab_recovery``).
        site: The site, None for a command that names none.
        source: The source or node asked: an alias, or ``AET@host:port``.
        asked: What was asked, by name: ``mrn``, ``study_uid``, ``series_uid``, ``date``...
        patients: Distinct patients returned, None when not known.
        instances: DICOM instances returned, written, sent or restored.
        rows: Rows returned (studies, matches, deliveries, treated sites, log lines).
        written: Where files or instances went: a folder, a file, an AE.
        outcome: ``ok``, or what went wrong (``failed: ...``, ``stopped``).
        dagster_user: The user Dagster names for a run (its ``dagster/user`` or ``user`` tag).
        launched_by: How a run started (``ui``, ``schedule``, ``cli``...), None for a command.
        run: The run's ID, None for a command.
    """

    command: str
    site: str | None = None
    source: str | None = None
    asked: dict[str, str] = field(default_factory=dict)
    patients: int | None = None
    instances: int | None = None
    rows: int | None = None
    written: str | None = None
    outcome: str = "ok"
    dagster_user: str | None = None
    launched_by: str | None = None
    run: str | None = None


def os_user() -> str:
    """The operating system user running this process."""
    try:
        return getpass.getuser()
    except OSError:  # no login name in the environment nor in the password database
        return f"uid {os.getuid()}"


def log_path(site: str | None) -> Path:
    """The access log of `site` (``<data>/<site>/access.log``), or of commands without one."""
    return data_dir() / site.lower() / ACCESS_LOG if site else data_dir() / ACCESS_LOG


def log_line(access: Access, when: dt.datetime) -> bytes:
    """`access` at `when` as one line of JSON (non-ASCII escaped: never a raw line break)."""
    entry = {
        "time": when.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "user": os_user(),
        "dagster_user": access.dagster_user,
        "host": socket.gethostname(),
        "command": access.command,
        "site": access.site,
        "source": access.source,
        "asked": {key: value for key, value in access.asked.items() if value},
        "patients": access.patients,
        "instances": access.instances,
        "rows": access.rows,
        "written": access.written,
        "outcome": access.outcome,
        "launched_by": access.launched_by,
        "run": access.run,
    }
    return (json.dumps(entry) + "\n").encode("ascii")


def record(access: Access, *, max_bytes: int = MAX_BYTES, rotated: int = ROTATED) -> Path:
    """Append `access` to its site's log, now, rotating the log first when it is full.

    Returns:
        The log file.

    Raises:
        AccessLogError: The log cannot be written.
    """
    path = log_path(access.site)
    line = log_line(access, dt.datetime.now(dt.UTC))
    try:
        with _locked(path):
            if _size(path) and _size(path) + len(line) > max_bytes:
                _rotate(path, rotated)
            descriptor = _open(path)
            try:
                written = os.write(descriptor, line)
            finally:
                os.close(descriptor)
    except OSError as exc:
        raise AccessLogError(f"cannot write the access log {path}: {exc.strerror or exc}") from exc
    if written != len(line):
        raise AccessLogError(f"cannot write the access log {path}: {written} of {len(line)} bytes")
    return path


@contextmanager
def logged(access: Access) -> Iterator[Access]:
    """Log `access` once its lookup (the ``with`` block, which fills in its counts) ends.

    The log is opened first: one that cannot be written stops the command before the
    lookup. A lookup that fails is logged with what went wrong, and its error raised.

    Raises:
        AccessLogError: The log cannot be written.
    """
    path = log_path(access.site)
    try:
        with _locked(path):
            os.close(_open(path))
    except OSError as exc:
        raise AccessLogError(f"cannot write the access log {path}: {exc.strerror or exc}") from exc
    try:
        yield access
    except KeyboardInterrupt:
        access.outcome = "stopped"
        record(access)
        raise
    except BaseException as exc:
        message = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        access.outcome = f"failed: {message[:_OUTCOME_CHARS]}"
        record(access)
        raise
    record(access)


def log_files(path: Path) -> list[Path]:
    """The files of log `path`, oldest first: ``access.log.N`` ... ``access.log.1``, itself."""
    numbered = [p for p in path.parent.glob(f"{path.name}.*") if p.suffix[1:].isdigit()]
    older = sorted(numbered, key=lambda p: int(p.suffix[1:]), reverse=True)
    return [*older, *([path] if path.exists() else [])]


def site_logs() -> dict[str, Path]:
    """Every access log under the data folder, by its folder's name ("" for no site's)."""
    root = data_dir()
    logs = {"": root / ACCESS_LOG} if (root / ACCESS_LOG).exists() else {}
    for path in sorted(root.glob(f"*/{ACCESS_LOG}")):
        logs[path.parent.name] = path
    return logs


def read_entries(path: Path) -> list[dict[str, Any]]:
    """The entries of log `path` and its rotated files, oldest first.

    Raises:
        AccessLogError: A file cannot be read, or a line is not one the log writes.
    """
    entries = []
    for file in log_files(path):
        try:
            text = file.read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as exc:
            raise AccessLogError(f"cannot read the access log {file}: {exc}") from exc
        for number, line in enumerate(text.splitlines(), start=1):
            try:
                entry = dict(json.loads(line))
                entry_time(entry)
            except (ValueError, TypeError, KeyError) as exc:
                raise AccessLogError(f"{file}, line {number}: not an access log entry") from exc
            entries.append(entry)
    return entries


def entry_time(entry: dict[str, Any]) -> dt.datetime:
    """When the access of `entry` happened (UTC)."""
    return dt.datetime.fromisoformat(str(entry["time"]))


@dataclass(frozen=True)
class LogPurge:
    """What retention removed from a log: rotated files deleted, lines dropped, bytes freed."""

    files: int
    lines: int
    bytes: int


def purge_before(site: str, limit: dt.datetime) -> LogPurge:
    """Remove from `site`'s access log the lines of accesses before `limit`.

    A rotated file last written before `limit` is deleted whole; the others are
    rewritten without their older lines (owner-only, replaced atomically), under the
    writers' lock. A line without a readable time is kept.
    """
    path = log_path(site)
    files = lines = size = 0
    if not log_files(path):
        return LogPurge(files, lines, size)
    with _locked(path):
        for file in log_files(path):
            before = file.stat().st_size
            if file != path and file.stat().st_mtime < limit.timestamp():
                lines += len(file.read_bytes().splitlines())
                file.unlink()
                files, size = files + 1, size + before
                continue
            old = file.read_bytes().splitlines(keepends=True)
            kept = [line for line in old if not _is_before(line, limit)]
            if len(kept) < len(old):
                write_private(file, b"".join(kept))
                lines, size = lines + len(old) - len(kept), size + before - file.stat().st_size
    LOGGER.info("Access log of %s: %d lines before %s removed", site, lines, limit)
    return LogPurge(files, lines, size)


def _is_before(line: bytes, limit: dt.datetime) -> bool:
    try:
        return entry_time(json.loads(line)) < limit
    except (ValueError, TypeError, KeyError):
        return False


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold the exclusive lock of log `path` (``access.log.lock``, beside it)."""
    private_dir(path.parent)
    lock = os.open(path.with_name(f"{path.name}.lock"), _FLAGS & ~os.O_APPEND, OWNER_ONLY_FILE)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
    finally:
        os.close(lock)  # releases the lock


def _open(path: Path) -> int:
    """Log `path` open for appending, created owner-only, and made owner-only again."""
    descriptor = os.open(path, _FLAGS, OWNER_ONLY_FILE)
    try:
        os.fchmod(descriptor, OWNER_ONLY_FILE)
    except OSError:
        os.close(descriptor)
        raise
    return descriptor


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _rotate(path: Path, rotated: int) -> None:
    """``access.log.N-1`` to ``.N`` ... ``access.log`` to ``.1``; what would pass `rotated` goes."""
    path.with_name(f"{path.name}.{rotated}").unlink(missing_ok=True)
    for number in range(rotated - 1, 0, -1):
        older = path.with_name(f"{path.name}.{number}")
        if older.exists():
            older.rename(path.with_name(f"{path.name}.{number + 1}"))
    path.rename(path.with_name(f"{path.name}.1"))
    LOGGER.info("Access log %s rotated", path)
