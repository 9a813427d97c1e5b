"""A Mosaiq ODBC driver that is not installed: a warning of the check, an error when used."""

import logging
import shutil
import subprocess
from pathlib import Path

import pyodbc
import pytest

from radonc_assets.site.config import SiteConfig
from radonc_assets.site.errors import ConfigError
from radonc_assets.site.loading import load_sites
from radonc_assets.site.odbc_drivers import driver_warnings, installed_drivers, require_odbc_driver
from tests.support.site_texts import LEGACY_UCLA, write

EARLIER_DRIVER = '"ODBC Driver 17 for SQL Server"'


def site_with_driver(tmp_path: Path, driver: str) -> SiteConfig:
    return load_sites(write(tmp_path, LEGACY_UCLA.replace(EARLIER_DRIVER, f'"{driver}"')))["UCLA"]


@pytest.fixture
def unlistable(monkeypatch: pytest.MonkeyPatch) -> None:
    """The driver manager cannot list its drivers (a broken odbcinst.ini, say)."""

    def fail() -> list[str]:
        raise pyodbc.Error("IM004", "cannot read odbcinst.ini")

    monkeypatch.setattr(pyodbc, "drivers", fail)


def test_the_installed_drivers_are_those_odbcinst_lists() -> None:
    names = installed_drivers().names
    assert "SQLite3" in names
    odbcinst = shutil.which("odbcinst")
    assert odbcinst, "odbcinst (Debian unixodbc, installed by scripts/setup.sh) is missing"
    listed = subprocess.run([odbcinst, "-q", "-d"], capture_output=True, text=True, check=True)
    assert list(names) == [line.strip("[]") for line in listed.stdout.split()]


def test_an_unknown_driver_is_an_error_when_the_mosaiq_is_used(tmp_path: Path) -> None:
    site = site_with_driver(tmp_path, "DefaultDriver")  # the site loads
    with pytest.raises(ConfigError) as info:
        require_odbc_driver(site, "MOSAIQ_DB")
    assert str(info.value) == (
        f"{site.source_file}: site UCLA: sources.MOSAIQ_DB.odbc_driver: ODBC driver "
        "'DefaultDriver' is not installed; installed drivers (odbcinst -q -d): "
        + ", ".join(installed_drivers().names)
    )


@pytest.mark.parametrize("driver", ["SQLite3", "{sqlite3}", "FreeTDS"])
def test_an_installed_driver_passes(tmp_path: Path, driver: str) -> None:
    site = site_with_driver(tmp_path, driver)
    assert driver_warnings(site) == []
    require_odbc_driver(site, "MOSAIQ_DB")


def test_a_driver_library_path_is_looked_for_on_disk(tmp_path: Path) -> None:
    library = tmp_path / "libmyodbc.so"
    site = site_with_driver(tmp_path, str(library))
    (warning,) = driver_warnings(site)
    assert warning.message.startswith(f"ODBC driver '{library}' does not exist:")
    library.touch()
    assert driver_warnings(site) == []
    require_odbc_driver(site, "MOSAIQ_DB")


def test_only_mosaiq_sources_are_asked_for(tmp_path: Path) -> None:
    site = site_with_driver(tmp_path, "SQLite3")
    with pytest.raises(ConfigError, match=r"ARIA_MAIN: not a Mosaiq source \(MOSAIQ_DB\)"):
        require_odbc_driver(site, "ARIA_MAIN")


@pytest.mark.usefixtures("unlistable")
def test_drivers_that_cannot_be_listed(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    site = site_with_driver(tmp_path, "DefaultDriver")
    (warning,) = driver_warnings(site)
    assert warning.message == (
        "cannot tell whether ODBC driver 'DefaultDriver' is installed; the installed ODBC "
        "drivers cannot be listed: ('IM004', 'cannot read odbcinst.ini')"
    )
    with caplog.at_level(logging.WARNING, logger="radonc_assets.site.odbc_drivers"):
        require_odbc_driver(site, "MOSAIQ_DB")  # the connection will say what is wrong
    assert caplog.messages == [
        "site UCLA: the installed ODBC drivers cannot be listed: ('IM004', 'cannot read "
        "odbcinst.ini'); trying ODBC driver 'DefaultDriver'"
    ]
