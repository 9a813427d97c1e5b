"""`radonc dicom ...` against the real servers, run in-process as a user would type it."""

from pathlib import Path

import pytest
from pydicom import dcmread

from radonc_assets.cli.main import main
from radonc_assets.devtools.local_servers import OrthancServer
from resources.dicom.client import DicomNode
from resources.orthanc import OrthancClient
from tests.support.sites import SiteFileWriter
from tests.support.sources import SOURCE_SPEC, Source, SyntheticInstance


def node_args(node: DicomNode) -> list[str]:
    return ["--aec", node.aet, "--host", node.host, "--port", str(node.port)]


def test_echo(source: Source, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dicom", "echo", *node_args(source.node)]) == 0
    assert capsys.readouterr().out.startswith(f"C-ECHO {source.node}: success (")


def test_find_prints_a_table(
    source: Source, synthetic_files: list[SyntheticInstance], capsys: pytest.CaptureFixture[str]
) -> None:
    first = synthetic_files[0]
    args = ["dicom", "find", *node_args(source.node), "--query-level", "SERIES"]
    assert main([*args, "--study-uid", first.study_uid]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == [
        "StudyInstanceUID",
        "SeriesInstanceUID",
        "Modality",
        "SeriesNumber",
        "SeriesDate",
        "SeriesDescription",
    ]
    series = {i.series_uid for i in synthetic_files if i.study_uid == first.study_uid}
    assert {line.split()[1] for line in out[2:-1]} == series
    assert out[-1] == f"{len(series)} match(es) at SERIES level from {source.node}"


def test_move_get_and_store(
    source: Source,
    synthetic_files: list[SyntheticInstance],
    archive: OrthancClient,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    record = next(i for i in synthetic_files if i.modality == "RTRECORD")
    series = [
        "--query-level",
        "SERIES",
        "--study-uid",
        record.study_uid,
        "--series-uid",
        record.series_uid,
    ]
    got = tmp_path / "got"  # beside the data folder (the access log)

    assert main(["dicom", "get", *node_args(source.node), *series, "--out-dir", str(got)]) == 0
    assert "1 file(s) written" in capsys.readouterr().out
    (received,) = got.glob("*.dcm")
    assert received.name == f"{record.sop_instance_uid}.dcm"
    assert dcmread(received).SOPInstanceUID == record.sop_instance_uid

    archive.delete_instances([record.sop_instance_uid])
    move = ["dicom", "move", *node_args(source.node), *series]
    assert main([*move, "--move-dest-aet", archive.dicom.peer.aet]) == 0
    assert archive.lookup(record.sop_instance_uid)

    archive.delete_instances([record.sop_instance_uid])
    assert main(["dicom", "store", *node_args(archive.dicom.peer), "--filepath", str(got)]) == 0
    assert "1 stored, 0 failed, 0 skipped" in capsys.readouterr().out
    assert archive.lookup(record.sop_instance_uid)


def test_site_and_node_options(
    archive_server: OrthancServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    site_file: SiteFileWriter,
) -> None:
    """The site's archive is the running test archive; its default source is down."""
    path = site_file(
        "LAB", ports={"archive": archive_server.dicom_port}, aets={"archive": archive_server.aet}
    )
    monkeypatch.setenv("RADONC_ENVIRONMENTS", str(path.parent))
    assert main(["dicom", "echo", "--site", "lab", "--node", "ARCHIVE"]) == 0
    assert f"C-ECHO {archive_server.aet}@127.0.0.1" in capsys.readouterr().out

    assert main(["dicom", "echo", "--site", "LAB", "--timeout", "2"]) == 1  # default source: down
    err = capsys.readouterr().err
    assert err.startswith("radonc: cannot connect to 127.0.0.1:")
    assert "Traceback" not in err

    assert main(["dicom", "echo", "--site", "LAB", "--node", "NOPE"]) == 1
    assert (
        "site LAB: NOPE: no DICOM node of that name (ARCHIVE, ARIA, MIM, RESTORE)"
        in capsys.readouterr().err
    )


def test_expected_failures_are_one_line(source: Source, capsys: pytest.CaptureFixture[str]) -> None:
    wrong = DicomNode("WRONG_AE", source.node.host, source.node.port)
    assert main(["dicom", "echo", *node_args(wrong)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "rejected the association: Called AE title not recognised" in err

    date = SOURCE_SPEC.start.strftime("%Y%m%d")
    find = ["dicom", "find", *node_args(source.node), "--study-date", date]
    assert main(find) == 0
    assert "match(es) at STUDY level" in capsys.readouterr().out


def test_missing_node_options_are_a_usage_error() -> None:
    with pytest.raises(SystemExit, match=r"give --aec, --port \(or --site and --node\)"):
        main(["dicom", "echo", "--host", "127.0.0.1"])
