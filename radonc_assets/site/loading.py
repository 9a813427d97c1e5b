"""Reading the site files: every site of `environments/*.toml`, validated.

Everything is validated when a file is loaded: the models of
:mod:`radonc_assets.site.config` check each key, :func:`_cross_checks` the keys
that refer to each other (aliases, defaults, unique AE titles). Every problem is
reported with the file, the site and the key it concerns.
"""

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from radonc_assets.site.config import (
    NAME_PATTERN,
    ConfigError,
    MissingSecretError,
    NetworkNode,
    Problem,
    SiteConfig,
)
from radonc_assets.site.paths import environments_dir


def load_sites(path: Path | None = None) -> dict[str, SiteConfig]:
    """Load and validate every site of a site file, or of all ``*.toml`` in a folder.

    Args:
        path: A TOML file or a folder; default :func:`environments_dir`.

    Returns:
        The sites by name.

    Raises:
        ConfigError: Listing every problem found in every file.
    """
    path = path or environments_dir()
    files = sorted(path.glob("*.toml")) if path.is_dir() else [path]
    if not files:
        raise ConfigError([Problem(path, None, None, "no site files (*.toml) found")])
    sites: dict[str, SiteConfig] = {}
    problems: list[Problem] = []
    for file in files:
        try:
            loaded = _load_file(file)
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        for name, site in loaded.items():
            if name.lower() in {s.lower() for s in sites}:
                other = next(s for s in sites.values() if s.name.lower() == name.lower())
                problems.append(
                    Problem(file, name, None, f"site also defined in {other.source_file}")
                )
            sites[name] = site
    if problems:
        raise ConfigError(problems)
    return sites


def load_site(name: str, path: Path | None = None) -> SiteConfig:
    """Load one site by name (case-insensitive) from the site files."""
    sites = load_sites(path)
    for site_name, site in sites.items():
        if site_name.lower() == name.lower():
            return site
    raise ConfigError(
        [Problem(path or environments_dir(), name, None, f"no such site ({', '.join(sites)})")]
    )


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


def _load_file(file: Path) -> dict[str, SiteConfig]:
    try:
        document = tomllib.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError([Problem(file, None, None, f"cannot read: {exc.strerror}")]) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([Problem(file, None, None, f"invalid TOML: {exc}")]) from exc

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
            problems.extend(Problem(file, name, *_describe(err)) for err in exc.errors())
            continue
        site_problems = [Problem(file, name, key, msg) for key, msg in _cross_checks(site)]
        if site_problems:
            problems.extend(site_problems)
        else:
            sites[name] = site
    if problems:
        raise ConfigError(problems)
    return sites


def _describe(error: ErrorDetails) -> tuple[str | None, str]:
    """The key (`sources.ARIA_MAIN.port`) and message of a pydantic error."""
    tags = {"aria", "mim", "mosaiq", "orthanc", "dicom_scp"}
    parts = [str(p) for i, p in enumerate(error["loc"]) if not (i == 2 and p in tags)]
    if error["type"] == "union_tag_invalid":
        context = error.get("ctx", {})
        parts.append("type")
        message = f"unknown type {context.get('tag')!r} (expected {context.get('expected_tags')})"
        return ".".join(parts), message
    return ".".join(parts) or None, error["msg"]


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


def _names(table: Mapping[str, object]) -> str:
    return ", ".join(table) or "none defined"
