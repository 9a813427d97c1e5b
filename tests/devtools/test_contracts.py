"""The `lint-imports` contract that a DICOM source's type chooses no protocol: it breaks on
a package comparing the type outside the allowed module, and the product keeps it."""

import textwrap
import tomllib
from pathlib import Path
from typing import Any

import grimp
import pytest

from radonc_assets.devtools.contracts import SourceTypeContract, TypeComparison

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def configured() -> tuple[dict[str, Any], dict[str, Any]]:
    """The session options and the source_type contract's options of pyproject.toml."""
    session = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["tool"]["importlinter"]
    (options,) = [c for c in session["contracts"] if c["type"] == "source_type"]
    return session, options


def test_the_product_keeps_the_contract() -> None:
    session, options = configured()
    assert options["allowed_modules"] == ["radonc_assets.site.config"]
    contract = SourceTypeContract(options["name"], session, options)
    graph = grimp.build_graph(*session["root_packages"], cache_dir=None)

    check = contract.check(graph, verbose=False)

    assert check.kept, check.metadata["comparisons"]


def test_a_module_choosing_by_type_breaks_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    modules = {
        "__init__.py": "",
        "config.py": 'def moves(source):\n    return source.type == "aria"\n',
        "assets.py": """\
            def copy(source):
                if source.type == "aria":
                    return "move"
                return "get"
            """,
        "loading.py": """\
            def relayed(sources):
                return [s for s in sources if s.type in ("mim", "dicom")]
            """,
        "demo.py": """\
            def server(node):
                match node.type:
                    case "orthanc":
                        return "orthanc"
                    case "mim" | "dicom":
                        return "dcmqrscp"
            """,
        # Neither a DICOM source's type nor a comparison: kept.
        "fine.py": """\
            def fine(node, error):
                return node.type == "orthanc" or error["type"] == "aria" or node.moves
            """,
    }
    package = tmp_path / "toypkg"
    package.mkdir()
    for name, text in modules.items():
        (package / name).write_text(textwrap.dedent(text), encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    session = {"root_packages": ["toypkg"]}
    options = {
        "name": "toy",
        "type": "source_type",
        "source_types": ["aria", "mim", "dicom"],
        "allowed_modules": ["toypkg.config"],
    }
    contract = SourceTypeContract("toy", session, options)

    check = contract.check(grimp.build_graph("toypkg", cache_dir=None), verbose=False)

    assert not check.kept
    assert check.metadata["comparisons"] == [
        TypeComparison("toypkg.assets", 2, "source.type == 'aria'"),
        TypeComparison("toypkg.demo", 5, "match node.type: case 'mim' | 'dicom'"),
        TypeComparison("toypkg.loading", 2, "s.type in ('mim', 'dicom')"),
    ]
    # Allowed to decide there, and only there.
    contract = SourceTypeContract("toy", session, options | {"allowed_modules": ["toypkg.assets"]})
    broken = contract.check(grimp.build_graph("toypkg", cache_dir=None), verbose=False).metadata[
        "comparisons"
    ]
    assert [c.module for c in broken] == ["toypkg.config", "toypkg.demo", "toypkg.loading"]
