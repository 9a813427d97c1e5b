"""The UI descriptions of the assets every source has, beside their factories (copies.py)."""

from radonc_assets.site.config import SiteConfig


def copies_description(site: SiteConfig, alias: str, method: str) -> str:
    """The UI description of ``[site, source, "orthanc_copies"]`` copied by `method`."""
    limit = site.settings.max_uids_per_run
    bound = f", at most {limit} per run" if limit else ""
    return (
        f"The day's instances of {alias} in the Orthanc archive {site.default_backup}: what is "
        f"missing is copied ({method}{bound}), then every instance is confirmed in the "
        "archive; a series that fails is retried instance by instance. What the day's last "
        "validation found altered_in_archive is checked again and, still altered, deleted "
        "from the archive first, so that it is copied again. One row per "
        "instance with its outcome (already_present, copied, failed with its cause, "
        "deferred to the next run). Metadata: instances (the day's, in the manifest) "
        "and how many are already_present, copied, failed or deferred; replaced, the "
        "altered instances deleted to be copied again; bytes_of_day, "
        "the size in the archive of the day's instances (not of their whole studies); "
        "bytes_copied, the size of those this run copied (the archive's files, whether "
        "by C-MOVE, C-GET relay or C-STORE; 0 without the archive's REST API); "
        "retrieve_requests, the C-MOVE/C-GET/C-STORE requests made, of which "
        "series_moved_while_enumerating were whole series the archive lacked, C-MOVEd "
        "while the day was being enumerated; "
        "instances_per_second, copied instances over the run's time."
    )
