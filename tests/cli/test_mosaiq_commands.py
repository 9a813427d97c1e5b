"""`radonc records`, `radonc report` and `radonc query` of a Mosaiq source, in-process.

The simulated Mosaiq of a small synthetic spec stands for Mosaiq; no server is needed.
Expectations come from the spec: weekdays 2026-01-05 to 09, three patients simulated on
the 5th, 6th and 8th (spread over the five weekdays), each treated on the weekdays after
(at most three): SYN03-0001 on the 6th to 8th, SYN03-0002 on the 7th to 9th, SYN03-0003
on the 9th. Every fraction delivers the plan's 2 Gy, split evenly over its beams.
"""

import shutil
import sqlite3
import sys
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import dagster as dg
import pytest
from pydicom import dcmread

from radonc_assets.backup.audit_files import records_dir
from radonc_assets.backup.mosaiq.records import PRIVATE_GROUP
from radonc_assets.cli.main import main
from radonc_assets.defs.mosaiq.assets import treatment_records_asset
from radonc_assets.devtools.synthetic.mosaiq import write_mosaiq_database
from radonc_assets.devtools.synthetic.patient import patients
from radonc_assets.site.dagster_resources import site_resources
from radonc_assets.site.loading import load_site
from radonc_assets.site.naming import node_key
from radonc_assets.site.partitions import partition_date, site_partitions
from tests.support.mosaiq_queries import (
    DOSE_HST_ONLY,
    EARLIER_SHAPE,
    SHIPPED_FOR_THE_WINDOW,
)
from tests.support.simulated_mosaiq import SPEC
from tests.support.sites import SiteFileWriter

UID_ROOT = "1.2.826.0.1.3680043.10.999"
CREATOR = "LAB MOSAIQ"
SETTINGS = {"uid_root": UID_ROOT, "mosaiq_private_creator": CREATOR}
# Beams per patient: the synthetic plans have 2 to 4, drawn from the spec's seed.
BEAMS = {patient.patient_id: len(patient.metersets) for patient in patients(SPEC)}
HOSTILE_MRNS = ["x' OR '1'='1", "'; DROP TABLE Dose_Hst; --", 'SYN03-0001" OR 1=1 --']


class SiteUser(Protocol):
    """Writes the site LAB, its MOSAIQ reading `mosaiq` (none if None), for `radonc` to read;
    `query`: its own deliveries query (``mosaiq_backup_sql_query``)."""

    def __call__(self, mosaiq: Path | None, query: str | None = None) -> Path: ...


@dataclass(frozen=True)
class Outcome:
    status: int
    out: str
    err: str


def radonc(capsys: pytest.CaptureFixture[str], *argv: str) -> Outcome:
    """`radonc ARGV` as the console script runs it: a SystemExit message goes to stderr."""
    try:
        status = main(list(argv))
    except SystemExit as exc:
        if isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
        status = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    return Outcome(status, captured.out, captured.err)


def one_line_error(outcome: Outcome) -> str:
    assert outcome.status == 1
    assert outcome.err.startswith("radonc: ")
    assert outcome.err.count("\n") == 1
    assert "Traceback" not in outcome.err
    return outcome.err.strip()


@pytest.fixture(scope="module")
def mosaiq_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("mosaiq") / "mosaiq.db"
    write_mosaiq_database(SPEC, path)
    return path


@pytest.fixture
def use_site(site_file: SiteFileWriter, monkeypatch: pytest.MonkeyPatch) -> SiteUser:
    def write(mosaiq: Path | None, query: str | None = None) -> Path:
        query_setting = {"mosaiq_backup_sql_query": query} if query is not None else {}
        path = site_file("LAB", mosaiq=mosaiq, settings=SETTINGS | query_setting)
        monkeypatch.setenv("RADONC_ENVIRONMENTS", str(path.parent))
        return path

    return write


