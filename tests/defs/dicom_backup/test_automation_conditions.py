"""The validation report follows its copies; the coverage follows the reports."""

import dagster as dg
import pytest

from radonc_assets.definitions import site_definitions
from radonc_assets.devtools.demo import DemoServers
from radonc_assets.site.asset_keys import asset_key
from radonc_assets.site.dagster_resources import site_resources
from radonc_assets.site.naming import COVERAGE, ORTHANC_COPIES, SOURCE_STUDIES, VALIDATION_REPORT

DAY = "2026-01-07"
pytestmark = pytest.mark.usefixtures("lab_courses_planned")


def materialize(
    lab: DemoServers,
    instance: dg.DagsterInstance,
    *names: str,
    passes: bool = True,
    day: str = DAY,
) -> None:
    definitions = site_definitions(lab.site)
    result = dg.materialize(
        list(definitions.assets or []),  # type: ignore[arg-type]
        partition_key=day,
        resources=site_resources(lab.site),
        selection=list(names),
        instance=instance,
        raise_on_error=False,
    )
    assert result.success == passes


def test_the_report_of_a_day_follows_each_sources_copy(lab: DemoServers) -> None:
    """A source's verdict follows its own copy: the report does not wait for the others."""
    site = lab.site
    definitions = site_definitions(site)
    report, coverage = asset_key(site, VALIDATION_REPORT), asset_key(site, COVERAGE)
    instance = dg.DagsterInstance.ephemeral()
    first = dg.evaluate_automation_conditions(defs=definitions, instance=instance)
    assert first.get_num_requested(report) == first.get_num_requested(coverage) == 0

    # One source's copy of the day (a sensor's run): the report of that day is requested,
    # and only of that day, though the other source has not copied it.
    materialize(lab, instance, f"lab/aria/{SOURCE_STUDIES}", f"lab/aria/{ORTHANC_COPIES}")
    second = dg.evaluate_automation_conditions(
        defs=definitions, instance=instance, cursor=first.cursor
    )
    assert second.get_requested_partitions(report) == {DAY}
    # As the automation sensor runs it: ARIA verified, MIM not listed for the past day.
    materialize(lab, instance, f"lab/{VALIDATION_REPORT}", passes=False)
    ran = dg.evaluate_automation_conditions(
        defs=definitions, instance=instance, cursor=second.cursor
    )
    assert ran.get_num_requested(report) == 0
    # A failed report (no materialization) refreshes the coverage too, by the next tick.
    after = dg.evaluate_automation_conditions(
        defs=definitions, instance=instance, cursor=ran.cursor
    )
    assert {None} in (
        ran.get_requested_partitions(coverage),
        after.get_requested_partitions(coverage),
    )
    ran = after

    # The other source's copy: requested again.
    materialize(lab, instance, f"lab/mim/{SOURCE_STUDIES}", f"lab/mim/{ORTHANC_COPIES}")
    third = dg.evaluate_automation_conditions(
        defs=definitions, instance=instance, cursor=ran.cursor
    )
    assert third.get_requested_partitions(report) == {DAY}

    # A run that updates copies and report together leaves nothing to follow.
    materialize(
        lab,
        instance,
        f"lab/aria/{SOURCE_STUDIES}",
        f"lab/aria/{ORTHANC_COPIES}",
        f"lab/{VALIDATION_REPORT}",
    )
    fourth = dg.evaluate_automation_conditions(
        defs=definitions, instance=instance, cursor=third.cursor
    )
    assert fourth.get_num_requested(report) == 0
    assert fourth.get_requested_partitions(coverage) == {None}  # a report was updated

    # A run whose report fails (MIM never listed for that day) is not followed by another
    # report: a failure that another try cannot change is not retried.
    other = "2026-01-06"
    materialize(
        lab,
        instance,
        f"lab/aria/{SOURCE_STUDIES}",
        f"lab/aria/{ORTHANC_COPIES}",
        f"lab/{VALIDATION_REPORT}",
        passes=False,
        day=other,
    )
    fifth = dg.evaluate_automation_conditions(
        defs=definitions, instance=instance, cursor=fourth.cursor
    )
    sixth = dg.evaluate_automation_conditions(
        defs=definitions, instance=instance, cursor=fifth.cursor
    )
    assert fifth.get_num_requested(report) == sixth.get_num_requested(report) == 0
