"""What the site files say of Mosaiq's SQL, checked without a database driver.

The ODBC driver names (the SQLite3 driver of the simulated Mosaiq) and the static check
of a site's own deliveries query (``mosaiq_backup_sql_query``), which
:mod:`radonc_assets.backup.mosaiq.deliveries_query` uses to decide whether the records
read it: no pandas, no pyodbc.
"""

import re
from collections.abc import Sequence

SQLITE_DRIVER = "SQLite3"


def driver_name(driver: str) -> str:
    """An ODBC driver name without the braces it may be written with (``{FreeTDS}``)."""
    return driver.strip().removeprefix("{").removesuffix("}").strip()


def is_sqlite(driver: str) -> bool:
    """Whether `driver` is the SQLite3 driver of the simulated Mosaiq."""
    return driver_name(driver).lower() == SQLITE_DRIVER.lower()


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


def validate_site_query(sql: str, parameters: int = 2, columns: Sequence[str] = ()) -> str:
    """Check a site's whole query (``mosaiq_backup_sql_query``) without running it.

    What is checked, in order (identifiers in ``[brackets]`` are set aside first):

    - it is not empty and holds no control characters;
    - no statement separator (``;``) and no comment (``--``, ``/*``), which could hide text;
    - no quote of any kind (``'``, ``"``, backtick): no string literal is built into the text
      (SQL Server reads double quotes as strings when QUOTED_IDENTIFIER is off);
    - brackets are balanced and ``@`` (variables) is absent;
    - the first word is SELECT, and none of :data:`_FORBIDDEN_WORDS` appears as a word;
    - exactly `parameters` ``?`` markers (the window start and end, for the deliveries query);
    - unless it selects ``*``, every one of `columns` appears in it as a word (in any case,
      bracketed or not): a column the text never names cannot be in its result.

    The columns it returns are checked again when it runs: a name in the text does not
    make it a column of the result.

    Args:
        sql: The query as the site file gives it.
        parameters: How many ``?`` markers the caller binds.
        columns: The columns its result must have.

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
    if "*" not in text:
        named = {word.upper() for word in _WORD.findall(text)}
        missing = [column for column in columns if column.upper() not in named]
        if missing:
            raise SiteQueryError(f"the query names no column {', '.join(missing)}")
    return text
