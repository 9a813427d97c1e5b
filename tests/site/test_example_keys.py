"""environments/examples/tju.toml shows every key of the site models, each with a comment.

The models' fields are walked recursively (the site, its sources and targets of each
type, settings, automation, drill, alerts): a key added to a model without its line in
the example fails here, named. A key commented out in the example (one that needs a
file of the site's own, or is not to be copied blindly) counts as shown.
"""

import re
import tomllib
import types
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

from radonc_assets.site.config import SiteConfig
from radonc_assets.site.loading import load_sites

EXAMPLES = Path(__file__).resolve().parents[2] / "environments" / "examples"
EXAMPLE = EXAMPLES / "tju.toml"
# Set by the loader from the file, never written in one.
FROM_THE_FILE = {"name", "source_file"}
# `# key = value  # comment`: a key shown commented out.
COMMENTED_KEY = re.compile(r"^# ([a-z_]+ = .*)$")


def models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation holds: itself, or in a union, Annotated, dict, tuple."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for arg in get_args(annotation) for model in models_in(arg)]


def model_types(model: type[BaseModel]) -> tuple[str, ...] | None:
    """The `type` values that select `model` in a union of sources or targets, or None."""
    field = model.model_fields.get("type")
    if field is None or get_origin(field.annotation) is not Literal:
        return None
    return get_args(field.annotation)


def is_mapping(annotation: Any) -> bool:
    """Whether a field holds a table of entries by alias (``dict[str, Model]``)."""
    if get_origin(annotation) in (Union, types.UnionType):
        return any(is_mapping(arg) for arg in get_args(annotation))
    return get_origin(annotation) is dict


def unshown(model: type[BaseModel], tables: list[dict[str, Any]], path: str) -> list[str]:
    """The keys of `model` (and of the models within) that none of `tables` shows."""
    missing = []
    for name, field in model.model_fields.items():
        if name in FROM_THE_FILE and model is SiteConfig:
            continue
        written = [table[name] for table in tables if name in table]
        if not written:
            missing.append(f"{path}{name}")
            continue
        entries = (
            [entry for table in written for entry in table.values()]
            if is_mapping(field.annotation)
            else written
        )
        for inner in models_in(field.annotation):
            selectors = model_types(inner)
            of_model = [
                entry
                for entry in entries
                if isinstance(entry, dict) and (selectors is None or entry.get("type") in selectors)
            ]
            shown_as = f"{path}{name}.<{inner.__name__}>"
            if not of_model:
                missing.append(f"{shown_as} (no entry of type {' or '.join(selectors or ())})")
                continue
            missing += unshown(inner, of_model, f"{shown_as}.")
    return missing


def example_with_commented_keys() -> dict[str, Any]:
    """The example as TOML, its commented-out keys included."""
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    return tomllib.loads("\n".join(COMMENTED_KEY.sub(r"\1", line) for line in lines))


def test_the_example_shows_every_key_of_the_models() -> None:
    site = example_with_commented_keys()["TJU"]
    assert unshown(SiteConfig, [site], "TJU.") == []


def test_the_example_loads_without_keys_of_its_own() -> None:
    """Every key it writes is one of the models' (the settings keep unknown keys)."""
    loaded = load_sites(EXAMPLES)["TJU"]
    assert loaded.settings.model_extra == {}


def test_every_key_of_the_example_has_its_comment() -> None:
    for number, line in enumerate(EXAMPLE.read_text(encoding="utf-8").splitlines(), 1):
        if re.match(r"^#? ?[a-z_]+ = ", line):
            assert re.search(r'[\]}"\w] +# \S', line), f"tju.toml:{number} has no comment: {line}"


def test_a_key_missing_from_the_example_is_named() -> None:
    """What a newly added key without an example line gives."""
    site = example_with_commented_keys()["TJU"]
    del site["alerts"]["subject"]
    del site["sources"]["ARIA_TJU"]["associations"]
    site["backup_targets"] = {
        alias: target
        for alias, target in site["backup_targets"].items()
        if target["type"] != "dicom_scp"
    }
    assert unshown(SiteConfig, [site], "TJU.") == [
        "TJU.sources.<DicomSource>.associations",
        "TJU.backup_targets.<DicomScpTarget> (no entry of type dicom_scp)",
        "TJU.alerts.<AlertSettings>.subject",
    ]
