"""Site configuration: typed models of a site of `environments/*.toml`.

A site file holds one top-level table per site in the format of the earlier
RadOncBackupSystem `environments.toml` (which loads unchanged), plus optional
keys added by radonc-backup. The models validate every key (strict types);
:mod:`radonc_assets.site.loading` reads the files and checks across keys.

Secrets never live in the files: keys ending in ``_env_var`` name an environment
variable, which is read only for the site in use. The earlier system's placeholder
(``db_password = "__NAME__"``) is read as ``db_password_env_var = "NAME"``.
"""

import datetime as dt
import ipaddress
import re
import string
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from radonc_assets.site.errors import ConfigError, Problem
from resources.dicom.node import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_MAX_PDU,
    DEFAULT_TIMEOUT,
    DicomNode,
)
from resources.mosaiq_sql import SQLITE_DRIVER, driver_name, is_sqlite
from resources.tls import TlsSettings

# Site names and aliases: letters, digits and _, starting with a letter.
NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_HOSTNAME_PATTERN = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)

# PS3.5 6.2: AE titles are at most 16 characters of the default repertoire, no backslash
# and no control characters; leading/trailing spaces are not significant.
AETitle = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=16, pattern=r"^[ -\[\]-~]+$"),
]
# Numbers and booleans are strict (StrictInt, StrictFloat, StrictBool): TOML has real
# ones, so `port = true` or `port = "104"` is a mistake, which lax pydantic read as ports
# 1 and 104. StrictFloat accepts integers (`connect_timeout = 5`).
Port = Annotated[StrictInt, Field(ge=1, le=65535)]
# The earlier system's README writes secrets as placeholders (db_password =
# "__UCLA_DB_PASSWORD__"); such a value names the environment variable between the
# double underscores. The name is a shell variable name (letters, digits, _) that
# neither starts nor ends with _, so "____" or "__A___" are no placeholders.
SECRET_PLACEHOLDER = re.compile(r"^__([A-Za-z](?:[A-Za-z0-9_]*[A-Za-z0-9])?)__$")
# "study_date": instances of studies whose StudyDate is the day; "treatment_records":
# RT Beams Treatment Records of series dated the day, in studies of the lookback window.
DailyQuery = Literal["study_date", "treatment_records"]
# How a DICOM source's instances reach the archive: "c-move", the source sends them to
# the archive's AE title; "c-get", they come to this process, which stores them in the
# archive as they arrive (the relay).
Retrieve = Literal["c-move", "c-get"]
# The retrieve of the source types that have one when the site file writes none (their
# behaviour before `retrieve` existed); any other Q/R archive (type "dicom") names its own.
DEFAULT_RETRIEVE: Mapping[str, Retrieve] = {"aria": "c-move", "mim": "c-get"}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def placeholder_variable(value: object) -> str | None:
    """The environment variable a secret placeholder names, or None for any other value.

    ``"__UCLA_DB_PASSWORD__"`` names ``UCLA_DB_PASSWORD``.
    """
    match = SECRET_PLACEHOLDER.match(value) if isinstance(value, str) else None
    return match.group(1) if match else None


def _secret_from_placeholder(data: Any, key: str) -> Any:
    """`data` with ``KEY = "__NAME__"`` read as ``KEY_env_var = "NAME"``.

    Raises:
        ValueError: `key` holds anything but a placeholder (a password written in the
            file; the message never repeats it), or both `key` and ``KEY_env_var`` are set.
    """
    if not isinstance(data, Mapping) or key not in data:
        return data
    reference = f"{key}_env_var"
    variable = placeholder_variable(data[key])
    if variable is None:
        raise ValueError(
            f"{key}: secrets never live in site files; put the password in an "
            f"environment variable and name it with {reference}"
        )
    if reference in data:
        raise ValueError(f"{key} and {reference} both name the password; keep {reference}")
    return {**{k: v for k, v in data.items() if k != key}, reference: variable}


def _site_file(value: Path | None, info: ValidationInfo) -> Path | None:
    """A file named in a site file, relative to that file's folder; it must exist.

    Raises:
        ValueError: No such file.
    """
    if value is None:
        return None
    base_dir = (info.context or {}).get("base_dir")
    path = (Path(base_dir) / value.expanduser() if base_dir else value.expanduser()).resolve()
    if not path.is_file():
        raise ValueError(f"no such file: {path}")
    return path


