"""The command line as a whole: commands that run no job never load Dagster."""

import subprocess
import sys

import pytest

from radonc_assets.site.paths import DEFAULT_ENVIRONMENTS_DIR

LOADED_AFTER = """
import sys
from radonc_assets.cli.main import main
status = main(sys.argv[1:])
print("dagster" in sys.modules, "radonc_assets.definitions" in sys.modules)
sys.exit(status)
"""


@pytest.mark.parametrize(
    "argv",
    [
        ["environments", "check", str(DEFAULT_ENVIRONMENTS_DIR / "examples")],
        ["dicom", "echo", "--aec", "NOBODY", "--host", "127.0.0.1", "--port", "1"],
    ],
)
def test_commands_that_run_no_job_never_load_dagster(argv: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-c", LOADED_AFTER, *argv], capture_output=True, text=True, timeout=60
    )
    assert done.stdout.splitlines()[-1] == "False False", done.stderr
