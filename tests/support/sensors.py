"""A sensor's tick, evaluated as the daemon would, from a site's definitions."""

from dataclasses import dataclass

import dagster as dg

from radonc_assets.definitions import site_definitions
from radonc_assets.site.config import SiteConfig
from radonc_assets.site.dagster_resources import fixed_site_resources
from radonc_assets.site.naming import new_data_sensor_name


@dataclass(frozen=True)
class Tick:
    """What one evaluation of a sensor gave."""

    run_requests: list[dg.RunRequest]
    skip_message: str | None
    cursor: str | None


def evaluate(
    instance: dg.DagsterInstance, site: SiteConfig, alias: str, cursor: str | None = None
) -> Tick:
    """One tick of the sensor of `alias`, from the site's definitions."""
    definitions = site_definitions(site)
    sensor = definitions.resolve_sensor_def(new_data_sensor_name(site, alias))
    with dg.build_sensor_context(
        cursor=cursor,
        resources=fixed_site_resources(site),
        instance=instance,
        definitions=definitions,
    ) as context:
        data = sensor.evaluate_tick(context)
    return Tick(list(data.run_requests), data.skip_message, data.cursor)
