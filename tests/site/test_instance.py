"""Opening the Dagster instance (radonc_assets/site/instance.py)."""

import multiprocessing
import sqlite3
from pathlib import Path

import pytest

from radonc_assets.site.instance import open_instance
from radonc_assets.site.paths import ensure_instance_settings

# The SQLite databases of an instance, each stamped with its schema's revision.
DATABASES = ("history/runs.db", "history/runs/index.db", "schedules/schedules.db")


def _open_and_close(home: Path) -> None:
    open_instance(home).dispose()


def stamps(home: Path) -> dict[str, int]:
    """How many revisions each database of the instance at `home` is stamped with."""
    counts = {}
    for name in DATABASES:
        with sqlite3.connect(home / name) as db:
            counts[name] = db.execute("SELECT count(*) FROM alembic_version").fetchone()[0]
    return counts


@pytest.mark.parametrize("attempt", range(4))
def test_processes_opening_a_new_instance_at_once_create_it_once(
    tmp_path: Path, attempt: int
) -> None:
    """As the webserver and the daemon of `radonc serve`, or a command from cron beside
    them: Dagster's own opening, three processes at once, stamped a database twice in
    most attempts here, and the instance then fails every process ("more than one head")."""
    home = tmp_path / f"home{attempt}"
    home.mkdir()
    ensure_instance_settings(home)
    fork = multiprocessing.get_context("fork")
    processes = [fork.Process(target=_open_and_close, args=(home,)) for _ in range(3)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
    assert [process.exitcode for process in processes] == [0, 0, 0]
    assert stamps(home) == dict.fromkeys(DATABASES, 1)
    with open_instance(home) as instance:
        assert instance.get_runs() == []
