"""Reading the site files: every site of `environments/*.toml`, validated.

Everything is validated when a file is loaded: the models of
:mod:`radonc_assets.site.config` check each key, :func:`_cross_checks` the keys
that refer to each other (aliases, defaults, unique AE titles). Every problem is
reported with the file, the site and the key it concerns.

Each file loads on its own (:func:`load_site_files`): a broken file is left out
with its problems, and the sites of the other files load, so one file's mistake
stops only its own sites.
"""

import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from radonc_assets.site.config import (
    NAME_PATTERN,
    NODE_TYPES,
    NetworkNode,
    OrthancTarget,
    SiteConfig,
)
from radonc_assets.site.errors import ConfigError, MissingSecretError, Problem
from radonc_assets.site.paths import ACKNOWLEDGEMENTS_SUFFIX, environments_dir


def site_files(path: Path | None = None) -> list[Path]:
    """The site files of a folder (its ``*.toml``, sorted), or the one file `path` names.

    A folder's acknowledgements files (``*.acknowledgements.toml``,
    :mod:`radonc_assets.site.acknowledgements`) are no site files.

    Args:
        path: A TOML file or a folder; default :func:`environments_dir`.

    Raises:
        ConfigError: When the folder holds no site file.
    """
    path = path or environments_dir()
    files = (
        sorted(f for f in path.glob("*.toml") if not f.name.endswith(ACKNOWLEDGEMENTS_SUFFIX))
        if path.is_dir()
        else [path]
    )
    if not files:
        raise ConfigError([Problem(path, None, None, "no site files (*.toml) found")])
    return files


@dataclass(frozen=True)
class SiteFiles:
    """The site files of a folder, each loaded on its own: a broken file fails alone.

    Attributes:
        path: The folder (or the one file) read.
        files: Its site files, sorted.
        sites: The sites of the files that loaded, by name.
        failed: The problems of each file that did not load.
    """

    path: Path
    files: tuple[Path, ...]
    sites: Mapping[str, SiteConfig]
    failed: Mapping[Path, tuple[Problem, ...]]

    @property
    def problems(self) -> list[Problem]:
        """Every problem of the files that did not load, file by file."""
        return [problem for problems in self.failed.values() for problem in problems]

    def site(self, name: str) -> SiteConfig:
        """The site `name` (case-insensitive), however broken the other files are.

        Raises:
            ConfigError: When no file that loaded defines it: naming the sites there are,
                then every problem of the files that did not load (it may be in one).
        """
        for site_name, site in self.sites.items():
            if site_name.lower() == name.lower():
                return site
        message = f"no such site (sites: {_names(self.sites)})"
        if self.failed:
            failed = ", ".join(str(file) for file in self.failed)
            message += f"; files that failed to load, which may define it: {failed}"
        raise ConfigError([Problem(self.path, name, None, message), *self.problems])

    def file_sites(self, file_name: str) -> dict[str, SiteConfig]:
        """The sites of the site file named `file_name` (``demo.toml``).

        Raises:
            ConfigError: The file's problems when it did not load; when no site file has
                that name, naming those there are.
        """
        file = next((f for f in self.files if f.name == file_name), None)
        if file is None:
            found = ", ".join(f.name for f in self.files)
            raise ConfigError(
                [Problem(self.path, None, None, f"no site file {file_name} (files: {found})")]
            )
        if file in self.failed:
            raise ConfigError(self.failed[file])
        return {name: site for name, site in self.sites.items() if site.source_file == file}


def load_site_files(path: Path | None = None) -> SiteFiles:
    """Load every site file of a folder (or one file), each on its own.

    A file with a problem is left out whole, with its problems; the other files'
    sites load. A site defined again in a later file (names are case-insensitive)
    is a problem of that later file, so a new file never stops a running site.

    Args:
        path: A TOML file or a folder; default :func:`environments_dir`.

    Raises:
        ConfigError: When the folder holds no site file.
    """
    path = path or environments_dir()
    files = site_files(path)
    sites: dict[str, SiteConfig] = {}
    failed: dict[Path, tuple[Problem, ...]] = {}
    for file in files:
        try:
            loaded = _load_file(file)
        except ConfigError as exc:
            failed[file] = tuple(exc.problems)
            continue
        redefined = _redefined(file, loaded, sites)
        if redefined:
            failed[file] = redefined
        else:
            sites.update(loaded)
    return SiteFiles(path, tuple(files), sites, failed)


