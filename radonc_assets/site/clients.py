"""Plain clients for a site's nodes, outside Dagster (the CLI, the demo, benchmarks).

Inside Dagster the same clients come from the site's resources
(:mod:`radonc_assets.site.resources`).
"""

from pathlib import Path

from radonc_assets.site.config import SiteConfig
from radonc_assets.site.loading import read_secret
from radonc_assets.site.odbc_drivers import require_odbc_driver
from resources.dicom.client import DicomClient
from resources.errors import MosaiqDatabaseError
from resources.mosaiq_db import MosaiqDatabase
from resources.orthanc import OrthancClient, orthanc_client


def dicom_client(site: SiteConfig, alias: str) -> DicomClient:
    """A client for the DICOM node `alias` of `site`, calling as the site's script AE.

    Over DICOM TLS when the node has ``tls = true``.
    """
    return DicomClient(
        site.node(alias).dicom_node,
        site.script_ae.aet,
        connect_timeout=site.settings.connect_timeout,
        timeout=site.settings.network_timeout,
        max_pdu=site.settings.max_pdu,
    )


def archive_client(site: SiteConfig, alias: str | None = None) -> OrthancClient:
    """A client for the Orthanc archive `alias` (default: the site's ``default_backup``).

    Raises:
        MissingSecretError: The REST password variable is not set.
    """
    alias = alias or site.default_backup
    target = site.archive(alias)
    password = (
        read_secret(
            site, f"backup_targets.{alias}.rest_password_env_var", target.rest_password_env_var
        )
        if target.rest_password_env_var
        else None
    )
    return orthanc_client(
        dicom_client(site, alias),
        target.rest_url,
        username=target.rest_username,
        password=password,
        timeout=site.settings.network_timeout,
        ca_file=target.rest_ca_file,
    )


def mosaiq_database(site: SiteConfig, alias: str) -> MosaiqDatabase:
    """A client for the Mosaiq source `alias` of `site`, whose ODBC driver is installed here.

    Raises:
        ConfigError: `alias` is not a Mosaiq source of `site`, or its driver is not installed.
        MissingSecretError: The password variable is not set.
        MosaiqDatabaseError: The simulated Mosaiq's file does not exist (the SQLite3 driver
            would create an empty database and then find no table).
    """
    require_odbc_driver(site, alias)
    source = site.mosaiq_sources[alias]
    if source.is_sqlite and not Path(source.db_database).is_file():
        raise MosaiqDatabaseError(
            f"site {site.name}: {alias}: the database file {source.db_database} does not exist"
        )
    password = (
        read_secret(site, f"sources.{alias}.db_password_env_var", source.db_password_env_var)
        if source.db_password_env_var
        else ""
    )
    return MosaiqDatabase(
        source.odbc_driver,
        source.db_database,
        server=source.db_server,
        username=source.db_username,
        password=password,
        login_timeout=source.login_timeout,
        query_timeout=source.query_timeout,
    )
