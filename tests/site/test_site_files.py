"""Site files are independent: a broken file fails alone, every command that needs it says
why (one line per problem), and in Dagster it is a failed code location of its own."""

import logging
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

import radonc_assets.definitions as definitions
from radonc_assets.cli.main import main
from radonc_assets.site.errors import ConfigError
from radonc_assets.site.loading import load_site, load_site_files, load_sites
from radonc_assets.site.workspace import workspace_yaml
from tests.support.site_texts import LEGACY_UCLA, REPO_ENVIRONMENTS, write

# Another site of the earlier format, with a port TOML reads as a boolean.
BROKEN = LEGACY_UCLA.replace("[UCLA", "[BROKEN").replace("port = 104", "port = true")
PORT_PROBLEM = (
    "site BROKEN: sources.ARIA_MAIN.port: Input should be a valid integer, not the boolean true"
)


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An environments folder ($RADONC_ENVIRONMENTS) with good.toml (UCLA) and broken.toml."""
    environments = tmp_path / "environments"
    environments.mkdir()
    write(environments, LEGACY_UCLA, "good.toml")
    write(environments, BROKEN, "broken.toml")
    monkeypatch.setenv("RADONC_ENVIRONMENTS", str(environments))
    return environments


def groups(loaded: dg.Definitions) -> set[str]:
    return {
        group
        for a in loaded.assets or []
        if isinstance(a, dg.AssetsDefinition)
        for group in a.group_names_by_key.values()
    }


def test_a_broken_file_fails_alone(folder: Path) -> None:
    loaded = load_site_files()
    assert set(loaded.sites) == {"UCLA"}
    assert loaded.files == (folder / "broken.toml", folder / "good.toml")
    assert [str(p) for p in loaded.problems] == [f"{folder / 'broken.toml'}: {PORT_PROBLEM}"]
    assert set(loaded.file_sites("good.toml")) == {"UCLA"}
    with pytest.raises(ConfigError, match=r"sources\.ARIA_MAIN\.port"):
        loaded.file_sites("broken.toml")


def test_load_site_works_beside_a_broken_file(folder: Path) -> None:
    assert load_site("ucla").source_file == folder / "good.toml"


def test_a_missing_site_names_the_sites_and_the_files_that_did_not_load(folder: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_site("BROKEN")
    assert [str(p) for p in info.value.problems] == [
        f"{folder}: site BROKEN: no such site (sites: UCLA); files that failed to load, "
        f"which may define it: {folder / 'broken.toml'}",
        f"{folder / 'broken.toml'}: {PORT_PROBLEM}",
    ]


def test_a_missing_site_without_broken_files(folder: Path) -> None:
    (folder / "broken.toml").unlink()
    with pytest.raises(ConfigError) as info:
        load_site("TJU")
    assert [str(p) for p in info.value.problems] == [
        f"{folder}: site TJU: no such site (sites: UCLA)"
    ]


def test_load_sites_is_still_all_or_none(folder: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_sites(folder)
    assert [str(p) for p in info.value.problems] == [f"{folder / 'broken.toml'}: {PORT_PROBLEM}"]


def test_a_site_defined_again_fails_the_later_file_only(tmp_path: Path) -> None:
    write(tmp_path, LEGACY_UCLA, "a.toml")
    write(tmp_path, LEGACY_UCLA.replace("[UCLA", "[ucla"), "b.toml")
    loaded = load_site_files(tmp_path)
    assert loaded.sites["UCLA"].source_file == tmp_path / "a.toml"
    assert [str(p) for p in loaded.problems] == [
        f"{tmp_path / 'b.toml'}: site ucla: site also defined in {tmp_path / 'a.toml'}"
    ]


def test_a_site_defined_twice_in_one_file(tmp_path: Path) -> None:
    text = LEGACY_UCLA + "\n" + LEGACY_UCLA.replace("[UCLA", "[Ucla")
    path = write(tmp_path, text)
    loaded = load_site_files(tmp_path)
    assert loaded.sites == {}
    assert [str(p) for p in loaded.problems] == [f"{path}: site Ucla: site also defined in {path}"]


def test_an_empty_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no site files \(\*\.toml\) found"):
        load_site_files(tmp_path)


def test_check_prints_the_good_sites_and_the_broken_files_problems(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["environments", "check"]) == 1
    captured = capsys.readouterr()
    assert "UCLA: UCLA Testbed Environment" in captured.out
    assert "ARIA_UCLA_AE@10.0.0.100:104" in captured.out
    assert f"1 site(s) OK in {folder}\n1 file(s) did not load\n" in captured.out
    assert captured.err.splitlines() == [f"radonc: {folder / 'broken.toml'}: {PORT_PROBLEM}"]


def test_a_command_using_a_good_site_ignores_a_broken_file(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`dicom echo --site UCLA` loads the site, then fails on the network only (nothing
    listens on 127.0.0.1:1): the broken file plays no part."""
    argv = ["dicom", "echo", "--site", "UCLA", "--host", "127.0.0.1", "--port", "1"]
    assert main([*argv, "--timeout", "5"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("radonc: "), err
    assert "broken.toml" not in err
    assert "127.0.0.1" in err


def test_the_workspace_has_one_location_per_site_file(folder: Path) -> None:
    text = workspace_yaml()
    assert text.endswith(
        "load_from:\n"
        "  - python_module:\n"
        "      module_name: radonc_assets.definitions\n"
        '      attribute: "broken.toml"\n'
        '      location_name: "broken.toml"\n'
        "  - python_module:\n"
        "      module_name: radonc_assets.definitions\n"
        '      attribute: "good.toml"\n'
        '      location_name: "good.toml"\n'
    )
    assert str(folder) not in text  # the folder is the one of $RADONC_ENVIRONMENTS


def test_the_shipped_workspace_is_the_generated_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RADONC_ENVIRONMENTS", raising=False)
    assert (REPO_ENVIRONMENTS.parent / "workspace.yaml").read_text(
        encoding="utf-8"
    ) == workspace_yaml()


def test_cli_writes_or_prints_the_workspace(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["environments", "workspace"]) == 0
    assert capsys.readouterr().out == workspace_yaml()
    output = tmp_path / "workspace.yaml"
    assert main(["environments", "workspace", "--output", str(output)]) == 0
    assert output.read_text(encoding="utf-8") == workspace_yaml()


def test_each_location_loads_its_own_file(folder: Path) -> None:
    good = getattr(definitions, "good.toml")()
    dg.Definitions.validate_loadable(good)
    assert groups(good) == {"ucla", "ucla_restores", "ucla_maintenance"}
    with pytest.raises(ConfigError) as info:
        getattr(definitions, "broken.toml")()
    assert str(info.value) == f"{folder / 'broken.toml'}: {PORT_PROBLEM}"
    with pytest.raises(ConfigError) as info:
        getattr(definitions, "gone.toml")()
    assert str(info.value) == f"{folder}: no site file gone.toml (files: broken.toml, good.toml)"
    assert not hasattr(definitions, "not_a_site_file")


def test_defs_loads_every_good_site_and_logs_the_broken_files(
    folder: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="radonc_assets.definitions"):
        loaded = definitions.defs()
    assert groups(loaded) == {"ucla", "ucla_restores", "ucla_maintenance"}
    assert caplog.messages == [f"site file left out: {folder / 'broken.toml'}: {PORT_PROBLEM}"]


def test_dagster_fails_the_broken_location_and_loads_the_good_one(
    folder: Path, tmp_path: Path
) -> None:
    """The workspace as Dagster loads it (it has no public API for that: its CLI)."""
    workspace = tmp_path / "workspace.yaml"
    assert main(["environments", "workspace", "--output", str(workspace)]) == 0
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    done = subprocess.run(
        [Path(sys.executable).with_name("dagster"), "definitions", "validate", "-w", workspace],
        cwd=tmp_path,  # its temporary Dagster instance goes here
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=240,
    )
    assert done.returncode == 1, done.stdout
    assert "Validation successful for code location good.toml." in done.stdout
    assert "Validation failed for code location broken.toml:" in done.stdout
    assert f"ConfigError: {folder / 'broken.toml'}: {PORT_PROBLEM}\n" in done.stdout
    assert "Validation for 1 code locations failed." in done.stdout
