"""Site configuration: typed models for `environments/*.toml` and their loader.

A site file holds one top-level table per site in the format of the earlier
RadOncBackupSystem `environments.toml` (which loads unchanged), plus optional
keys added by radonc-backup. Everything is validated when the file is loaded;
every problem is reported with the file, the site and the key it concerns.

Secrets never live in the files: keys ending in ``_env_var`` name an environment
variable, which is read only for the site in use (:func:`read_secret`).
"""

import datetime as dt
import ipaddress
import os
import re
import tomllib
import zoneinfo
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from resources.mosaiq_db import SQLITE_DRIVER

ENVIRONMENTS_VARIABLE = "RADONC_ENVIRONMENTS"
DEFAULT_ENVIRONMENTS_DIR = Path(__file__).resolve().parents[1] / "environments"

_NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_HOSTNAME_PATTERN = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)

# PS3.5 6.2: AE titles are at most 16 characters of the default repertoire, no backslash
# and no control characters; leading/trailing spaces are not significant.
AETitle = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=16, pattern=r"^[ -\[\]-~]+$"),
]
Port = Annotated[int, Field(ge=1, le=65535)]
# "study_date": instances of studies whose StudyDate is the day; "treatment_records":
# RT Beams Treatment Records of series dated the day, in studies of the lookback window.
DailyQuery = Literal["study_date", "treatment_records"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NetworkNode(_Model):
    """A DICOM application entity: AE title, host and port."""

    aet: AETitle
    ip: str
    port: Port

    @field_validator("ip")
    @classmethod
    def _valid_host(cls, value: str) -> str:
        try:
            ipaddress.ip_address(value)
        except ValueError:
            if not _HOSTNAME_PATTERN.match(value):
                raise ValueError(f"{value!r} is neither an IP address nor a host name") from None
        return value


class DicomSource(NetworkNode):
    """A DICOM query/retrieve source: ARIA (copied by C-MOVE) or MIM (by C-GET)."""

    type: Literal["aria", "mim"]
    max_concurrent_transfers: Annotated[int, Field(ge=1, le=8)] = 1
    queries: tuple[DailyQuery, ...] | None = None
    record_lookback_days: Annotated[int, Field(ge=0, le=3650)] = 180

    @property
    def daily_queries(self) -> tuple[DailyQuery, ...]:
        """What the source is asked for each day: `queries`, or its type's default.

        ARIA holds the treatment records, so by default it is also asked for the
        records of the day; MIM (images and contours) only for the day's studies.
        """
        if self.queries is not None:
            return self.queries
        return ("study_date", "treatment_records") if self.type == "aria" else ("study_date",)


class MosaiqSource(_Model):
    """A Mosaiq database reached through ODBC.

    With ``odbc_driver = "SQLite3"`` (the simulated Mosaiq) ``db_database`` is the
    database file, relative paths being relative to the site file, and the server
    and user keys are ignored.
    """

    type: Literal["mosaiq"]
    odbc_driver: str
    db_database: str
    db_server: str = ""
    db_username: str = ""
    db_password_env_var: str | None = None
    staging_target_alias: str | None = None
    login_timeout: Annotated[int, Field(ge=1)] = 15
    query_timeout: Annotated[int, Field(ge=1)] = 120

    @model_validator(mode="before")
    @classmethod
    def _no_inline_password(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and "db_password" in data:
            raise ValueError(
                "db_password: secrets never live in site files; put the password in an "
                "environment variable and name it with db_password_env_var"
            )
        return data

    @field_validator("odbc_driver")
    @classmethod
    def _strip_braces(cls, value: str) -> str:
        driver = value.strip().removeprefix("{").removesuffix("}").strip()
        if not driver:
            raise ValueError("the ODBC driver name is empty")
        return driver

    @field_validator("db_database")
    @classmethod
    def _resolve_sqlite_path(cls, value: str, info: ValidationInfo) -> str:
        base_dir = (info.context or {}).get("base_dir")
        if info.data.get("odbc_driver", "").lower() == SQLITE_DRIVER.lower() and base_dir:
            return str((Path(base_dir) / Path(value).expanduser()).resolve())
        return value

    @model_validator(mode="after")
    def _server_keys_for_real_servers(self) -> "MosaiqSource":
        if not self.is_sqlite:
            missing = [key for key in ("db_server", "db_username") if not getattr(self, key)]
            if self.db_password_env_var is None:
                missing.append("db_password_env_var")
            if missing:
                raise ValueError(
                    f"driver {self.odbc_driver!r} needs {', '.join(missing)} "
                    f"(only the {SQLITE_DRIVER} driver works without them)"
                )
        return self

    @property
    def is_sqlite(self) -> bool:
        """Whether this is the simulated Mosaiq (a SQLite file)."""
        return self.odbc_driver.lower() == SQLITE_DRIVER.lower()


Source = Annotated[DicomSource | MosaiqSource, Field(discriminator="type")]


class OrthancTarget(NetworkNode):
    """The Orthanc archive: DICOM always, REST when ``rest_url`` is set."""

    type: Literal["orthanc"]
    rest_url: Annotated[str, StringConstraints(pattern=r"^https?://")] | None = None
    rest_username: str | None = None
    rest_password_env_var: str | None = None

    @model_validator(mode="after")
    def _credentials_in_pairs(self) -> "OrthancTarget":
        if (self.rest_username is None) != (self.rest_password_env_var is None):
            raise ValueError("rest_username and rest_password_env_var go together")
        return self


class DicomScpTarget(NetworkNode):
    """A plain DICOM storage SCP: a staging node or a restore destination."""

    type: Literal["dicom_scp"]


Target = Annotated[OrthancTarget | DicomScpTarget, Field(discriminator="type")]


class ScriptAE(_Model):
    """The calling AE title radonc-backup uses at this site."""

    aet: AETitle


class SiteSettings(BaseModel):
    """Operational settings; unknown keys of the earlier system are kept, not rejected."""

    model_config = ConfigDict(extra="allow", frozen=True)

    max_uids_per_run: Annotated[int, Field(ge=1)] = 100
    connect_timeout: Annotated[float, Field(gt=0)] = 10.0
    network_timeout: Annotated[float, Field(gt=0)] = 60.0
    max_pdu: Annotated[int, Field(ge=0)] = 262144
    deep_validation: bool = False


class SiteConfig(_Model):
    """One site (a top-level table of a site file)."""

    name: str
    source_file: Path
    description: str = ""
    default_source: str
    default_backup: str
    script_ae: ScriptAE
    sources: dict[str, Source]
    backup_targets: dict[str, Target]
    settings: SiteSettings = SiteSettings()
    timezone: str = "UTC"
    backfill_start: dt.date | None = None
    phi_in_metadata: bool = False

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @property
    def dicom_sources(self) -> dict[str, DicomSource]:
        """The ARIA and MIM sources by alias."""
        return {k: v for k, v in self.sources.items() if isinstance(v, DicomSource)}

    @property
    def mosaiq_sources(self) -> dict[str, MosaiqSource]:
        """The Mosaiq sources by alias."""
        return {k: v for k, v in self.sources.items() if isinstance(v, MosaiqSource)}

    def problem(self, key: str | None, message: str) -> "ConfigError":
        """A :class:`ConfigError` about `key` of this site."""
        return ConfigError([Problem(self.source_file, self.name, key, message)])

    def archive(self, alias: str | None = None) -> OrthancTarget:
        """The Orthanc target `alias` (default: ``default_backup``)."""
        alias = alias or self.default_backup
        target = self.backup_targets.get(alias)
        if not isinstance(target, OrthancTarget):
            raise ConfigError(
                [Problem(self.source_file, self.name, alias, "is not an Orthanc target")]
            )
        return target

    def node(self, alias: str) -> NetworkNode:
        """A DICOM node (source or target) by alias."""
        node = self.sources.get(alias) or self.backup_targets.get(alias)
        if not isinstance(node, NetworkNode):
            known = ", ".join(sorted(k for k in (*self.sources, *self.backup_targets)))
            raise ConfigError(
                [
                    Problem(
                        self.source_file, self.name, alias, f"no DICOM node of that name ({known})"
                    )
                ]
            )
        return node


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


def environments_dir() -> Path:
    """The folder of site files: ``$RADONC_ENVIRONMENTS`` or the project's `environments/`."""
    return Path(os.environ.get(ENVIRONMENTS_VARIABLE) or DEFAULT_ENVIRONMENTS_DIR)


def load_sites(path: Path | None = None) -> dict[str, SiteConfig]:
    """Load and validate every site of a site file, or of all ``*.toml`` in a folder.

    Args:
        path: A TOML file or a folder; default :func:`environments_dir`.

    Returns:
        The sites by name.

    Raises:
        ConfigError: Listing every problem found in every file.
    """
    path = path or environments_dir()
    files = sorted(path.glob("*.toml")) if path.is_dir() else [path]
    if not files:
        raise ConfigError([Problem(path, None, None, "no site files (*.toml) found")])
    sites: dict[str, SiteConfig] = {}
    problems: list[Problem] = []
    for file in files:
        try:
            loaded = _load_file(file)
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        for name, site in loaded.items():
            if name.lower() in {s.lower() for s in sites}:
                other = next(s for s in sites.values() if s.name.lower() == name.lower())
                problems.append(
                    Problem(file, name, None, f"site also defined in {other.source_file}")
                )
            sites[name] = site
    if problems:
        raise ConfigError(problems)
    return sites


def load_site(name: str, path: Path | None = None) -> SiteConfig:
    """Load one site by name (case-insensitive) from the site files."""
    sites = load_sites(path)
    for site_name, site in sites.items():
        if site_name.lower() == name.lower():
            return site
    raise ConfigError(
        [Problem(path or environments_dir(), name, None, f"no such site ({', '.join(sites)})")]
    )


def read_secret(site: SiteConfig, key: str, variable: str) -> str:
    """Read the environment variable `variable` named by `key` of `site`.

    Raises:
        MissingSecretError: Naming the variable, when it is not set.
    """
    value = os.environ.get(variable)
    if value is None:
        raise MissingSecretError(
            [
                Problem(
                    site.source_file, site.name, key, f"environment variable {variable} is not set"
                )
            ]
        )
    return value


def _load_file(file: Path) -> dict[str, SiteConfig]:
    try:
        document = tomllib.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError([Problem(file, None, None, f"cannot read: {exc.strerror}")]) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([Problem(file, None, None, f"invalid TOML: {exc}")]) from exc

    sites: dict[str, SiteConfig] = {}
    problems: list[Problem] = []
    for name, table in document.items():
        if not isinstance(table, dict):
            problems.append(Problem(file, None, name, "top-level keys must be site tables"))
            continue
        if not _NAME_PATTERN.match(name):
            problems.append(Problem(file, name, None, "site names are letters, digits and _"))
            continue
        try:
            site = SiteConfig.model_validate(
                {**table, "name": name, "source_file": file},
                context={"base_dir": file.parent},
            )
        except ValidationError as exc:
            problems.extend(Problem(file, name, *_describe(err)) for err in exc.errors())
            continue
        site_problems = [Problem(file, name, key, msg) for key, msg in _cross_checks(site)]
        if site_problems:
            problems.extend(site_problems)
        else:
            sites[name] = site
    if problems:
        raise ConfigError(problems)
    return sites


def _describe(error: ErrorDetails) -> tuple[str | None, str]:
    """The key (`sources.ARIA_MAIN.port`) and message of a pydantic error."""
    tags = {"aria", "mim", "mosaiq", "orthanc", "dicom_scp"}
    parts = [str(p) for i, p in enumerate(error["loc"]) if not (i == 2 and p in tags)]
    if error["type"] == "union_tag_invalid":
        context = error.get("ctx", {})
        parts.append("type")
        message = f"unknown type {context.get('tag')!r} (expected {context.get('expected_tags')})"
        return ".".join(parts), message
    return ".".join(parts) or None, error["msg"]


def _cross_checks(site: SiteConfig) -> list[tuple[str, str]]:
    """Checks across keys: aliases, defaults, references and unique AE titles."""
    problems: list[tuple[str, str]] = []
    if site.default_source not in site.sources:
        problems.append(
            (
                "default_source",
                f"{site.default_source!r} is not in sources ({_names(site.sources)})",
            )
        )
    if site.default_backup not in site.backup_targets:
        problems.append(
            (
                "default_backup",
                f"{site.default_backup!r} is not in backup_targets ({_names(site.backup_targets)})",
            )
        )
    for alias, source in site.mosaiq_sources.items():
        stage = source.staging_target_alias
        if stage is not None and stage not in site.backup_targets:
            problems.append(
                (f"sources.{alias}.staging_target_alias", f"{stage!r} is not in backup_targets")
            )

    aliases: dict[str, str] = {}
    for section, alias in [
        *(("sources", a) for a in site.sources),
        *(("backup_targets", a) for a in site.backup_targets),
    ]:
        if not _NAME_PATTERN.match(alias):
            problems.append((f"{section}.{alias}", "aliases are letters, digits and _"))
        elif alias.lower() in aliases:
            problems.append(
                (f"{section}.{alias}", f"differs only in case from {aliases[alias.lower()]}")
            )
        aliases.setdefault(alias.lower(), f"{section}.{alias}")

    ae_titles: dict[str, str] = {site.script_ae.aet: "script_ae.aet"}
    nodes = [
        *((f"sources.{a}", n) for a, n in site.sources.items() if isinstance(n, NetworkNode)),
        *((f"backup_targets.{a}", n) for a, n in site.backup_targets.items()),
    ]
    for key, node in nodes:
        if node.aet in ae_titles:
            problems.append(
                (f"{key}.aet", f"AE title {node.aet!r} is also used by {ae_titles[node.aet]}")
            )
        ae_titles.setdefault(node.aet, f"{key}.aet")
    return problems


def _names(table: Mapping[str, object]) -> str:
    return ", ".join(table) or "none defined"