def load_sites(path: Path | None = None) -> dict[str, SiteConfig]:
    """Load every site of a site file, or of all ``*.toml`` in a folder: all or none.

    For a file or folder that must be right as a whole (tests, benchmarks); commands
    and Dagster use :func:`load_site_files` or :func:`load_site`, where a broken
    file fails alone.

    Args:
        path: A TOML file or a folder; default :func:`environments_dir`.

    Returns:
        The sites by name.

    Raises:
        ConfigError: Listing every problem found in every file.
    """
    loaded = load_site_files(path)
    if loaded.failed:
        raise ConfigError(loaded.problems)
    return dict(loaded.sites)


def load_site(name: str, path: Path | None = None) -> SiteConfig:
    """Load one site by name (case-insensitive); other files' problems do not matter.

    Raises:
        ConfigError: When no file that loaded defines it (see :meth:`SiteFiles.site`).
    """
    return load_site_files(path).site(name)


def read_secret(site: SiteConfig, key: str, variable: str) -> str:
    """Read the environment variable `variable` named by `key` of `site`.

    Raises:
        MissingSecretError: Naming the variable, when it is not set.
    """
    value = os.environ.get(variable)
    if value is None:
        raise MissingSecretError(
            [
                Problem(
                    site.source_file, site.name, key, f"environment variable {variable} is not set"
                )
            ]
        )
    return value


def read_document(file: Path) -> dict[str, Any]:
    """The TOML document of a site file, as written (before validation).

    Raises:
        ConfigError: The file cannot be read or is not TOML (with the line).
    """
    try:
        return tomllib.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError([Problem(file, None, None, f"cannot read: {exc.strerror}")]) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([Problem(file, None, None, f"invalid TOML: {exc}")]) from exc


