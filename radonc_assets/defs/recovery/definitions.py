"""The recovery of a site: recoveries launched by an operator, and restore drills."""

import dagster as dg

from radonc_assets.defs.recovery.assets import recoveries_asset, recovery_drills_asset
from radonc_assets.defs.recovery.descriptions import recovery_example
from radonc_assets.site.asset_keys import asset_key
from radonc_assets.site.config import SiteConfig
from radonc_assets.site.instance import RETRY_ON_STEP_FAILURE_TAG
from radonc_assets.site.naming import RECOVERIES, RECOVERY_DRILLS, drill_job_name, recovery_job_name


def site_definitions(site: SiteConfig) -> dg.Definitions:
    """The recoveries asset of `site` and ``{site}_recovery``, its job for the launchpad.

    With a drill scratch node (``[SITE.drill] scratch``), also the recovery drills asset
    and ``{site}_drill``, the job its weekly schedule launches.
    """
    assets = [recoveries_asset(site)]
    jobs = [
        dg.define_asset_job(
            name=recovery_job_name(site),
            selection=dg.AssetSelection.assets(asset_key(site, RECOVERIES)),
            description=(
                f"Restore from {site.name}'s archive into a restore target, verified by "
                'content. In the launchpad, "Scaffold missing config" writes every key: '
                "pick the destination and fill in exactly one of patient_id, study_uids, "
                "series_uids, date (YYYY-MM-DD). For example:\n\n"
                f"```yaml\n{recovery_example(site)}```"
            ),
            # A failed restore is an operator's to look at (a wrong selection, a node
            # down), never retried by the instance's run retries, whatever dagster.yaml says.
            tags={RETRY_ON_STEP_FAILURE_TAG: "false"},
        )
    ]
    if site.drill.scratch is not None:
        assets.append(recovery_drills_asset(site, site.drill.scratch))
        jobs.append(
            dg.define_asset_job(
                name=drill_job_name(site),
                selection=dg.AssetSelection.assets(asset_key(site, RECOVERY_DRILLS)),
                description=(
                    f"A restore drill of {site.name}: a random sample of each source's "
                    f"verified backups restored into {site.drill.scratch}, verified, deleted "
                    "again. Launched weekly by its schedule; no config."
                ),
            )
        )
    return dg.Definitions(assets=assets, jobs=jobs)
