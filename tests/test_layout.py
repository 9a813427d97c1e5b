"""The map of docs/development.md and the folders of tests/ follow the code.

The map lists every module and package of the code in one line each (a package's
``__init__.py`` is described on its folder's line); `tests/` mirrors `radonc_assets/` and
`resources/` folder for folder, but for the scenario folders. Each rule is a function of a
root folder, so that the tests below also show it failing on a tree made to break it.
"""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The folders whose every module the map lists.
MAPPED = ("radonc_assets", "resources", "benchmarks", "tests/support")
# Folders of tests/ that test a property across modules rather than a module.
SCENARIOS = ("security", "deployment")
# One line of the map: its indent (two spaces a level), a file or folder, its description.
ENTRY = re.compile(r"(?P<indent>(?:  )*)(?P<name>[\w.]+(?:/|\.py))\s{2,}(?P<description>\S.*)")


def map_entries(development: str) -> list[str]:
    """The paths the map names (folders end in "/"), from the text of docs/development.md.

    Raises:
        ValueError: A line of the map is not one file or folder with its description, or
            is indented below something that is not a folder.
    """
    block = development.split("## Where things live\n```\n", 1)[1].split("```\n", 1)[0]
    folders: list[str] = []
    paths = []
    for line in block.splitlines():
        entry = ENTRY.fullmatch(line)
        if entry is None:
            raise ValueError(f"not one file or folder and its description: {line!r}")
        level = len(entry["indent"]) // 2
        if level > len(folders):
            raise ValueError(f"indented below no folder: {line!r}")
        del folders[level:]
        path = "".join(folders) + entry["name"]
        if path.endswith("/"):
            folders.append(entry["name"])
        paths.append(path)
    return paths


def modules(root: Path) -> set[str]:
    """Every module and package under the mapped folders of `root`, as the map names them."""
    found = set()
    for top in MAPPED:
        for path in (root / top).rglob("*.py"):
            relative = path.relative_to(root).as_posix()
            if "__pycache__" in relative:
                continue
            if path.name == "__init__.py":
                found.add(relative.removesuffix("__init__.py"))
            else:
                found.add(relative)
    return found


def misplaced_tests(root: Path) -> list[str]:
    """The modules of `root`/tests that break its layout: a test module whose folder mirrors
    no folder of the code (and is no scenario folder), a module that is neither a test, a
    fixture module, a package marker nor a support module, a folder that is no package."""
    tests = root / "tests"
    wrong = []
    for path in sorted(tests.rglob("*.py")):
        relative = path.relative_to(tests)
        if "__pycache__" in relative.parts:
            continue
        folder = relative.parts[:-1]
        if not (path.parent / "__init__.py").is_file():
            wrong.append(f"{relative}: its folder is no package (no __init__.py)")
        if path.name == "__init__.py" or relative.as_posix() == "conftest.py":
            continue
        if folder[:1] == ("support",):
            continue
        if not path.name.startswith("test_"):
            wrong.append(f"{relative}: neither test_*.py nor in tests/support/")
            continue
        if folder[:1] == ("resources",):
            code = root.joinpath(*folder)
        else:
            code = root.joinpath("radonc_assets", *folder)
        if folder[:1] not in {(s,) for s in SCENARIOS} and not code.is_dir():
            wrong.append(f"{relative}: no folder {code.relative_to(root)}/ to mirror")
    return wrong


def imports_of_tests(root: Path) -> list[str]:
    """The imports of a test module from another module of `root`/tests but tests.support
    (conftest.py, another test): a helper two test modules share goes to tests/support/."""
    wrong = []
    for path in sorted((root / "tests").rglob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [f"{node.module}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            wrong += [
                f"{path.relative_to(root)}: {name}"
                for name in names
                if name.startswith("tests.") and not f"{name}.".startswith("tests.support.")
            ]
    return wrong


def test_the_map_lists_every_module_once() -> None:
    mapped = map_entries((ROOT / "docs" / "development.md").read_text())

    missing = sorted(modules(ROOT) - set(mapped))
    assert not missing, f"add to the map of docs/development.md: {missing}"
    assert len(mapped) == len(set(mapped)), "a path the map names twice"


def test_the_map_names_only_what_exists() -> None:
    mapped = map_entries((ROOT / "docs" / "development.md").read_text())

    absent = [
        path
        for path in mapped
        if not ((ROOT / path).is_dir() if path.endswith("/") else (ROOT / path).is_file())
    ]
    assert not absent, f"remove or rename in the map of docs/development.md: {absent}"


def test_tests_mirror_the_code() -> None:
    assert misplaced_tests(ROOT) == []


def test_test_modules_share_helpers_through_support_only() -> None:
    assert imports_of_tests(ROOT) == []


def test_a_line_not_one_module_or_below_a_module_is_refused() -> None:
    start = "## Where things live\n```\n"
    assert map_entries(f"{start}a/  x\n  b.py  y\n  c/  z\n    d.py  w\n```\n") == [
        "a/",
        "a/b.py",
        "a/c/",
        "a/c/d.py",
    ]
    with pytest.raises(ValueError, match="not one file or folder"):
        map_entries(f"{start}a/  x\n              the rest of x's description\n```\n")
    with pytest.raises(ValueError, match="indented below no folder"):
        map_entries(f"{start}a.py  x\n  b.py  y\n```\n")


def test_the_rules_catch_what_breaks_them(tmp_path: Path) -> None:
    code = ("radonc_assets", "radonc_assets/site", "resources", "resources/dicom", "benchmarks")
    for folder in (*code, "tests/support"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "__init__.py").touch()
    (tmp_path / "radonc_assets" / "site" / "naming.py").touch()
    for test in (
        "site/test_naming.py",
        "resources/dicom/test_client.py",
        "security/test_tls.py",
        "defs/test_sensors.py",
        "resources/test_dicom.py",
        "site/names.py",
        "loose/test_loose.py",
    ):
        (tmp_path / "tests" / test).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "tests" / test).touch()
    (tmp_path / "tests" / "site" / "test_naming.py").write_text(
        "import tests.conftest\n"
        "from tests import support\n"
        "from tests.support.sites import variant\n"
        "from tests.defs.test_sensors import evaluate\n"
    )
    for folder in ("", "site", "resources", "resources/dicom", "security", "defs"):
        (tmp_path / "tests" / folder / "__init__.py").touch()

    assert modules(tmp_path) == {
        "radonc_assets/",
        "radonc_assets/site/",
        "radonc_assets/site/naming.py",
        "resources/",
        "resources/dicom/",
        "benchmarks/",
        "tests/support/",
    }
    assert misplaced_tests(tmp_path) == [
        "defs/test_sensors.py: no folder radonc_assets/defs/ to mirror",
        "loose/test_loose.py: its folder is no package (no __init__.py)",
        "loose/test_loose.py: no folder radonc_assets/loose/ to mirror",
        "site/names.py: neither test_*.py nor in tests/support/",
    ]
    assert imports_of_tests(tmp_path) == [
        "tests/site/test_naming.py: tests.conftest",
        "tests/site/test_naming.py: tests.defs.test_sensors.evaluate",
    ]