@pytest.fixture
def lab(use_site: SiteUser, mosaiq_db: Path) -> Path:
    return use_site(mosaiq_db)


def altered_copy(mosaiq_db: Path, folder: Path, sql: str) -> Path:
    """A copy of the simulated Mosaiq changed by `sql`."""
    path = folder / "altered.db"
    shutil.copyfile(mosaiq_db, path)
    with closing(sqlite3.connect(path)) as db, db:
        db.execute(sql)
    return path


# --- records -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "treated"),
    [
        ("2026-01-05", []),  # the first simulation day: nobody treated yet
        ("2026-01-06", ["SYN03-0001"]),
        ("2026-01-07", ["SYN03-0001", "SYN03-0002"]),
        ("2026-01-09", ["SYN03-0002", "SYN03-0003"]),
    ],
)
def test_records_of_a_date(
    lab: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], day: str, treated: list[str]
) -> None:
    out = tmp_path / "records"
    outcome = radonc(capsys, "records", "LAB", "--date", day, "--out", str(out))

    assert outcome.status == 0, outcome.err
    deliveries = sum(BEAMS[mrn] for mrn in treated)
    lines = outcome.out.splitlines()
    assert lines[-2] == (
        f"{len(treated)} record(s) of {day} from MOSAIQ ({deliveries} deliveries, "
        f"{len(treated)} patient(s)) written to {out}, not archived"
    )
    assert lines[-1] == "0 Mosaiq row(s) skipped"
    files = sorted(out.glob("*.dcm"))
    assert len(files) == len(treated)
    records = [dcmread(f) for f in files]
    assert sorted(str(ds.PatientID) for ds in records) == treated
    for path, ds in zip(files, records, strict=True):
        assert path.stat().st_mode & 0o777 == 0o600
        assert path.stem == ds.SOPInstanceUID
        assert ds.SOPInstanceUID.startswith(f"{UID_ROOT}.")
        assert ds.SeriesInstanceUID.startswith(f"{UID_ROOT}.")
        assert ds.TreatmentDate == day.replace("-", "")
        assert len(ds.TreatmentSessionBeamSequence) == BEAMS[ds.PatientID]
        assert ds.private_block(PRIVATE_GROUP, CREATOR)  # the site's private creator
        # One line per record: patient, plan, date, beams and the file's UID.
        (line,) = [line for line in lines if ds.SOPInstanceUID in line]
        assert line.split()[:7] == [
            ds.PatientID,
            "SYNTHETIC,",
            str(ds.PatientName).split("^")[1],
            "SYN",
            "PLAN",
            day,
            ds.TreatmentTime[:2] + ":" + ds.TreatmentTime[2:4],
        ]
        assert line.split()[-2:] == [str(BEAMS[ds.PatientID]), ds.SOPInstanceUID]


def asset_records(day: str) -> tuple[dict[str, object], dict[str, bytes]]:
    """The metadata and the files of the LAB site's ``treatment_records`` of `day`."""
    site = load_site("LAB")
    key = node_key(site, "MOSAIQ")
    asset = treatment_records_asset(
        site, "MOSAIQ", site.mosaiq_sources["MOSAIQ"], site_partitions(site)
    )
    result = dg.materialize([asset], partition_key=day, resources={key: site_resources(site)[key]})
    assert result.success
    (event,) = result.get_asset_materialization_events()
    metadata = {k: v.value for k, v in event.materialization.metadata.items()}
    return metadata, files_of(records_dir("LAB", partition_date(day), "MOSAIQ"))


def files_of(folder: Path) -> dict[str, bytes]:
    return {f.name: f.read_bytes() for f in folder.glob("*.dcm")}


