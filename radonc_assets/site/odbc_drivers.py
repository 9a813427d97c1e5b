"""Whether the ODBC driver a Mosaiq source names is installed on this machine.

A site file loads whatever driver it names (the earlier system's README wrote
``odbc_driver = "DefaultDriver"``): `radonc environments check` warns about a driver
unixODBC does not know (:func:`driver_warnings`), and the code that opens a site's
Mosaiq calls :func:`require_odbc_driver`, which makes it an error, naming the
drivers there are. Neither runs while the files are validated.

The drivers are those of the driver manager pyodbc connects through
(``pyodbc.drivers()``): the list ``odbcinst -q -d`` prints, read in-process, without
the cost of a subprocess, and available where the odbcinst program is not installed.
"""

import logging
from dataclasses import dataclass
from pathlib import Path

import pyodbc

from radonc_assets.site.config import MosaiqSource, SiteConfig
from radonc_assets.site.errors import ConfigError, Problem

LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class InstalledDrivers:
    """The ODBC drivers installed here, or why they cannot be listed.

    Attributes:
        names: The driver names, as ``odbcinst -q -d`` prints them (without brackets).
        error: Why the list cannot be read; `names` is then empty.
    """

    names: tuple[str, ...]
    error: str | None = None

    def knows(self, driver: str) -> bool | None:
        """Whether `driver` can be loaded; None when the drivers cannot be listed.

        unixODBC matches driver names regardless of case and also takes the path
        of a driver library, which is then only looked for on disk.
        """
        if "/" in driver:
            return Path(driver).is_file()
        if self.error is not None:
            return None
        return driver.lower() in {name.lower() for name in self.names}

    def __str__(self) -> str:
        if self.error is not None:
            return f"the installed ODBC drivers cannot be listed: {self.error}"
        return f"installed drivers (odbcinst -q -d): {', '.join(self.names) or 'none'}"


def installed_drivers() -> InstalledDrivers:
    """The ODBC drivers the driver manager knows."""
    try:
        return InstalledDrivers(tuple(pyodbc.drivers()))
    except pyodbc.Error as exc:
        return InstalledDrivers((), str(exc))


def driver_warnings(site: SiteConfig) -> list[Problem]:
    """One problem per Mosaiq source of `site` whose driver is not known to be installed.

    For `radonc environments check`, which shows them as warnings: the site loads,
    and only reading that Mosaiq fails (:func:`require_odbc_driver`).
    """
    installed = installed_drivers()
    problems = []
    for alias, source in site.mosaiq_sources.items():
        known = installed.knows(source.odbc_driver)
        if known is None:
            message = f"cannot tell whether ODBC driver {source.odbc_driver!r} is installed"
        elif not known:
            message = f"{_absent(source)}: {alias} cannot be read (the site loads)"
        else:
            continue
        problems.append(_problem(site, alias, message, installed))
    return problems


def require_odbc_driver(site: SiteConfig, alias: str) -> None:
    """Fail unless the ODBC driver of the Mosaiq source `alias` of `site` is installed.

    Called before a Mosaiq database client is built. When the drivers cannot be
    listed the connection is tried anyway (its own error then says what is wrong).

    Raises:
        ConfigError: One line naming the driver and the drivers installed; or `alias`
            is not a Mosaiq source of `site`.
    """
    source = site.mosaiq_sources.get(alias)
    if source is None:
        known = ", ".join(site.mosaiq_sources) or "none defined"
        raise site.problem(alias, f"not a Mosaiq source ({known})")
    installed = installed_drivers()
    known_here = installed.knows(source.odbc_driver)
    if known_here is None:
        LOGGER.warning(
            "site %s: %s; trying ODBC driver %r", site.name, installed, source.odbc_driver
        )
    elif not known_here:
        raise ConfigError([_problem(site, alias, _absent(source), installed)])


def _absent(source: MosaiqSource) -> str:
    what = "does not exist" if "/" in source.odbc_driver else "is not installed"
    return f"ODBC driver {source.odbc_driver!r} {what}"


def _problem(site: SiteConfig, alias: str, message: str, installed: InstalledDrivers) -> Problem:
    return Problem(
        site.source_file, site.name, f"sources.{alias}.odbc_driver", f"{message}; {installed}"
    )
