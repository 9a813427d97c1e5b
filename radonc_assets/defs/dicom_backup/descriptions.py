"""The UI descriptions of the DICOM backup's assets, beside their factories."""

from radonc_assets.site.config import DicomSource, SiteConfig


def source_studies_description(alias: str, source: DicomSource, *, overlap: bool) -> str:
    """``[site, source, "source_studies"]``; `overlap`: the copy moves series while they are listed."""
    return (
        f"Manifest of what {alias} ({source.type.upper()}, {source.aet}) holds for "
        f"the day: one row per instance, listed in full by C-FIND study -> series "
        f"-> image ({', '.join(source.daily_queries)}; image queries over "
        f"{source.associations} association(s)) on every run; the validation's "
        "verdict rests on this listing (metadata listed_at). A source that cannot "
        "be listed is materialized with listing: unreachable and its cause, and "
        "the report says so for the day, while the other sources go on."
        + (
            " Materialized with the copy, each series the archive holds none of "
            "is C-MOVEd as soon as it is listed."
            if overlap
            else ""
        )
    )


# ``[site, "validation_report"]``.
VALIDATION_REPORT_DESCRIPTION = (
    "Compares each source's manifest for the day with the archive: verified, missing "
    "(with the cause the last copy gave), deferred (left for the next run by "
    "max_uids_per_run), mismatched (other series, SOP class or modality; with "
    "deep_validation, other content of a DICOM source; without the archive's REST "
    "API, that of every instance), altered_in_archive (the archive's file is no "
    "longer the one it stored: Orthanc's MD5 check of each file) and extra "
    "instances. Mosaiq's "
    "manifest is the records generated for the day. Extra: instances the archive "
    "holds in the day's studies that no source listed for the day (another day's "
    "instances of the same study, or ones stored in the archive by other means); "
    "listed, never a failure. One asset check per source, per date, fails when "
    "anything is missing, deferred or mismatched; another when a treatment record's "
    "plan, structure set or images are not in the archive. Metadata, first whether the "
    "date is safe: the verdict, then per source (the sources table) its verdict, the "
    "instances it holds, those in the archive and the counts per status; then the "
    "day's instances counted once across sources (distinct_*: a CT that ARIA and MIM "
    "both hold is one instance); below them the extra instances (extra_in_archive, "
    "not a failure); the studies (with the sources that list each) and the paths of "
    "the report and treatment chain files."
)


def coverage_description(site: SiteConfig) -> str:
    """``[site, "coverage"]``, with the rolling content verification when the site has it."""
    rolling = site.settings.rolling_content_days
    return (
        f"Every date of {site.name} from backfill_start to today with the verdict its "
        "validation report gives (docs/assets.md, Verdicts): complete (every source's "
        "full listing verified in the archive, intact), incomplete (something missing, "
        "mismatched, damaged or not converted), unreachable (a source could not be "
        "listed), not_run (no report, or a source without a listing that can decide the "
        "date) or deferred (what is lacking was only left for the next run by "
        "max_uids_per_run), with the report's counts (acknowledged deliveries among "
        "them). Written as a CSV file and shown per month and per date (newest first); "
        "updated by the automation sensor after each validation report, passed or "
        "failed, and every 10 minutes."
        + (
            " With the rolling content verification, an instance whose archived content "
            "it found not the source's is mismatched, its date incomplete, and each "
            "date counts its verified instances proven identical within the last "
            f"{rolling} days (content_verified; their fraction in the metadata)."
            if rolling
            else ""
        )
    )
