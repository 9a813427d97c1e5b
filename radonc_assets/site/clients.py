"""Plain clients for a site's nodes, outside Dagster (the CLI, the demo, benchmarks).

Inside Dagster the same clients come from the site's resources
(:mod:`radonc_assets.site.resources`).
"""

from radonc_assets.site.config import SiteConfig
from radonc_assets.site.loading import read_secret
from resources.dicom.client import DicomClient
from resources.orthanc import OrthancClient


def dicom_client(site: SiteConfig, alias: str) -> DicomClient:
    """A client for the DICOM node `alias` of `site`, calling as the site's script AE."""
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
    return OrthancClient(
        dicom_client(site, alias),
        target.rest_url,
        username=target.rest_username,
        password=password,
        timeout=site.settings.network_timeout,
    )
