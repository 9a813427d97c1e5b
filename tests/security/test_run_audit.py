"""Who did what: every run says how it started and who started it, in its tags (the UI's
runs list) and in the report files it writes."""

import getpass

import dagster as dg
import pytest

from radonc_assets.backup.audit_files import audit_path, read_frame
from radonc_assets.defs.audit import UNKNOWN_USER, run_origin
from radonc_assets.devtools.demo import DemoServers
from radonc_assets.site.dagster_resources import site_resources
from radonc_assets.site.instance import process_tags
from radonc_assets.site.naming import ORTHANC_COPIES, VALIDATION_REPORT
from radonc_assets.site.partitions import partition_date
from tests.support.sites import daily_assets

DAY = "2026-01-06"


@pytest.mark.parametrize(
    ("tags", "origin"),
    [
        pytest.param(process_tags(), ("cli", getpass.getuser()), id="command-line"),
        pytest.param({}, ("ui", UNKNOWN_USER), id="launchpad"),
        pytest.param({"user": "jdoe@example.org"}, ("ui", "jdoe@example.org"), id="ui-user"),
        pytest.param({"dagster/user": "jdoe"}, ("ui", "jdoe"), id="dagster-user"),
        pytest.param(
            {"dagster/backfill": "abcdefgh", "user": "jdoe"}, ("backfill", "jdoe"), id="backfill"
        ),
        pytest.param({"dagster/backfill": "abcdefgh"}, ("backfill", UNKNOWN_USER), id="anonymous"),
        pytest.param(
            {"dagster/sensor_name": "lab_aria_new_data"},
            ("sensor", "lab_aria_new_data"),
            id="sensor",
        ),
        pytest.param(
            {"dagster/sensor_name": "lab_automation", "dagster/from_automation_condition": "true"},
            ("automation", "lab_automation"),
            id="automation",
        ),
        pytest.param(
            {"dagster/schedule_name": "lab_nightly_backup"},
            ("schedule", "lab_nightly_backup"),
            id="schedule",
        ),
    ],
)
def test_a_run_origin_is_read_from_its_tags(tags: dict[str, str], origin: tuple[str, str]) -> None:
    assert run_origin(tags) == origin


@pytest.mark.usefixtures("lab_courses_planned")
def test_a_sensor_run_is_tagged_and_named_in_its_reports(lab: DemoServers) -> None:
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            daily_assets(lab.site),
            partition_key=DAY,
            resources=site_resources(lab.site),
            instance=instance,
            tags={"dagster/sensor_name": "lab_aria_new_data"},
        )
        tags = instance.get_run_by_id(result.run_id).tags  # type: ignore[union-attr]

    assert tags["radonc/launched_by"] == "sensor"
    assert tags["radonc/started_by"] == "lab_aria_new_data"
    for name in (VALIDATION_REPORT, f"aria_{ORTHANC_COPIES}", f"mim_{ORTHANC_COPIES}"):
        report = read_frame(audit_path("LAB", partition_date(DAY), name))
        assert set(report["run_id"]) == {result.run_id}, name
        assert set(report["launched_by"]) == {"sensor"}, name
        assert set(report["started_by"]) == {"lab_aria_new_data"}, name
