"""`radonc query`: what a source of a site holds, as the earlier tool showed it.

A DICOM source answers a C-FIND; a Mosaiq source lists its deliveries (``Dose_Hst``),
read as the backup reads them.
"""

import argparse
import datetime as dt

from radonc_assets.backup.mosaiq.model import Delivery
from radonc_assets.backup.mosaiq.queries import date_window, day_window
from radonc_assets.backup.source_queries import UndatedRecordsError, day_instances
from radonc_assets.cli.commands import add_command, add_with_earlier_spelling
from radonc_assets.cli.output import print_table
from radonc_assets.cli.records import decimal_text, print_skipped, read_mosaiq_sessions
from radonc_assets.site.access_log import Access, logged
from radonc_assets.site.clients import dicom_client
from radonc_assets.site.config import DicomSource, MosaiqSource, SiteConfig
from radonc_assets.site.loading import load_site
from resources.dicom.client import DicomClient
from resources.dicom.queries import InstanceRecord, QueryLevel, date_range, identifier


def add_parsers(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Register `radonc query`."""
    query = add_command(subparsers, "query")
    query.add_argument("site")
    query.add_argument("source", nargs="?", help="source alias (default: default_source)")
    query.add_argument("--mrn", help="PatientID (Mosaiq: Ident.IDA)")
    add_with_earlier_spelling(
        query,
        "--study-date",
        "--study_date",
        type=dt.date.fromisoformat,
        help="YYYY-MM-DD (DICOM); with --treatment-date: the records in studies of that date",
    )
    add_with_earlier_spelling(
        query, "--treatment-date", "--treatment_date", type=dt.date.fromisoformat, help="YYYY-MM-DD"
    )
    query.set_defaults(func=_query)


def _query(args: argparse.Namespace) -> int:
    site = load_site(args.site)
    alias = args.source or site.default_source
    source = site.sources.get(alias)
    if isinstance(source, MosaiqSource):
        return _deliveries(site, alias, args)
    if not isinstance(source, DicomSource):
        raise site.problem(alias, f"not a source ({', '.join(site.sources)})")
    client = dicom_client(site, alias)
    if args.treatment_date:
        asked = {
            "mrn": args.mrn or "",
            "date": str(args.treatment_date),
            "study_date": str(args.study_date or ""),
        }
        with logged(Access("query", site.name, alias, asked)) as access:
            records = _treatment_records(client, source, args.treatment_date, args.study_date)
            rows = [
                {
                    "PatientID": r.patient_id,
                    "StudyInstanceUID": r.study_instance_uid,
                    "SeriesInstanceUID": r.series_instance_uid,
                    "SOPInstanceUID": r.sop_instance_uid,
                    "TreatmentDate": r.series_date,
                }
                for r in records
                if (not args.mrn or r.patient_id == args.mrn)
                and (not args.study_date or r.study_date == date_range(args.study_date))
            ]
            access.patients = len({row["PatientID"] for row in rows})
            access.instances = access.rows = len(rows)
        print_table(rows)
        in_studies = f" in studies of {args.study_date}" if args.study_date else ""
        print(f"{len(rows)} treatment record(s) on {args.treatment_date}{in_studies} in {alias}")
        return 0
    keys = {
        "PatientID": args.mrn or "",
        "StudyDate": date_range(args.study_date) if args.study_date else "",
    }
    if not any(keys.values()):
        raise SystemExit("radonc: give --mrn, --study-date or --treatment-date")
    asked = {"mrn": args.mrn or "", "date": str(args.study_date or "")}
    with logged(Access("query", site.name, alias, asked)) as access:
        studies = client.find(identifier(QueryLevel.STUDY, {k: v for k, v in keys.items() if v}))
        access.patients = len({str(ds.get("PatientID", "")) for ds in studies})
        access.rows = len(studies)
    columns = ["PatientID", "StudyInstanceUID", "StudyDate", "StudyDescription"]
    print_table([{c: str(ds.get(c, "")) for c in columns} for ds in studies], columns)
    print(f"{len(studies)} stud(ies) in {alias}")
    return 0


def _treatment_records(
    client: DicomClient, source: DicomSource, day: dt.date, study_day: dt.date | None
) -> list[InstanceRecord]:
    """The RT treatment records `source` holds for `day`, found as the backup finds them.

    With `study_day`, the studies searched reach back to it (the caller keeps the records
    of that day's studies).
    """
    lookback = source.record_lookback_days
    if study_day is not None:
        lookback = max(lookback, (day - study_day).days)
    records_only = source.model_copy(
        update={"queries": ("treatment_records",), "record_lookback_days": lookback}
    )
    try:
        return day_instances(client, records_only, day)
    except UndatedRecordsError as exc:
        raise SystemExit(f"radonc: {exc}") from None


def _deliveries(site: SiteConfig, alias: str, args: argparse.Namespace) -> int:
    """The deliveries of a patient and/or a date in a Mosaiq source, and the rows left out."""
    if args.study_date:
        raise SystemExit(f"radonc: {alias} is a Mosaiq source: give --mrn or --treatment-date")
    if not (args.mrn or args.treatment_date):
        raise SystemExit("radonc: give --mrn or --treatment-date")
    window = day_window(args.treatment_date) if args.treatment_date else date_window()
    asked = {"mrn": args.mrn or "", "date": str(args.treatment_date or "")}
    with logged(Access("query", site.name, alias, asked)) as access:
        parsed = read_mosaiq_sessions(site, alias, window, mrn=args.mrn or None)
        deliveries = sorted(
            (delivery for session in parsed.items for delivery in session.deliveries),
            key=lambda delivery: (delivery.treated_at, delivery.dhs_id),
        )
        patients = len({delivery.patient.pat_id1 for delivery in deliveries})
        access.patients, access.rows = patients, len(deliveries)
    print_table([_delivery_row(delivery) for delivery in deliveries])
    on = f" on {args.treatment_date}" if args.treatment_date else ""
    print(f"{len(deliveries)} delivery(ies) of {patients} patient(s){on} in {alias}")
    print_skipped(parsed.skipped)
    return 0


def _delivery_row(delivery: Delivery) -> dict[str, str]:
    field = delivery.field
    planned = field.site.fractions_planned
    fraction = "" if delivery.fraction_number is None else str(delivery.fraction_number)
    return {
        "MRN": delivery.patient.mrn,
        "Patient": delivery.patient.display_name,
        "Treated": f"{delivery.treated_at:%Y-%m-%d %H:%M:%S}",
        "Field": field.description,
        "Beam": field.beam_name,
        "MU": decimal_text(delivery.delivered_meterset),
        "PlannedMU": "" if field.planned_meterset is None else decimal_text(field.planned_meterset),
        "Fraction": f"{fraction}/{planned}" if fraction and planned is not None else fraction,
        "Termination": " ".join(
            part for part in (delivery.termination_status, delivery.termination_code) if part
        ),
    }