class NetworkNode(_Model):
    """A DICOM application entity: AE title, host and port, and DICOM TLS if `tls`.

    With ``tls = true`` every association with the node is made over TLS, its
    certificate verified against `tls_ca_file` (the system's CAs without it) and its
    host `ip`; `tls_cert_file` and `tls_key_file` give the client certificate of the
    nodes that require one. The files are relative to the site file.
    """

    aet: AETitle
    ip: str
    port: Port
    tls: StrictBool = False
    tls_ca_file: Path | None = None
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None

    @field_validator("ip")
    @classmethod
    def _valid_host(cls, value: str) -> str:
        try:
            ipaddress.ip_address(value)
        except ValueError:
            if not _HOSTNAME_PATTERN.match(value):
                raise ValueError(f"{value!r} is neither an IP address nor a host name") from None
        return value

    @field_validator("tls_ca_file", "tls_cert_file", "tls_key_file")
    @classmethod
    def _tls_file(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return _site_file(value, info)

    @model_validator(mode="after")
    def _tls_keys(self) -> "NetworkNode":
        given = [
            key for key in ("tls_ca_file", "tls_cert_file", "tls_key_file") if getattr(self, key)
        ]
        if given and not self.tls:
            raise ValueError(f"{', '.join(given)} without tls = true: set it, or remove them")
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_cert_file and tls_key_file go together")
        return self

    @property
    def tls_settings(self) -> TlsSettings | None:
        """DICOM TLS towards the node, or None without ``tls = true``."""
        if not self.tls:
            return None
        return TlsSettings(self.tls_ca_file, self.tls_cert_file, self.tls_key_file)

    @property
    def dicom_node(self) -> DicomNode:
        """The node as the DICOM client addresses it."""
        return DicomNode(self.aet, self.ip, self.port, self.tls_settings)


class DicomSource(NetworkNode):
    """A DICOM query/retrieve source: ARIA, MIM or any other Q/R archive (``dicom``).

    `retrieve` is how its instances reach the archive (:data:`Retrieve`); ARIA and MIM
    default to theirs (:data:`DEFAULT_RETRIEVE`), a ``dicom`` source names it. It is the
    one place the protocol is decided: every other module asks :attr:`moves`, never the
    type (`lint-imports` checks it). The type still says what the vendor holds
    (:attr:`daily_queries`).

    `associations` (1 to 8, default 2) is how many associations a backup opens to the
    source at once for its image-level C-FINDs and its C-MOVEs, each carrying a share
    of the series: two C-MOVE streams copy a day from Orthanc faster than one
    (docs/benchmarks.md, "Figures behind design choices"). 1 keeps every operation on
    one association.
    """

    type: Literal["aria", "mim", "dicom"]
    retrieve: Retrieve
    queries: tuple[DailyQuery, ...] | None = None
    record_lookback_days: Annotated[StrictInt, Field(ge=0, le=3650)] = 180
    associations: Annotated[StrictInt, Field(ge=1, le=8)] = 2

    @model_validator(mode="before")
    @classmethod
    def _default_retrieve(cls, data: Any) -> Any:
        if not isinstance(data, Mapping) or "retrieve" in data:
            return data
        default = DEFAULT_RETRIEVE.get(data.get("type", ""))
        if default is None:
            kind = data.get("type")
            valid = " or ".join(f'"{value}"' for value in get_args(Retrieve))
            raise ValueError(f'retrieve is required with type = "{kind}": {valid}')
        return {**data, "retrieve": default}

    @property
    def moves(self) -> bool:
        """Whether the source is copied by C-MOVE into the archive (else the C-GET relay)."""
        return self.retrieve == "c-move"

    @property
    def daily_queries(self) -> tuple[DailyQuery, ...]:
        """What the source is asked for each day: `queries`, or its type's default.

        ARIA holds the treatment records, so by default it is also asked for the
        records of the day; MIM (images and contours) and other archives only for the
        day's studies.
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
    login_timeout: Annotated[StrictInt, Field(ge=1)] = 15
    query_timeout: Annotated[StrictInt, Field(ge=1)] = 120

    @model_validator(mode="before")
    @classmethod
    def _password_placeholder(cls, data: Any) -> Any:
        return _secret_from_placeholder(data, "db_password")

    @field_validator("odbc_driver")
    @classmethod
    def _strip_braces(cls, value: str) -> str:
        driver = driver_name(value)
        if not driver:
            raise ValueError("the ODBC driver name is empty")
        return driver

    @field_validator("db_database")
    @classmethod
    def _resolve_sqlite_path(cls, value: str, info: ValidationInfo) -> str:
        base_dir = (info.context or {}).get("base_dir")
        if is_sqlite(info.data.get("odbc_driver", "")) and base_dir:
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
        return is_sqlite(self.odbc_driver)


Source = Annotated[DicomSource | MosaiqSource, Field(discriminator="type")]


class OrthancTarget(NetworkNode):
    """The Orthanc archive: DICOM always, REST when ``rest_url`` is set.

    An ``https://`` `rest_url`'s certificate is verified against `rest_ca_file` (the
    system's CAs without it), relative to the site file.
    """

    type: Literal["orthanc"]
    rest_url: Annotated[str, StringConstraints(pattern=r"^https?://")] | None = None
    rest_username: str | None = None
    rest_password_env_var: str | None = None
    rest_ca_file: Path | None = None

    @model_validator(mode="before")
    @classmethod
    def _password_placeholder(cls, data: Any) -> Any:
        return _secret_from_placeholder(data, "rest_password")

    @field_validator("rest_ca_file")
    @classmethod
    def _rest_ca_file(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return _site_file(value, info)

    @model_validator(mode="after")
    def _credentials_in_pairs(self) -> "OrthancTarget":
        if (self.rest_username is None) != (self.rest_password_env_var is None):
            raise ValueError("rest_username and rest_password_env_var go together")
        if self.rest_ca_file and not (self.rest_url or "").startswith("https://"):
            raise ValueError("rest_ca_file needs an https:// rest_url")
        return self


class DicomScpTarget(NetworkNode):
    """A plain DICOM storage SCP: a staging node or a restore destination."""

    type: Literal["dicom_scp"]


Target = Annotated[OrthancTarget | DicomScpTarget, Field(discriminator="type")]
# Every type a source or target may have: the tag of its model.
NODE_TYPES = frozenset(
    tag
    for model in (DicomSource, MosaiqSource, OrthancTarget, DicomScpTarget)
    for tag in get_args(model.model_fields["type"].annotation)
)


class ScriptAE(_Model):
    """The calling AE title radonc-backup uses at this site."""

    aet: AETitle


class SiteSettings(BaseModel):
    """Operational settings; unknown keys of the earlier system are kept, not rejected."""

    model_config = ConfigDict(extra="allow", frozen=True)

    # None: no bound (sites of the earlier format set theirs explicitly).
    max_uids_per_run: Annotated[StrictInt, Field(ge=1)] | None = None
    connect_timeout: Annotated[StrictFloat, Field(gt=0)] = DEFAULT_CONNECT_TIMEOUT
    network_timeout: Annotated[StrictFloat, Field(gt=0)] = DEFAULT_TIMEOUT
    max_pdu: Annotated[StrictInt, Field(ge=0)] = DEFAULT_MAX_PDU
    deep_validation: StrictBool = False
    # Rolling content verification: every verified instance compared by content with its
    # source at least once every N days, about a N-th of them each day
    # (backup.rolling_content). None: off.
    rolling_content_days: Annotated[StrictInt, Field(ge=1)] | None = None
    # Seconds a command-line run waits for a source held by another live run.
    pool_wait: Annotated[StrictFloat, Field(gt=0)] = 600.0
    # Days back (today excluded) that `radonc backup SITE` without a date catches up on;
    # None: the sensors' automation.retry_days, at least 1 (SiteConfig.catch_up_days).
    catch_up_days: Annotated[StrictInt, Field(ge=1)] | None = None
    # The UID root of the records generated from Mosaiq (the site's organisation root;
    # unset: pydicom's root): PS3.5 9.1 components, no leading zeros, room for the dot
    # and what pydicom's generate_uid adds within 64 characters.
    uid_root: (
        Annotated[
            str,
            StringConstraints(pattern=r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$", max_length=53),
        ]
        | None
    ) = None
    # The Private Creator (LO) of the records' private block; unset: radonc's own.
    mosaiq_private_creator: (
        Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[^\\]+$")] | None
    ) = None
    # A site's own deliveries query (the earlier system's setting). It never stops the site
    # from loading: the records read it only when they can, else the shipped query
    # (backup.mosaiq.deliveries_query; docs/mosaiq.md).
    mosaiq_backup_sql_query: str | None = None
    # Days the data folder keeps a date's files (manifests, reports, records, restore
    # reports); older ones are deleted by the daily retention schedule. None: kept.
    retention_days: Annotated[StrictInt, Field(ge=1)] | None = None


_LOCAL_TIME = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
_WINDOW = re.compile(r"^(\d{2}:\d{2})-(\d{2}:\d{2})$")
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
WEEKDAYS: tuple[Weekday, ...] = (
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
)


def local_time(value: str) -> dt.time:
    """A ``HH:MM`` local time of a site file.

    Raises:
        ValueError: Not a 24-hour ``HH:MM`` time.
    """
    if not _LOCAL_TIME.match(value):
        raise ValueError(f"{value!r} is not a time HH:MM (00:00 to 23:59)")
    return dt.time.fromisoformat(value)


@dataclass(frozen=True)
class TimeWindow:
    """Local times from `start` to `end`, across midnight when `end` is not after `start`."""

    start: dt.time
    end: dt.time

    def __contains__(self, moment: dt.time) -> bool:
        if self.start < self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


def time_window(value: str) -> TimeWindow:
    """A ``HH:MM-HH:MM`` window of a site file (``19:00-07:00`` runs across midnight).

    Raises:
        ValueError: Not two ``HH:MM`` times joined by ``-``, or an empty window.
    """
    match = _WINDOW.match(value.replace(" ", ""))
    if not match:
        raise ValueError(f"{value!r} is not a window HH:MM-HH:MM (e.g. 19:00-07:00)")
    window = TimeWindow(local_time(match.group(1)), local_time(match.group(2)))
    if window.start == window.end:
        raise ValueError(f"{value!r} is an empty window")
    return window


class AutomationSettings(_Model):
    """Sensors and schedules of a site (``[SITE.automation]``), all optional.

    Attributes:
        sensors: Default state of the site's new-data sensors: ``running`` or ``stopped``
            (an operator can still switch each in the UI).
        schedules: Default state of the nightly backup and weekly re-validation.
        sensor_interval: Minimum seconds between two evaluations of a sensor.
        poll_windows: By source alias, the local time window in which its sensor may poll
            it (``"19:00-07:00"``: not during clinic hours); a source not listed is polled
            at any time.
        retry_days: Days back (today excluded) whose incomplete or deferred backups a
            sensor requests again.
        nightly_backup: Local time of the nightly backup of the previous day.
        revalidation_weekday: Day of the weekly re-validation.
        revalidation_time: Local time of the weekly re-validation.
        revalidation_days: Days the weekly re-validation covers (the last N, today excluded).
    """

    sensors: Literal["running", "stopped"] = "stopped"
    schedules: Literal["running", "stopped"] = "stopped"
    sensor_interval: Annotated[StrictInt, Field(ge=30, le=86400)] = 300
    poll_windows: dict[str, str] = {}
    retry_days: Annotated[StrictInt, Field(ge=0, le=60)] = 7
    nightly_backup: str = "02:00"
    revalidation_weekday: Weekday = "sunday"
    revalidation_time: str = "04:00"
    revalidation_days: Annotated[StrictInt, Field(ge=1, le=366)] = 14

    @field_validator("poll_windows")
    @classmethod
    def _windows(cls, value: dict[str, str]) -> dict[str, str]:
        for window in value.values():
            time_window(window)
        return value

    @field_validator("nightly_backup", "revalidation_time")
    @classmethod
    def _time(cls, value: str) -> str:
        local_time(value)
        return value

    def poll_window(self, alias: str) -> TimeWindow | None:
        """The window in which source `alias` may be polled; None: at any time."""
        window = self.poll_windows.get(alias)
        return time_window(window) if window else None


class DrillSettings(_Model):
    """The weekly restore drill of a site (``[SITE.drill]``); off without `scratch`.

    Attributes:
        scratch: An Orthanc backup target with ``rest_url``, used for nothing else: the
            drill restores into it, verifies, then deletes what it restored.
        studies_per_source: Studies drawn at random per source from its verified backups.
        modalities: Only series of these modalities are restored (empty: every series).
        lookback_days: The draw is from the verified backups of the last N days.
        weekday: Day of the drill.
        time: Local time of the drill.
    """

    scratch: str | None = None
    studies_per_source: Annotated[StrictInt, Field(ge=1, le=100)] = 1
    modalities: tuple[Annotated[str, StringConstraints(pattern=r"^[A-Z0-9_]{1,16}$")], ...] = ()
    lookback_days: Annotated[StrictInt, Field(ge=1, le=3650)] = 30
    weekday: Weekday = "saturday"
    time: str = "05:00"

    @field_validator("time")
    @classmethod
    def _time(cls, value: str) -> str:
        local_time(value)
        return value


# The placeholders of an alert subject (``[SITE.alerts] subject``): the site's name, what
# failed, the date ("-" when none) and the sources concerned (comma-separated, "-" when none).
SUBJECT_PLACEHOLDERS = ("site", "what", "date", "sources")


def subject_template(value: str) -> str:
    """An alert subject template: one line whose placeholders are :data:`SUBJECT_PLACEHOLDERS`.

    Raises:
        ValueError: A line break, unbalanced braces, or a placeholder that is not one of
            them or carries a format (the message names the valid ones).
    """
    valid = ", ".join(f"{{{name}}}" for name in SUBJECT_PLACEHOLDERS)
    if any(ord(character) < 32 for character in value):
        raise ValueError("the subject is one line: no line breaks or control characters")
    try:
        fields = [
            (name, spec, conversion)
            for _, name, spec, conversion in string.Formatter().parse(value)
            if name is not None
        ]
    except ValueError as exc:
        raise ValueError(f"{exc} (write {{{{ and }}}} for braces; placeholders: {valid})") from None
    for name, spec, conversion in fields:
        if name not in SUBJECT_PLACEHOLDERS or spec or conversion:
            shown = name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
            raise ValueError(f"unknown placeholder {{{shown}}} (valid: {valid})")
    return value


class AlertSettings(_Model):
    """Where failures are reported (``[SITE.alerts]``): e-mail, a webhook, or both.

    Attributes:
        email_to: Recipients; e-mail is sent when set (with `smtp_host` and `email_from`).
        email_from: The sender address.
        smtp_host: The SMTP server.
        smtp_port: Its port (25, 587 for STARTTLS, 465 for SSL).
        smtp_security: ``none``, ``starttls`` or ``ssl``.
        smtp_username: The login, when the server wants one (with `smtp_password_env_var`).
        smtp_password_env_var: The environment variable holding the SMTP password.
        webhook_url: A URL that receives each alert as a JSON POST.
        webhook_token_env_var: The environment variable of a bearer token for the webhook.
        ui_url: The Dagster UI's address as the recipients reach it, for the links to runs.
        timeout: Seconds for each delivery.
        subject: The e-mail subject, a template of :data:`SUBJECT_PLACEHOLDERS`
            (``"{site} backup: {what} ({date})"``); None: ``[radonc-backup] SITE: WHAT for
            DATE (SOURCES)``, the parts without a value left out.
    """

    email_to: tuple[Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+$")], ...] = ()
    email_from: Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+$")] | None = None
    smtp_host: str | None = None
    smtp_port: Port = 25
    smtp_security: Literal["none", "starttls", "ssl"] = "none"
    smtp_username: str | None = None
    smtp_password_env_var: str | None = None
    webhook_url: Annotated[str, StringConstraints(pattern=r"^https?://")] | None = None
    webhook_token_env_var: str | None = None
    ui_url: Annotated[str, StringConstraints(pattern=r"^https?://")] = "http://127.0.0.1:3000"
    timeout: Annotated[StrictFloat, Field(gt=0)] = 10.0
    subject: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _password_placeholder(cls, data: Any) -> Any:
        return _secret_from_placeholder(data, "smtp_password")

    @field_validator("subject")
    @classmethod
    def _subject(cls, value: str | None) -> str | None:
        return None if value is None else subject_template(value)

    @model_validator(mode="after")
    def _complete(self) -> "AlertSettings":
        if self.email_to and not (self.smtp_host and self.email_from):
            raise ValueError("email_to needs smtp_host and email_from")
        if (self.smtp_username is None) != (self.smtp_password_env_var is None):
            raise ValueError("smtp_username and smtp_password_env_var go together")
        return self

    @property
    def enabled(self) -> bool:
        """Whether any alert is delivered."""
        return bool(self.email_to or self.webhook_url)


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
    phi_in_metadata: StrictBool = False
    automation: AutomationSettings = AutomationSettings()
    alerts: AlertSettings = AlertSettings()
    drill: DrillSettings = DrillSettings()

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
        """The DICOM sources (ARIA, MIM and other Q/R archives) by alias."""
        return {k: v for k, v in self.sources.items() if isinstance(v, DicomSource)}

    @property
    def catch_up_days(self) -> int:
        """Days back (today excluded) a catch-up backup checks.

        The setting ``catch_up_days``, else the sensors' ``retry_days``, at least 1.
        """
        return self.settings.catch_up_days or max(self.automation.retry_days, 1)

    @property
    def restore_targets(self) -> list[str]:
        """The aliases a restore from the archive may go to: the ``dicom_scp`` targets."""
        return [a for a, t in self.backup_targets.items() if isinstance(t, DicomScpTarget)]

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
