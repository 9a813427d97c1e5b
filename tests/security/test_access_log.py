"""The access log of patient data: one line per look at patients, by every command and job
that reads or writes them, owner-only, rotated, purged with the site's retention, read
with `radonc audit`, and never a password.

The Mosaiq commands read a simulated Mosaiq (SQLite); the DICOM ones, the restores and
the drills run against the LAB servers of tests/conftest.py, as an operator types them.
"""

import datetime as dt
import getpass
import json
import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from radonc_assets.backup.recovery import Selection, selected_instances
from radonc_assets.cli.main import main
from radonc_assets.definitions import site_definitions
from radonc_assets.defs.retention.assets import retention_asset
from radonc_assets.devtools.demo import DemoServers
from radonc_assets.devtools.synthetic.mosaiq import write_mosaiq_database
from radonc_assets.site.access_log import Access, log_files, log_path, record
from radonc_assets.site.asset_keys import asset_key, op_name
from radonc_assets.site.clients import archive_client
from radonc_assets.site.dagster_resources import site_resources
from radonc_assets.site.loading import load_site
from radonc_assets.site.naming import RECOVERIES, RETENTION, drill_job_name, recovery_job_name
from tests.support.serving import start, stop
from tests.support.simulated_mosaiq import SPEC
from tests.support.sites import SiteFileWriter, daily_assets, variant

MRN = "SYN03-0001"  # treated on 2026-01-06 to 08 in the simulated Mosaiq of SPEC
PASSWORD = "Mosaiq-s3cret-do-not-log"
DAY = dt.date(2026, 1, 6)  # a planning day of the lab, backed up by `lab_courses_planned`
# The recovery's keys, every one required (the launchpad scaffolds them): nothing selected.
NO_SELECTION = {
    "destination": "RESTORE",
    "patient_id": None,
    "study_uids": [],
    "series_uids": [],
    "date": None,
}


def lines(path: Path) -> list[dict[str, Any]]:
    """The entries of log `path` and its rotated files, oldest first."""
    return [json.loads(line) for file in log_files(path) for line in file.read_text().splitlines()]


def only_line(site: str | None) -> dict[str, Any]:
    (entry,) = lines(log_path(site))
    return entry


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def mosaiq_site(
    tmp_path_factory: pytest.TempPathFactory,
    site_file: SiteFileWriter,
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    """The site MQ reading a simulated Mosaiq with a password (which SQLite ignores)."""
    database = tmp_path_factory.mktemp("mosaiq") / "mosaiq.db"
    write_mosaiq_database(SPEC, database)
    path = site_file("MQ", mosaiq=database, settings={"retention_days": 30})
    path.write_text(
        path.read_text().replace(
            'odbc_driver = "SQLite3"',
            'odbc_driver = "SQLite3", db_password_env_var = "MQ_MOSAIQ_PASSWORD"',
        )
    )
    monkeypatch.setenv("MQ_MOSAIQ_PASSWORD", PASSWORD)
    monkeypatch.setenv("RADONC_ENVIRONMENTS", str(path.parent))
    return path


def test_a_line_is_one_json_object_in_an_owner_only_file_kept_so(data_dir: Path) -> None:
    path = record(Access("report", "MQ", "MOSAIQ", {"mrn": "A\nB"}, patients=1, rows=2))
    assert path == data_dir / "mq" / "access.log"
    assert mode(path) == 0o600
    path.chmod(0o644)  # an operator's slip
    record(Access("report", "MQ", "MOSAIQ", {"mrn": "C"}))
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700
    first, second = lines(path)
    assert first["user"] == getpass.getuser()
    assert first["host"] == socket.gethostname()
    assert first["asked"] == {"mrn": "A\nB"}  # a line break in a value stays escaped
    assert (first["patients"], first["instances"], first["rows"]) == (1, None, 2)
    assert dt.datetime.fromisoformat(first["time"]).tzinfo == dt.UTC
    assert second["asked"] == {"mrn": "C"}


WRITER = """
import sys
from radonc_assets.site.access_log import Access, record
for n in range(int(sys.argv[2])):
    record(Access("dicom find", None, "X@127.0.0.1:104", {"mrn": f"{sys.argv[1]}-{n}"}),
           max_bytes=3000, rotated=int(sys.argv[3]))
"""


def test_processes_writing_at_once_rotate_without_losing_or_mixing_lines(
    data_dir: Path,
) -> None:
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, f"p{p}", "60", "100"]) for p in range(4)
    ]
    assert [w.wait(timeout=120) for w in writers] == [0, 0, 0, 0]

    path = log_path(None)
    files = log_files(path)
    assert len(files) > 10  # rotated many times
    assert all(mode(file) == 0o600 and file.stat().st_size <= 3000 for file in files)
    asked = [entry["asked"]["mrn"] for entry in lines(path)]
    assert sorted(asked) == sorted(f"p{p}-{n}" for p in range(4) for n in range(60))
    for p in range(4):  # each process's lines in its order, across the rotated files
        assert [a for a in asked if a.startswith(f"p{p}-")] == [f"p{p}-{n}" for n in range(60)]


