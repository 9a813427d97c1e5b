"""Dagster resources for a site's nodes, built from its configuration.

Each resource is a typed :class:`dagster.ConfigurableResource` that builds the
plain client of :mod:`resources` it stands for. Resource keys are
``{site}_{alias}`` (:func:`~radonc_assets.site.naming.node_key`). Secrets are
passed as :class:`dagster.EnvVar`, so a missing variable fails only the runs
that use that site, naming the variable.

The code locations bind them fixed (:func:`fixed_site_resources`): the site file says
where a node is, not the run, so the launchpad offers no host, port or AE title to edit.
"""

from collections.abc import Iterator
from pathlib import Path

import dagster as dg

from radonc_assets.site.config import (
    DicomScpTarget,
    DicomSource,
    MosaiqSource,
    NetworkNode,
    OrthancTarget,
    SiteConfig,
)
from radonc_assets.site.naming import node_key
from resources.dicom.client import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_MAX_PDU,
    DEFAULT_TIMEOUT,
    DicomClient,
    DicomNode,
)
from resources.mosaiq_db import MosaiqDatabase
from resources.orthanc import OrthancClient, orthanc_client
from resources.tls import TlsSettings


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None


class DicomNodeResource(dg.ConfigurableResource):
    """A DICOM peer (ARIA, MIM, a staging or restore SCP) as a Dagster resource.

    With `tls`, associations go over DICOM TLS: the peer's certificate is verified
    against `tls_ca_file` (the system's CAs without it), and `tls_cert_file` with
    `tls_key_file` is the client certificate presented.
    """

    aet: str
    host: str
    port: int
    calling_aet: str
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    timeout: float = DEFAULT_TIMEOUT
    max_pdu: int = DEFAULT_MAX_PDU
    retries: int = 2
    backoff: float = 1.0
    associations: int = 1
    tls: bool = False
    tls_ca_file: str | None = None
    tls_cert_file: str | None = None
    tls_key_file: str | None = None

    def get_client(self, retries: int | None = None) -> DicomClient:
        """A client for this peer; `retries` replaces the resource's (0 for a sensor's poll)."""
        tls = (
            TlsSettings(
                _path(self.tls_ca_file), _path(self.tls_cert_file), _path(self.tls_key_file)
            )
            if self.tls
            else None
        )
        return DicomClient(
            DicomNode(self.aet, self.host, self.port, tls),
            self.calling_aet,
            connect_timeout=self.connect_timeout,
            timeout=self.timeout,
            max_pdu=self.max_pdu,
            retries=self.retries if retries is None else retries,
            backoff=self.backoff,
            associations=self.associations,
        )


class OrthancResource(dg.ConfigurableResource):
    """The site's Orthanc archive as a Dagster resource (password via ``dg.EnvVar``)."""

    dicom: DicomNodeResource
    rest_url: str | None = None
    rest_username: str | None = None
    rest_password: str | None = None
    rest_ca_file: str | None = None

    def get_client(self) -> OrthancClient:
        """A client for this archive."""
        return orthanc_client(
            self.dicom.get_client(),
            self.rest_url,
            username=self.rest_username,
            password=self.rest_password,
            timeout=self.dicom.timeout,
            ca_file=_path(self.rest_ca_file),
        )


class MosaiqDatabaseResource(dg.ConfigurableResource):
    """A site's Mosaiq database as a Dagster resource (password via ``dg.EnvVar``)."""

    odbc_driver: str
    db_database: str
    db_server: str = ""
    db_username: str = ""
    db_password: str = ""
    login_timeout: int = 15
    query_timeout: int = 120

    def get_database(self) -> MosaiqDatabase:
        """A database client."""
        return MosaiqDatabase(
            self.odbc_driver,
            self.db_database,
            server=self.db_server,
            username=self.db_username,
            password=self.db_password,
            login_timeout=self.login_timeout,
            query_timeout=self.query_timeout,
        )


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
        associations=node.associations if isinstance(node, DicomSource) else 1,
        tls=node.tls,
        tls_ca_file=_text(node.tls_ca_file),
        tls_cert_file=_text(node.tls_cert_file),
        tls_key_file=_text(node.tls_key_file),
    )


def _text(path: Path | None) -> str | None:
    return str(path) if path else None


def site_resources(site: SiteConfig) -> dict[str, dg.ConfigurableResource]:
    """One resource per source and backup target of `site`."""
    resources: dict[str, dg.ConfigurableResource] = {}
    for alias, node in {**site.sources, **site.backup_targets}.items():
        key = node_key(site, alias)
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
                rest_ca_file=_text(node.rest_ca_file),
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


def _described(resource: dg.ConfigurableResource) -> str:
    """Where `resource` points, for the UI's resources page (never a secret)."""
    if isinstance(resource, DicomNodeResource):
        return f"DICOM node {resource.aet} at {resource.host}:{resource.port}"
    if isinstance(resource, OrthancResource):
        rest = f", REST {resource.rest_url}" if resource.rest_url else ""
        return f"Orthanc {_described(resource.dicom)}{rest}"
    if isinstance(resource, MosaiqDatabaseResource):
        return f"Mosaiq database {resource.db_database} ({resource.odbc_driver})"
    return type(resource).__name__


def fixed_resource(resource: dg.ConfigurableResource) -> dg.ResourceDefinition:
    """`resource` bound to the values it was built with: no run config can change them.

    Dagster 1.13 shows a ConfigurableResource's fields as run config of every job that
    uses it, editable in the launchpad per run; this resource takes an empty config. Its
    ``dg.EnvVar`` secrets are read when a run initializes it, and a missing one fails
    that run naming the variable.
    """

    def initialize(_: dg.InitResourceContext) -> Iterator[dg.ConfigurableResource]:
        with resource.process_config_and_initialize_cm() as initialized:
            yield initialized

    return dg.ResourceDefinition(
        resource_fn=initialize,
        config_schema={},
        description=f"{_described(resource)}, as the site file sets it (not set per run)",
    )


def fixed_site_resources(site: SiteConfig) -> dict[str, dg.ResourceDefinition]:
    """:func:`site_resources` of `site`, each bound fixed (:func:`fixed_resource`)."""
    return {key: fixed_resource(resource) for key, resource in site_resources(site).items()}
