"""The Dagster code locations: the sites of the site files, with every capability.

Each capability folder of :mod:`radonc_assets.defs` builds a site's Dagster
objects (``site_definitions(site)``); this module merges them per site with the
site's resources, and sets the executor once: in-process, or Dagster's Celery executor
when ``$RADONC_CELERY_CONFIG`` names its configuration (docs/deployment.md).

Two ways to load them:

- one code location per site file (the project's `workspace.yaml`, written by
  ``radonc environments workspace``): the attribute named after a file
  (``demo.toml``) is that file's sites; a broken file fails its own location,
  showing its problems, and the others load;
- ``defs``, one location of every site of the files that load (``dagster dev -m
  radonc_assets.definitions``); broken files are logged and left out.
"""

import functools
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
import yaml

from radonc_assets.defs.automation import definitions as automation
from radonc_assets.defs.dicom_backup import definitions as dicom_backup
from radonc_assets.defs.mosaiq import definitions as mosaiq
from radonc_assets.defs.recovery import definitions as recovery
from radonc_assets.defs.retention import definitions as retention
from radonc_assets.defs.verification import definitions as verification
from radonc_assets.site.config import SiteConfig
from radonc_assets.site.dagster_resources import fixed_site_resources
from radonc_assets.site.errors import ConfigError, Problem
from radonc_assets.site.loading import load_site_files

LOGGER = logging.getLogger(__name__)

CAPABILITIES = (dicom_backup, mosaiq, recovery, retention, verification, automation)
# The Celery executor's configuration file (its `execution: config:`), when runs are to
# execute their steps on Celery workers; the workers read the same file.
CELERY_CONFIG_VARIABLE = "RADONC_CELERY_CONFIG"


def site_definitions(site: SiteConfig) -> dg.Definitions:
    """Everything of one site: each capability's assets, checks and jobs, and its resources.

    The resources are the site file's, fixed: a run's config cannot point them elsewhere.
    """
    return dg.Definitions.merge(
        *(capability.site_definitions(site) for capability in CAPABILITIES),
        dg.Definitions(resources=fixed_site_resources(site), executor=executor()),
    )


def executor() -> dg.ExecutorDefinition:
    """The executor of every job.

    In-process by default: steps wait on the network, and a process per step would cost
    seconds of start-up each. With ``$RADONC_CELERY_CONFIG``, Dagster's Celery executor
    configured by that file's ``execution: config:`` (broker and backend, ``env:``
    references resolved when a run starts), so that runs of sensors, schedules and
    backfills, which carry no executor config, run on the workers too.

    Raises:
        ConfigError: The file cannot be read, or dagster-celery is not installed.
    """
    path = os.environ.get(CELERY_CONFIG_VARIABLE)
    if not path:
        return dg.in_process_executor
    try:
        from dagster_celery import celery_executor  # the radonc-backup[celery] extra
    except ImportError:
        raise ConfigError(
            [
                Problem(
                    Path(path),
                    None,
                    None,
                    "dagster-celery is not installed (radonc-backup[celery])",
                )
            ]
        ) from None
    try:
        config = yaml.safe_load(Path(path).read_text(encoding="utf-8"))["execution"]["config"]
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        raise ConfigError(
            [Problem(Path(path), None, "execution.config", f"not a Celery executor file: {exc}")]
        ) from None
    return celery_executor.configured(config, name="celery")


def site_file_definitions(file_name: str) -> dg.Definitions:
    """The code location of one site file of the environments folder: its sites.

    Args:
        file_name: The file's name in the folder, e.g. ``demo.toml``.

    Raises:
        ConfigError: The file's problems, one per line, when it does not load.
    """
    sites = load_site_files().file_sites(file_name)
    return dg.Definitions.merge(*(site_definitions(site) for site in sites.values()))


@dg.definitions
def defs() -> dg.Definitions:
    """Definitions for every site of the site files that load; the others are logged."""
    loaded = load_site_files()
    for problem in loaded.problems:
        LOGGER.warning("site file left out: %s", problem)
    return dg.Definitions.merge(*(site_definitions(site) for site in loaded.sites.values()))


def _site_file_location(name: str) -> Callable[[], dg.Definitions]:
    """Dagster's ``attribute`` of a workspace location: a site file's name (PEP 562).

    Dagster calls what it gets when the location loads, so a broken file fails
    there, as a failed code location, and not on import. A file name is never a
    Python identifier (it has a dot): those stay ordinary missing attributes.
    """
    if name.isidentifier():
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return functools.partial(site_file_definitions, name)


if not TYPE_CHECKING:
    # Assigned only at run time: mypy would take a module __getattr__ to mean that any
    # name imported from this module exists.
    __getattr__ = _site_file_location
