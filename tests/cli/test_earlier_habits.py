"""The earlier system's habits, run through the console script as its operators type them:
its option spellings and script names, `-v` and `--log_level` before or after the command,
`--version`, and a warning (not silence) for an option that a combination leaves unused."""

import datetime as dt
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
from pydicom import dcmread

from radonc_assets.devtools.synthetic import SyntheticSpec
from radonc_assets.devtools.synthetic.mosaiq import write_mosaiq_database
from resources.orthanc import OrthancClient
from tests.support.sites import SiteFileWriter
from tests.support.sources import ARCHIVE_AET, Source, SyntheticInstance

RADONC = str(Path(sys.executable).with_name("radonc"))
MRN = "SYN00-0001"
# The INFO line of the Mosaiq reading, the DEBUG line of the database client.
INFO_LINE = " INFO radonc_assets.backup.mosaiq.queries: "
DEBUG_LINE = " DEBUG resources.mosaiq_db: "


@pytest.fixture(scope="module")
def mosaiq_site(tmp_path_factory: pytest.TempPathFactory, site_file: SiteFileWriter) -> Path:
    """The site MQ, whose simulated Mosaiq treats SYN00-0001 on 2026-01-06 to 08."""
    database = tmp_path_factory.mktemp("mosaiq") / "mosaiq.db"
    spec = SyntheticSpec(start=dt.date(2026, 1, 5), end=dt.date(2026, 1, 9), patients=1)
    write_mosaiq_database(spec, database)
    return site_file("MQ", mosaiq=database)


