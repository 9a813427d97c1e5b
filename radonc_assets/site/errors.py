"""What the command line reports in one line: a site file's problems, a refused run.

Light on purpose (no pydantic, no Dagster): `radonc` imports it before any command.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


class RunRefusedError(Exception):
    """A run cannot start: a date outside the partitions, or a source's pool stays busy."""


class PoolBusyError(RunRefusedError):
    """A pool stayed held by another run for longer than the wait allowed."""


class AccessLogError(RunRefusedError):
    """The access log of patient data cannot be written (or read).

    The command then refuses to show what it read (:mod:`radonc_assets.site.access_log`).
    """


@dataclass(frozen=True)
class Problem:
    """One configuration problem, located by file, site and key."""

    file: Path
    site: str | None
    key: str | None
    message: str

    def __str__(self) -> str:
        where = str(self.file)
        if self.site:
            where += f": site {self.site}"
        if self.key:
            where += f": {self.key}"
        return f"{where}: {self.message}"


class ConfigError(Exception):
    """The site configuration is invalid; `problems` lists every issue found."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class MissingSecretError(ConfigError):
    """An environment variable named by a ``*_env_var`` key is not set."""
