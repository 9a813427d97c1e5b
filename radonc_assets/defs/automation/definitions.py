"""What runs a site without an operator: sensors, schedules, alerts, automation conditions."""

import dagster as dg

from radonc_assets.defs.automation.alerts import site_alert_sensors
from radonc_assets.defs.automation.schedules import site_schedules
from radonc_assets.defs.automation.sensors import site_sensors
from radonc_assets.site.config import SiteConfig
from radonc_assets.site.naming import automation_sensor_name, group_name


def automation_sensor(site: SiteConfig) -> dg.AutomationConditionSensorDefinition:
    """The sensor evaluating the automation conditions of `site`'s assets, on as shipped.

    The validation report follows its copies: when a copy of a day is materialized
    without it (a run of one asset from the UI), the report of that day is run; the
    coverage follows the reports. Every asset of the site, whatever its group.
    """
    return dg.AutomationConditionSensorDefinition(
        name=automation_sensor_name(site),
        target=dg.AssetSelection.key_prefixes([group_name(site)]),
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            f"Evaluates the automation conditions of {site.name}'s assets: the validation "
            "report of a day follows that day's copies."
        ),
    )


def site_definitions(site: SiteConfig) -> dg.Definitions:
    """The sensors and schedules of `site`."""
    return dg.Definitions(
        sensors=[*site_sensors(site), *site_alert_sensors(site), automation_sensor(site)],
        schedules=site_schedules(site),
    )
