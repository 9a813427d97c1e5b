"""MosaiqDatabase through the real unixODBC SQLite3 driver; connection-string quoting."""

import datetime as dt
import sqlite3
from pathlib import Path

import pytest

from resources.errors import MosaiqDatabaseError, MosaiqQueryError
from resources.mosaiq_db import MosaiqDatabase, connection_string, odbc_value


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "mosaiq}db.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE Patient (Pat_ID1 INTEGER, Last_Name TEXT, Birth_DtTm TIMESTAMP)")
        db.executemany(
            "INSERT INTO Patient VALUES (?, ?, ?)",
            [(1, "SYNTHETIC", "1950-03-04 00:00:00"), (2, "O'BRIEN", "1961-07-08 00:00:00")],
        )
    return path


def test_parameterised_query_returns_a_dataframe(database: Path) -> None:
    db = MosaiqDatabase("{SQLite3}", str(database))
    frame = db.query(
        "SELECT Pat_ID1, Last_Name, Birth_DtTm FROM Patient WHERE Last_Name = ?", ["O'BRIEN"]
    )
    assert frame.to_dict("records") == [
        {"Pat_ID1": 2, "Last_Name": "O'BRIEN", "Birth_DtTm": dt.datetime(1961, 7, 8)}
    ]


def test_parameters_are_never_sql(database: Path) -> None:
    db = MosaiqDatabase("SQLite3", str(database))
    hostile = "x' OR '1'='1"
    assert db.query("SELECT * FROM Patient WHERE Last_Name = ?", [hostile]).empty
    assert len(db.query("SELECT * FROM Patient")) == 2


def test_missing_database_file_is_a_clear_error(tmp_path: Path) -> None:
    db = MosaiqDatabase("SQLite3", str(tmp_path / "absent" / "mosaiq.db"))
    with pytest.raises(
        MosaiqDatabaseError, match=r"cannot connect to .*absent/mosaiq\.db via SQLite3"
    ) as info:
        db.query("SELECT 1")
    assert not isinstance(info.value, MosaiqQueryError)  # not reached: no query was refused


def test_bad_sql_is_a_clear_error(database: Path) -> None:
    db = MosaiqDatabase("SQLite3", str(database))
    with pytest.raises(MosaiqQueryError, match=r"query on .* failed: .*no such table"):
        db.query("SELECT * FROM Dose_Hst")


def test_password_never_leaks_into_the_description() -> None:
    db = MosaiqDatabase("FreeTDS", "MOSAIQ", server="sql1", username="u", password="s3cret")
    assert "s3cret" not in db.description


@pytest.mark.parametrize(
    ("value", "quoted"),
    [
        ("plain", "plain"),
        ("pa;ss", "{pa;ss}"),
        ("pa}ss", "{pa}}ss}"),
        ("{x}", "{{x}}}"),
        (" padded ", "{ padded }"),
        ("a=b", "{a=b}"),
        ("", "{}"),
    ],
)
def test_odbc_value_quoting(value: str, quoted: str) -> None:
    assert odbc_value(value) == quoted


def test_sql_server_connection_string_quotes_every_value() -> None:
    assert connection_string(
        "{ODBC Driver 17 for SQL Server}", "MOSAIQ", server="sql1", username="svc", password="p;w}d"
    ) == ("DRIVER={ODBC Driver 17 for SQL Server};SERVER=sql1;DATABASE=MOSAIQ;UID=svc;PWD={p;w}}d}")


def test_sqlite_path_with_semicolon_is_refused() -> None:
    with pytest.raises(MosaiqDatabaseError, match="cannot open a path containing ';'"):
        connection_string("SQLite3", "/data/a;b.db")
