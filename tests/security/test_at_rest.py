"""Patient data private at rest: owner-only files and folders whatever the umask."""

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from radonc_assets.devtools.demo import DemoServers
from radonc_assets.site.dagster_resources import site_resources
from radonc_assets.site.paths import ensure_instance_settings
from radonc_assets.site.private_files import private_dir, write_private
from tests.support.sites import daily_assets

DAY = "2026-01-06"


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The most permissive umask: whatever radonc creates gets only the modes it sets."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("open_umask")
def test_private_files_and_folders_are_owner_only(tmp_path: Path) -> None:
    existing = tmp_path / "existing"
    existing.mkdir(mode=0o755)
    (existing / "old.csv").write_text("world-readable")
    existing.joinpath("old.csv").chmod(0o644)

    write_private(tmp_path / "a" / "b" / "file.csv", b"x")
    write_private(existing / "old.csv", b"y")
    private_dir(tmp_path / "c" / "d")

    assert mode(tmp_path / "a") == mode(tmp_path / "a" / "b") == 0o700
    assert mode(tmp_path / "a" / "b" / "file.csv") == 0o600
    assert mode(tmp_path / "c") == mode(tmp_path / "c" / "d") == 0o700
    # A file written again is owner-only; a folder that was there keeps its mode.
    assert mode(existing / "old.csv") == 0o600
    assert (existing / "old.csv").read_bytes() == b"y"
    assert mode(existing) == 0o755
    assert not list(tmp_path.rglob("*.partial"))


@pytest.mark.usefixtures("open_umask", "lab_courses_planned")
def test_a_backup_writes_the_data_folder_owner_only(
    lab: DemoServers, data_dir: Path, tmp_path: Path
) -> None:
    result = dg.materialize(
        daily_assets(lab.site), partition_key=DAY, resources=site_resources(lab.site)
    )
    assert result.success
    home = ensure_instance_settings(tmp_path / "dagster_home").parent

    written = [data_dir, *data_dir.rglob("*")]
    assert len(written) > 5
    assert {path: mode(path) for path in written if path.is_dir()} == dict.fromkeys(
        (p for p in written if p.is_dir()), 0o700
    )
    assert {path: mode(path) for path in written if path.is_file()} == dict.fromkeys(
        (p for p in written if p.is_file()), 0o600
    )
    assert mode(home) == 0o700
