"""Restore drills of the LAB site: a sample of the verified backups restored into the
scratch Orthanc, verified, and deleted from it again."""

from pathlib import Path

import dagster as dg
import pytest

from radonc_assets.backup.audit_files import read_frame
from radonc_assets.backup.recovery import restore
from radonc_assets.definitions import site_definitions
from radonc_assets.devtools.demo import DemoServers
from radonc_assets.site.clients import archive_client
from radonc_assets.site.dagster_resources import site_resources
from radonc_assets.site.naming import RECOVERY_DRILLS, VALIDATION_REPORT, drill_job_name
from tests.support.sites import daily_assets

DAY = "2026-01-06"  # a planning day of the lab week, backed up by `lab_courses_planned`
DRILLS = dg.AssetKey(["lab", RECOVERY_DRILLS])
pytestmark = pytest.mark.usefixtures("lab_courses_planned")


@pytest.fixture(autouse=True)
def validated_day(lab: DemoServers) -> None:
    """DAY's validation report in this test's data folder: what a drill draws from."""
    result = dg.materialize(
        daily_assets(lab.site), partition_key=DAY, resources=site_resources(lab.site)
    )
    assert all(check.passed for check in result.get_asset_check_evaluations())


def scratch_instances(lab: DemoServers) -> int:
    with archive_client(lab.site, "SCRATCH") as scratch:
        return int(scratch.statistics()["CountInstances"])


def drill(lab: DemoServers) -> dg.ExecuteInProcessResult:
    job = site_definitions(lab.site).resolve_job_def(drill_job_name(lab.site))
    with dg.instance_for_test() as instance:
        return job.execute_in_process(instance=instance, raise_on_error=False)


def test_a_drill_restores_a_sample_per_source_verifies_it_and_empties_the_scratch_node(
    lab: DemoServers,
) -> None:
    assert scratch_instances(lab) == 0

    result = drill(lab)

    (event,) = result.get_asset_materialization_events()
    meta = {k: v.value for k, v in event.materialization.metadata.items()}
    (check,) = result.get_asset_check_evaluations()
    assert check.passed
    assert meta["restored"] == meta["instances"] > 0
    assert meta["missing"] == meta["mismatched"] == meta["altered_in_archive"] == 0
    assert meta["method"] == "C-MOVE"  # the archive knows the scratch node as a peer
    assert meta["instances_per_second"] > 0
    assert meta["megabytes_per_second"] > 0
    assert meta["deleted_after"] == meta["instances"]
    assert meta["leftovers_deleted_first"] == 0
    sample = meta["sample"]
    assert isinstance(sample, dg.TableMetadataValue)
    # One study of each source (the LAB site's ARIA and MIM), every instance restored.
    assert {row.data["source"] for row in sample.records} == {"ARIA", "MIM"}
    assert all(row.data["studies"] == 1 for row in sample.records)
    report = read_frame(Path(str(meta["report"])))
    assert set(report["status"]) == {"restored"}
    assert set(report["source"]) == {"ARIA", "MIM"}
    assert scratch_instances(lab) == 0


def test_a_drill_never_counts_what_an_earlier_drill_left_in_the_scratch_node(
    lab: DemoServers, data_dir: Path
) -> None:
    """Every instance the drill may draw already in the scratch node (a drill killed before
    it cleaned up): deleted first, then restored and verified afresh."""
    report = read_frame(data_dir / "lab" / DAY / f"{VALIDATION_REPORT}.csv")
    drawable = report[report["status"] == "verified"].drop_duplicates("sop_instance_uid")
    with archive_client(lab.site) as archive, archive_client(lab.site, "SCRATCH") as scratch:
        restore(archive.dicom, scratch.dicom, drawable)
        assert scratch_instances(lab) == len(drawable)
        try:
            result = drill(lab)
        finally:
            scratch.delete_instances(drawable["sop_instance_uid"])

    (event,) = result.get_asset_materialization_events()
    meta = {k: v.value for k, v in event.materialization.metadata.items()}
    assert meta["leftovers_deleted_first"] == meta["instances"] == meta["restored"]
    assert meta["deleted_after"] == meta["instances"]


def test_a_drill_with_no_verified_backup_to_draw_from_fails_saying_so(
    lab: DemoServers, data_dir: Path
) -> None:
    (data_dir / "lab" / DAY / f"{VALIDATION_REPORT}.csv").unlink()

    result = drill(lab)

    assert not result.success
    (failure,) = result.get_step_failure_events()
    assert failure.step_failure_data.user_failure_data is not None
    assert "no backup to drill on" in str(failure.step_failure_data.user_failure_data.description)