def test_records_are_those_the_asset_makes(
    lab: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    day = "2026-01-08"
    metadata, made = asset_records(day)

    out = tmp_path / "records"
    assert radonc(capsys, "records", "LAB", "MOSAIQ", "--date", day, "--out", str(out)).status == 0

    assert len(made) == 2  # SYN03-0001 and SYN03-0002
    assert files_of(out) == made
    assert metadata["deliveries_query"] == "deliveries.sql"
    assert "deliveries_query_warning" not in metadata


@pytest.mark.parametrize(
    ("query", "problem"),
    [
        (EARLIER_SHAPE, """(the query holds a quote ("'")"""),  # decided when read from the file
        (DOSE_HST_ONLY, "(its result has no column Fraction_Number, "),  # decided by the result
    ],
)
def test_a_site_query_the_records_cannot_read_gives_the_shipped_ones_records(
    use_site: SiteUser,
    mosaiq_db: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    query: str,
    problem: str,
) -> None:
    day = "2026-01-07"
    use_site(mosaiq_db)
    shipped = tmp_path / "shipped"
    assert radonc(capsys, "records", "LAB", "--date", day, "--out", str(shipped)).status == 0
    use_site(mosaiq_db, query)
    out = tmp_path / "records"

    outcome = radonc(capsys, "records", "LAB", "--date", day, "--out", str(out))
    metadata, made = asset_records(day)

    assert outcome.status == 0, outcome.err
    warning = outcome.out.splitlines()[0]
    assert warning.startswith(f"warning: settings.mosaiq_backup_sql_query is not used {problem}")
    assert "the Mosaiq records read the shipped deliveries query instead" in warning
    assert len(files_of(out)) == 2
    assert files_of(out) == files_of(shipped) == made
    # The asset decides as the command does, and says it in its metadata.
    assert metadata["deliveries_query"] == "deliveries.sql"
    assert metadata["deliveries_query_warning"] == warning.removeprefix("warning: ")
    # `radonc query` of the day's deliveries reads them as the records do.
    listed = radonc(capsys, "query", "LAB", "MOSAIQ", "--treatment-date", day)
    assert listed.status == 0, listed.err
    assert listed.out.splitlines()[0] == warning


def test_records_read_a_site_query_they_can_read(
    use_site: SiteUser, mosaiq_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    day = "2026-01-07"
    use_site(mosaiq_db)
    shipped = tmp_path / "shipped"
    assert radonc(capsys, "records", "LAB", "--date", day, "--out", str(shipped)).status == 0
    with closing(sqlite3.connect(mosaiq_db)) as db:
        (pat_id1,) = db.execute("SELECT Pat_Id1 FROM Ident WHERE IDA = 'SYN03-0002'").fetchone()
    # The shipped query for one patient: the site's own selection, values written as numbers.
    use_site(
        mosaiq_db,
        SHIPPED_FOR_THE_WINDOW.replace("WHERE ", f"WHERE Dose_Hst.Pat_ID1 = {pat_id1} AND ", 1),
    )
    out = tmp_path / "records"

    outcome = radonc(capsys, "records", "LAB", "--date", day, "--out", str(out))
    metadata, made = asset_records(day)

    assert outcome.status == 0, outcome.err
    assert "warning" not in outcome.out
    (record,) = files_of(out).items()
    assert dcmread(out / record[0]).PatientID == "SYN03-0002"
    assert files_of(shipped)[record[0]] == record[1]  # the same record as the shipped query's
    assert made == dict([record])
    assert metadata["deliveries_query"] == "settings.mosaiq_backup_sql_query"
    assert "deliveries_query_warning" not in metadata


def test_records_list_the_rows_left_out(
    use_site: SiteUser,
    mosaiq_db: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with closing(sqlite3.connect(mosaiq_db)) as db:
        (first,) = db.execute(
            "SELECT MIN(DHS_ID) FROM Dose_Hst WHERE Tx_DtTm >= '2026-01-07' "
            "AND Tx_DtTm < '2026-01-08'"
        ).fetchone()
    use_site(
        altered_copy(
            mosaiq_db, tmp_path, f"UPDATE Dose_Hst SET Meterset = NULL WHERE DHS_ID = {first}"
        )
    )
    out = tmp_path / "records"

    outcome = radonc(capsys, "records", "LAB", "--date", "2026-01-07", "--out", str(out))

    assert outcome.status == 0, outcome.err
    deliveries = BEAMS["SYN03-0001"] + BEAMS["SYN03-0002"] - 1
    lines = outcome.out.splitlines()
    assert f"2 record(s) of 2026-01-07 from MOSAIQ ({deliveries} deliveries" in outcome.out
    assert lines[-4] == "1 Mosaiq row(s) skipped:"
    assert lines[-3].split() == ["table", "key", "reason"]
    assert lines[-1].split() == [
        "Dose_Hst",
        f"DHS_ID={first}",
        "Dose_Hst.Meterset",
        "is",
        "missing",
    ]
    assert len(list(out.glob("*.dcm"))) == 2


# --- report --------------------------------------------------------------------------------


def test_report_table_and_csv(
    lab: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv_file = tmp_path / "summary.csv"
    csv_file.write_text("an earlier report\n")
    csv_file.chmod(0o644)

    outcome = radonc(capsys, "report", "LAB", "--mrn", "SYN03-0001", "--csv", str(csv_file))

    assert outcome.status == 0, outcome.err
    header, _, row, summary, wrote = outcome.out.splitlines()
    assert header.split() == [
        "PatientName",
        "PatientMRN",
        "StartDate",
        "EndDate",
        "TotalDose",
        "NumberOfFractions",
        "TargetVolume",
    ]
    # 3 fractions of 2 Gy from the 6th to the 8th, on the synthetic site.
    assert row.split() == [
        "SYNTHETIC,",
        "PATIENT001",
        "SYN03-0001",
        "2026-01-06",
        "2026-01-08",
        "6",
        "3",
        "SYNTHETIC",
        "THORAX",
    ]
    assert summary == "1 treated site(s) of MRN SYN03-0001 in MOSAIQ; TotalDose in Gy"
    assert wrote == f"wrote {csv_file} (mode 0600: it identifies the patient)"
    assert csv_file.read_text() == (
        "PatientName,PatientMRN,StartDate,EndDate,TotalDose,NumberOfFractions,TargetVolume\n"
        '"SYNTHETIC, PATIENT001",SYN03-0001,2026-01-06,2026-01-08,6,3,SYNTHETIC THORAX\n'
    )
    assert csv_file.stat().st_mode & 0o777 == 0o600
    # No partial file left (the data folder holds the access log).
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "summary.csv"]


def test_report_of_a_date_range(lab: Path, capsys: pytest.CaptureFixture[str]) -> None:
    outcome = radonc(
        capsys,
        "report",
        "LAB",
        "MOSAIQ",
        "--mrn",
        "SYN03-0001",
        "--start-date",
        "2026-01-07",
        "--end-date",
        "2026-01-07",
    )
    assert outcome.status == 0, outcome.err
    row = outcome.out.splitlines()[2].split()
    assert row[2:7] == ["SYN03-0001", "2026-01-07", "2026-01-07", "2", "1"]  # one fraction
    assert "of MRN SYN03-0001 from 2026-01-07 to 2026-01-07 in MOSAIQ" in outcome.out


def test_report_dates_in_the_wrong_order_are_a_usage_error(
    lab: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["report", "LAB", "--mrn", "X", "--start-date", "2026-01-09", "--end-date", "2026-01-05"]
    outcome = radonc(capsys, *argv)
    assert outcome.status == 2
    assert "--end-date is before --start-date" in outcome.err


# --- query ---------------------------------------------------------------------------------


def test_query_a_patients_deliveries(lab: Path, capsys: pytest.CaptureFixture[str]) -> None:
    outcome = radonc(capsys, "query", "LAB", "MOSAIQ", "--mrn", "SYN03-0001")

    assert outcome.status == 0, outcome.err
    lines = outcome.out.splitlines()
    assert lines[0].split() == [
        "MRN",
        "Patient",
        "Treated",
        "Field",
        "Beam",
        "MU",
        "PlannedMU",
        "Fraction",
        "Termination",
    ]
    rows = [line.split() for line in lines[2:-2]]
    assert len(rows) == 3 * BEAMS["SYN03-0001"]
    assert [row[3] for row in rows] == ["2026-01-06"] * 2 + ["2026-01-07"] * 2 + ["2026-01-08"] * 2
    assert [row[-2] for row in rows] == ["1/3"] * 2 + ["2/3"] * 2 + ["3/3"] * 2
    assert {row[-1] for row in rows} == {"NORMAL"}
    assert all(row[-4] == row[-3] for row in rows)  # delivered as planned
    assert lines[-2:] == ["6 delivery(ies) of 1 patient(s) in MOSAIQ", "0 Mosaiq row(s) skipped"]


def test_query_the_deliveries_of_a_date(lab: Path, capsys: pytest.CaptureFixture[str]) -> None:
    outcome = radonc(capsys, "query", "LAB", "MOSAIQ", "--treatment-date", "2026-01-09")

    assert outcome.status == 0, outcome.err
    rows = [line.split() for line in outcome.out.splitlines()[2:-2]]
    assert [row[0] for row in rows] == ["SYN03-0002"] * BEAMS["SYN03-0002"] + [
        "SYN03-0003"
    ] * BEAMS["SYN03-0003"]
    assert {row[3] for row in rows} == {"2026-01-09"}
    deliveries = BEAMS["SYN03-0002"] + BEAMS["SYN03-0003"]
    assert f"{deliveries} delivery(ies) of 2 patient(s) on 2026-01-09 in MOSAIQ" in outcome.out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--study-date", "2026-01-07"], "radonc: MOSAIQ is a Mosaiq source: give --mrn or "),
        ([], "radonc: give --mrn or --treatment-date"),
    ],
)
def test_query_of_mosaiq_needs_an_mrn_or_a_date(
    lab: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert one_line_error(radonc(capsys, "query", "LAB", "MOSAIQ", *argv)).startswith(message)


# --- MRNs made of quotes or SQL ------------------------------------------------------------


@pytest.mark.parametrize("mrn", HOSTILE_MRNS)
def test_an_mrn_of_quotes_or_sql_matches_nothing(
    lab: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], mrn: str
) -> None:
    report = radonc(capsys, "report", "LAB", "--mrn", mrn)
    assert report.status == 0, report.err
    assert report.out.splitlines()[0] == "(no results)"
    assert f"0 treated site(s) of MRN {mrn} in MOSAIQ" in report.out

    query = radonc(capsys, "query", "LAB", "MOSAIQ", "--mrn", mrn)
    assert query.status == 0, query.err
    assert query.out.splitlines()[:2] == [
        "(no results)",
        "0 delivery(ies) of 0 patient(s) in MOSAIQ",
    ]

    out = tmp_path / "records"
    records = radonc(capsys, "records", "LAB", "--date", "2026-01-07", "--out", str(out))
    assert "2 record(s) of 2026-01-07" in records.out  # nothing dropped or changed


# --- the MOSAIQ argument -------------------------------------------------------------------


def test_no_mosaiq_source(use_site: SiteUser, capsys: pytest.CaptureFixture[str]) -> None:
    path = use_site(None)
    error = one_line_error(radonc(capsys, "report", "LAB", "--mrn", "SYN03-0001"))
    assert error == f"radonc: {path}: site LAB: no Mosaiq source (sources: ARIA, MIM)"


def test_several_mosaiq_sources(
    use_site: SiteUser,
    mosaiq_db: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = use_site(mosaiq_db)
    text = path.read_text()
    second = f'OTHER = {{ type = "mosaiq", odbc_driver = "SQLite3", db_database = "{mosaiq_db}" }}'
    path.write_text(text.replace("[LAB.backup_targets]", f"{second}\n[LAB.backup_targets]"))
    out = str(tmp_path / "records")

    error = one_line_error(radonc(capsys, "records", "LAB", "--date", "2026-01-07", "--out", out))
    assert error == f"radonc: {path}: site LAB: several Mosaiq sources: name one of MOSAIQ, OTHER"
    assert (
        radonc(capsys, "records", "LAB", "OTHER", "--date", "2026-01-07", "--out", out).status == 0
    )

    error = one_line_error(radonc(capsys, "report", "LAB", "ARIA", "--mrn", "SYN03-0001"))
    assert error == f"radonc: {path}: site LAB: ARIA: not a Mosaiq source (MOSAIQ, OTHER)"


# --- the database cannot be read -----------------------------------------------------------

COMMANDS = [
    ["records", "LAB", "--date", "2026-01-07", "--out", "records"],
    ["report", "LAB", "--mrn", "SYN03-0001"],
    ["query", "LAB", "MOSAIQ", "--treatment-date", "2026-01-07"],
]


@pytest.mark.parametrize("argv", COMMANDS, ids=lambda argv: argv[0])
def test_a_missing_database_file(
    use_site: SiteUser,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    absent = tmp_path / "absent.db"
    use_site(absent)
    error = one_line_error(radonc(capsys, *argv))
    assert error == f"radonc: site LAB: MOSAIQ: the database file {absent} does not exist"
    assert not absent.exists()  # the SQLite3 driver would have created an empty one
    assert not (tmp_path / "records").exists()


@pytest.mark.parametrize("argv", COMMANDS, ids=lambda argv: argv[0])
def test_a_database_missing_a_table(
    use_site: SiteUser,
    mosaiq_db: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    broken = altered_copy(mosaiq_db, tmp_path, "DROP TABLE Dose_Hst")
    use_site(broken)
    error = one_line_error(radonc(capsys, *argv))
    assert error.startswith(f"radonc: query on {broken} via SQLite3 failed: ")
    assert "no such table: Dose_Hst" in error


SQL_SERVER_SITE = """
[SQL]
default_source = "MOSAIQ"
default_backup = "ARCHIVE"
script_ae = {{ aet = "SQL_SCU" }}
[SQL.sources]
MOSAIQ = {{ type = "mosaiq", odbc_driver = "FreeTDS", db_server = "127.0.0.1", db_database = "MOSAIQ", db_username = "radonc", db_password_env_var = "{variable}", login_timeout = 2 }}
[SQL.backup_targets]
ARCHIVE = {{ type = "orthanc", aet = "SQL_ARCHIVE", ip = "127.0.0.1", port = 1 }}
"""


def test_an_unreachable_server_never_shows_the_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """FreeTDS to 127.0.0.1's SQL Server port, where nothing listens."""
    variable = "RADONC_TEST_MOSAIQ_PASSWORD"
    (tmp_path / "sql.toml").write_text(SQL_SERVER_SITE.format(variable=variable))
    monkeypatch.setenv("RADONC_ENVIRONMENTS", str(tmp_path))
    monkeypatch.delenv(variable, raising=False)

    error = one_line_error(radonc(capsys, "report", "SQL", "--mrn", "SYN03-0001"))
    assert error.endswith(
        f"site SQL: sources.MOSAIQ.db_password_env_var: environment variable {variable} is not set"
    )

    password = "s3cret-Pa55word"
    monkeypatch.setenv(variable, password)
    for argv in (["report", "SQL", "--mrn", "SYN03-0001"], ["query", "SQL", "--mrn", "X"]):
        outcome = radonc(capsys, *argv)
        error = one_line_error(outcome)
        assert error.startswith("radonc: cannot connect to MOSAIQ via FreeTDS on 127.0.0.1: ")
        assert password not in outcome.err + outcome.out
