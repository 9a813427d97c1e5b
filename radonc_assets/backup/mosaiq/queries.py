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

The deliveries come from ``deliveries.sql`` or from the site's own query when the records
can read it (:mod:`.deliveries_query`); :func:`read_sessions` decides, once for the
``treatment_records`` asset and the commands.

The census of active courses (``active_courses.sql``, :func:`active_courses`) is here too:
the query selects the candidate courses, a pure function decides which are active.
"""

import datetime as dt
import functools
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources

import pandas as pd

from radonc_assets.backup.mosaiq.accounting import (
    DELIVERIES_QUERY,
    SITE_QUERY,
    NotConverted,
    not_converted,
)
from radonc_assets.backup.mosaiq.deliveries_query import (
    DELIVERY_COLUMNS,
    DeliveriesQuery,
    deliveries_query,
)
from radonc_assets.backup.mosaiq.model import (
    CONTROL_POINT_COLUMNS,
    Parsed,
    Row,
    RowError,
    Session,
    SkippedRow,
    cell_integer,
    cell_text,
    cell_timestamp,
    display_name,
    group_sessions,
    missing_columns,
    parse_appointments,
    parse_control_points,
    parse_deliveries,
    require_columns,
    required,
    row_key,
    row_records,
    treatment_summary,
)
from resources.errors import MosaiqQueryError
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


def fetch_deliveries(db: MosaiqDatabase, window: Window, *, mrn: str | None = None) -> pd.DataFrame:
    """The deliveries of a window, everyone's or one patient's (`mrn`, a plain value).

    ``deliveries.sql``, the shipped query.
    """
    return db.query(load_sql("deliveries"), (*window, mrn, mrn))


def fetch_window_deliveries(
    db: MosaiqDatabase, window: Window, *, mrn: str | None = None
) -> pd.DataFrame:
    """Every ``Dose_Hst`` delivery of a window, everyone's or one patient's.

    ``window_deliveries.sql``, whatever else Mosaiq holds of them: the deliveries a
    window's records account for (:mod:`.accounting`).
    """
    return db.query(load_sql("window_deliveries"), (*window, mrn, mrn))


def fetch_site_deliveries(
    db: MosaiqDatabase, window: Window, query: DeliveriesQuery
) -> tuple[pd.DataFrame, DeliveriesQuery]:
    """The deliveries of a window through `query`, and the query that read them.

    The site's query when `query` has one and it gives :data:`DELIVERY_COLUMNS`; otherwise
    the shipped one, with the reason when the site's was set: the static one of `query`,
    the database refusing it, or the columns its result lacks.

    Raises:
        MosaiqDatabaseError: The database cannot be reached, or refused the shipped query.
    """
    if query.site_sql is None:
        return fetch_deliveries(db, window), query
    try:
        frame = db.query(query.site_sql, window)
    except MosaiqQueryError as exc:
        fallback = DeliveriesQuery(problem=f"the database refused it: {exc}")
    else:
        missing = missing_columns(frame, DELIVERY_COLUMNS)
        if not missing:
            return frame, query
        fallback = DeliveriesQuery(problem=f"its result has no column {', '.join(missing)}")
    return fetch_deliveries(db, window), fallback


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


@dataclass(frozen=True)
class NewDeliveries:
    """Deliveries a sensor has not seen: their ``DHS_ID`` by treatment date, and the new cursor.

    Attributes:
        by_date: The ``DHS_ID`` of each, by the date of its ``Tx_DtTm``, dates in order.
        last_id: The highest ``DHS_ID`` among them (the cursor when there are none).
    """

    by_date: dict[dt.date, tuple[int, ...]]
    last_id: int


def new_deliveries(db: MosaiqDatabase, after_id: int, since: dt.date) -> NewDeliveries:
    """The deliveries after ``DHS_ID`` `after_id` treated on or after `since` (``new_deliveries.sql``).

    A row whose ``DHS_ID`` or ``Tx_DtTm`` cannot be read is left out with a warning.
    """
    frame = db.query(load_sql("new_deliveries"), (after_id, since))
    found: dict[dt.date, list[int]] = {}
    for row in row_records(frame):
        try:
            dhs_id = required(cell_integer(row, "DHS_ID"), "DHS_ID")
            treated = required(cell_timestamp(row, "Tx_DtTm"), "Tx_DtTm")
        except RowError as exc:
            LOGGER.warning("Dose_Hst row left out of the new deliveries: %s", exc)
            continue
        found.setdefault(treated.date(), []).append(dhs_id)
    by_date = {day: tuple(sorted(found[day])) for day in sorted(found)}
    last_id = max([after_id, *(dhs_id for ids in by_date.values() for dhs_id in ids)])
    return NewDeliveries(by_date, last_id)


def fetch_treatment_summary(db: MosaiqDatabase, mrn: str, window: Window) -> pd.DataFrame:
    """The ``radonc report`` table of one patient (:func:`.model.treatment_summary`)."""
    return treatment_summary(db.query(load_sql("treatment_summary"), (mrn, *window)))


@dataclass(frozen=True)
class Sessions(Parsed[Session]):
    """The sessions of a window, what was left out, and the deliveries query read.

    Attributes:
        not_converted: Every delivery of the window in no session, with its reason
            (:func:`.accounting.not_converted`); each is also among ``skipped``.
        query: The deliveries query read, with why a site's own was not.
    """

    not_converted: tuple[NotConverted, ...]
    query: DeliveriesQuery


def read_sessions(
    db: MosaiqDatabase, window: Window, *, mrn: str | None = None, site_query: str | None = None
) -> Sessions:
    """The treatment sessions of a window, everyone's or one patient's (`mrn`).

    Every ``Dose_Hst`` delivery of the window is accounted for: in a session, or listed
    as not converted. The window's deliveries are listed first, so that a delivery
    recorded while the other queries run is never taken for one they did not return.

    The one reading of the ``treatment_records`` asset and of the commands, so that they
    decide alike which deliveries query to read (:func:`fetch_site_deliveries`).

    Args:
        db: The Mosaiq database.
        window: From :func:`day_window` or :func:`date_window`.
        mrn: Only this patient's sessions.
        site_query: The site's ``mosaiq_backup_sql_query`` as its file gives it, read
            instead of ``deliveries.sql`` when the records can read it (not with `mrn`).

    Returns:
        The sessions, every row left out (deliveries, control points, appointments), the
        deliveries in no session, and the deliveries query read, with why a site's query
        was not.

    Raises:
        ValueError: Both `mrn` and `site_query`.
        MosaiqDatabaseError: The database could not be read.
    """
    if mrn is not None and site_query is not None:
        raise ValueError("a site query selects its own deliveries: not with an MRN")
    window_frame = fetch_window_deliveries(db, window, mrn=mrn)
    if mrn is None:
        deliveries_frame, query = fetch_site_deliveries(db, window, deliveries_query(site_query))
    else:
        deliveries_frame, query = fetch_deliveries(db, window, mrn=mrn), DeliveriesQuery()
    appointments_frame = fetch_appointments(db, window, mrn=mrn)
    require_columns(deliveries_frame, DELIVERY_COLUMNS, "deliveries")
    field_ids = pd.to_numeric(deliveries_frame["FLD_ID"], errors="coerce").dropna()
    points, skipped_points = parse_control_points(fetch_control_points(db, field_ids))
    deliveries = parse_deliveries(deliveries_frame, points)
    appointments = parse_appointments(appointments_frame)
    sessions = group_sessions(deliveries.items, appointments.items)
    missing = not_converted(
        window_frame,
        deliveries_frame,
        sessions,
        skipped_points + deliveries.skipped,
        query=DELIVERIES_QUERY if query.site_sql is None else SITE_QUERY,
    )
    returned = {row.key for row in deliveries.skipped}
    unreturned = tuple(
        SkippedRow("Dose_Hst", key, item.reason)
        for item in missing
        if (key := row_key("DHS_ID", item.dhs_id)) not in returned
    )
    skipped = skipped_points + deliveries.skipped + unreturned + appointments.skipped
    LOGGER.info(
        "%d sessions from %d deliveries in [%s, %s) read through %s; %d rows skipped, "
        "%d deliveries in no session",
        len(sessions),
        len(deliveries.items),
        window[0],
        window[1],
        query.name,
        len(skipped),
        len(missing),
    )
    return Sessions(sessions, skipped, missing, query)


# --- The census of active courses -----------------------------------------------------------------

# A course is active on a date when it was treated in the ACTIVE_DAYS days up to that date (the
# date included) and is either unfinished or finished in the last RECENT_DAYS days.
ACTIVE_DAYS = 30
RECENT_DAYS = 7
COURSE_DELIVERY_COLUMNS = (
    "DHS_ID",
    "Pat_ID1",
    "Tx_DtTm",
    "Fraction_Number",
    "MRN",
    "Last_Name",
    "First_Name",
    "Middle_Name",
    "Suffix",
    "Sit_Set_ID",
    "Site_Name",
    "Fractions_Planned",
    "Plan_Label",
    "Machine_Name",
    "Machine_Source_Name",
)
# The census file, one row per active course.
CENSUS_COLUMNS = (
    "mrn",
    "patient_name",
    "site_name",
    "plan_label",
    "fractions_delivered",
    "fractions_planned",
    "treatment_days",
    "machine",
    "first_treatment",
    "last_treatment",
    "status",
)
# Between the plan labels or machines of a course that used several.
_LIST_SEPARATOR = ", "


class CourseStatus(StrEnum):
    """Where an active course stands on the census date.

    Fractions delivered are the highest ``Dose_Hst.Fractions_Tx`` recorded; planned,
    ``Site.Fractions``; "recently" is within the last :data:`RECENT_DAYS` days.
    """

    ON_TREATMENT = "on_treatment"  # fewer fractions than planned, treated recently
    INTERRUPTED = "interrupted"  # fewer fractions than planned, not treated recently
    COMPLETED = "completed"  # as many fractions as planned, the last recently
    BEYOND_PLANNED = "beyond_planned"  # more fractions than planned, the last recently
    FRACTIONS_UNKNOWN = "fractions_unknown"  # no planned count or fraction number, treated recently


@dataclass(frozen=True)
class ActiveCourse:
    """One row of the census: a patient's Mosaiq site (prescription) on treatment.

    Attributes:
        mrn: ``Ident.IDA``.
        patient_name: ``Last, First Middle Suffix``.
        site_name: ``Site.Site_Name``.
        plan_labels: ``RtPlan.Label`` of the plans delivered, in the order of their last
            delivery (the current one last); fields created in Mosaiq have none.
        machines: The machines used, in the same order.
        fractions_delivered: The highest ``Dose_Hst.Fractions_Tx`` up to the date; None when
            no delivery has a fraction number.
        fractions_planned: ``Site.Fractions``; None when NULL or 0.
        treatment_days: Dates with a delivery (two fractions a day count one).
        first_treatment: The date of the first delivery.
        last_treatment: The date of the last delivery up to the census date.
        status: Where the course stands.
    """

    mrn: str
    patient_name: str
    site_name: str
    plan_labels: tuple[str, ...]
    machines: tuple[str, ...]
    fractions_delivered: int | None
    fractions_planned: int | None
    treatment_days: int
    first_treatment: dt.date
    last_treatment: dt.date
    status: CourseStatus


@dataclass(frozen=True)
class _CourseDelivery:
    """One row of the active courses query, read."""

    pat_id1: int
    sit_set_id: int | None
    treated_at: dt.datetime
    fraction: int | None
    mrn: str
    patient_name: str
    site_name: str
    fractions_planned: int | None
    plan_label: str
    machine: str


def courses_window(day: dt.date) -> Window:
    """The :data:`ACTIVE_DAYS` days up to `day` (included), when an active course was treated."""
    return day - dt.timedelta(days=ACTIVE_DAYS - 1), day + dt.timedelta(days=1)


def fetch_course_deliveries(db: MosaiqDatabase, day: dt.date) -> pd.DataFrame:
    """Every delivery up to `day` of the courses treated in :func:`courses_window`.

    ``active_courses.sql``; :func:`active_courses` makes the census of it.
    """
    start, end = courses_window(day)
    return db.query(load_sql("active_courses"), (start, end, end))


def course_status(
    delivered: int | None, planned: int | None, *, recent: bool
) -> CourseStatus | None:
    """Where a course treated in the last :data:`ACTIVE_DAYS` days stands; None when inactive.

    Args:
        delivered: Fractions delivered (the highest fraction number), None when unknown.
        planned: Fractions planned, None when unknown.
        recent: Whether its last delivery is within the last :data:`RECENT_DAYS` days.
    """
    if delivered is None or planned is None:
        return CourseStatus.FRACTIONS_UNKNOWN if recent else None
    if delivered < planned:
        return CourseStatus.ON_TREATMENT if recent else CourseStatus.INTERRUPTED
    if not recent:
        return None
    return CourseStatus.COMPLETED if delivered == planned else CourseStatus.BEYOND_PLANNED


def active_courses(frame: pd.DataFrame, day: dt.date) -> Parsed[ActiveCourse]:
    """The census of the courses active on `day`, from the active courses query.

    A course (a patient's Mosaiq site) is active when its last delivery up to `day` is in
    :func:`courses_window` and :func:`course_status` gives it a status: fewer fractions
    delivered than planned, or a last delivery in the last :data:`RECENT_DAYS` days.
    Deliveries after `day` are left out, so a past date gives the census as it was.

    Args:
        frame: Rows with :data:`COURSE_DELIVERY_COLUMNS` (repeated ``DHS_ID`` rows count once).
        day: The census date.

    Returns:
        The active courses by first treatment, MRN and site; unreadable rows with their reason.

    Raises:
        ValueError: The frame lacks a column of :data:`COURSE_DELIVERY_COLUMNS`.
    """
    require_columns(frame, COURSE_DELIVERY_COLUMNS, "active courses")
    by_course: dict[tuple[int, int | None], list[_CourseDelivery]] = defaultdict(list)
    skipped: list[SkippedRow] = []
    seen: set[object] = set()
    for row in row_records(frame):
        key = row["DHS_ID"]
        if key in seen:
            continue
        seen.add(key)
        try:
            delivery = _course_delivery(row)
        except RowError as exc:
            skipped.append(SkippedRow("Dose_Hst", row_key("DHS_ID", key), str(exc)))
            continue
        if delivery.treated_at.date() <= day:
            by_course[(delivery.pat_id1, delivery.sit_set_id)].append(delivery)
    courses = [
        course
        for deliveries in by_course.values()
        if (course := _active_course(deliveries, day)) is not None
    ]
    courses.sort(key=lambda c: (c.first_treatment, c.mrn, c.site_name))
    return Parsed(tuple(courses), tuple(skipped))


def census_frame(courses: Iterable[ActiveCourse]) -> pd.DataFrame:
    """The census file: one row per course, :data:`CENSUS_COLUMNS`, dates as ``YYYY-MM-DD``."""
    rows = [
        {
            "mrn": course.mrn,
            "patient_name": course.patient_name,
            "site_name": course.site_name,
            "plan_label": _LIST_SEPARATOR.join(course.plan_labels),
            "fractions_delivered": course.fractions_delivered,
            "fractions_planned": course.fractions_planned,
            "treatment_days": course.treatment_days,
            "machine": _LIST_SEPARATOR.join(course.machines),
            "first_treatment": course.first_treatment.isoformat(),
            "last_treatment": course.last_treatment.isoformat(),
            "status": str(course.status),
        }
        for course in courses
    ]
    # Int64: a count left unknown stays an empty cell, not 12.0 beside NaN.
    return pd.DataFrame(rows, columns=list(CENSUS_COLUMNS)).astype(
        {"fractions_delivered": "Int64", "fractions_planned": "Int64"}
    )


def _course_delivery(row: Row) -> _CourseDelivery:
    """One query row, read with the model's cell readers (NULLs, padding) as the records are."""
    fraction = cell_integer(row, "Fraction_Number")
    planned = cell_integer(row, "Fractions_Planned")
    return _CourseDelivery(
        pat_id1=required(cell_integer(row, "Pat_ID1"), "Pat_ID1"),
        sit_set_id=cell_integer(row, "Sit_Set_ID"),
        treated_at=required(cell_timestamp(row, "Tx_DtTm"), "Tx_DtTm"),
        fraction=fraction if fraction and fraction > 0 else None,
        mrn=cell_text(row, "MRN"),
        patient_name=display_name(
            *(cell_text(row, c) for c in ("Last_Name", "First_Name", "Middle_Name", "Suffix"))
        ),
        site_name=cell_text(row, "Site_Name"),
        fractions_planned=planned if planned and planned > 0 else None,
        plan_label=cell_text(row, "Plan_Label"),
        machine=cell_text(row, "Machine_Name") or cell_text(row, "Machine_Source_Name"),
    )


def _active_course(deliveries: Sequence[_CourseDelivery], day: dt.date) -> ActiveCourse | None:
    """The census row of one course's deliveries up to `day`; None when it is not active."""
    ordered = sorted(deliveries, key=lambda d: d.treated_at)
    first, last = ordered[0], ordered[-1]
    if last.treated_at.date() < courses_window(day)[0]:
        return None
    delivered = max((d.fraction for d in ordered if d.fraction is not None), default=None)
    recent = last.treated_at.date() > day - dt.timedelta(days=RECENT_DAYS)
    status = course_status(delivered, last.fractions_planned, recent=recent)
    if status is None:
        return None
    return ActiveCourse(
        mrn=last.mrn,
        patient_name=last.patient_name,
        site_name=last.site_name,
        plan_labels=_by_last_use([d.plan_label for d in ordered]),
        machines=_by_last_use([d.machine for d in ordered]),
        fractions_delivered=delivered,
        fractions_planned=last.fractions_planned,
        treatment_days=len({d.treated_at.date() for d in ordered}),
        first_treatment=first.treated_at.date(),
        last_treatment=last.treated_at.date(),
        status=status,
    )


def _by_last_use(values: Sequence[str]) -> tuple[str, ...]:
    """The distinct non-empty `values`, ordered by their last occurrence."""
    last = {value: index for index, value in enumerate(values) if value}
    return tuple(sorted(last, key=last.__getitem__))
