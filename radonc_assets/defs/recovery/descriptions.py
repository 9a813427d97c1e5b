"""The UI descriptions of the restores, beside their factories."""

from radonc_assets.site.asset_keys import asset_key, op_name
from radonc_assets.site.config import SiteConfig
from radonc_assets.site.naming import RECOVERIES, recovery_job_name
from radonc_assets.site.partitions import site_partitions

# How a restore is verified, in the descriptions of recoveries and drills.
VERIFICATION = (
    "every instance is retrieved from both sides and compared by content (outside group "
    "0002, PixelData as encoded), and the archive's files are checked against the MD5 the "
    "archive recorded when it stored them (a copy altered since the backup is "
    "altered_in_archive)"
)


def recoveries_description(site: SiteConfig) -> str:
    """``[site, "recoveries"]``, with a run config to copy."""
    targets = site.restore_targets
    return (
        f"Restores from {site.default_backup} into one of {', '.join(targets) or 'none'} "
        "(config: destination and one of patient_id, study_uids, series_uids, date), by "
        f"C-MOVE or, when the archive cannot send to it, by C-GET and C-STORE; then "
        f"{VERIFICATION}. One materialization per restore: selection, destination, "
        "method, counts (restored, missing, mismatched, altered_in_archive), speed and "
        "the report file. Launched from the job "
        f"{recovery_job_name(site)}, with a run config such as:\n\n"
        f"```yaml\n{recovery_example(site)}```"
    )


def recovery_drills_description(site: SiteConfig, scratch: str) -> str:
    """``[site, "recovery_drills"]`` into the scratch node `scratch`."""
    drill = site.drill
    modalities = ", ".join(drill.modalities) or "every modality"
    return (
        f"A restore drill: {drill.studies_per_source} stud(ies) per source drawn at random "
        f"(seeded by the run ID) from the verified backups of the last "
        f"{drill.lookback_days} days ({modalities}), restored from {site.default_backup} "
        f"into the scratch node {scratch}; then {VERIFICATION}; then deleted from "
        f"{scratch} again. One materialization per drill: the sample per source, method, "
        "counts, restore speed (instances/s, MB/s), what was cleaned and the report file."
    )


def recovery_example(site: SiteConfig) -> str:
    """A run config of the recovery of `site` to copy into the launchpad (YAML).

    The restore of the first date of the site's partitions into its first restore target.
    """
    key = asset_key(site, RECOVERIES)
    destination = site.restore_targets[0] if site.restore_targets else "''  # no dicom_scp target"
    return (
        "ops:\n"
        f"  {op_name(key)}:\n"
        "    config:\n"
        f"      destination: {destination}\n"
        "      patient_id: null\n"
        "      study_uids: []\n"
        "      series_uids: []\n"
        f"      date: '{site_partitions(site).get_first_partition_key()}'\n"
    )
