"""The Mosaiq database over ODBC (pyodbc).

Mosaiq runs on SQL Server; the simulated Mosaiq of the demo and tests is a SQLite
file reached through the SQLite3 ODBC driver. Queries are always parameterised
(``?`` markers), never formatted into the SQL text, and return DataFrames.
"""

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pandas as pd
import pyodbc

from resources.errors import MosaiqDatabaseError, MosaiqQueryError
from resources.mosaiq_sql import SQLITE_DRIVER, driver_name, is_sqlite

LOGGER = logging.getLogger(__name__)


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
        """Run a parameterised query (``?`` markers) and return its rows.

        Raises:
            MosaiqDatabaseError: The database cannot be reached.
            MosaiqQueryError: It refused the query or did not finish it in time.
        """
        with self.connect() as connection:
            try:
                cursor = connection.cursor()
                cursor.execute(sql, *params)
                columns = [column[0] for column in cursor.description]
                rows = [tuple(row) for row in cursor.fetchall()]
            except pyodbc.Error as exc:
                raise MosaiqQueryError(f"query on {self.description} failed: {exc}") from exc
        LOGGER.debug("%d rows from %s", len(rows), self.description)
        return pd.DataFrame.from_records(rows, columns=columns)
