"""Patient data private at rest: owner-only files and folders whatever the umask, and the
retention that purges a date's identifiers while its coverage stays."""

import datetime as dt
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from radonc_assets.backup.audit_files import SUMMARY, audit_path, read_frame, write_frame
from radonc_assets.backup.coverage import DayStatus, day_coverage
from radonc_assets.backup.retention import purge
from radonc_assets.definitions import site_definitions
from radonc_assets.devtools.demo import DemoServers
from radonc_assets.site.loading import load_sites
from radonc_assets.site.naming import retention_job_name, retention_schedule_name
from radonc_assets.site.paths import ensure_instance_settings
from radonc_assets.site.private_files import private_dir, write_private
from radonc_assets.site.resources import site_resources
from tests.support.sites import SiteFileWriter, daily_assets

DAY = "2026-01-06"


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The most permissive umask: whatever radonc creates gets only the modes it sets."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("open_umask")
def test_private_files_and_folders_are_owner_only(tmp_path: Path) -> None:
    existing = tmp_path / "existing"
    existing.mkdir(mode=0o755)
    (existing / "old.csv").write_text("world-readable")
    existing.joinpath("old.csv").chmod(0o644)

    write_private(tmp_path / "a" / "b" / "file.csv", b"x")
    write_private(existing / "old.csv", b"y")
    private_dir(tmp_path / "c" / "d")

    assert mode(tmp_path / "a") == mode(tmp_path / "a" / "b") == 0o700
    assert mode(tmp_path / "a" / "b" / "file.csv") == 0o600
    assert mode(tmp_path / "c") == mode(tmp_path / "c" / "d") == 0o700
    # A file written again is owner-only; a folder that was there keeps its mode.
    assert mode(existing / "old.csv") == 0o600
    assert (existing / "old.csv").read_bytes() == b"y"
    assert mode(existing) == 0o755
    assert not list(tmp_path.rglob("*.partial"))


@pytest.mark.usefixtures("open_umask", "lab_courses_planned")
def test_a_backup_writes_the_data_folder_owner_only(
    lab: DemoServers, data_dir: Path, tmp_path: Path
) -> None:
    result = dg.materialize(
        daily_assets(lab.site), partition_key=DAY, resources=site_resources(lab.site)
    )
    assert result.success
    home = ensure_instance_settings(tmp_path / "dagster_home").parent

    written = [data_dir, *data_dir.rglob("*")]
    assert len(written) > 5
    assert {path: mode(path) for path in written if path.is_dir()} == dict.fromkeys(
        (p for p in written if p.is_dir()), 0o700
    )
    assert {path: mode(path) for path in written if path.is_file()} == dict.fromkeys(
        (p for p in written if p.is_file()), 0o600
    )
    assert mode(home) == 0o700


def write_day(day: str, report: pd.DataFrame) -> None:
    write_frame(report, audit_path("LAB", day, "validation_report"))
    write_frame(report[["patient_id"]], audit_path("LAB", day, "aria_source_studies"))
    write_private(audit_path("LAB", day, "x").parent / "mosaiq_records" / "1.2.dcm", b"DICM")


def test_the_retention_purges_identifiers_and_keeps_the_coverage(data_dir: Path) -> None:
    report = pd.DataFrame(
        {
            "patient_id": ["SYN-1", "SYN-1", "SYN-2"],
            "sop_instance_uid": ["1.1", "1.2", "1.3"],
            "status": ["verified", "missing", "verified"],
            "source": ["ARIA", "ARIA", "MIM"],
        }
    )
    write_day("2026-01-05", report)
    write_day("2026-03-01", report)
    restores = data_dir / "lab" / "recoveries"
    write_private(restores / "old.csv", b"SYN-1")
    write_private(restores / "new.csv", b"SYN-2")
    long_ago = dt.datetime(2026, 1, 1).timestamp()
    os.utime(restores / "old.csv", (long_ago, long_ago))
    before = day_coverage("LAB", dt.date(2026, 1, 5))

    purged = purge("LAB", dt.date(2026, 2, 1))

    assert purged.days == ["2026-01-05"]
    assert purged.files == 4  # report, manifest, record, old restore report
    assert purged.bytes > 0
    old = data_dir / "lab" / "2026-01-05"
    assert [p.name for p in old.rglob("*")] == [f"{SUMMARY}.csv"]
    summary = read_frame(audit_path("LAB", "2026-01-05", SUMMARY))
    assert summary.to_dict("records") == [
        {"source": "ARIA", "status": "missing", "instances": "1"},
        {"source": "ARIA", "status": "verified", "instances": "1"},
        {"source": "MIM", "status": "verified", "instances": "1"},
    ]
    after = day_coverage("LAB", dt.date(2026, 1, 5))
    assert (after.status, after.counts) == (before.status, before.counts)
    assert after.status == DayStatus.INCOMPLETE
    assert day_coverage("LAB", dt.date(2026, 1, 5), "MIM").status == DayStatus.COMPLETE
    assert len(list((data_dir / "lab" / "2026-03-01").rglob("*.*"))) == 3  # untouched
    assert [p.name for p in restores.iterdir()] == ["new.csv"]
    assert purge("LAB", dt.date(2026, 2, 1)).files == 0  # nothing left to purge


def test_the_retention_runs_daily_and_records_each_purge(
    site_file: SiteFileWriter, data_dir: Path
) -> None:
    site = load_sites(site_file("KEEP", settings={"retention_days": 30}))["KEEP"]
    definitions = site_definitions(site)
    write_private(audit_path("KEEP", "2026-01-05", "validation_report"), b"status,source\n")

    schedule = definitions.resolve_schedule_def(retention_schedule_name(site))
    result = definitions.resolve_job_def(retention_job_name(site)).execute_in_process(
        instance=dg.DagsterInstance.ephemeral()
    )

    assert schedule.cron_schedule == "30 3 * * *"
    (event,) = result.get_asset_materialization_events()
    meta = {k: v.value for k, v in event.materialization.metadata.items()}
    assert meta["dates_purged"] == 1
    assert meta["first_date_purged"] == "2026-01-05"
    assert meta["files_deleted"] == 1
    assert meta["launched_by"] == "ui"
    assert retention_schedule_name(site) not in {
        s.name for s in site_definitions(load_sites(site_file("KEEP"))["KEEP"]).schedules or []
    }
