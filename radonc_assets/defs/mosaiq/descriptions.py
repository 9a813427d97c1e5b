"""The UI descriptions of the Mosaiq assets, beside their factories."""

from radonc_assets.backup.mosaiq.queries import ACTIVE_DAYS, RECENT_DAYS
from radonc_assets.site.config import MosaiqSource


def treatment_records_description(alias: str, source: MosaiqSource) -> str:
    """``[site, source, "treatment_records"]`` of Mosaiq source `alias`."""
    return (
        f"RT Beams Treatment Records of the day generated from {alias}'s delivery history "
        f"({source.db_database} via {source.odbc_driver}): one per patient, plan and "
        "treatment session, with deterministic UIDs, written as DICOM files with their "
        "manifest. Rows that cannot make a record are listed with their reason; every "
        "delivery (Dose_Hst) of the day that is in no record is written to "
        f"{alias}_not_converted.csv with its patient, time, field, reason and the record "
        "of its session that lacks it (the validation report fails on them unless "
        "acknowledged)."
    )


def active_courses_description(alias: str, source: MosaiqSource) -> str:
    """``[site, source, "active_courses"]`` of Mosaiq source `alias`."""
    return (
        f"Census of the courses on treatment on the day, from {alias}'s delivery history "
        f"({source.db_database} via {source.odbc_driver}). A course is a patient's Mosaiq "
        f"site (prescription); it is active when treated in the {ACTIVE_DAYS} days up to "
        "the day and either has fewer fractions delivered than planned (on treatment, or "
        f"interrupted when not treated in the last {RECENT_DAYS} days) or was last treated "
        f"in the last {RECENT_DAYS} days (completed, beyond planned, or fractions unknown). "
        "One row per course: MRN, patient, site, plan, fractions delivered (highest "
        "fraction number) of planned, treatment days, machine, first and last treatment, "
        "status; written as a CSV file."
    )
