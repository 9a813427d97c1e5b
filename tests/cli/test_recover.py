"""`radonc recover`: a restore from the LAB archive, recorded like one from the UI."""

import datetime as dt
from pathlib import Path

import dagster as dg
import pytest

from radonc_assets.backup.recovery import Selection, selected_instances
from radonc_assets.cli.main import main
from radonc_assets.cli.runs import dagster_instance
from radonc_assets.devtools.demo import DemoServers
from radonc_assets.site.clients import archive_client

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
    assert out[1].endswith("0 missing, 0 mismatched")
    instance = dagster_instance()
    (event,) = instance.fetch_materializations(dg.AssetKey(["lab", "recoveries"]), limit=10).records
    metadata = event.asset_materialization.metadata  # type: ignore[union-attr]
    assert metadata["destination"].value == "RESTORE"
    assert metadata["restored"].value == slices
    (run,) = instance.get_runs()
    assert run.job_name == "lab_recovery"


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
