"""The Mosaiq queries: SQL files beside this module, run with ``?`` parameters.

Every query lives in ``sql/*.sql`` (package data, read with :mod:`importlib.resources`)
in the subset of SQL that SQL Server (Mosaiq) and SQLite (the simulated Mosaiq,
through the SQLite3 ODBC driver) both accept: ANSI joins, ``COALESCE``, aggregates,
``[Index]`` quoted with brackets, no ``CONVERT``/``DATEADD``/``TOP``/``LIMIT`` and no
string concatenation. Values only ever travel as parameters.

Date windows are computed here and passed as ``datetime.date`` parameters,
``[first day, day after the last)``. Dates, not date-times: measured with the SQLite3
ODBC driver, a ``datetime`` parameter is bound as the text ``'2026-01-05 00:00:00.000'``,
which sorts after the stored ``'2026-01-05 00:00:00'`` and so would drop a delivery at
midnight and take one at the next midnight; a ``date`` is bound as ``'2026-01-05'``,
which orders correctly against stored date-times, and SQL Server converts a date
parameter compared with a datetime column to that day's midnight.
"""

import datetime as dt
import functools
import logging
from collections.abc import Iterable
from importlib import resources

import pandas as pd

from radonc_assets.backup.mosaiq.model import (
    CONTROL_POINT_COLUMNS,
    DELIVERY_COLUMNS,
    Parsed,
    Session,
    group_sessions,
    parse_appointments,
    parse_control_points,
    parse_deliveries,
    require_columns,
    treatment_summary,
)
from resources.mosaiq_db import MosaiqDatabase

LOGGER = logging.getLogger(__name__)

Window = tuple[dt.date, dt.date]

# The widest window `date_window` opens to: SQL Server's datetime starts in 1753.
_EARLIEST = dt.date(1900, 1, 1)
_LATEST = dt.date(9999, 12, 31)
# Fields per control points query: below SQLite's historical limit of 999 host parameters
# (SQLITE_MAX_VARIABLE_NUMBER before 3.32) and SQL Server's 2100 parameters per request.
CONTROL_POINT_BATCH = 500
_MARKERS_PLACEHOLDER = "{field_id_markers}"


@functools.cache
def load_sql(name: str) -> str:
    """The text of ``sql/<name>.sql``, package data beside this module."""
    return resources.files(__package__).joinpath("sql", f"{name}.sql").read_text(encoding="utf-8")


def control_points_sql(fields: int) -> str:
    """The control points query for `fields` FLD_IDs: its IN list gets one ``?`` per field.

    Only the markers are built here, from a count: no value ever enters the text, so the
    statement stays a parameterised query whatever the IDs are.

    Raises:
        ValueError: `fields` is not in [1, :data:`CONTROL_POINT_BATCH`].
    """
    if not 1 <= fields <= CONTROL_POINT_BATCH:
        raise ValueError(f"between 1 and {CONTROL_POINT_BATCH} fields per query, not {fields}")
    return load_sql("control_points").replace(_MARKERS_PLACEHOLDER, ", ".join(["?"] * fields))


def day_window(day: dt.date) -> Window:
    """The window of one date: [day, next day)."""
    return day, day + dt.timedelta(days=1)


def date_window(first: dt.date | None = None, last: dt.date | None = None) -> Window:
    """The window of the dates `first` to `last`, both included; open ends are unbounded."""
    end = last + dt.timedelta(days=1) if last else _LATEST
    return first or _EARLIEST, end


def fetch_deliveries(
    db: MosaiqDatabase, window: Window, *, mrn: str | None = None, sql: str | None = None
) -> pd.DataFrame:
    """The deliveries of a window, everyone's or one patient's (`mrn`, a plain value).

    ``deliveries.sql``, or instead a site's validated query, which takes the window only.
    """
    if sql is not None:
        return db.query(sql, window)
    return db.query(load_sql("deliveries"), (*window, mrn, mrn))


def fetch_appointments(
    db: MosaiqDatabase, window: Window, *, mrn: str | None = None
) -> pd.DataFrame:
    """The current appointments of a window, everyone's or one patient's (``appointments.sql``)."""
    return db.query(load_sql("appointments"), (*window, mrn, mrn))


def fetch_control_points(db: MosaiqDatabase, field_ids: Iterable[int]) -> pd.DataFrame:
    """The control points of the given fields, :data:`CONTROL_POINT_BATCH` fields per query."""
    # pyodbc refuses numpy integers as parameters (measured: HY105 Invalid parameter type).
    ids = sorted({int(i) for i in field_ids})
    frames = [
        db.query(control_points_sql(len(batch)), batch)
        for batch in (
            ids[start : start + CONTROL_POINT_BATCH]
            for start in range(0, len(ids), CONTROL_POINT_BATCH)
        )
    ]
    if not frames:
        return pd.DataFrame(columns=list(CONTROL_POINT_COLUMNS))
    return pd.concat(frames, ignore_index=True)


def fetch_treatment_summary(db: MosaiqDatabase, mrn: str, window: Window) -> pd.DataFrame:
    """The ``radonc report`` table of one patient (:func:`.model.treatment_summary`)."""
    return treatment_summary(db.query(load_sql("treatment_summary"), (mrn, *window)))


def read_sessions(
    db: MosaiqDatabase, window: Window, *, mrn: str | None = None, site_query: str | None = None
) -> Parsed[Session]:
    """The treatment sessions of a window, everyone's or one patient's (`mrn`).

    Args:
        db: The Mosaiq database.
        window: From :func:`day_window` or :func:`date_window`.
        mrn: Only this patient's sessions.
        site_query: The site's validated ``mosaiq_backup_sql_query``, replacing
            ``deliveries.sql`` (not with `mrn`).

    Returns:
        The sessions, and every row left out (deliveries, control points, appointments).

    Raises:
        ValueError: Both `mrn` and `site_query`, or a query without its contract columns.
        MosaiqDatabaseError: The database could not be read.
    """
    if mrn is not None and site_query is not None:
        raise ValueError("a site query selects its own deliveries: not with an MRN")
    deliveries_frame = fetch_deliveries(db, window, mrn=mrn, sql=site_query)
    appointments_frame = fetch_appointments(db, window, mrn=mrn)
    require_columns(deliveries_frame, DELIVERY_COLUMNS, "deliveries")
    field_ids = pd.to_numeric(deliveries_frame["FLD_ID"], errors="coerce").dropna()
    points, skipped_points = parse_control_points(fetch_control_points(db, field_ids))
    deliveries = parse_deliveries(deliveries_frame, points)
    appointments = parse_appointments(appointments_frame)
    sessions = group_sessions(deliveries.items, appointments.items)
    skipped = skipped_points + deliveries.skipped + appointments.skipped
    LOGGER.info(
        "%d sessions from %d deliveries in [%s, %s); %d rows skipped",
        len(sessions),
        len(deliveries.items),
        window[0],
        window[1],
        len(skipped),
    )
    return Parsed(sessions, skipped)
