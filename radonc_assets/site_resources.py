"""Dagster resources for a site, built from its configuration.

Resource keys are ``{site}_{alias}`` in lower case (``demo_aria``,
``demo_orthanc_archive``). Secrets are passed as :class:`dagster.EnvVar`, so a
missing variable fails only the runs that use that site, naming the variable.
"""

import dagster as dg

from radonc_assets.site_config import (
    DicomScpTarget,
    DicomSource,
    MosaiqSource,
    NetworkNode,
    OrthancTarget,
    SiteConfig,
)
from resources.dicom_client import DicomClient, DicomNodeResource
from resources.mosaiq_db import MosaiqDatabaseResource
from resources.orthanc import OrthancResource


def resource_key(site: SiteConfig, alias: str) -> str:
    """The Dagster resource key of a source or target of `site`."""
    return f"{site.name}_{alias}".lower()


def dicom_node_resource(site: SiteConfig, node: NetworkNode) -> DicomNodeResource:
    """The DICOM peer `node` as seen from `site` (its calling AE title and timeouts)."""
    return DicomNodeResource(
        aet=node.aet,
        host=node.ip,
        port=node.port,
        calling_aet=site.script_ae.aet,
        connect_timeout=site.settings.connect_timeout,
        timeout=site.settings.network_timeout,
        max_pdu=site.settings.max_pdu,
    )


def dicom_client(site: SiteConfig, alias: str) -> DicomClient:
    """A client for the DICOM node `alias` of `site`, outside Dagster."""
    return dicom_node_resource(site, site.node(alias)).get_client()


def site_resources(site: SiteConfig) -> dict[str, dg.ConfigurableResource]:
    """One resource per source and backup target of `site`."""
    resources: dict[str, dg.ConfigurableResource] = {}
    for alias, node in {**site.sources, **site.backup_targets}.items():
        key = resource_key(site, alias)
        if isinstance(node, DicomSource | DicomScpTarget):
            resources[key] = dicom_node_resource(site, node)
        elif isinstance(node, OrthancTarget):
            resources[key] = OrthancResource(
                dicom=dicom_node_resource(site, node),
                rest_url=node.rest_url,
                rest_username=node.rest_username,
                rest_password=(
                    dg.EnvVar(node.rest_password_env_var) if node.rest_password_env_var else None
                ),
            )
        elif isinstance(node, MosaiqSource):
            resources[key] = MosaiqDatabaseResource(
                odbc_driver=node.odbc_driver,
                db_database=node.db_database,
                db_server=node.db_server,
                db_username=node.db_username,
                db_password=(
                    dg.EnvVar(node.db_password_env_var) if node.db_password_env_var else ""
                ),
                login_timeout=node.login_timeout,
                query_timeout=node.query_timeout,
            )
    return resources
