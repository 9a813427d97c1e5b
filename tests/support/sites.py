"""Site files of the tests and the site LAB: the writer of loopback site files, LAB's week and
settings, a LAB site file with other options, and the assets of one date's backup."""

import datetime as dt
from pathlib import Path
from typing import Any, Protocol

import dagster as dg

from radonc_assets.definitions import site_definitions
from radonc_assets.devtools.demo import DemoServers
from radonc_assets.site.config import SiteConfig

LAB_WEEK_END = dt.date(2026, 1, 9)
LAB_SETTINGS = {"max_uids_per_run": 1000, "connect_timeout": 5, "network_timeout": 20}


class SiteFileWriter(Protocol):
    """Writes a loopback site file into a new folder (options of `write_loopback_site`)."""

    def __call__(self, name: str, **options: Any) -> Path: ...


def daily_assets(site: SiteConfig) -> list[dg.AssetsDefinition]:
    """The assets of one date's backup: the partitioned ones (not the coverage nor the
    recoveries, which take a config)."""
    return [
        a
        for a in site_definitions(site).assets or []
        if isinstance(a, dg.AssetsDefinition) and a.partitions_def is not None
    ]


def variant(lab: DemoServers, site_file: SiteFileWriter, **options: Any) -> Path:
    """A site file for the servers of `lab` (its ports), with other `options`.

    A setting given as None is left out of the file (its default applies).
    """
    archive = lab.site.archive()
    assert archive.rest_url
    ports = {
        "aria": lab.site.node("ARIA").port,
        "mim": lab.site.node("MIM").port,
        "archive": archive.port,
        "http": int(archive.rest_url.rsplit(":", 1)[1]),
        "restore": lab.site.node("RESTORE").port,
        **options.pop("ports", {}),
    }
    settings = LAB_SETTINGS | options.pop("settings", {})
    given = {key: value for key, value in settings.items() if value is not None}
    return site_file("LAB", ports=ports, settings=given, **options)
