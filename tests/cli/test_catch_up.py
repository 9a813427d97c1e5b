"""`radonc backup SITE [SOURCE]` without a date: the catch-up a cron line runs every hour.

Real servers holding a synthetic week that ends today (the catch-up's window is relative
to today): ARIA (Orthanc), MIM (dcmqrscp), the simulated Mosaiq and the archive.
"""

import datetime as dt
import json
import re
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from pydicom import dcmread
from pydicom.uid import generate_uid

from radonc_assets.backup.audit_files import audit_path, read_frame
from radonc_assets.cli.main import main
from radonc_assets.cli.runs import dagster_instance
from radonc_assets.devtools.demo import DemoServers, demo_servers, load_synthetic_week
from radonc_assets.devtools.local_servers import free_ports
from radonc_assets.site.clients import archive_client
from radonc_assets.site.loading import load_sites
from radonc_assets.site.naming import SOURCE_STUDIES, VALIDATION_REPORT
from radonc_assets.site.partitions import site_today
from tests.support import alert_receivers
from tests.support.alert_receivers import Webhook
from tests.support.pools import assert_waited_for_pool, hold_aria_pool
from tests.support.sites import LAB_SETTINGS, SiteFileWriter, variant

webhook = alert_receivers.webhook

COMPLETE = "complete, skipped after its listing check ("


@pytest.fixture(scope="module")
def recent(
    tmp_path_factory: pytest.TempPathFactory, site_file: SiteFileWriter
) -> Iterator[DemoServers]:
    """A site LAB of its own servers, holding a synthetic week that ends today (2 patients);
    its simulated Mosaiq is `mosaiq.db` beside the synthetic files."""
    workdir = tmp_path_factory.mktemp("recent")
    database = workdir / "mosaiq.db"
    site = load_sites(site_file("LAB", settings=LAB_SETTINGS, mosaiq=database))["LAB"]
    with demo_servers(site, workdir / "servers") as servers:
        load_synthetic_week(servers, workdir / "synthetic", site_today(site).date(), patients=2)
        yield servers


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A Dagster instance of the test's own, created before any run uses it."""
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    dagster_instance().dispose()
    return tmp_path / "dagster_home"


def catch_up_site(
    recent: DemoServers, site_file: SiteFileWriter, tmp_path: Path, days: int, **options: object
) -> Path:
    """A site file for `recent`'s servers with `catch_up_days = days`, and a copy of its
    Mosaiq database of the test's own (a test may change it)."""
    database = tmp_path / "mosaiq.db"
    shutil.copy(recent.site.mosaiq_sources["MOSAIQ"].db_database, database)
    settings = {"catch_up_days": days, **options.pop("settings", {})}  # type: ignore[dict-item]
    return variant(recent, site_file, mosaiq=database, settings=settings, **options)


def runs_by_date(home: Path) -> dict[str, int]:
    """How many runs the instance at `home` holds of each date (partition)."""
    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs()
    dates: dict[str, int] = {}
    for run in runs:
        day = run.tags.get("dagster/partition", "")
        dates[day] = dates.get(day, 0) + 1
    return dates


def aria_manifest(day: dt.date) -> pd.DataFrame:
    """ARIA's manifest of `day`, as its last backup listed it."""
    return read_frame(audit_path("LAB", day, f"ARIA_{SOURCE_STUDIES}"))


def synthetic_folder(recent: DemoServers) -> Path:
    """Where `recent`'s synthetic files were written."""
    return Path(recent.site.mosaiq_sources["MOSAIQ"].db_database).parent / "synthetic"


def date_lines(out: str, day: dt.date) -> list[str]:
    return [line for line in out.splitlines() if line.startswith(f"{day} LAB: ")]


