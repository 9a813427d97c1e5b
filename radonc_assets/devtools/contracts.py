"""A `lint-imports` contract beyond imports: a DICOM source's type chooses no protocol.

import-linter sees imports, not attribute reads, so :class:`SourceTypeContract` reads
the syntax tree of each module of the root packages instead (``contract_types`` in
``pyproject.toml``). It lives in devtools, which product code never imports (another
contract says so): only `lint-imports` and the tests load it, so import-linter, a
development dependency, stays out of the product.
"""

import ast
import importlib.util
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from grimp import ImportGraph
from importlinter import Contract, ContractCheck, fields, output


@dataclass(frozen=True)
class TypeComparison:
    """Code that compares a ``type`` attribute with a DICOM source type.

    Attributes:
        module: The module, dotted.
        line: Its line number.
        code: The comparison, as written (``source.type == "aria"``).
    """

    module: str
    line: int
    code: str


def _is_type(node: ast.expr) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "type"


def _strings(node: ast.expr) -> set[str]:
    """The string constants `node` is or holds (a tuple, list or set of them)."""
    items = node.elts if isinstance(node, ast.Tuple | ast.List | ast.Set) else [node]
    return {i.value for i in items if isinstance(i, ast.Constant) and isinstance(i.value, str)}


def _case_strings(pattern: ast.pattern) -> set[str]:
    """The string constants a ``case`` pattern matches (``case "aria" | "mim":``)."""
    return {
        node.value.value
        for node in ast.walk(pattern)
        if isinstance(node, ast.MatchValue)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    }


def type_comparisons(tree: ast.AST, types: frozenset[str]) -> Iterator[tuple[int, str]]:
    """Where `tree` compares an attribute ``type`` with one of `types`: line and code.

    A comparison (``x.type == "aria"``, ``x.type in ("mim", "dicom")``) or a ``match
    x.type`` with a ``case`` of one of them.
    """
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            if any(map(_is_type, operands)) and any(_strings(o) & types for o in operands):
                yield node.lineno, ast.unparse(node)
        elif isinstance(node, ast.Match) and _is_type(node.subject):
            for case in node.cases:
                if _case_strings(case.pattern) & types:
                    subject, pattern = ast.unparse(node.subject), ast.unparse(case.pattern)
                    yield case.pattern.lineno, f"match {subject}: case {pattern}"


def module_file(module: str, roots: dict[str, Path]) -> Path | None:
    """The source file of `module` under its root package's folder (`roots`), if any."""
    root, *parts = module.split(".")
    path = roots[root].joinpath(*parts)
    return next((p for p in (path / "__init__.py", path.with_suffix(".py")) if p.is_file()), None)


def root_folders(packages: Iterable[str]) -> dict[str, Path]:
    """The folder of each root package, found without importing it."""
    folders = {}
    for package in packages:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise ValueError(f"{package} is not an importable package")
        folders[package] = Path(next(iter(spec.submodule_search_locations)))
    return folders


class SourceTypeContract(Contract):
    """Only `allowed_modules` compare a ``type`` with the DICOM source types.

    The type of a DICOM source names its vendor; how it is copied is its ``retrieve``,
    decided in one place. Every module of the root packages but `allowed_modules` is
    read; comparing any ``.type`` with one of `source_types` breaks the contract.

    Configuration options:
        - source_types: The DICOM source types (``aria``, ``mim``, ``dicom``).
        - allowed_modules: The modules that decide by them (dotted names).
    """

    type_name = "source_type"

    # import-linter sets each field on the instance to its parsed value: a set of strings.
    source_types: set[str] = fields.SetField(subfield=fields.StringField())  # type: ignore[assignment]
    allowed_modules: set[str] = fields.SetField(subfield=fields.StringField())  # type: ignore[assignment]

    def check(self, graph: ImportGraph, verbose: bool) -> ContractCheck:
        """Read every module of the root packages outside `allowed_modules`."""
        roots = root_folders(self.session_options["root_packages"])
        types = frozenset(self.source_types)
        allowed = set(self.allowed_modules)
        found: list[TypeComparison] = []
        for module in sorted(graph.modules):
            path = module_file(module, roots) if module.split(".")[0] in roots else None
            if path is None or module in allowed:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            found.extend(
                TypeComparison(module, line, code) for line, code in type_comparisons(tree, types)
            )
        found.sort(key=lambda c: (c.module, c.line))
        return ContractCheck(kept=not found, metadata={"comparisons": found})

    def render_broken_contract(self, check: ContractCheck) -> None:
        """One line per comparison, then what to use instead."""
        for comparison in check.metadata["comparisons"]:
            output.print_error(
                f"{comparison.module}:{comparison.line} chooses by a source's type: "
                f"{comparison.code}",
                bold=False,
            )
        output.new_line()
        allowed = ", ".join(sorted(self.allowed_modules))
        output.print_error(
            f"Ask what {allowed} decides from the type (a source's retrieve), not the type.",
            bold=False,
        )
