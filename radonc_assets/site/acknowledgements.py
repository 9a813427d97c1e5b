"""Acknowledged Mosaiq deliveries: a named person's word that a delivery makes no record.

A Mosaiq delivery of a date that became no RT record (a field without usable control
points, no delivered meterset, a modality that is no linac beam...) leaves that date
incomplete (``not_converted``) until someone acknowledges it in the site's
acknowledgements file, beside its site file and named by the site in lower case
(``environments/ucla.acknowledgements.toml``, :func:`~radonc_assets.site.paths.acknowledgements_file`).
One array of tables per Mosaiq source alias, one entry per delivery (``Dose_Hst.DHS_ID``)::

    [[MOSAIQ_DB]]
    dhs_id = 123456
    who = "A. Physicist"
    why = "Setup field imported without control points: no dose delivered"
    when = 2026-01-08

The file is read when a date is validated, not with the site file: a broken file keeps
that source's deliveries not acknowledged (the report says why), and nothing else of the
site depends on it.
"""

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints, ValidationError

from radonc_assets.site.config import SiteConfig
from radonc_assets.site.errors import ConfigError, Problem
from radonc_assets.site.loading import describe_error, read_document
from radonc_assets.site.paths import acknowledgements_file

_Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class Acknowledgement(BaseModel):
    """One acknowledged delivery.

    Attributes:
        dhs_id: ``Dose_Hst.DHS_ID`` of the delivery.
        who: Who acknowledges it (a name).
        why: Why no record of it is needed, or what was done instead.
        when: The date of the acknowledgement (a TOML date, unquoted).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    dhs_id: Annotated[StrictInt, Field(ge=1)]
    who: _Text
    why: _Text
    when: dt.date


# Acknowledgements by Mosaiq source alias, then by DHS_ID.
Acknowledgements = Mapping[str, Mapping[int, Acknowledgement]]


def load_acknowledgements(site: SiteConfig) -> Acknowledgements:
    """The acknowledgements of `site` (empty without a file).

    Raises:
        ConfigError: Every problem of the file, each naming the file, site and key.
    """
    file = acknowledgements_file(site.source_file, site.name)
    if not file.exists():
        return {}
    return parse_acknowledgements(read_document(file), file, site)


def parse_acknowledgements(
    document: Mapping[str, Any], file: Path, site: SiteConfig
) -> Acknowledgements:
    """The acknowledgements of a file's TOML `document`, validated against `site`.

    Each top-level key is a Mosaiq source of the site holding an array of tables; each
    entry has exactly ``dhs_id``, ``who``, ``why`` and ``when``; a DHS_ID appears once per
    source. Entries are named by their position from 1 (``MOSAIQ_DB[2].who``).

    Raises:
        ConfigError: Every problem found, each naming the file, site and key.
    """
    problems: list[Problem] = []
    found: dict[str, dict[int, Acknowledgement]] = {}

    def problem(key: str, message: str) -> None:
        problems.append(Problem(file, site.name, key, message))

    for alias, entries in document.items():
        if alias not in site.mosaiq_sources:
            known = ", ".join(site.mosaiq_sources) or "none"
            problem(alias, f"not a Mosaiq source of the site (Mosaiq sources: {known})")
            continue
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            problem(alias, f"must be an array of tables, one [[{alias}]] per delivery")
            continue
        by_id = found.setdefault(alias, {})
        for number, entry in enumerate(entries, start=1):
            key = f"{alias}[{number}]"
            try:
                acknowledgement = Acknowledgement.model_validate(entry)
            except ValidationError as exc:
                for error in exc.errors():
                    field, message = describe_error(error)
                    problem(f"{key}.{field}" if field else key, message)
                continue
            if acknowledgement.dhs_id in by_id:
                problem(f"{key}.dhs_id", f"DHS_ID {acknowledgement.dhs_id} is acknowledged twice")
                continue
            by_id[acknowledgement.dhs_id] = acknowledgement
    if problems:
        raise ConfigError(problems)
    return found
