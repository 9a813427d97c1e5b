"""`radonc recover` and `radonc drill`: restores from the LAB archive, recorded like runs
from the UI."""

import datetime as dt
from pathlib import Path

import dagster as dg
import pytest

from radonc_assets.backup.recovery import Selection, selected_instances
from radonc_assets.cli.main import main
from radonc_assets.cli.runs import dagster_instance
from radonc_assets.devtools.demo import DemoServers
from radonc_assets.site.asset_keys import asset_key
from radonc_assets.site.clients import archive_client
from radonc_assets.site.dagster_resources import site_resources
from radonc_assets.site.naming import RECOVERIES, drill_job_name, recovery_job_name
from tests.support.sites import SiteFileWriter, daily_assets, variant

DAY = dt.date(2026, 1, 6)  # a planning day, backed up by `lab_courses_planned`
pytestmark = pytest.mark.usefixtures("lab_courses_planned")


@pytest.fixture(autouse=True)
def lab_site(lab: DemoServers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The lab's site file and a Dagster instance of the test's own."""
    monkeypatch.setenv("RADONC_ENVIRONMENTS", str(lab.site.source_file.parent))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))


def test_a_series_is_restored_verified_and_recorded(
    lab: DemoServers, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = selected_instances(archive_client(lab.site).dicom, Selection(date=DAY))
    series = str(rows[rows["modality"] == "CT"]["series_instance_uid"].iloc[0])
    slices = int((rows["series_instance_uid"] == series).sum())

    assert main(["recover", "LAB", "--to", "RESTORE", "--series-uid", series]) == 0

    out = capsys.readouterr().out.splitlines()
    assert out[1].startswith(
        f"LAB: 1 series: {slices} of {slices} instances restored intact to RESTORE by C-MOVE in "
    )
    assert out[1].endswith("0 missing, 0 mismatched, 0 altered in archive")
    instance = dagster_instance()
    (event,) = instance.fetch_materializations(asset_key(lab.site, RECOVERIES), limit=10).records
    metadata = event.asset_materialization.metadata  # type: ignore[union-attr]
    assert metadata["destination"].value == "RESTORE"
    assert metadata["restored"].value == slices
    (run,) = instance.get_runs()
    assert run.job_name == recovery_job_name(lab.site)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--to", "ARCHIVE", "--patient-id", "SYN07-0001"],
            "ARCHIVE: not a restore target (dicom_scp targets: RESTORE)",
        ),
        (
            ["--to", "RESTORE", "--patient-id", "NOBODY"],
            "the recovery did not run: the archive holds nothing for patient NOBODY",
        ),
    ],
)
def test_user_errors_are_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["recover", "LAB", *argv]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert message in err


def test_a_drill_prints_its_summary_and_empties_the_scratch_node(
    lab: DemoServers, capsys: pytest.CaptureFixture[str]
) -> None:
    dg.materialize(
        daily_assets(lab.site), partition_key=DAY.isoformat(), resources=site_resources(lab.site)
    )

    assert main(["drill", "LAB"]) == 0

    out = capsys.readouterr().out.splitlines()
    assert out[0] == "Drill: a sample of the verified backups from ARCHIVE to SCRATCH..."
    assert out[1].startswith("LAB: drill: ")
    assert "instances restored intact to SCRATCH by C-MOVE in " in out[1]
    assert out[1].endswith("0 missing, 0 mismatched, 0 altered in archive")
    assert out[-1].endswith("deleted from SCRATCH again (0 left by an earlier drill deleted first)")
    with archive_client(lab.site, "SCRATCH") as scratch:
        assert scratch.statistics()["CountInstances"] == 0
    (run,) = dagster_instance().get_runs()
    assert run.job_name == drill_job_name(lab.site)


def test_a_drill_needs_a_scratch_node(
    lab: DemoServers,
    site_file: SiteFileWriter,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("RADONC_ENVIRONMENTS", str(variant(lab, site_file).parent))

    assert main(["drill", "LAB"]) == 1

    err = capsys.readouterr().err.strip()
    assert err.endswith(
        "site LAB: drill.scratch: not set: the site has no scratch node to drill on"
    )
