"""`radonc backup` and `radonc validate` under faults: a killed run, deferral, user errors."""

import datetime as dt
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import pytest
from pydicom import dcmread

from radonc_assets.backup.audit_files import audit_path, read_frame
from radonc_assets.cli.main import main
from radonc_assets.cli.runs import dagster_instance
from radonc_assets.devtools.demo import DemoServers
from radonc_assets.devtools.local_servers import DcmqrscpServer, StorescpServer, free_ports
from radonc_assets.devtools.synthetic.mosaiq import write_mosaiq_database
from radonc_assets.site.clients import archive_client
from radonc_assets.site.loading import load_sites
from radonc_assets.site.naming import (
    ACTIVE_COURSES,
    SOURCE_STUDIES,
    TREATMENT_RECORDS,
    VALIDATION_REPORT,
)
from radonc_assets.site.partitions import partition_date
from tests.support.pools import assert_waited_for_pool, hold_aria_pool
from tests.support.simulated_mosaiq import WEEK, forget_records
from tests.support.sites import SiteFileWriter, variant

DAY = "2026-01-06"  # a planning day: MIM holds its CT and structures


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A Dagster instance of the test's own, created as `radonc` creates it (one slot per
    pool) before any process uses it: Dagster's SQLite storage cannot be created by two
    processes at once."""
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    dagster_instance().dispose()
    return tmp_path / "dagster_home"


def radonc(*argv: str) -> subprocess.Popen[str]:
    """`radonc` in a process of its own, as an operator starts it from a shell."""
    return subprocess.Popen(
        [sys.executable, "-m", "radonc_assets.cli.main", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def started_runs(home: Path) -> list[dg.DagsterRun]:
    """The STARTED runs of the instance at `home`."""
    with dg.DagsterInstance.from_config(str(home)) as instance:
        return list(
            instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
        )


def wait_for_a_started_run(home: Path, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.5)
        if started_runs(home):
            return
    raise AssertionError(f"no run started: {process.communicate(timeout=10)}")


@contextmanager
def backup_stuck_on_a_frozen_mim(lab: DemoServers, home: Path) -> Iterator[subprocess.Popen[str]]:
    """`radonc backup LAB MIM` in a process of its own, inside its MIM step (which holds
    MIM's pool slot) waiting on a frozen MIM; MIM thaws on exit."""
    mim = lab.servers["MIM"]
    assert isinstance(mim, DcmqrscpServer)
    mim.suspend()
    try:
        process = radonc("backup", "LAB", "MIM", "--date", DAY)
        wait_for_a_started_run(home, process)
        time.sleep(1.0)
        yield process
    finally:
        mim.resume()


def test_a_killed_run_never_wedges_the_next(
    lab: DemoServers,
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("RADONC_ENVIRONMENTS", str(lab.site.source_file.parent))
    with backup_stuck_on_a_frozen_mim(lab, home) as killed:
        os.kill(killed.pid, signal.SIGKILL)
        killed.wait(timeout=10)
        killed_at = time.monotonic()
        (dead,) = started_runs(home)

    assert main(["backup", "LAB", "MIM", "--date", DAY]) == 0
    seconds = time.monotonic() - killed_at
    out = capsys.readouterr().out
    assert f"run {dead.run_id} had lost its process: marked failed" in out
    assert out.splitlines()[-1] == "1 date(s) backed up; 0 incomplete"
    print(f"\nfrom SIGKILL to a completed re-run: {seconds:.1f} s")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        record = instance.get_run_by_id(dead.run_id)
        assert record is not None
        assert record.status == dg.DagsterRunStatus.FAILURE


def test_sigterm_stops_the_command_and_fails_its_run(
    lab: DemoServers, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RADONC_ENVIRONMENTS", str(lab.site.source_file.parent))
    with backup_stuck_on_a_frozen_mim(lab, home) as stopped:
        sent = time.monotonic()
        stopped.send_signal(signal.SIGTERM)
        _, err = stopped.communicate(timeout=20)
        seconds = time.monotonic() - sent
    assert stopped.returncode == 130, err
    assert err.strip().splitlines()[-1] == "radonc: stopped"
    assert "Traceback" not in err
    assert seconds < 10
    assert not started_runs(home)


def test_backup_runs_again_until_nothing_is_deferred(
    lab: DemoServers,
    home: Path,
    site_file: SiteFileWriter,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    day = "2026-01-05"
    capped = variant(lab, site_file, settings={"max_uids_per_run": 10})
    monkeypatch.setenv("RADONC_ENVIRONMENTS", str(capped.parent))
    assert main(["backup", "LAB", "ARIA", "--date", day]) == 0  # whatever the archive held
    manifest = read_frame(audit_path("LAB", partition_date(day), f"ARIA_{SOURCE_STUDIES}"))
    archive_client(lab.site).delete_instances(manifest["sop_instance_uid"])
    capsys.readouterr()

    assert main(["backup", "LAB", "ARIA", "--date", day, "--single-run"]) == 1
    out = capsys.readouterr().out
    assert f"{day} LAB ARIA: {len(manifest)} instances: 0 already present, 10 copied" in out
    assert f"{len(manifest) - 10} deferred" in out
    assert "INCOMPLETE" in out
    assert "running again" not in out

    assert main(["backup", "LAB", "ARIA", "--date", day]) == 0
    out = capsys.readouterr().out.splitlines()
    runs = [line for line in out if line.startswith(f"{day} LAB ARIA:")]
    assert len(runs) == -(-(len(manifest) - 10) // 10)  # ten more per run
    assert runs[-1].endswith(
        "complete (0 missing, 0 deferred, 0 mismatched, 0 altered_in_archive, 0 not_converted)"
    )
    assert out[-1] == "1 date(s) backed up; 0 incomplete"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["backup", "LAB", "--date", "2025-12-31"],
            "radonc: 2025-12-31 is not a date of site LAB: valid dates are 2026-01-01 "
            "(backfill_start) to ",
        ),
        (["backup", "NOWHERE", "--date", "2026-01-05"], "radonc: "),
        (
            ["validate", "LAB", "PACS", "--date", "2026-01-05"],
            "site LAB: PACS: not a source (ARIA, MIM)",
        ),
    ],
)
def test_user_errors_are_one_line(
    lab: DemoServers,
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    monkeypatch.setenv("RADONC_ENVIRONMENTS", str(lab.site.source_file.parent))
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert message in err


def test_an_unset_password_variable_is_one_line(
    lab: DemoServers,
    home: Path,
    site_file: SiteFileWriter,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = variant(lab, site_file)
    archive = lab.site.archive()
    path.write_text(
        path.read_text().replace(
            f'rest_url = "{archive.rest_url}"',
            f'rest_url = "{archive.rest_url}", rest_username = "radonc", '
            'rest_password_env_var = "LAB_ORTHANC_PASSWORD_UNSET"',
        )
    )
    monkeypatch.setenv("RADONC_ENVIRONMENTS", str(path.parent))
    monkeypatch.delenv("LAB_ORTHANC_PASSWORD_UNSET", raising=False)
    assert main(["backup", "LAB", "--date", "2026-01-05"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (
        f"radonc: {path}: site LAB: backup_targets.ARCHIVE.rest_password_env_var: "
        "environment variable LAB_ORTHANC_PASSWORD_UNSET is not set"
    )


def test_a_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["backup", "LAB", "--from", "2026-01-07"])
    assert exit_info.value.code == 2
    assert "--from needs a --to on or after it" in capsys.readouterr().err


def test_a_pool_held_by_a_live_run_is_waited_for_visibly_and_briefly(
    lab: DemoServers,
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("RADONC_ENVIRONMENTS", str(lab.site.source_file.parent))
    hold_aria_pool(home)

    assert main(["backup", "LAB", "ARIA", "--date", DAY, "--pool-wait", "1"]) == 1
    assert_waited_for_pool(capsys)


def test_a_locked_instance_is_one_line(
    lab: DemoServers,
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Another process holding the instance's SQLite database (e.g. a busy webserver)."""
    monkeypatch.setenv("RADONC_ENVIRONMENTS", str(lab.site.source_file.parent))
    lock = sqlite3.connect(home / "history" / "runs.db", timeout=1)
    try:
        lock.execute("BEGIN EXCLUSIVE")
        assert main(["validate", "LAB", "--date", DAY]) == 1
    finally:
        lock.close()
    assert capsys.readouterr().err.strip() == (
        f"radonc: the Dagster instance at {home} cannot be used now (database is locked); "
        "another process holds its database: try again"
    )


def test_an_unreachable_source_is_named_with_its_cause(
    lab: DemoServers,
    home: Path,
    site_file: SiteFileWriter,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (nowhere,) = free_ports(1)
    path = variant(lab, site_file, ports={"aria": nowhere})
    monkeypatch.setenv("RADONC_ENVIRONMENTS", str(path.parent))
    assert main(["backup", "LAB", "ARIA", "--date", DAY]) == 1
    captured = capsys.readouterr()
    assert (
        f"{DAY} LAB ARIA: UNREACHABLE: ARIA could not be listed: "
        f"cannot connect to 127.0.0.1:{nowhere} for LAB_ARIA"
    ) in captured.out
    assert "Traceback" not in captured.err


def test_a_source_down_leaves_the_others_copied_and_verified(
    lab: DemoServers,
    home: Path,
    site_file: SiteFileWriter,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """MIM down (nothing listening): ARIA's backup contacts only ARIA and the archive and is
    verified; the whole site's backup verifies ARIA, says MIM is unreachable, and fails."""
    (nowhere,) = free_ports(1)
    path = variant(lab, site_file, ports={"mim": nowhere})
    monkeypatch.setenv("RADONC_ENVIRONMENTS", str(path.parent))
    assert main(["backup", "LAB", "ARIA", "--date", DAY]) == 0
    out = capsys.readouterr().out
    assert f"{DAY} LAB ARIA: " in out
    assert (
        "; complete (0 missing, 0 deferred, 0 mismatched, 0 altered_in_archive, 0 not_converted)"
        in out
    )
    assert "MIM" not in out

    assert main(["backup", "LAB", "--date", DAY]) == 1
    lines = capsys.readouterr().out.splitlines()
    (aria,) = [line for line in lines if line.startswith(f"{DAY} LAB ARIA: ")]
    assert aria.endswith(
        "; complete (0 missing, 0 deferred, 0 mismatched, 0 altered_in_archive, 0 not_converted)"
    )
    unreachable = f"{DAY} LAB MIM: UNREACHABLE: MIM could not be listed: cannot connect to 127.0.0.1:{nowhere}"
    assert any(line.startswith(unreachable) for line in lines), lines
    report = read_frame(audit_path("LAB", partition_date(DAY), VALIDATION_REPORT))
    mim = report[report["source"] == "MIM"]
    assert mim["status"].tolist() == ["unreachable"]
    assert set(report[report["source"] == "ARIA"]["status"]) == {"verified"}


def test_a_backup_with_mosaiq_writes_its_records_and_census(
    lab: DemoServers,
    home: Path,
    site_file: SiteFileWriter,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    database = tmp_path / "mosaiq.db"
    write_mosaiq_database(WEEK, database)
    monkeypatch.setenv("RADONC_ENVIRONMENTS", str(variant(lab, site_file, mosaiq=database).parent))
    assert main(["backup", "LAB", "MOSAIQ", "--date", "2026-01-07"]) == 0
    out = capsys.readouterr().out
    (line,) = [line for line in out.splitlines() if line.startswith("2026-01-07 LAB MOSAIQ: ")]
    assert line.startswith("2026-01-07 LAB MOSAIQ: 2 instances: ")  # a record per session
    assert line.endswith(
        "0 failed, 0 deferred; complete (0 missing, 0 deferred, 0 mismatched, 0 altered_in_archive, 0 not_converted)"
    )
    census = read_frame(audit_path("LAB", dt.date(2026, 1, 7), f"MOSAIQ_{ACTIVE_COURSES}"))
    assert set(census["status"]) == {"on_treatment"}


STAGED_DAY = "2026-01-09"


def staged_site(
    lab: DemoServers, site_file: SiteFileWriter, database: Path, staging_port: int
) -> Path:
    """The lab with MOSAIQ (`database`) staged through RESTORE at `staging_port`, for
    `radonc` to read; the archive without the records of STAGED_DAY, so they are copied."""
    write_mosaiq_database(WEEK, database)
    path = variant(lab, site_file, mosaiq=database, staging=True, ports={"restore": staging_port})
    forget_records(load_sites(path)["LAB"], database, STAGED_DAY)
    return path


def test_a_store_only_staging_node_receives_the_records_and_the_archive_too(
    lab: DemoServers,
    home: Path,
    site_file: SiteFileWriter,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The earlier system's staging node, a C-STORE destination only (DCMTK storescp)."""
    with StorescpServer(tmp_path, "LAB_RESTORE") as stage:
        path = staged_site(lab, site_file, tmp_path / "mosaiq.db", stage.dicom_port)
        monkeypatch.setenv("RADONC_ENVIRONMENTS", str(path.parent))
        status = main(["backup", "LAB", "MOSAIQ", "--date", STAGED_DAY])
    assert status == 0
    manifest = read_frame(
        audit_path("LAB", partition_date(STAGED_DAY), f"MOSAIQ_{TREATMENT_RECORDS}")
    )
    records = set(manifest["sop_instance_uid"])
    assert (
        f"{STAGED_DAY} LAB MOSAIQ: {len(records)} instances: 0 already present, "
        + (f"{len(records)} copied, 0 failed, 0 deferred; complete (0 missing, ")
        in capsys.readouterr().out
    )
    assert {str(dcmread(f).SOPInstanceUID) for f in stage.received.iterdir()} == records
    held = archive_client(lab.site).archived_uids(set(manifest["study_instance_uid"]))
    assert records <= held


def test_a_staging_node_down_fails_the_records_with_its_cause(
    lab: DemoServers,
    home: Path,
    site_file: SiteFileWriter,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    down = free_ports(1)[0]  # nothing listens there
    path = staged_site(lab, site_file, tmp_path / "mosaiq.db", down)
    monkeypatch.setenv("RADONC_ENVIRONMENTS", str(path.parent))

    assert main(["backup", "LAB", "MOSAIQ", "--date", STAGED_DAY]) == 1
    out = capsys.readouterr().out.splitlines()
    manifest = read_frame(
        audit_path("LAB", partition_date(STAGED_DAY), f"MOSAIQ_{TREATMENT_RECORDS}")
    )
    assert f"{STAGED_DAY} LAB MOSAIQ: {len(manifest)} instances: 0 already present, 0 copied, " + (
        f"{len(manifest)} failed, 0 deferred; INCOMPLETE ({len(manifest)} missing, "
    ) in "\n".join(out)
    cause = (
        f"not in the archive: the staging node LAB_RESTORE@127.0.0.1:{down} could not take "
        f"it: cannot connect to 127.0.0.1:{down} for LAB_RESTORE"
    )
    for uid in manifest["sop_instance_uid"]:
        (line,) = [line for line in out if line.startswith(f"  MOSAIQ missing: {uid} ")]
        assert cause in line
    assert out[-1] == "1 date(s) backed up; 1 incomplete (see the Dagster UI)"


def test_a_mosaiq_delivery_that_made_no_record_fails_the_backup_until_acknowledged(
    lab: DemoServers,
    home: Path,
    site_file: SiteFileWriter,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The second beam of the first session of 2026-01-07 (Dose_Hst 5000005, of field
    4000002: keys are deterministic) loses its control points."""
    database = tmp_path / "mosaiq.db"
    write_mosaiq_database(WEEK, database)
    with sqlite3.connect(database) as db:
        db.execute("DELETE FROM TxFieldPoint WHERE FLD_ID = 4000002")
        (mrn,) = db.execute(
            "SELECT IDA FROM Ident JOIN Dose_Hst ON Dose_Hst.Pat_ID1 = Ident.Pat_Id1 "
            "WHERE DHS_ID = 5000005"
        ).fetchone()
    site_path = variant(lab, site_file, mosaiq=database)
    monkeypatch.setenv("RADONC_ENVIRONMENTS", str(site_path.parent))

    assert main(["backup", "LAB", "MOSAIQ", "--date", "2026-01-07"]) == 1
    out = capsys.readouterr().out.splitlines()
    (line,) = [line for line in out if line.startswith("2026-01-07 LAB MOSAIQ: ")]
    assert line.endswith(
        "INCOMPLETE (0 missing, 0 deferred, 0 mismatched, 0 altered_in_archive, 1 not_converted)"
    )
    manifest = read_frame(audit_path("LAB", dt.date(2026, 1, 7), f"MOSAIQ_{TREATMENT_RECORDS}"))
    (record,) = manifest[manifest["patient_id"] == mrn]["sop_instance_uid"]
    assert (
        "  MOSAIQ not_converted: Dose_Hst DHS_ID=5000005: field FLD_ID=4000002 has no usable "
        f"control points; missing from the record of its session, {record}"
    ) in out

    site_path.with_name("lab.acknowledgements.toml").write_text(
        '[[MOSAIQ]]\ndhs_id = 5000005\nwho = "A. Physicist"\nwhy = "Field 2 re-imported"\n'
        "when = 2026-01-08\n"
    )
    assert main(["validate", "LAB", "MOSAIQ", "--date", "2026-01-07"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == (
        "2026-01-07 LAB MOSAIQ: complete (0 missing, 0 deferred, 0 mismatched, 0 altered_in_archive, 0 not_converted)"
    )
