"""The Dagster workspace of the site files: one code location per file.

Each location is the ``python_module`` :data:`DEFINITIONS_MODULE` with the site
file's name as ``attribute`` (``demo.toml``); the module resolves it in the
environments folder when the location loads. A broken file then fails its own
location, with its problems in the UI, while the other files' locations load.

The workspace names files, not their folder, so one generated for the project's
`environments/` is the same on every machine; the folder is that of the Dagster
processes' ``$RADONC_ENVIRONMENTS`` (default `environments/`).
"""

import json

from radonc_assets.site.loading import site_files

DEFINITIONS_MODULE = "radonc_assets.definitions"

_HEADER = """\
# Written by `radonc environments workspace`: one Dagster code location per site file
# of the environments folder ($RADONC_ENVIRONMENTS, default environments/), so a broken
# file fails its own location only. Write it again after adding, renaming or removing
# a site file.
"""


def workspace_yaml() -> str:
    """The workspace.yaml of the environments folder's site files, broken ones included.

    Raises:
        ConfigError: When the folder holds no site file.
    """
    lines = [_HEADER + "load_from:"]
    for file in site_files():
        # JSON strings are YAML double-quoted scalars: any file name is written safely.
        name = json.dumps(file.name)
        lines += [
            "  - python_module:",
            f"      module_name: {DEFINITIONS_MODULE}",
            f"      attribute: {name}",
            f"      location_name: {name}",
        ]
    return "\n".join(lines) + "\n"
