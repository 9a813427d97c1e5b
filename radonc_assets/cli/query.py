"""`radonc query`: what a DICOM source of a site holds (C-FIND), as the earlier tool showed it."""

import argparse
import datetime as dt

from radonc_assets.backup.source_queries import day_instances
from radonc_assets.cli.output import print_table
from radonc_assets.site.clients import dicom_client
from radonc_assets.site.config import DicomSource
from radonc_assets.site.loading import load_site
from resources.dicom.queries import QueryLevel, date_range, identifier


def add_parser(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Register `radonc query`."""
    query = subparsers.add_parser("query", help="what a DICOM source holds (C-FIND)")
    query.add_argument("site")
    query.add_argument("source", nargs="?", help="source alias (default: default_source)")
    query.add_argument("--mrn", help="PatientID")
    query.add_argument("--study-date", type=dt.date.fromisoformat, help="YYYY-MM-DD")
    query.add_argument("--treatment-date", type=dt.date.fromisoformat, help="YYYY-MM-DD")
    query.set_defaults(func=_query)


def _query(args: argparse.Namespace) -> int:
    site = load_site(args.site)
    alias = args.source or site.default_source
    source = site.sources.get(alias)
    if not isinstance(source, DicomSource):
        raise site.problem(alias, f"not a DICOM source ({', '.join(site.dicom_sources)})")
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
