"""No docstring or comment of the code holds a measured figure: they go stale in code.

A measured figure (a time, a size, a speed, a ratio, a share) belongs in
docs/benchmarks.md with the command that measured it; the docstring or comment says
what and why and may point there. Facts that are not measurements (a standard's
length, a configuration default, a design constant) are allowed one by one in
:data:`NOT_MEASUREMENTS`.
"""

import ast
import io
import re
import tokenize
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("radonc_assets", "resources")
# The instance settings radonc ships, whose comments operators read.
SHIPPED_YAML = ROOT / "radonc_assets" / "site" / "dagster.yaml"

# Not "Part 10" (of the DICOM standard) nor a version's or a UID's digits.
_NUMBER = r"(?<![\w.])(?<!Part )\d+(?:[.,]\d+)*(?:\s*(?:-|to)\s*\d+(?:[.,]\d+)*)?"
_UNIT = (
    r"(?:ms|s|sec|seconds?|min|minutes?|hours?|us|µs|[kKMG]i?B|bytes"
    r"|instances?/s|records?/s|MB/s|/s|per second)"
)
MEASURED_FIGURE = re.compile(
    rf"{_NUMBER}\s*{_UNIT}(?![\w/])"  # a time, a size or a speed
    rf"|{_NUMBER}\s*(?:x|times)(?![\w-])"  # a ratio, "N times" as often or as fast
    rf"|{_NUMBER}\s*%"  # a share
    rf"|{_NUMBER}\s+of\s+the\s+time",  # a share
    re.IGNORECASE,
)

# (file, the text around the figure) -> why it is no measurement.
NOT_MEASUREMENTS = {
    ("resources/dicom/part10.py", "length takes 4 bytes"): "PS3.5's header",
    ("radonc_assets/devtools/synthetic/mosaiq.py", "zero-padded to 200 bytes"): "Mosaiq's record",
    ("radonc_assets/cli/output.py", "one line per 10% of"): "the progress log's step",
    ("radonc_assets/cli/output.py", "every 10% otherwise"): "the progress log's step",
    ("radonc_assets/defs/dicom_backup/coverage.py", "every 10 minutes"): "its schedule",
    ("radonc_assets/site/access_log.py", "grows to 10 MB"): "its rotation size",
    ("radonc_assets/devtools/local_servers.py", "SIGKILL after 15 s"): "the stop's timeout",
    ("radonc_assets/devtools/local_servers.py", "at most 1 GB each"): "dcmqrscp's quota set",
    ("radonc_assets/devtools/synthetic/records.py", "15 minutes apart"): "the synthetic slots",
    ("resources/orthanc.py", "128 MB by default"): "Orthanc's default",
}


def _docstrings(source: str) -> Iterator[tuple[int, str]]:
    """Each docstring of a module with the line it starts on."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            docstring = ast.get_docstring(node, clean=False)
            if docstring is not None:
                yield node.body[0].lineno, docstring


def _comments(source: str) -> Iterator[tuple[int, str]]:
    """Each comment of a module with its line."""
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            yield token.start[0], token.string


def measured_figures(name: str, text: str, line: int) -> list[str]:
    """The measured figures of `text` (a docstring or comment of `name` at `line`)."""
    found = []
    for match in MEASURED_FIGURE.finditer(text):
        around = " ".join(text[max(0, match.start() - 30) : match.end() + 30].split())
        if not any(file == name and allowed in around for file, allowed in NOT_MEASUREMENTS):
            found.append(f"{name}:{line + text.count(chr(10), 0, match.start())}: {match[0]!r}")
    return found


def figures_in_code() -> list[str]:
    """Every measured figure in the docstrings and comments of the code."""
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            name = path.relative_to(ROOT).as_posix()
            source = path.read_text()
            for line, text in [*_docstrings(source), *_comments(source)]:
                found += measured_figures(name, text, line)
    name = SHIPPED_YAML.relative_to(ROOT).as_posix()
    for line, text in enumerate(SHIPPED_YAML.read_text().splitlines(), start=1):
        if text.lstrip().startswith("#"):
            found += measured_figures(name, text, line)
    return found


def test_no_docstring_or_comment_holds_a_measured_figure() -> None:
    assert figures_in_code() == []


def test_every_allowed_non_measurement_is_still_there() -> None:
    """An allowance whose text has gone is removed, so the list stays short."""
    texts = {file: (ROOT / file).read_text() for file in {file for file, _ in NOT_MEASUREMENTS}}
    assert [key for key in NOT_MEASUREMENTS if key[1] not in " ".join(texts[key[0]].split())] == []


@pytest.mark.parametrize(
    "text",
    [
        "Series.isin takes 100-200 ms for 14,500 UIDs",
        "ready in about 0.2 s",
        "a process held 102 MB",
        "10 instances/s instead of 88",
        "were 50 times slower",
        "two streams are 1.4x faster",
        "15% of the time of a large C-FIND",
        "two streams copy a day in 0.55-0.7 of\n    the time of one",
    ],
)
def test_a_measured_figure_is_found(text: str) -> None:
    assert measured_figures("radonc_assets/example.py", text, 1) != []


@pytest.mark.parametrize(
    "text",
    [
        "measured with pynetdicom 3.0.4",
        "Orthanc 1.10 answers 0xC000",
        "at most 128 presentation contexts (PS3.8)",
        "1 X-rays, 2 Electrons",
        "encoded DICOM Part 10 bytes",
    ],
)
def test_a_version_a_status_or_a_count_is_no_measured_figure(text: str) -> None:
    assert measured_figures("radonc_assets/example.py", text, 1) == []