def test_a_catch_up_runs_only_the_dates_not_complete_and_today(
    recent: DemoServers,
    home: Path,
    site_file: SiteFileWriter,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A week with two dates left incomplete between complete ones: the second date's
    backup ran while MIM was down, and a later date lost its ARIA copies from the archive
    (found missing by a validation). The catch-up backs up those two and today; each
    complete date costs one listing check and no run."""
    up = catch_up_site(recent, site_file, tmp_path, 6)
    (nowhere,) = free_ports(1)
    mim_down = catch_up_site(recent, site_file, tmp_path, 6, ports={"mim": nowhere})
    today = site_today(recent.site).date()
    week = [today - dt.timedelta(days=n) for n in range(6, 0, -1)]
    down = week[1]
    for day in week:
        monkeypatch.setenv("RADONC_ENVIRONMENTS", str((mim_down if day == down else up).parent))
        assert main(["backup", "LAB", "--date", str(day)]) == int(day == down), capsys.readouterr()
    monkeypatch.setenv("RADONC_ENVIRONMENTS", str(up.parent))
    lost = next(d for d in week[2:-1] if len(aria_manifest(d)))
    manifest = aria_manifest(lost)
    archive_client(recent.site).delete_instances(manifest["sop_instance_uid"])
    assert main(["validate", "LAB", "ARIA", "--date", str(lost), "--no-alert"]) == 1
    before = runs_by_date(home)
    capsys.readouterr()

    assert main(["backup", "LAB", "--no-alert"]) == 0
    out = capsys.readouterr().out
    after = runs_by_date(home)
    assert {day for day in after if after[day] != before.get(day)} == {
        str(down),
        str(lost),
        str(today),
    }, out
    for day in (d for d in week if d not in (down, lost)):
        (line,) = date_lines(out, day)
        assert re.fullmatch(
            rf"{day} LAB: complete, skipped after its listing check \(ARIA \d+ instances as "
            r"verified; MIM \d+ instances as verified; MOSAIQ \d+ records as verified\)",
            line,
        ), line
    assert date_lines(out, down)[0] == (
        f"{down} LAB: backing up: MIM unreachable when last validated"
    )
    assert date_lines(out, lost)[0].startswith(
        f"{lost} LAB: backing up: ARIA incomplete when last validated"
    )
    assert f"{lost} LAB ARIA: {len(manifest)} instances: 0 already present, " in out
    for day in (down, lost):
        assert date_lines(out, day)[-1] == f"{day} LAB: backed up: complete"
    assert f"{today} LAB: today, not over: backing up" in out
    lines = out.splitlines()
    assert lines[0].startswith(f"{week[0]} LAB: {COMPLETE}")  # oldest first
    assert lines[-1] == "3 date(s) backed up; 0 incomplete"

    # The next hour: every past date is complete; only today runs.
    assert main(["backup", "LAB", "--no-alert"]) == 0
    out = capsys.readouterr().out
    assert sum(COMPLETE in line for line in out.splitlines()) == len(week)
    again = runs_by_date(home)
    assert {day for day in again if again[day] != after.get(day)} == {str(today)}
    assert out.splitlines()[-1] == "1 date(s) backed up; 0 incomplete"


def test_a_date_changed_at_its_source_after_it_was_verified_is_run_again(
    recent: DemoServers,
    home: Path,
    site_file: SiteFileWriter,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The last date of treatments before today, verified complete; then ARIA receives
    one more instance of it and Mosaiq loses one of its deliveries (the session's record
    changes): the listing check finds both, and the date is backed up again."""
    database = tmp_path / "mosaiq.db"
    today = site_today(recent.site).date()
    shutil.copy(recent.site.mosaiq_sources["MOSAIQ"].db_database, database)
    with sqlite3.connect(database) as db:
        (last,) = db.execute(
            "SELECT MAX(Tx_DtTm) FROM Dose_Hst WHERE Tx_DtTm < ?", (str(today),)
        ).fetchone()
    changed = dt.date.fromisoformat(last[:10])
    path = catch_up_site(recent, site_file, tmp_path, (today - changed).days)
    monkeypatch.setenv("RADONC_ENVIRONMENTS", str(path.parent))
    # The week's plans first (the chains of the date's records), then the date to yesterday.
    week_start = str(today - dt.timedelta(days=6))
    assert main(["backup", "LAB", "ARIA", "--from", week_start, "--to", str(changed)]) == 0
    yesterday = str(today - dt.timedelta(days=1))
    assert main(["backup", "LAB", "--from", str(changed), "--to", yesterday]) == 0
    records = aria_manifest(changed)
    records = records[records["modality"] == "RTRECORD"]
    (original,) = [
        p
        for p in synthetic_folder(recent).rglob("RTRECORD_*.dcm")
        if p.stem.split("_", 1)[1] == records["sop_instance_uid"].iloc[0]
    ]
    added = dcmread(original)
    added.SOPInstanceUID = added.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    added.save_as(tmp_path / "added.dcm")
    assert all(o.ok for o in recent.client("ARIA").store([tmp_path / "added.dcm"]))
    with sqlite3.connect(tmp_path / "mosaiq.db") as db:
        db.execute(
            "DELETE FROM Dose_Hst WHERE DHS_ID = (SELECT MAX(DHS_ID) FROM Dose_Hst WHERE Tx_DtTm < ?)",
            (str(today),),
        )
    capsys.readouterr()

    assert main(["backup", "LAB", "--no-alert"]) == 0
    out = capsys.readouterr().out
    assert date_lines(out, changed)[0] == (
        f"{changed} LAB: backing up: ARIA changed since verified: 1 instance(s) new; "
        "MOSAIQ changed since verified: 1 instance(s) new, 1 instance(s) gone"
    )
    assert date_lines(out, changed)[-1] == f"{changed} LAB: backed up: complete"
    assert out.splitlines()[-1] == "2 date(s) backed up; 0 incomplete"
    assert str(added.SOPInstanceUID) in set(aria_manifest(changed)["sop_instance_uid"])


def test_a_source_unreachable_for_its_listing_check_is_not_complete(
    recent: DemoServers,
    home: Path,
    site_file: SiteFileWriter,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    webhook: Webhook,
) -> None:
    """Yesterday verified complete, then ARIA stops answering: the catch-up says so, runs
    nothing for yesterday (its verdict stays as verified), alerts both dates (today's run
    finds ARIA unreachable too), and exits 1."""
    monkeypatch.setenv(
        "RADONC_ENVIRONMENTS", str(catch_up_site(recent, site_file, tmp_path, 1).parent)
    )
    today = site_today(recent.site).date()
    yesterday = today - dt.timedelta(days=1)
    assert main(["backup", "LAB", "ARIA", "--date", str(yesterday)]) == 0
    (nowhere,) = free_ports(1)
    down = catch_up_site(recent, site_file, tmp_path, 1, ports={"aria": nowhere})
    with down.open("a") as text:
        text.write(f'[LAB.alerts]\nwebhook_url = "{webhook.url}/hooks/radonc"\n')
    monkeypatch.setenv("RADONC_ENVIRONMENTS", str(down.parent))
    before = runs_by_date(home)
    report = audit_path("LAB", yesterday, VALIDATION_REPORT)
    verified = report.read_bytes()
    capsys.readouterr()

    assert main(["backup", "LAB", "ARIA"]) == 1
    out = capsys.readouterr().out
    assert date_lines(out, yesterday) == [
        f"{yesterday} LAB: not complete: its sources could not all be listed; not run"
    ]
    assert (
        f"{yesterday} LAB ARIA: UNREACHABLE for its listing check: ARIA could not be listed: "
        f"cannot connect to 127.0.0.1:{nowhere}"
    ) in out
    after = runs_by_date(home)
    assert after.get(str(yesterday)) == before.get(str(yesterday))
    assert f"{today} LAB ARIA: UNREACHABLE: ARIA could not be listed" in out
    assert out.splitlines()[-1] == "1 date(s) backed up; 2 incomplete (see the Dagster UI)"
    assert report.read_bytes() == verified  # its verdict stays as verified
    alerts = [json.loads(request.body) for request in webhook.requests]
    assert [(a["date"], a["sources"], a["what"]) for a in alerts] == [
        (str(day), ["ARIA"], "radonc backup left the date incomplete") for day in (yesterday, today)
    ]
    assert alerts[0]["details"][0].startswith(
        "ARIA: UNREACHABLE: ARIA could not be listed: cannot connect to"
    )


def test_a_catch_up_waits_for_a_source_held_by_another_run(
    recent: DemoServers,
    home: Path,
    site_file: SiteFileWriter,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Another run (the last hour's catch-up, a sensor's run) holds ARIA's pool: the
    catch-up says which run it waits for, and after the wait stops with one line."""
    monkeypatch.setenv(
        "RADONC_ENVIRONMENTS", str(catch_up_site(recent, site_file, tmp_path, 1).parent)
    )
    hold_aria_pool(home)

    assert main(["backup", "LAB", "--pool-wait", "1"]) == 1
    assert_waited_for_pool(capsys)
    assert runs_by_date(home) == {}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--to", "2026-01-07"],
            "radonc: --to needs --from (--from D1 --to D2; --date D; or no date",
        ),
        (["--date", "2026-01-07", "--to", "2026-01-08"], "radonc: --to needs --from"),
        (["--from", "2026-01-07"], "radonc: --from needs a --to on or after it"),
    ],
)
def test_wrong_date_combinations_are_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["backup", "LAB", *argv])
    assert exit_info.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(message)
