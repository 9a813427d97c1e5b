"""The Mosaiq database over ODBC (pyodbc).

Mosaiq runs on SQL Server; the simulated Mosaiq of the demo and tests is a SQLite
file reached through the SQLite3 ODBC driver. Queries are always parameterised
(``?`` markers), never formatted into the SQL text, and return DataFrames.
"""

import logging
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pandas as pd
import pyodbc

from resources.errors import MosaiqDatabaseError

LOGGER = logging.getLogger(__name__)

SQLITE_DRIVER = "SQLite3"


def driver_name(driver: str) -> str:
    """An ODBC driver name without the braces it may be written with (``{FreeTDS}``)."""
    return driver.strip().removeprefix("{").removesuffix("}").strip()


def is_sqlite(driver: str) -> bool:
    """Whether `driver` is the SQLite3 driver of the simulated Mosaiq."""
    return driver_name(driver).lower() == SQLITE_DRIVER.lower()


def odbc_value(value: str) -> str:
    """Quote a connection-string value so `;`, `{`, `}` and spaces cannot split it.

    ODBC wraps such values in braces and doubles every closing brace inside.
    """
    if value and not any(c in value for c in ";{}=") and value == value.strip():
        return value
    return "{" + value.replace("}", "}}") + "}"


def connection_string(
    driver: str,
    database: str,
    *,
    server: str = "",
    username: str = "",
    password: str = "",
) -> str:
    """A DSN-less ODBC connection string; every value is quoted by :func:`odbc_value`.

    With the SQLite3 driver `database` is the file and the other keys are left out;
    that driver does not understand braces, so the path is passed as it is and
    may not contain `;`.

    Raises:
        MosaiqDatabaseError: A SQLite path containing `;`.
    """
    driver = driver_name(driver)
    if is_sqlite(driver):
        if ";" in database:
            raise MosaiqDatabaseError(
                f"the {SQLITE_DRIVER} ODBC driver cannot open a path containing ';': {database}"
            )
        # NoCreat: a missing file is an error, not a new empty database (measured: the
        # driver creates one otherwise).
        return f"DRIVER={{{driver}}};Database={database};NoCreat=1"
    parts = {"SERVER": server, "DATABASE": database, "UID": username, "PWD": password}
    values = ";".join(f"{key}={odbc_value(value)}" for key, value in parts.items())
    return f"DRIVER={{{driver}}};{values}"


