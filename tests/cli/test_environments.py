"""`radonc environments check --probe`: each Mosaiq source's staging node asked, over the
network, whether it relays the records to the archive or only stores them; without
--probe, check contacts nothing."""

import socket
from pathlib import Path

import pytest

from radonc_assets.cli.main import main
from radonc_assets.devtools.demo import DemoServers
from radonc_assets.devtools.local_servers import (
    LOOPBACK,
    OrthancServer,
    StorescpServer,
    free_port,
)
from tests.support.sites import SiteFileWriter, variant

HEAD = "MOSAIQ: records through the staging node RESTORE: "


def staging_lines(capsys: pytest.CaptureFixture[str], path: Path, *options: str) -> list[str]:
    """The staging lines `radonc environments check OPTIONS PATH` prints."""
    assert main(["environments", "check", *options, str(path)]) == 0
    return [line for line in capsys.readouterr().out.splitlines() if line.startswith(HEAD)]


def test_probe_says_the_mode_of_each_staging_node(
    lab: DemoServers,
    site_file: SiteFileWriter,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    down = free_port()  # nothing listens there
    with (
        StorescpServer(tmp_path, "LAB_RESTORE") as store_only,
        OrthancServer(tmp_path, "LAB_RESTORE") as orthanc,
    ):
        expected = {
            # The lab's RESTORE, a dcmqrscp that knows the archive.
            lab.site.node("RESTORE").port: "relay (C-MOVE to LAB_ARCHIVE)",
            store_only.dicom_port: (
                "store-only (C-STORE; records also stored directly to the archive) - "
                f"LAB_RESTORE@127.0.0.1:{store_only.dicom_port} (calling AE LAB_SCU) accepted "
                "none of the proposed presentation contexts"
            ),
            # Orthanc answers 0xC000 to a C-MOVE of nothing, whether or not it knows the
            # destination.
            orthanc.dicom_port: (
                "relay (C-MOVE to LAB_ARCHIVE) - unconfirmed: a C-MOVE of nothing to "
                "LAB_ARCHIVE answered 0xC000 (Unable to Process), which does not say whether "
                "it knows LAB_ARCHIVE; records it cannot move are stored directly to the archive"
            ),
            down: (
                f"unreachable: cannot connect to 127.0.0.1:{down} for LAB_RESTORE (connection "
                "refused, no route, or no answer within 5 s)"
            ),
        }
        for port, mode in expected.items():
            path = variant(
                lab, site_file, mosaiq=tmp_path / "mosaiq.db", staging=True, ports={"restore": port}
            )
            (line,) = staging_lines(capsys, path, "--probe")
            assert line == HEAD + mode


def test_check_without_probe_contacts_no_node(
    lab: DemoServers,
    site_file: SiteFileWriter,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Every node of the site, the staging node included, at one listening socket that
    would hold any connection made to it."""
    with socket.socket() as listener:
        listener.bind((LOOPBACK, 0))
        listener.listen()
        listener.setblocking(False)
        port = listener.getsockname()[1]
        nodes = ("aria", "mim", "archive", "http", "restore")
        path = variant(
            lab,
            site_file,
            mosaiq=tmp_path / "mosaiq.db",
            staging=True,
            ports=dict.fromkeys(nodes, port),
        )

        lines = staging_lines(capsys, path)

        assert lines == [HEAD + "relay or store-only not probed (--probe contacts it)"]
        with pytest.raises(BlockingIOError):
            listener.accept()