def radonc(*argv: str, sites: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The console script `radonc ARGV`, reading the site files of folder `sites`."""
    env = {**os.environ, **({"RADONC_ENVIRONMENTS": str(sites)} if sites else {})}
    return subprocess.run(
        [RADONC, *argv], capture_output=True, text=True, timeout=120, env=env, check=False
    )


def test_version_is_the_installed_package_s() -> None:
    done = radonc("--version")
    assert (done.returncode, done.stdout) == (0, f"radonc {version('radonc-backup')}\n")


def test_the_earlier_report_command_line_gives_the_same_report(mosaiq_site: Path) -> None:
    """`python -m src.cli.get_report UCLA MOSAIQ_DB --mrn X --start_date D` of the earlier
    README, with `radonc` for `python -m src.cli.`."""
    dates = ["2026-01-07", "2026-01-08"]
    current = radonc(
        "report", "MQ", "MOSAIQ", "--mrn", MRN, "--start-date", dates[0], "--end-date", dates[1],
        sites=mosaiq_site.parent,
    )  # fmt: skip
    earlier = radonc(
        "get_report", "MQ", "MOSAIQ", "--mrn", MRN, "--start_date", dates[0], "--end_date",
        dates[1], sites=mosaiq_site.parent,
    )  # fmt: skip
    assert current.returncode == 0, current.stderr
    assert (earlier.returncode, earlier.stdout, earlier.stderr) == (0, current.stdout, "")
    assert current.stdout.splitlines()[-1] == (
        f"1 treated site(s) of MRN {MRN} from {dates[0]} to {dates[1]} in MOSAIQ; TotalDose in Gy"
    )


def test_the_earlier_query_spelling_of_a_date(mosaiq_site: Path) -> None:
    earlier = radonc(
        "query", "MQ", "MOSAIQ", "--treatment_date", "2026-01-07", sites=mosaiq_site.parent
    )
    assert earlier.returncode == 0, earlier.stderr
    assert earlier.stdout.splitlines()[-2].endswith(" on 2026-01-07 in MOSAIQ")
    current = radonc(
        "query", "MQ", "MOSAIQ", "--treatment-date", "2026-01-07", sites=mosaiq_site.parent
    )
    assert earlier.stdout == current.stdout


@pytest.mark.parametrize(
    ("command", "hidden"),
    [
        ("query", ["--study_date", "--treatment_date"]),
        ("report", ["--start_date", "--end_date"]),
    ],
)
def test_the_earlier_spellings_are_not_in_the_help(command: str, hidden: list[str]) -> None:
    done = radonc(command, "--help")
    assert done.returncode == 0
    for option in hidden:
        assert option not in done.stdout
        assert option.replace("_", "-") in done.stdout
    assert "--log_level LEVEL" in done.stdout


@pytest.mark.parametrize(
    ("options", "info", "debug"),
    [
        ([], False, False),
        (["-v"], True, False),  # after the command: `radonc query ... -v`
        (["-vv"], True, True),
        (["-v", "-v"], True, True),
        (["--log_level", "debug"], True, True),
        (["--log_level", "INFO"], True, False),
        (["--log_level", "ERROR"], False, False),
        (["--log_level=WARNING"], False, False),
    ],
)
def test_verbosity_after_the_command(
    options: list[str], info: bool, debug: bool, mosaiq_site: Path
) -> None:
    argv = ["query", "MQ", "MOSAIQ", "--mrn", MRN, *options]
    done = radonc(*argv, sites=mosaiq_site.parent)
    assert done.returncode == 0, done.stderr
    assert (INFO_LINE in done.stderr, DEBUG_LINE in done.stderr) == (info, debug)


@pytest.mark.parametrize(
    ("before", "after", "debug"),
    [
        (["-v"], ["-v"], True),  # the counts add up
        (["-v"], [], False),
        (["--log_level", "DEBUG"], [], True),
        (["--log_level", "INFO"], ["-v"], True),
    ],
)
def test_verbosity_before_and_after_the_command_adds_up(
    before: list[str], after: list[str], debug: bool, mosaiq_site: Path
) -> None:
    done = radonc(*before, "query", "MQ", "MOSAIQ", "--mrn", MRN, *after, sites=mosaiq_site.parent)
    assert done.returncode == 0, done.stderr
    assert INFO_LINE in done.stderr
    assert (DEBUG_LINE in done.stderr) == debug


def test_a_report_with_v_after_it(mosaiq_site: Path) -> None:
    """`radonc report SITE --mrn X -v`, which exited 2."""
    done = radonc("report", "MQ", "--mrn", MRN, "-vv", sites=mosaiq_site.parent)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].startswith(f"1 treated site(s) of MRN {MRN}")
    assert DEBUG_LINE in done.stderr


@pytest.mark.parametrize("where", ["before", "after"])
def test_a_bad_log_level_names_the_valid_ones(where: str) -> None:
    level = ["--log_level", "LOUD"]
    argv = [*level, "query", "MQ"] if where == "before" else ["query", "MQ", *level]
    done = radonc(*argv)
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1].endswith(
        "error: argument --log_level: 'LOUD' is not a level "
        "(valid: DEBUG, INFO, WARNING, ERROR, any case)"
    )
    assert "Traceback" not in done.stderr


def test_the_earlier_readme_s_query_of_aria_by_mrn(
    source: Source, synthetic_files: list[SyntheticInstance], site_file: SiteFileWriter
) -> None:
    """`python -m src.cli.query UCLA ARIA_MAIN --mrn "PAT123"` of the earlier README, against
    each real DICOM source (Orthanc, dcmqrscp) as the site's ARIA."""
    path = site_file("OLD", ports={"aria": source.node.port}, aets={"aria": source.node.aet})
    patient = synthetic_files[0].patient_id
    studies = {i.study_uid for i in synthetic_files if i.patient_id == patient}

    done = radonc("query", "OLD", "ARIA", "--mrn", patient, sites=path.parent)

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["PatientID", "StudyInstanceUID", "StudyDate", "StudyDescription"]
    assert {line.split()[1] for line in lines[2:-1]} == studies
    assert {line.split()[0] for line in lines[2:-1]} == {patient}
    assert lines[-1] == f"{len(studies)} stud(ies) in ARIA"

    unknown = radonc("query", "OLD", "ARIA", "--mrn", "NOBODY", sites=path.parent)
    assert (unknown.returncode, unknown.stdout) == (0, "(no results)\n0 stud(ies) in ARIA\n")


def test_the_records_of_a_date_in_studies_of_a_date(
    source: Source, synthetic_files: list[SyntheticInstance], site_file: SiteFileWriter
) -> None:
    """`--study-date` with `--treatment-date` (earlier spellings) keeps the records of studies
    of that date, where it was left unused before. dcmqrscp answers no SeriesDate: the
    records of a date cannot be told apart there, which is said in one line."""
    path = site_file("OLD", ports={"aria": source.node.port}, aets={"aria": source.node.aet})
    records = [
        (i, str(dcmread(i.path, stop_before_pixels=True).SeriesDate))
        for i in synthetic_files
        if i.modality == "RTRECORD"
    ]
    record, treated = records[-1]
    day = dt.datetime.strptime(treated, "%Y%m%d").date().isoformat()
    study_day = dt.datetime.strptime(record.study_date, "%Y%m%d").date()
    of_day = [i for i, date in records if date == treated]
    in_study = {i.sop_instance_uid for i in of_day if i.study_date == record.study_date}
    assert of_day
    assert in_study
    query = ["query", "OLD", "ARIA", "--treatment_date", day]

    done = radonc(*query, "--study_date", study_day.isoformat(), sites=path.parent)

    if source.kind == "dcmqrscp":
        assert (done.returncode, done.stdout) == (1, "")
        assert done.stderr.startswith(f"radonc: {source.node.aet}@127.0.0.1:")
        assert done.stderr.endswith(
            " returns RTRECORD series without SeriesDate, so the "
            f'records of {day} cannot be told apart; set queries = ["study_date"] for this source\n'
        )
        return
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert {line.split()[3] for line in lines[2:-1]} == in_study
    assert (
        lines[-1]
        == f"{len(in_study)} treatment record(s) on {day} in studies of {study_day} in ARIA"
    )
    assert done.stderr == ""
    everything = radonc(*query, sites=path.parent)
    assert (
        everything.stdout.splitlines()[-1] == f"{len(of_day)} treatment record(s) on {day} in ARIA"
    )
    after = radonc(*query, "--study-date", day, sites=path.parent)
    expected = sum(i.study_date == treated for i in of_day)
    assert after.stdout.splitlines()[-1] == (
        f"{expected} treatment record(s) on {day} in studies of {day} in ARIA"
    )


def node_options(source: Source) -> list[str]:
    return ["--aec", source.node.aet, "--host", "127.0.0.1", "--port", str(source.node.port)]


def test_a_retrieve_warns_that_it_ignores_the_modality(
    source: Source,
    synthetic_files: list[SyntheticInstance],
    archive: OrthancClient,
    tmp_path: Path,
) -> None:
    """A C-GET or C-MOVE selects by unique keys only: --modality CT would not keep the
    record series from coming; the command says so and retrieves what the keys select."""
    record = next(i for i in synthetic_files if i.modality == "RTRECORD")
    series = ["--query-level", "SERIES", "--study-uid", record.study_uid]
    series += ["--series-uid", record.series_uid, "--modality", "CT"]
    warning = (
        "radonc: warning: --modality is ignored: a C-{} selects by unique keys only (PatientID, "
        "StudyInstanceUID, SeriesInstanceUID, SOPInstanceUID); list the series with `radonc "
        "dicom find --query-level SERIES --modality CT`, then give their --series-uid"
    )

    get = radonc("dicom", "get", *node_options(source), *series, "--out-dir", str(tmp_path))

    assert get.returncode == 0, get.stderr
    assert get.stderr.splitlines()[0] == warning.format("GET")  # then the progress
    assert [p.name for p in tmp_path.glob("*.dcm")] == [f"{record.sop_instance_uid}.dcm"]
    archive.delete_instances([record.sop_instance_uid])
    move = ["dicom", "move", *node_options(source), *series, "--move-dest-aet", ARCHIVE_AET]
    moved = radonc(*move)
    assert (moved.returncode, moved.stderr) == (0, warning.format("MOVE") + "\n"), moved.stdout
    assert archive.lookup(record.sop_instance_uid)


def test_a_node_without_its_site_is_said_to_be_ignored(source: Source) -> None:
    """Run by the earlier script's name (`python -m src.cli.dicom_utils echo ...`)."""
    done = radonc("dicom_utils", "echo", *node_options(source), "--node", "ARIA")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"C-ECHO {source.node}: success (")
    assert done.stderr == (
        "radonc: warning: --node ARIA is ignored without --site (the site whose node it is)\n"
    )


def test_an_option_another_makes_useless_is_warned_of_first(mosaiq_site: Path) -> None:
    """Said before anything runs: here the site is unknown, and the command stops there."""
    done = radonc("demo", "--site", "NOSITE", "--port", "3001", sites=mosaiq_site.parent)
    assert done.returncode == 1
    warned, error = done.stderr.splitlines()
    assert warned == "radonc: warning: --port 3001 is ignored without --ui (it is the UI's port)"
    assert error.startswith("radonc: ")
    assert "NOSITE" in error
