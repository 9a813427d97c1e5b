"""The names a site's objects go by in Dagster, each defined once.

Asset keys are lower-case ``[site, source, name]``; a site's daily backup chain
forms one asset group named after the site, so that the group's "Materialize all"
backfills dates; its restores and what runs over every date have groups of their own.
A node of the site (source or backup target)
is a resource keyed ``{site}_{alias}``, and a source's transfers take a slot of
the concurrency pool of the same name, so a backfill never floods it.

Every name is here once, as a constant or a function, and knows no Dagster: the
backup logic names its files after the assets with them, and
:mod:`radonc_assets.site.asset_keys` builds Dagster's keys of them.
"""

from radonc_assets.site.config import MosaiqSource, SiteConfig, Source


def group_name(site: SiteConfig) -> str:
    """The asset group of `site`'s daily backup chain: its name in lower case.

    Its listings, copies, Mosaiq's census and the validation report, every one partitioned
    by date: what a backfill of dates runs, and nothing that takes a config or spans dates.
    """
    return site.name.lower()


def restores_group_name(site: SiteConfig) -> str:
    """The asset group of `site`'s restores (recoveries, drills): ``{site}_restores``."""
    return f"{group_name(site)}_restores"


def maintenance_group_name(site: SiteConfig) -> str:
    """The group of what spans `site`'s dates: ``{site}_maintenance``.

    The coverage, the rolling content verification and the retention's purge.
    """
    return f"{group_name(site)}_maintenance"


# The last part of each asset key: ``[site, source, name]`` for a source's assets,
# ``[site, name]`` for the site's.
SOURCE_STUDIES = "source_studies"
TREATMENT_RECORDS = "treatment_records"
ORTHANC_COPIES = "orthanc_copies"
ACTIVE_COURSES = "active_courses"
VALIDATION_REPORT = "validation_report"
COVERAGE = "coverage"
CONTENT_VERIFICATION = "content_verification"
RETENTION = "retention"
RECOVERIES = "recoveries"
RECOVERY_DRILLS = "recovery_drills"


def manifest_name(source: Source) -> str:
    """The asset (and file) of a source's daily manifest: what it holds for the day.

    ``source_studies`` for a DICOM source (found by C-FIND), ``treatment_records``
    for Mosaiq (generated from its delivery history).
    """
    return TREATMENT_RECORDS if isinstance(source, MosaiqSource) else SOURCE_STUDIES


def node_key(site: SiteConfig, alias: str) -> str:
    """``{site}_{alias}`` in lower case: the resource key of a node of `site`.

    It also names the concurrency pool protecting the node when it is a source.
    """
    return f"{site.name}_{alias}".lower()


def source_kinds(alias: str, *kinds: str) -> set[str]:
    """The kinds of a source's asset: the source's alias, then what the asset is made of.

    The UI's graph labels a node with the last part of its key only: the alias among
    its kinds says whose ``orthanc_copies`` it is.
    """
    return {alias.lower(), *kinds}


def check_name(alias: str) -> str:
    """The asset check of the validation report on one source."""
    return f"{alias.lower()}_complete"


# The asset check of the validation report on the day's treatment chains.
CHAIN_CHECK = "treatment_chains_complete"
# The asset check of the rolling content verification: every instance due compared intact.
CONTENT_CHECK = "content_verified"
# The asset check of a restore (recovery or drill): every instance restored intact.
RESTORE_CHECK = "restore_verified"


def backup_job_name(site: SiteConfig) -> str:
    """The daily backup job of `site`: ``{site}_backup``."""
    return f"{group_name(site)}_backup"


def validate_job_name(site: SiteConfig) -> str:
    """The job that validates one day of `site` again, without copying: ``{site}_validate``."""
    return f"{group_name(site)}_validate"


def coverage_job_name(site: SiteConfig) -> str:
    """The job refreshing the coverage after a failed report: ``{site}_coverage``."""
    return f"{group_name(site)}_coverage"


def recovery_job_name(site: SiteConfig) -> str:
    """The job restoring from the archive: ``{site}_recovery``."""
    return f"{group_name(site)}_recovery"


def drill_job_name(site: SiteConfig) -> str:
    """The job of a restore drill into the scratch node: ``{site}_drill``."""
    return f"{group_name(site)}_drill"


def drill_schedule_name(site: SiteConfig) -> str:
    """The schedule of the weekly restore drill: ``{site}_recovery_drill``."""
    return f"{group_name(site)}_recovery_drill"


def retention_job_name(site: SiteConfig) -> str:
    """The job purging the data folder past the retention: ``{site}_retention``."""
    return f"{group_name(site)}_retention"


def retention_schedule_name(site: SiteConfig) -> str:
    """The schedule of the daily purge: ``{site}_daily_retention``."""
    return f"{group_name(site)}_daily_retention"


def content_verification_job_name(site: SiteConfig) -> str:
    """The job of the rolling content verification: ``{site}_content_verification``."""
    return f"{group_name(site)}_content_verification"


def content_verification_schedule_name(site: SiteConfig) -> str:
    """The schedule of the rolling content verification: ``{site}_daily_content_verification``."""
    return f"{group_name(site)}_daily_content_verification"


def new_data_sensor_name(site: SiteConfig, alias: str) -> str:
    """The sensor watching source `alias` for new data: ``{site}_{alias}_new_data``."""
    return f"{node_key(site, alias)}_new_data"


def nightly_schedule_name(site: SiteConfig) -> str:
    """The schedule backing up the previous day: ``{site}_nightly_backup``."""
    return f"{group_name(site)}_nightly_backup"


def revalidation_schedule_name(site: SiteConfig) -> str:
    """The schedule validating the last days again: ``{site}_weekly_revalidation``."""
    return f"{group_name(site)}_weekly_revalidation"


def automation_sensor_name(site: SiteConfig) -> str:
    """The sensor evaluating the automation conditions of `site`'s assets: ``{site}_automation``."""
    return f"{group_name(site)}_automation"


def alert_sensor_name(site: SiteConfig, what: str) -> str:
    """The sensor alerting on `what` (``run_failure``) of `site`'s runs."""
    return f"{group_name(site)}_{what}_alerts"