class MosaiqDatabase:
    """Read-only access to a Mosaiq database.

    Args:
        driver: ODBC driver name, with or without braces (``FreeTDS``, ``SQLite3``...).
        database: Database name, or the file for SQLite3.
        server: SQL Server host (ignored for SQLite3).
        username: Login (ignored for SQLite3).
        password: Password (ignored for SQLite3); never logged.
        login_timeout: Seconds to wait for the connection.
        query_timeout: Seconds a query may run.
    """

    def __init__(
        self,
        driver: str,
        database: str,
        *,
        server: str = "",
        username: str = "",
        password: str = "",
        login_timeout: int = 15,
        query_timeout: int = 120,
    ) -> None:
        self._connection_string = connection_string(
            driver, database, server=server, username=username, password=password
        )
        self.description = f"{database} via {driver}" + (f" on {server}" if server else "")
        self.login_timeout = login_timeout
        self.query_timeout = query_timeout

    @contextmanager
    def connect(self) -> Iterator[pyodbc.Connection]:
        """A connection with the login and query timeouts set (the login should be read-only)."""
        try:
            connection = pyodbc.connect(self._connection_string, timeout=self.login_timeout)
        except pyodbc.Error as exc:
            raise MosaiqDatabaseError(f"cannot connect to {self.description}: {exc}") from exc
        try:
            connection.timeout = self.query_timeout
            yield connection
        finally:
            connection.close()

    def query(self, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame:
        """Run a parameterised query (``?`` markers) and return its rows."""
        with self.connect() as connection:
            try:
                cursor = connection.cursor()
                cursor.execute(sql, *params)
                columns = [column[0] for column in cursor.description]
                rows = [tuple(row) for row in cursor.fetchall()]
            except pyodbc.Error as exc:
                raise MosaiqDatabaseError(f"query on {self.description} failed: {exc}") from exc
        LOGGER.debug("%d rows from %s", len(rows), self.description)
        return pd.DataFrame.from_records(rows, columns=columns)


# A site query is one SELECT; these words make anything else (writes, DDL, procedures,
# transactions, variables, external data, SQLite pragmas) or write a table (SELECT INTO).
_FORBIDDEN_WORDS = frozenset(
    (
        "ALTER",
        "ATTACH",
        "BACKUP",
        "BEGIN",
        "BULK",
        "CHECKPOINT",
        "COMMIT",
        "CREATE",
        "DBCC",
        "DECLARE",
        "DELETE",
        "DENY",
        "DETACH",
        "DROP",
        "EXEC",
        "EXECUTE",
        "GRANT",
        "INSERT",
        "INTO",
        "KILL",
        "MERGE",
        "OPENDATASOURCE",
        "OPENQUERY",
        "OPENROWSET",
        "OPENXML",
        "PRAGMA",
        "RECONFIGURE",
        "REINDEX",
        "RESTORE",
        "REVOKE",
        "ROLLBACK",
        "SAVE",
        "SET",
        "SHUTDOWN",
        "TRANSACTION",
        "TRUNCATE",
        "UPDATE",
        "USE",
        "VACUUM",
        "WAITFOR",
    )
)
_BRACKETED = re.compile(r"\[[^\[\]]*\]")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class SiteQueryError(ValueError):
    """A site-provided query (``mosaiq_backup_sql_query``) that is not one parameterised SELECT."""


def validate_site_query(sql: str, parameters: int = 2) -> str:
    """Check a site's whole query (``mosaiq_backup_sql_query``) when the site file loads.

    What is checked, in order (identifiers in ``[brackets]`` are set aside first):

    - it is not empty and holds no control characters;
    - no statement separator (``;``) and no comment (``--``, ``/*``), which could hide text;
    - no quote of any kind (``'``, ``"``, backtick): no string literal is built into the text
      (SQL Server reads double quotes as strings when QUOTED_IDENTIFIER is off);
    - brackets are balanced and ``@`` (variables) is absent;
    - the first word is SELECT, and none of :data:`_FORBIDDEN_WORDS` appears as a word;
    - exactly `parameters` ``?`` markers (the window start and end, for the deliveries query).

    The columns it returns are checked when it runs (the deliveries contract of
    :mod:`radonc_assets.backup.mosaiq.model`).

    Args:
        sql: The query as the site file gives it.
        parameters: How many ``?`` markers the caller binds.

    Returns:
        The query without surrounding whitespace.

    Raises:
        SiteQueryError: Saying which rule the query breaks.
    """
    text = sql.strip()
    if not text:
        raise SiteQueryError("the query is empty")
    if any(ord(c) < 0x20 and c not in "\t\n\r" for c in text):
        raise SiteQueryError("the query holds control characters")
    for mark, what in ((";", "a statement separator"), ("--", "a comment"), ("/*", "a comment")):
        if mark in text:
            raise SiteQueryError(f"the query holds {what} ({mark!r})")
    for quote in "'\"`":
        if quote in text:
            raise SiteQueryError(
                f"the query holds a quote ({quote!r}): pass values as ? parameters, "
                "and quote identifiers with [brackets]"
            )
    bare = _BRACKETED.sub(" ", text)
    if "[" in bare or "]" in bare:
        raise SiteQueryError("the query has unbalanced [brackets]")
    if "@" in bare:
        raise SiteQueryError("the query uses a variable (@)")
    words = [word.upper() for word in _WORD.findall(bare)]
    if not words or words[0] != "SELECT":
        raise SiteQueryError("the query must be a single SELECT")
    forbidden = sorted(_FORBIDDEN_WORDS.intersection(words))
    if forbidden:
        raise SiteQueryError(f"the query may only read: it uses {', '.join(forbidden)}")
    markers = bare.count("?")
    if markers != parameters:
        raise SiteQueryError(f"the query has {markers} ? markers, not {parameters}")
    return text
