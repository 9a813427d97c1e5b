"""The command line as a whole: commands that run no job never load Dagster."""

import datetime as dt
import gc
import os
import subprocess
import sys
from pathlib import Path
from typing import get_args

import pytest

from radonc_assets.cli import main as cli_main
from radonc_assets.cli.commands import COMMANDS, CommandName
from radonc_assets.devtools.synthetic import SyntheticSpec
from radonc_assets.devtools.synthetic.mosaiq import write_mosaiq_database
from radonc_assets.site.paths import DEFAULT_ENVIRONMENTS_DIR
from tests.support.sites import SiteFileWriter

LOADED_AFTER = """
import sys
from radonc_assets.cli.main import main
status = main(sys.argv[1:])
print("dagster" in sys.modules, "radonc_assets.definitions" in sys.modules)
sys.exit(status)
"""


@pytest.fixture(scope="module")
def mosaiq_site(tmp_path_factory: pytest.TempPathFactory, site_file: SiteFileWriter) -> Path:
    """The site MQ, whose simulated Mosaiq treats SYN00-0001 on 2026-01-06 to 08."""
    database = tmp_path_factory.mktemp("mosaiq") / "mosaiq.db"
    spec = SyntheticSpec(start=dt.date(2026, 1, 5), end=dt.date(2026, 1, 9), patients=1)
    write_mosaiq_database(spec, database)
    return site_file("MQ", mosaiq=database)


def last_line(script: str, argv: list[str], cwd: Path) -> str:
    """The last line `script` prints, run with `argv` in a fresh interpreter in `cwd`."""
    done = subprocess.run(
        [sys.executable, "-c", script, *argv], capture_output=True, text=True, timeout=60, cwd=cwd
    )
    assert done.stdout, done.stderr
    return done.stdout.splitlines()[-1]


@pytest.mark.parametrize(
    ("argv", "status"),
    [
        (["environments", "check", str(DEFAULT_ENVIRONMENTS_DIR / "examples")], 0),
        (["dicom", "echo", "--aec", "NOBODY", "--host", "127.0.0.1", "--port", "1"], 1),
        (["report", "MQ", "--mrn", "SYN00-0001"], 0),
        (["records", "MQ", "--date", "2026-01-07", "--out", "records"], 0),
        (["query", "MQ", "MOSAIQ", "--mrn", "SYN00-0001"], 0),
        (["audit", "--mrn", "SYN00-0001"], 0),
    ],
)
def test_commands_that_run_no_job_never_load_dagster(
    argv: list[str], status: int, mosaiq_site: Path, tmp_path: Path
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", LOADED_AFTER, *argv],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={**os.environ, "RADONC_ENVIRONMENTS": str(mosaiq_site.parent)},
    )
    assert done.stdout.splitlines()[-1] == "False False", done.stderr
    assert done.returncode == status, done.stderr


HEAVY_AFTER = """
import sys
from radonc_assets.cli.main import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
heavy = ("dagster", "pandas", "pynetdicom", "pydicom", "pydantic", "requests", "pyodbc")
print(" ".join(sorted(name for name in heavy if name in sys.modules)) or "none")
"""


@pytest.mark.parametrize(
    ("argv", "loaded"),
    [
        (["--help"], "none"),
        (["backup", "--help"], "pydantic"),
        # pyodbc: the installed ODBC drivers, for the warnings about the sites' drivers.
        (
            ["environments", "check", str(DEFAULT_ENVIRONMENTS_DIR / "examples")],
            "pydantic pyodbc",
        ),
    ],
)
def test_help_and_the_site_file_check_load_no_heavy_library(
    argv: list[str], loaded: str, tmp_path: Path
) -> None:
    """What makes them start in a fraction of a second (docs/benchmarks.md)."""
    assert last_line(HEAVY_AFTER, argv, tmp_path) == loaded


def test_the_console_script_exits_with_its_objects_frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    """Shutdown then leaves the collector nothing to walk (docs/benchmarks.md)."""
    monkeypatch.setattr(cli_main, "main", lambda: 3)
    assert gc.get_freeze_count() == 0
    try:
        with pytest.raises(SystemExit) as exit_info:
            cli_main.run()
        assert exit_info.value.code == 3
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


COMMAND_MODULES_AFTER = """
import sys
from radonc_assets.cli.main import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print(" ".join(sorted(n.rpartition(".")[2] for n in sys.modules if n.startswith("radonc_assets.cli."))))
"""


@pytest.mark.parametrize(
    ("argv", "loaded"),
    [
        (["--help"], "commands main"),
        (["drill", "--help"], "commands main recover"),
        # An alias loads its command's module; report's imports records' and output.
        (["get_report", "--help"], "commands main output records report"),
        (["-v", "dicom_utils", "--help"], "commands dicom main output"),
    ],
)
def test_only_the_named_command_module_is_imported(
    argv: list[str], loaded: str, tmp_path: Path
) -> None:
    assert last_line(COMMAND_MODULES_AFTER, argv, tmp_path) == loaded


def test_the_command_names_type_names_every_command_of_the_table() -> None:
    """mypy refuses a name outside `CommandName`; this, one the table lacks."""
    assert tuple(COMMANDS) == get_args(CommandName)
