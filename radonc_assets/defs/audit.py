"""Who started a run and how: two run tags, shown in the UI's runs, copied into the reports.

``radonc/launched_by`` says how a run started: ``cli`` (a `radonc` command), ``ui`` (the
launchpad or a materialization from the UI), ``backfill``, ``sensor``, ``schedule`` or
``automation`` (an automation condition). ``radonc/started_by`` says who: the operating
system user of a command, the user the deployment puts in Dagster's ``dagster/user`` or ``user`` tag for
the UI and backfills (none in open-source Dagster without a login in front of it), the
sensor's or schedule's name. The command line sets both when it launches a run; for the
others every asset's step works them out from Dagster's own tags (:func:`run_audit`) and
adds them to its run when they are not there yet.
"""

from collections.abc import Mapping

import dagster as dg

from radonc_assets.site.instance import LAUNCHED_BY_TAG, STARTED_BY_TAG

# Dagster's tags (dagster._core.storage.tags) that tell how a run started.
_SENSOR_TAG = "dagster/sensor_name"
_SCHEDULE_TAG = "dagster/schedule_name"
_BACKFILL_TAG = "dagster/backfill"
_AUTOMATION_TAG = "dagster/from_automation_condition"
_USER_TAG = "user"
_DAGSTER_USER_TAG = "dagster/user"
# Who started a run from the UI when the deployment does not say.
UNKNOWN_USER = "unknown (no login)"


def run_origin(tags: Mapping[str, str]) -> tuple[str, str]:
    """How a run with `tags` started, and by whom (see the module docstring).

    Returns:
        ``(launched_by, started_by)``.
    """
    if LAUNCHED_BY_TAG in tags:
        return tags[LAUNCHED_BY_TAG], tags.get(STARTED_BY_TAG, UNKNOWN_USER)
    if _SENSOR_TAG in tags:
        how = "automation" if tags.get(_AUTOMATION_TAG) else "sensor"
        return how, tags[_SENSOR_TAG]
    if _SCHEDULE_TAG in tags:
        return "schedule", tags[_SCHEDULE_TAG]
    how = "backfill" if _BACKFILL_TAG in tags else "ui"
    return how, dagster_user(tags) or UNKNOWN_USER


def dagster_user(tags: Mapping[str, str]) -> str | None:
    """The user the deployment names for a run with `tags`, None when it names none.

    Its ``dagster/user`` tag (Dagster+), else its ``user`` tag (a login in front of the UI).
    """
    return tags.get(_DAGSTER_USER_TAG) or tags.get(_USER_TAG) or None


def run_audit(context: dg.AssetExecutionContext) -> dict[str, str]:
    """The run's id and origin, for report files; the origin tags added to the run if missing.

    Returns:
        ``run_id``, ``launched_by`` and ``started_by``.
    """
    tags = context.run.tags
    launched_by, started_by = run_origin(tags)
    missing = {
        tag: value
        for tag, value in ((LAUNCHED_BY_TAG, launched_by), (STARTED_BY_TAG, started_by))
        if tag not in tags
    }
    if missing:
        context.instance.add_run_tags(context.run.run_id, missing)
    return {"run_id": context.run.run_id, "launched_by": launched_by, "started_by": started_by}