def toml_literal(value: object) -> str:
    """`value` as a TOML file writes it: ``"104"``, ``104``, ``true``."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _load_file(file: Path) -> dict[str, SiteConfig]:
    document = read_document(file)
    sites: dict[str, SiteConfig] = {}
    problems: list[Problem] = []
    for name, table in document.items():
        if not isinstance(table, dict):
            problems.append(Problem(file, None, name, "top-level keys must be site tables"))
            continue
        if not NAME_PATTERN.match(name):
            problems.append(Problem(file, name, None, "site names are letters, digits and _"))
            continue
        try:
            site = SiteConfig.model_validate(
                {**table, "name": name, "source_file": file},
                context={"base_dir": file.parent},
            )
        except ValidationError as exc:
            problems.extend(Problem(file, name, *describe_error(err)) for err in exc.errors())
            continue
        site_problems = [Problem(file, name, key, msg) for key, msg in _cross_checks(site)]
        if site_problems:
            problems.extend(site_problems)
        else:
            sites[name] = site
    if problems:
        raise ConfigError(problems)
    return sites


def _redefined(
    file: Path, loaded: Mapping[str, SiteConfig], earlier: Mapping[str, SiteConfig]
) -> tuple[Problem, ...]:
    """The sites of `file` defined before, in an earlier file or in `file` itself."""
    seen = {name.lower(): site.source_file for name, site in earlier.items()}
    problems = []
    for name in loaded:
        if name.lower() in seen:
            problems.append(Problem(file, name, None, f"site also defined in {seen[name.lower()]}"))
        seen.setdefault(name.lower(), file)
    return tuple(problems)


# What strict numbers, booleans and dates report ("Input should be a valid integer"); the
# message then adds what the file has.
_STRICT_TYPE_ERRORS = {"int_type", "float_type", "bool_type", "date_type"}


def describe_error(error: ErrorDetails) -> tuple[str | None, str]:
    """The key (`sources.ARIA_MAIN.port`) and message of a pydantic error."""
    parts = [str(p) for i, p in enumerate(error["loc"]) if not (i == 2 and p in NODE_TYPES)]
    if error["type"] == "union_tag_invalid":
        context = error.get("ctx", {})
        parts.append("type")
        message = f"unknown type {context.get('tag')!r} (expected {context.get('expected_tags')})"
        return ".".join(parts), message
    key = ".".join(parts) or None
    if error["type"] in _STRICT_TYPE_ERRORS:
        return key, f"{error['msg']}, not {_as_written(error['input'])}"
    return key, error["msg"]


def _as_written(value: object) -> str:
    """`value` as the TOML file writes it, with its kind: ``the string "104"``."""
    kind = {bool: "boolean", str: "string"}.get(type(value), type(value).__name__)
    return f"the {kind} {toml_literal(value)}"


def _cross_checks(site: SiteConfig) -> list[tuple[str, str]]:
    """Checks across keys: aliases, defaults, references and unique AE titles."""
    problems: list[tuple[str, str]] = []
    if site.default_source not in site.sources:
        problems.append(
            (
                "default_source",
                f"{site.default_source!r} is not in sources ({_names(site.sources)})",
            )
        )
    if site.default_backup not in site.backup_targets:
        problems.append(
            (
                "default_backup",
                f"{site.default_backup!r} is not in backup_targets ({_names(site.backup_targets)})",
            )
        )
    for alias, source in site.mosaiq_sources.items():
        stage = source.staging_target_alias
        if stage is not None and stage not in site.backup_targets:
            problems.append(
                (f"sources.{alias}.staging_target_alias", f"{stage!r} is not in backup_targets")
            )
    problems += _drill_checks(site)
    for alias in site.automation.poll_windows:
        if alias not in site.sources:
            problems.append(
                (
                    f"automation.poll_windows.{alias}",
                    f"{alias!r} is not in sources ({_names(site.sources)})",
                )
            )

    aliases: dict[str, str] = {}
    for section, alias in [
        *(("sources", a) for a in site.sources),
        *(("backup_targets", a) for a in site.backup_targets),
    ]:
        if not NAME_PATTERN.match(alias):
            problems.append((f"{section}.{alias}", "aliases are letters, digits and _"))
        elif alias.lower() in aliases:
            problems.append(
                (f"{section}.{alias}", f"differs only in case from {aliases[alias.lower()]}")
            )
        aliases.setdefault(alias.lower(), f"{section}.{alias}")

    ae_titles: dict[str, str] = {site.script_ae.aet: "script_ae.aet"}
    nodes = [
        *((f"sources.{a}", n) for a, n in site.sources.items() if isinstance(n, NetworkNode)),
        *((f"backup_targets.{a}", n) for a, n in site.backup_targets.items()),
    ]
    for key, node in nodes:
        if node.aet in ae_titles:
            problems.append(
                (f"{key}.aet", f"AE title {node.aet!r} is also used by {ae_titles[node.aet]}")
            )
        ae_titles.setdefault(node.aet, f"{key}.aet")
    return problems


def _drill_checks(site: SiteConfig) -> list[tuple[str, str]]:
    """The drill's scratch node: an Orthanc with REST that holds nothing else of the site's."""
    scratch = site.drill.scratch
    if scratch is None:
        return []
    target = site.backup_targets.get(scratch)
    staging = {s.staging_target_alias for s in site.mosaiq_sources.values()}
    if scratch in (site.default_backup, *staging):
        problem = "is the archive or a staging target: the drill would delete from it"
    elif not isinstance(target, OrthancTarget) or target.rest_url is None:
        problem = "is not an Orthanc backup target with a rest_url (the drill empties it again)"
    else:
        return []
    return [("drill.scratch", f"{scratch!r} {problem}")]


def _names(table: Mapping[str, object]) -> str:
    return ", ".join(table) or "none defined"
