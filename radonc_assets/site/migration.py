"""Sites written for the earlier RadOncBackupSystem: what each of their keys became.

A site file of the earlier system loads unchanged. `radonc environments check`
shows, for a site that uses only keys of that system, each key with what
radonc-backup makes of it (:func:`earlier_key_readings`), and for every site one
line per secret placeholder (``db_password = "__NAME__"``) recommending the
``_env_var`` form (:func:`placeholder_notes`). Both read the site's table as
written (:func:`~radonc_assets.site.loading.read_document`), next to the validated
:class:`~radonc_assets.site.config.SiteConfig`.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from radonc_assets.site.config import (
    DicomScpTarget,
    DicomSource,
    MosaiqSource,
    OrthancTarget,
    SiteConfig,
    SiteSettings,
    placeholder_variable,
)
from radonc_assets.site.loading import toml_literal

_NODE_KEYS = frozenset({"type", "aet", "ip", "port"})
# The keys of the earlier system's site format by table (its README and its
# environments.toml); sources and targets by type. db_password was written as a
# placeholder in its README, db_password_env_var in its later files. Its settings are
# max_uids_per_run and mosaiq_backup_sql_query (read when the records can read it); any
# setting radonc-backup does not define is kept and not used, as one of the earlier system's.
EARLIER_KEYS: Mapping[str, frozenset[str]] = {
    "site": frozenset(
        {
            "description",
            "default_source",
            "default_backup",
            "script_ae",
            "sources",
            "backup_targets",
            "settings",
        }
    ),
    "script_ae": frozenset({"aet"}),
    "aria": _NODE_KEYS,
    "mim": _NODE_KEYS,
    "mosaiq": frozenset(
        {
            "type",
            "db_server",
            "db_database",
            "db_username",
            "db_password",
            "db_password_env_var",
            "odbc_driver",
            "staging_target_alias",
        }
    ),
    "orthanc": _NODE_KEYS,
    "dicom_scp": _NODE_KEYS,
    "settings": frozenset({"max_uids_per_run", "mosaiq_backup_sql_query"}),
}
# The secret keys that may hold a placeholder.
_SECRET_KEYS = ("db_password", "rest_password")
_NODE_SECTIONS = ("sources", "backup_targets")
_PASSWORD_KEYS = ("db_password", "db_password_env_var")


@dataclass(frozen=True)
class KeyReading:
    """A key of a site file as written, and what radonc-backup makes of it.

    Attributes:
        key: Where it is, from the site's table: ``sources.MOSAIQ_DB.db_password``.
        value: Its value as the file writes it: ``"__UCLA_DB_PASSWORD__"``.
        becomes: What radonc-backup reads it as.
    """

    key: str
    value: str
    becomes: str


def earlier_key_readings(site: SiteConfig, table: Mapping[str, Any]) -> list[KeyReading] | None:
    """Each key of a site in the earlier format with what it became, in the file's order.

    Args:
        site: The site, validated.
        table: Its table as the site file writes it.

    Returns:
        One reading per key, or None when the site uses a key the earlier system did
        not have (it is written for radonc-backup).
    """
    nodes = {**site.sources, **site.backup_targets}
    readings: list[KeyReading] = []
    for key, value in table.items():
        if key not in EARLIER_KEYS["site"]:
            return None
        if key in _NODE_SECTIONS:
            for alias, node_table in value.items():
                node = nodes[alias]
                for node_key, node_value in node_table.items():
                    if node_key not in EARLIER_KEYS.get(node.type, ()):
                        return None
                    becomes = _node_meaning(node, node_key)
                    readings.append(
                        KeyReading(f"{key}.{alias}.{node_key}", toml_literal(node_value), becomes)
                    )
        elif key == "settings":
            for name, setting in value.items():
                if name in SiteSettings.model_fields and name not in EARLIER_KEYS["settings"]:
                    return None
                readings.append(
                    KeyReading(f"settings.{name}", toml_literal(setting), _setting_meaning(name))
                )
        elif key == "script_ae":
            readings.extend(
                KeyReading(
                    f"script_ae.{name}", toml_literal(aet), "calling AE title of every association"
                )
                for name, aet in value.items()
            )
        else:
            readings.append(KeyReading(key, toml_literal(value), _site_meaning(site, key)))
    return readings


def placeholder_notes(table: Mapping[str, Any]) -> list[str]:
    """One line per secret placeholder of a site's table, recommending the ``_env_var`` form."""
    notes = []
    for section in _NODE_SECTIONS:
        for alias, node_table in table.get(section, {}).items():
            for key in _SECRET_KEYS:
                variable = placeholder_variable(node_table.get(key))
                if variable is not None:
                    notes.append(
                        f"{section}.{alias}.{key} = {toml_literal(node_table[key])} is read as "
                        f'the environment variable {variable}; write {key}_env_var = "{variable}" '
                        "instead"
                    )
    return notes


def _site_meaning(site: SiteConfig, key: str) -> str:
    meanings = {
        "description": "the site's description",
        "default_source": "source of `query` and `dicom --site` naming none (`backup` takes all)",
        "default_backup": f"the Orthanc archive of {site.name}: every backup goes there",
    }
    return meanings[key]


def _node_meaning(
    node: DicomSource | MosaiqSource | OrthancTarget | DicomScpTarget, key: str
) -> str:
    if key == "type":
        return _type_meaning(node)
    if isinstance(node, MosaiqSource):
        return _mosaiq_meaning(node, key)
    return {"aet": "called AE title", "ip": "host", "port": "DICOM port"}[key]


def _type_meaning(node: DicomSource | MosaiqSource | OrthancTarget | DicomScpTarget) -> str:
    if isinstance(node, DicomSource):
        how = "C-MOVE into the archive" if node.moves else "C-GET, relayed to the archive"
        asked = ", ".join(node.daily_queries)
        return f'{node.type.upper()}, retrieve = "{node.retrieve}" ({how}); asked daily for {asked}'
    if isinstance(node, MosaiqSource):
        return "Mosaiq database, read through ODBC"
    if isinstance(node, OrthancTarget):
        return "Orthanc archive, over DICOM (its REST API only with rest_url)"
    return "DICOM storage SCP: staging, or restore destination (`recover --to`)"


def _mosaiq_meaning(source: MosaiqSource, key: str) -> str:
    if source.is_sqlite and key in ("db_server", "db_username", *_PASSWORD_KEYS):
        return "ignored with the SQLite3 driver"
    if key in _PASSWORD_KEYS:
        # Both forms end up as db_password_env_var (a placeholder names the variable).
        return f"password from the environment variable {source.db_password_env_var}"
    if key == "staging_target_alias":
        stage = source.staging_target_alias
        return (
            f"RT Records go to the archive through {stage} (C-STORE, then C-MOVE; also "
            "stored directly when it only stores)"
        )
    meanings = {
        "db_server": "SQL Server host",
        "db_database": (
            f"database file {source.db_database}" if source.is_sqlite else "database name"
        ),
        "db_username": "SQL Server login",
        "odbc_driver": f"ODBC driver {source.odbc_driver}",
    }
    return meanings[key]


def _setting_meaning(name: str) -> str:
    if name == "max_uids_per_run":
        return "most instances per backup run; the rest waits for the next run"
    if name == "mosaiq_backup_sql_query":
        return "the Mosaiq records' deliveries query if they can read it: see the line below"
    return "kept; not used by radonc-backup"
