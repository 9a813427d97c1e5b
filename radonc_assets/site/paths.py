"""Where radonc-backup reads and writes on this machine.

Site files come from ``$RADONC_ENVIRONMENTS`` (default: the project's
`environments/`). Everything a run writes (manifests and reports, the Dagster
instance, the demo's servers) goes under one folder, ``.radonc/`` in the
working directory unless an environment variable says otherwise; a checkout
lists it in `.gitignore`.
"""

import logging
import os
from pathlib import Path

from radonc_assets.site.private_files import private_dir

LOGGER = logging.getLogger(__name__)

ENVIRONMENTS_VARIABLE = "RADONC_ENVIRONMENTS"
DATA_DIR_VARIABLE = "RADONC_DATA_DIR"
DAGSTER_HOME_VARIABLE = "DAGSTER_HOME"

DEFAULT_ENVIRONMENTS_DIR = Path(__file__).resolve().parents[2] / "environments"
LOCAL_STATE_DIR = Path(".radonc")
# The instance settings radonc ships (run queue, pools, run monitoring, run retries).
SHIPPED_SETTINGS = Path(__file__).with_name("dagster.yaml")
# Beside a site file, a site's acknowledged Mosaiq deliveries (site.acknowledgements).
ACKNOWLEDGEMENTS_SUFFIX = ".acknowledgements.toml"


def environments_dir() -> Path:
    """The folder of site files: ``$RADONC_ENVIRONMENTS`` or the project's `environments/`."""
    return Path(os.environ.get(ENVIRONMENTS_VARIABLE) or DEFAULT_ENVIRONMENTS_DIR)


def acknowledgements_file(site_file: Path, site: str) -> Path:
    """The acknowledgements file of the site `site` of `site_file`: ``ucla.acknowledgements.toml``.

    Beside the site file, named by the site in lower case; not a site file itself.
    """
    return site_file.with_name(f"{site.lower()}{ACKNOWLEDGEMENTS_SUFFIX}")


def local_state_dir() -> Path:
    """The folder of everything runs write by default: ``./.radonc``."""
    return (Path.cwd() / LOCAL_STATE_DIR).resolve()


def data_dir() -> Path:
    """The root folder of manifests and reports: ``$RADONC_DATA_DIR`` or ``.radonc/data``."""
    return Path(os.environ.get(DATA_DIR_VARIABLE) or local_state_dir() / "data").resolve()


def dagster_home() -> Path:
    """The Dagster instance folder: ``$DAGSTER_HOME`` or ``.radonc/dagster_home``."""
    return Path(os.environ.get(DAGSTER_HOME_VARIABLE) or local_state_dir() / "dagster_home")


def ensure_instance_settings(home: Path) -> Path:
    """The ``dagster.yaml`` of instance folder `home`: radonc's, unless an operator's own.

    Written when missing, and written again when it is an older one of radonc's (its
    first line unchanged); a file whose first line was edited is the operator's and
    left alone.

    Returns:
        The settings file.
    """
    shipped = SHIPPED_SETTINGS.read_text()
    settings = home / "dagster.yaml"
    current = settings.read_text() if settings.exists() else None
    if current is None or (
        current != shipped and current.split("\n", 1)[0] == shipped.split("\n", 1)[0]
    ):
        # The instance's databases hold run metadata (UIDs, with phi_in_metadata patients).
        private_dir(home)
        settings.write_text(shipped)
        LOGGER.info("Instance settings written to %s", settings)
    return settings