def test_rotation_keeps_the_newest_files(data_dir: Path) -> None:
    for n in range(40):
        record(Access("report", "MQ", "MOSAIQ", {"mrn": str(n)}), max_bytes=1000, rotated=2)
    path = log_path("MQ")
    assert [file.name for file in log_files(path)] == ["access.log.2", "access.log.1", "access.log"]
    asked = [int(entry["asked"]["mrn"]) for entry in lines(path)]
    assert asked == list(range(40 - len(asked), 40))  # the newest, in order


def radonc(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """`radonc ARGV` as the console script runs it: a SystemExit message goes to stderr."""
    try:
        status = main(list(argv))
    except SystemExit as exc:
        if isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
        status = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.mark.usefixtures("mosaiq_site")
def test_the_mosaiq_commands_log_who_asked_what_and_what_came_back(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = tmp_path / "report.csv"
    assert radonc(capsys, "report", "MQ", "--mrn", MRN, "--csv", str(csv))[0] == 0
    status, out, _ = radonc(capsys, "query", "MQ", "MOSAIQ", "--mrn", MRN)
    assert status == 0
    deliveries = int(out.splitlines()[-2].split()[0])  # "N delivery(ies) of 1 patient(s)..."
    out = tmp_path / "records"
    assert radonc(capsys, "records", "MQ", "--date", "2026-01-07", "--out", str(out))[0] == 0
    assert radonc(capsys, "report", "MQ", "--mrn", "NOBODY")[0] == 0

    path = data_dir / "mq" / "access.log"
    report, query, records, nobody = lines(path)
    assert {e["user"] for e in (report, query, records)} == {getpass.getuser()}
    assert report["command"] == "report"
    assert (report["site"], report["source"], report["asked"]) == ("MQ", "MOSAIQ", {"mrn": MRN})
    assert (report["patients"], report["rows"], report["written"]) == (1, 1, str(csv))
    assert report["outcome"] == "ok"
    assert query["command"] == "query"
    assert query["asked"] == {"mrn": MRN}
    assert (query["patients"], query["rows"]) == (1, deliveries)
    assert records["asked"] == {"date": "2026-01-07"}
    assert records["written"] == str(out)
    assert records["instances"] == len(list(out.glob("*.dcm"))) == 2
    assert records["patients"] == 2
    assert (nobody["asked"], nobody["patients"], nobody["rows"]) == ({"mrn": "NOBODY"}, 0, 0)
    assert PASSWORD not in path.read_text()
    assert "--csv" not in path.read_text()  # what was asked, never the command line


@pytest.mark.usefixtures("mosaiq_site")
def test_a_failed_lookup_is_logged_with_its_outcome(
    data_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MQ_MOSAIQ_PASSWORD")
    assert radonc(capsys, "report", "MQ", "--mrn", MRN)[0] == 1
    entry = only_line("MQ")
    assert entry["asked"] == {"mrn": MRN}
    assert entry["outcome"].startswith("failed: ")
    assert "MQ_MOSAIQ_PASSWORD" in entry["outcome"]
    assert entry["patients"] is None


@pytest.mark.usefixtures("mosaiq_site")
def test_a_log_that_cannot_be_written_shows_no_patient_data(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (data_dir / "mq" / "access.log").mkdir(parents=True)  # in the way of the file

    status, out, err = radonc(capsys, "report", "MQ", "--mrn", MRN)

    assert status == 1
    assert out == ""  # the summary is not shown
    assert err.startswith(f"radonc: cannot write the access log {data_dir / 'mq' / 'access.log'}")
    assert err.count("\n") == 1


@pytest.mark.usefixtures("mosaiq_site")
def test_radonc_audit_prints_the_log_since_a_date_and_of_an_mrn_and_logs_itself(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert radonc(capsys, "report", "MQ", "--mrn", MRN)[0] == 0
    assert radonc(capsys, "query", "MQ", "MOSAIQ", "--treatment-date", "2026-01-07")[0] == 0
    path = data_dir / "mq" / "access.log"
    old = {"time": "2020-03-01T10:00:00Z", "user": "former", "command": "report"}
    with path.open("a") as file:  # an older access (the log appends; order is not relied on)
        file.write(json.dumps(old | {"asked": {"mrn": MRN}}) + "\n")

    status, out, _ = radonc(capsys, "audit", "MQ", "--mrn", MRN)
    assert status == 0
    table = out.splitlines()
    assert table[0].split()[:4] == ["time", "user", "host", "command"]
    assert table[2].split()[:2] == ["2020-03-01T10:00:00Z", "former"]  # oldest first
    assert f"mrn={MRN}" in table[3]
    assert getpass.getuser() in table[3]
    assert table[-1].startswith("2 access(es) in the access log of site MQ under ")

    today = dt.datetime.now(dt.UTC).date().isoformat()
    status, out, _ = radonc(capsys, "audit", "MQ", "--since", today)
    assert status == 0
    assert out.splitlines()[-1].startswith("3 access(es)")  # report, query, the first audit
    assert "date=2026-01-07" in out
    assert "2020-03-01" not in out

    audits = [entry for entry in lines(path) if entry["command"] == "audit"]
    assert [(a["asked"], a["rows"]) for a in audits] == [
        ({"mrn": MRN}, 2),
        ({"since": today}, 3),
    ]


def test_radonc_audit_of_a_site_without_a_log_says_which_logs_there_are(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    record(Access("report", "MQ", "MOSAIQ", {"mrn": MRN}))
    status, out, err = radonc(capsys, "audit", "NOPE")
    assert (status, out) == (1, "")
    assert err.strip() == f"radonc: no access log of site NOPE under {data_dir} (logs: mq)"


def test_retention_removes_older_accesses_and_rotated_files(
    mosaiq_site: Path, data_dir: Path
) -> None:
    path = log_path("MQ")
    record(Access("report", "MQ", "MOSAIQ", {"mrn": "kept"}))
    old = (dt.datetime.now(dt.UTC) - dt.timedelta(days=40)).isoformat(timespec="seconds")
    rotated = path.with_name("access.log.1")
    rotated.write_text(json.dumps({"time": old, "asked": {"mrn": "rotated"}}) + "\n")
    rotated.chmod(0o600)
    days_ago_40 = (dt.datetime.now() - dt.timedelta(days=40)).timestamp()
    os.utime(rotated, (days_ago_40, days_ago_40))
    with path.open("a") as file:
        file.write(json.dumps({"time": old, "asked": {"mrn": "old"}}) + "\n")

    result = dg.materialize([retention_asset(load_site("MQ"), 30)])

    assert [e["asked"]["mrn"] for e in lines(path)] == ["kept"]
    assert not rotated.exists()
    assert mode(path) == 0o600
    metadata = result.asset_materializations_for_node(f"mq__{RETENTION}")[0].metadata
    assert metadata["access_log_lines_deleted"].value == 2
    assert metadata["files_deleted"].value == 1


@pytest.fixture
def lab_site(lab: DemoServers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> DemoServers:
    """The lab's site file and a Dagster instance of the test's own."""
    monkeypatch.setenv("RADONC_ENVIRONMENTS", str(lab.site.source_file.parent))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    return lab


@pytest.mark.usefixtures("lab_courses_planned")
def test_the_dicom_commands_log_each_lookup(
    lab_site: DemoServers, data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site = lab_site.site
    rows = selected_instances(archive_client(site).dicom, Selection(date=DAY))
    ct = rows[rows["modality"] == "CT"].iloc[0]
    patient, study, series = ct["patient_id"], ct["study_instance_uid"], ct["series_instance_uid"]
    slices = int((rows["series_instance_uid"] == series).sum())
    aria, restore = (str(site.node(alias).dicom_node) for alias in ("ARIA", "RESTORE"))
    node = ["--site", "LAB", "--node", "ARIA"]
    of_series = ["--query-level", "SERIES", "--study-uid", study, "--series-uid", series]
    out_dir = tmp_path / "got"

    status, out, _ = radonc(capsys, "query", "LAB", "ARIA", "--mrn", patient)
    assert status == 0
    studies = int(out.splitlines()[-1].split()[0])  # "N stud(ies) in ARIA"
    assert radonc(capsys, "dicom", "find", *node, "--patient-id", patient)[0] == 0
    assert radonc(capsys, "dicom", "get", *node, *of_series, "--out-dir", str(out_dir))[0] == 0
    archive_aet = site.node("ARCHIVE").aet
    assert (
        radonc(capsys, "dicom", "move", *node, *of_series, "--move-dest-aet", archive_aet)[0] == 0
    )
    to_restore = ["--aec", site.node("RESTORE").aet, "--host", "127.0.0.1"]
    to_restore += ["--port", str(site.node("RESTORE").port)]
    assert radonc(capsys, "dicom", "store", *to_restore, "--filepath", str(out_dir))[0] == 0

    query, find, get, move = lines(log_path("LAB"))
    assert (query["command"], query["site"], query["source"]) == ("query", "LAB", "ARIA")
    assert (query["asked"], query["patients"], query["rows"]) == ({"mrn": patient}, 1, studies)
    assert (find["command"], find["site"], find["source"]) == ("dicom find", "LAB", aria)
    assert find["asked"] == {"level": "STUDY", "mrn": patient}
    assert (find["patients"], find["rows"]) == (1, studies)
    assert get["command"] == "dicom get"
    assert get["asked"] == {"level": "SERIES", "study_uid": study, "series_uid": series}
    assert (get["patients"], get["instances"]) == (1, slices)
    assert get["written"] == str(out_dir)
    assert len(list(out_dir.glob("*.dcm"))) == slices
    assert move["command"] == "dicom move"
    assert (move["instances"], move["written"]) == (slices, f"AE {archive_aet}")
    assert {e["outcome"] for e in (query, find, get, move)} == {"ok"}
    store = only_line(None)  # no --site: the log of commands without a site
    assert (store["command"], store["site"], store["source"]) == ("dicom store", None, restore)
    assert store["asked"] == {"files": str(out_dir)}
    assert (store["instances"], store["written"], store["outcome"]) == (slices, restore, "ok")


@pytest.mark.usefixtures("lab_courses_planned")
def test_a_restore_and_a_drill_are_logged_once_by_their_job(
    lab_site: DemoServers, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site = lab_site.site
    rows = selected_instances(archive_client(site).dicom, Selection(date=DAY))
    patient = str(rows["patient_id"].iloc[0])
    dg.materialize(
        daily_assets(site), partition_key=DAY.isoformat(), resources=site_resources(site)
    )

    assert radonc(capsys, "recover", "LAB", "--to", "RESTORE", "--patient-id", patient)[0] == 0
    assert radonc(capsys, "recover", "LAB", "--to", "RESTORE", "--patient-id", "NOBODY")[0] == 1
    assert radonc(capsys, "drill", "LAB")[0] == 0

    recovery, nobody, drill = lines(log_path("LAB"))
    held = selected_instances(archive_client(site).dicom, Selection(patient_id=patient))
    assert (recovery["command"], recovery["launched_by"]) == (recovery_job_name(site), "cli")
    assert (recovery["source"], recovery["written"]) == ("ARCHIVE", "RESTORE")
    assert recovery["asked"] == {"mrn": patient}
    assert recovery["instances"] == len(held)  # the patient's studies of every date
    assert (recovery["patients"], recovery["outcome"]) == (1, "ok")
    assert recovery["user"] == getpass.getuser()
    assert recovery["dagster_user"] is None
    assert nobody["asked"] == {"mrn": "NOBODY"}
    assert (nobody["patients"], nobody["instances"]) == (0, 0)
    assert nobody["outcome"] == "failed: the archive holds nothing for patient NOBODY"
    assert (drill["command"], drill["written"], drill["outcome"]) == (
        drill_job_name(site),
        "SCRATCH",
        "ok",
    )
    assert drill["instances"] > 0
    assert drill["patients"] > 0
    runs = {run.job_name: run.run_id for run in dg.DagsterInstance.get().get_runs()}
    assert (recovery["run"], drill["run"]) == (
        runs[recovery_job_name(site)],
        runs[drill_job_name(site)],
    )


@pytest.mark.usefixtures("lab_courses_planned")
def test_a_restore_launched_from_the_ui_names_the_dagster_user(
    lab_site: DemoServers, data_dir: Path
) -> None:
    """The run as the launchpad starts it: no radonc tags, the deployment's user tag."""
    site = lab_site.site
    rows = selected_instances(archive_client(site).dicom, Selection(date=DAY))
    series = str(rows["series_instance_uid"].iloc[0])
    job = site_definitions(site).resolve_job_def(recovery_job_name(site))

    with dg.instance_for_test() as instance:
        result = job.execute_in_process(
            instance=instance,
            run_config={
                "ops": {
                    op_name(asset_key(site, RECOVERIES)): {
                        "config": {**NO_SELECTION, "series_uids": [series]}
                    }
                }
            },
            tags={"dagster/user": "jdoe@example.org"},
        )

    entry = only_line("LAB")
    assert (entry["command"], entry["launched_by"]) == (recovery_job_name(site), "ui")
    assert entry["dagster_user"] == "jdoe@example.org"
    assert entry["user"] == getpass.getuser()
    assert entry["asked"] == {"series_uid": series}
    assert entry["instances"] == int((rows["series_instance_uid"] == series).sum())
    assert entry["run"] == result.run_id


LAUNCH_RUN = """mutation ($params: ExecutionParams!) { launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on PythonError { message }
    ... on Error { message } } }"""
RUN_STATUS = """query ($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }"""
REPOSITORIES = """{ repositoriesOrError { ... on RepositoryConnection {
    nodes { name location { name } } } } }"""


@pytest.mark.usefixtures("lab_courses_planned")
def test_a_restore_launched_through_the_ui_is_logged_once_by_the_run(
    lab: DemoServers,
    site_file: SiteFileWriter,
    data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The launchpad's request to `radonc serve` (GraphQL), run by its daemon."""
    environments = variant(lab, site_file).parent
    monkeypatch.setenv("RADONC_ENVIRONMENTS", str(environments))
    rows = selected_instances(archive_client(lab.site).dicom, Selection(date=DAY))
    series = str(rows["series_instance_uid"].iloc[-1])
    served = start(environments, tmp_path)
    try:
        (repository,) = served.graphql(REPOSITORIES)["repositoriesOrError"]["nodes"]
        launched = served.graphql(
            LAUNCH_RUN,
            params={
                "selector": {
                    "repositoryLocationName": repository["location"]["name"],
                    "repositoryName": repository["name"],
                    "jobName": recovery_job_name(lab.site),
                },
                "runConfigData": {
                    "ops": {
                        op_name(asset_key(lab.site, RECOVERIES)): {
                            "config": {**NO_SELECTION, "series_uids": [series]}
                        }
                    }
                },
            },
        )["launchRun"]
        assert launched["__typename"] == "LaunchRunSuccess", launched
        run_id = launched["run"]["runId"]
        deadline, status = time.monotonic() + 300, ""
        while time.monotonic() < deadline:
            status = served.graphql(RUN_STATUS, id=run_id)["runOrError"]["status"]
            if status in ("SUCCESS", "FAILURE", "CANCELED"):
                break
            time.sleep(2)
        assert status == "SUCCESS"
    finally:
        stop(served)

    entry = only_line("LAB")
    assert (entry["command"], entry["launched_by"], entry["run"]) == (
        recovery_job_name(lab.site),
        "ui",
        run_id,
    )
    assert entry["dagster_user"] is None  # open-source Dagster has no login
    assert entry["user"] == getpass.getuser()  # the daemon's, who ran it
    assert entry["asked"] == {"series_uid": series}
    assert entry["instances"] == int((rows["series_instance_uid"] == series).sum())
    assert entry["outcome"] == "ok"


def test_radonc_audit_stops_at_a_line_the_log_does_not_write(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = record(Access("report", "MQ", "MOSAIQ", {"mrn": MRN}))
    with path.open("a") as file:
        file.write("edited by hand\n")

    status, out, err = radonc(capsys, "audit", "MQ")

    assert (status, out) == (1, "")
    assert err.strip() == f"radonc: {path}, line 2: not an access log entry"
