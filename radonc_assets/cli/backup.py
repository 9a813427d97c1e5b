"""`radonc backup`, `radonc validate` and `radonc query`, in the shape of the earlier tools.

Backups and validations run the site's Dagster job in this process against the
Dagster instance at ``$DAGSTER_HOME`` (default ``./.dagster_home``), so every run,
materialization and check shows up in the UI. Each date is one partition; one
line per date and source summarises it; the exit code is 1 when anything is
missing or failed.
"""

import argparse
import datetime as dt
import os
from collections.abc import Sequence
from pathlib import Path

import dagster as dg

from radonc_assets.assets import asset_key, check_name
from radonc_assets.cli.output import print_table
from radonc_assets.definitions import site_definitions
from radonc_assets.jobs import backup_job_name
from radonc_assets.site_config import DicomSource, SiteConfig, load_site
from radonc_assets.site_resources import dicom_client
from radonc_assets.source_queries import day_instances
from resources.dicom_query import QueryLevel, date_range, identifier

DEFAULT_DAGSTER_HOME = Path.cwd() / ".dagster_home"


def add_parsers(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Register `radonc backup`, `radonc validate` and `radonc query`."""
    backup = subparsers.add_parser("backup", help="back up and validate dates of a site")
    backup.add_argument("site")
    backup.add_argument("source", nargs="?", help="one DICOM source (default: all of them)")
    _date_options(backup, ranges=True)
    backup.set_defaults(func=_backup)

    validate = subparsers.add_parser("validate", help="compare sources and archive for a date")
    validate.add_argument("site")
    validate.add_argument("source", nargs="?", help="report this source (default: all)")
    validate.add_argument("backup", nargs="?", help="the archive (must be default_backup)")
    _date_options(validate, ranges=False)
    validate.set_defaults(func=_validate)

    query = subparsers.add_parser("query", help="what a DICOM source holds (C-FIND)")
    query.add_argument("site")
    query.add_argument("source", nargs="?", help="source alias (default: default_source)")
    query.add_argument("--mrn", help="PatientID")
    query.add_argument("--study-date", type=dt.date.fromisoformat, help="YYYY-MM-DD")
    query.add_argument("--treatment-date", type=dt.date.fromisoformat, help="YYYY-MM-DD")
    query.set_defaults(func=_query)


def _date_options(parser: argparse.ArgumentParser, *, ranges: bool) -> None:
    dates = parser.add_mutually_exclusive_group(required=True)
    dates.add_argument("--date", type=dt.date.fromisoformat, help="YYYY-MM-DD")
    if ranges:
        dates.add_argument("--from", dest="start", type=dt.date.fromisoformat, help="first date")
        parser.add_argument("--to", dest="end", type=dt.date.fromisoformat, help="last date")


# A new instance gets one transfer at a time per source pool (see assets.source_pool).
NEW_INSTANCE_SETTINGS = """\
concurrency:
  pools:
    default_limit: 1
telemetry:
  enabled: false
"""


def dagster_instance() -> dg.DagsterInstance:
    """The instance at ``$DAGSTER_HOME`` (``./.dagster_home`` when unset); a new one is
    created with a concurrency limit of 1 per pool."""
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(DEFAULT_DAGSTER_HOME)))
    settings = home / "dagster.yaml"
    if not settings.exists():
        home.mkdir(parents=True, exist_ok=True)
        settings.write_text(NEW_INSTANCE_SETTINGS)
    return dg.DagsterInstance.get()


def _dates(args: argparse.Namespace) -> list[dt.date]:
    if args.date:
        return [args.date]
    if args.end is None or args.end < args.start:
        raise SystemExit("radonc: --from needs a --to on or after it")
    return [args.start + dt.timedelta(days=n) for n in range((args.end - args.start).days + 1)]


def _sources(site: SiteConfig, alias: str | None) -> list[str]:
    if alias is None:
        return list(site.dicom_sources)
    if alias not in site.dicom_sources:
        raise site.problem(alias, f"not a DICOM source ({', '.join(site.dicom_sources)})")
    return [alias]


def run_site_job(
    site: SiteConfig, day: dt.date, selection: Sequence[dg.AssetKey]
) -> dg.ExecuteInProcessResult:
    """Run the site's backup job for `day`, restricted to `selection`, in this process."""
    job = site_definitions(site).resolve_job_def(backup_job_name(site))
    return job.execute_in_process(
        partition_key=day.isoformat(),
        instance=dagster_instance(),
        asset_selection=list(selection),
        raise_on_error=False,
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
    )


def _summary(
    result: dg.ExecuteInProcessResult, site: SiteConfig, day: dt.date, aliases: list[str]
) -> bool:
    """Print one line per source; True when every source is complete."""
    materialized = {
        e.asset_key: {k: v.value for k, v in e.materialization.metadata.items()}
        for e in result.get_asset_materialization_events()
    }
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    complete = result.success
    for alias in aliases:
        copies = materialized.get(asset_key(site, alias, "orthanc_copies"))
        check = checks.get(check_name(alias))
        parts = []
        if copies is not None:
            parts.append(
                f"{copies['instances']} instances: {copies['copied']} copied, "
                f"{copies['already_present']} already present, {copies['missing']} missing, "
                f"{copies['failed']} failed"
            )
        if check is None:
            parts.append("not validated (the run failed: see the Dagster UI)")
            complete = False
        else:
            missing = check.metadata["missing"].value
            mismatched = check.metadata["mismatched"].value
            verdict = "complete" if check.passed else "INCOMPLETE"
            parts.append(f"{verdict} ({missing} missing, {mismatched} mismatched)")
            complete = complete and check.passed
        print(f"{day} {site.name} {alias}: " + "; ".join(parts), flush=True)
    return complete


def _backup(args: argparse.Namespace) -> int:
    site = load_site(args.site)
    aliases = _sources(site, args.source)
    selection = [
        *(asset_key(site, a, "source_studies") for a in site.dicom_sources),
        *(asset_key(site, a, "orthanc_copies") for a in aliases),
        asset_key(site, "validation_report"),
    ]
    results = [
        _summary(run_site_job(site, day, selection), site, day, aliases) for day in _dates(args)
    ]
    failed = results.count(False)
    print(
        f"{len(results)} date(s) backed up; {failed} incomplete"
        + (" (see the Dagster UI)" if failed else "")
    )
    return 1 if failed else 0


def _validate(args: argparse.Namespace) -> int:
    site = load_site(args.site)
    if args.backup not in (None, site.default_backup):
        raise site.problem(
            args.backup, f"validation runs against default_backup ({site.default_backup})"
        )
    aliases = _sources(site, args.source)
    selection = [
        *(asset_key(site, a, "source_studies") for a in site.dicom_sources),
        asset_key(site, "validation_report"),
    ]
    complete = _summary(run_site_job(site, args.date, selection), site, args.date, aliases)
    return 0 if complete else 1


def _query(args: argparse.Namespace) -> int:
    site = load_site(args.site)
    alias = args.source or site.default_source
    source = site.sources.get(alias)
    if not isinstance(source, DicomSource):
        raise site.problem(alias, "not a DICOM source (Mosaiq is queried with `radonc report`)")
    client = dicom_client(site, alias)
    if args.treatment_date:
        records = day_instances(
            client,
            source.model_copy(update={"queries": ("treatment_records",)}),
            args.treatment_date,
        )
        rows = [
            {
                "PatientID": r.patient_id,
                "StudyInstanceUID": r.study_instance_uid,
                "SeriesInstanceUID": r.series_instance_uid,
                "SOPInstanceUID": r.sop_instance_uid,
                "TreatmentDate": r.series_date,
            }
            for r in records
            if not args.mrn or r.patient_id == args.mrn
        ]
        print_table(rows)
        print(f"{len(rows)} treatment record(s) on {args.treatment_date} in {alias}")
        return 0
    keys = {
        "PatientID": args.mrn or "",
        "StudyDate": date_range(args.study_date) if args.study_date else "",
    }
    if not any(keys.values()):
        raise SystemExit("radonc: give --mrn, --study-date or --treatment-date")
    studies = client.find(identifier(QueryLevel.STUDY, {k: v for k, v in keys.items() if v}))
    columns = ["PatientID", "StudyInstanceUID", "StudyDate", "StudyDescription"]
    print_table([{c: str(ds.get(c, "")) for c in columns} for ds in studies], columns)
    print(f"{len(studies)} stud(ies) in {alias}")
    return 0
