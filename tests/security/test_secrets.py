"""Secrets stay secret: a backup and a refused login with known passwords, then every file
the runs wrote, their output and the processes' command lines searched for them.

The site VAULT's archive wants a REST login whose password comes from an environment
variable (its Orthanc is started with it); everything else is the LAB set-up.
"""

import datetime as dt
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from radonc_assets.cli.processes import descendants
from radonc_assets.devtools.demo import DemoServers, demo_servers, load_synthetic_week
from radonc_assets.site.loading import load_sites
from radonc_assets.site.naming import VALIDATION_REPORT
from tests.support.serving import start, stop
from tests.support.sites import LAB_SETTINGS, SiteFileWriter

RADONC = str(Path(sys.executable).with_name("radonc"))
VARIABLE = "VAULT_ARCHIVE_PASSWORD"
SECRET = "s3cret-Vault-7f2c91"  # the archive's password
WRONG = "wr0ng-Guess-55e0aa"  # a wrong one, as secret as the right one
FIRST, DAY = dt.date(2026, 1, 3), dt.date(2026, 1, 6)  # the synthetic week's first days


@pytest.fixture(scope="module")
def vault(
    tmp_path_factory: pytest.TempPathFactory, site_file: SiteFileWriter
) -> Iterator[DemoServers]:
    """VAULT's servers, its archive's REST API behind the login, one patient's week."""
    os.environ[VARIABLE] = SECRET
    try:
        path = site_file("VAULT", settings=LAB_SETTINGS, archive_password_env_var=VARIABLE)
        site = load_sites(path)["VAULT"]
        workdir = tmp_path_factory.mktemp("vault")
        with demo_servers(site, workdir / "servers") as servers:
            load_synthetic_week(servers, workdir / "synthetic", FIRST + dt.timedelta(days=6), 1)
            yield servers
    finally:
        del os.environ[VARIABLE]


def radonc(vault: DemoServers, tmp_path: Path, password: str, *argv: str) -> str:
    """Run `radonc -vv ARGV` (debug logging) with `password`; its exit status and output."""
    env = {
        **os.environ,
        VARIABLE: password,
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
        "RADONC_DATA_DIR": str(tmp_path / "data"),
        "RADONC_ENVIRONMENTS": str(vault.site.source_file.parent),
    }
    done = subprocess.run(
        [RADONC, "-vv", *argv], env=env, capture_output=True, text=True, check=False, timeout=300
    )
    return f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"


def holders(folder: Path, secrets: tuple[str, ...]) -> list[str]:
    """The files under `folder` holding any of `secrets`, as text or inside a database."""
    return [
        str(path)
        for path in folder.rglob("*")
        if path.is_file() and any(s.encode() in path.read_bytes() for s in secrets)
    ]


def test_no_secret_in_files_logs_or_errors(vault: DemoServers, tmp_path: Path) -> None:
    backed_up = radonc(
        vault, tmp_path, SECRET, "backup", "VAULT", "--from", str(FIRST), "--to", str(DAY)
    )
    refused = radonc(vault, tmp_path, WRONG, "backup", "VAULT", "--date", str(DAY))

    assert backed_up.startswith("exit 0"), backed_up[-3000:]
    assert "DEBUG" in backed_up  # the most verbose logging was on
    assert refused.startswith("exit 1")
    assert "refused the credentials (401)" in refused
    assert "Traceback" not in refused
    for secret in (SECRET, WRONG):
        assert secret not in backed_up
        assert secret not in refused
    assert holders(tmp_path, (SECRET, WRONG)) == []
    # What was searched: the instance's databases and the data folder.
    assert (tmp_path / "dagster_home" / "history" / "runs.db").exists()
    assert list((tmp_path / "data" / "vault").rglob(f"{VALIDATION_REPORT}.csv"))
    # The search finds a secret where there is one.
    (tmp_path / "data" / "probe.txt").write_text(f"password={SECRET}")
    assert holders(tmp_path, (SECRET,)) == [str(tmp_path / "data" / "probe.txt")]


def test_no_secret_in_the_command_line_of_any_process(
    vault: DemoServers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`radonc serve` with the secret in its environment: the webserver, the daemon and the
    code servers they start get it from their environment, never in their argv."""
    monkeypatch.setenv(VARIABLE, SECRET)
    served = start(vault.site.source_file.parent, tmp_path)
    try:
        processes = [served.process.pid, *descendants(served.process.pid)]
        command_lines = [Path(f"/proc/{pid}/cmdline").read_bytes() for pid in processes]
    finally:
        stop(served)

    assert len(processes) >= 4  # radonc serve, its guards, the webserver, the daemon...
    assert not [line for line in command_lines if SECRET.encode() in line]
    assert holders(served.home, (SECRET,)) == []
