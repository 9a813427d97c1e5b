"""Every Mosaiq delivery of a day accounted for: in a record, or not converted and why.

``window_deliveries.sql`` lists every ``Dose_Hst`` row of the window, whatever else
Mosaiq holds of it; each either is a beam of a record (a delivery of a
:class:`~.model.Session`) or is *not converted*: the deliveries query did not return it
(its field is not in ``TxField``; a site's own query left it out) or the model skipped it
(a field without usable control points, no delivered meterset, a modality that is no
linac beam...). A session that lost a beam so still makes a record of the others, and
the lost delivery is listed with that record.

The ``treatment_records`` asset writes the day's list (:func:`not_converted_frame`) as
``SOURCE_not_converted.csv`` beside the records' manifest; the validation report turns
it into rows of their own (:func:`delivery_report`): ``not_converted``, which fails the
source's check, or ``acknowledged`` when a named person acknowledged the delivery
(:mod:`radonc_assets.site.acknowledgements`), which is listed and counted but no failure.
"""

import datetime as dt
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from radonc_assets.backup.audit_files import audit_path, read_frame
from radonc_assets.backup.manifest import MANIFEST_COLUMNS, Status
from radonc_assets.backup.mosaiq.model import (
    Row,
    RowError,
    Session,
    SessionKey,
    SkippedRow,
    beam_name,
    cell_text,
    cell_timestamp,
    require_columns,
    row_key,
    row_records,
    row_session,
)
from radonc_assets.site.acknowledgements import Acknowledgement, load_acknowledgements
from radonc_assets.site.config import SiteConfig
from radonc_assets.site.errors import ConfigError

LOGGER = logging.getLogger(__name__)

# The columns of window_deliveries.sql.
WINDOW_DELIVERY_COLUMNS = ("DHS_ID", "Pat_ID1", "Tx_DtTm", "MRN", "FLD_ID", "TxField_ID")
# The day's file of deliveries that became no record, one row each.
NOT_CONVERTED_COLUMNS = (
    "dhs_id",
    "patient_id",
    "pat_id1",
    "treated_at",
    "fld_id",
    "field",
    "reason",
    "session_record",
)
# The validation report's rows of deliveries: a manifest's columns (patient_id and
# treatment_date filled), the delivery, its status and detail.
DELIVERY_REPORT_COLUMNS = (*MANIFEST_COLUMNS, "dhs_id", "status", "detail")
# Who returned a source's deliveries (the reason names it when it left one out).
DELIVERIES_QUERY = "the deliveries query"
SITE_QUERY = "the site's mosaiq_backup_sql_query"


@dataclass(frozen=True)
class NotConverted:
    """A delivery of the window that is in no record, and why.

    Values are as Mosaiq holds them, read leniently: a delivery left out for an
    unreadable value is still listed.

    Attributes:
        dhs_id: ``Dose_Hst.DHS_ID``.
        mrn: ``Ident.IDA`` (the records' PatientID); empty when Mosaiq has none.
        pat_id1: ``Dose_Hst.Pat_ID1``.
        treated_at: ``Tx_DtTm``; None when unreadable.
        fld_id: The field delivered (``FLD_HST.FLD_ID``, else ``Dose_Hst.FLD_ID``).
        field: Its beam name, as a record names it; empty when the deliveries query did
            not return the delivery.
        reason: Why it made no record.
        session: The session it belongs to (whose record, if any, lacks it); None when
            unknown.
    """

    dhs_id: str
    mrn: str
    pat_id1: str
    treated_at: dt.datetime | None
    fld_id: str
    field: str
    reason: str
    session: SessionKey | None


def not_converted(
    window: pd.DataFrame,
    deliveries: pd.DataFrame,
    sessions: Iterable[Session],
    skipped: Iterable[SkippedRow],
    *,
    query: str = DELIVERIES_QUERY,
) -> tuple[NotConverted, ...]:
    """The deliveries of the window in none of `sessions`, each with its reason.

    Args:
        window: Every delivery of the window (``window_deliveries.sql``).
        deliveries: What the deliveries query (or the site's, `query`) returned.
        sessions: The sessions made of `deliveries`.
        skipped: The rows left out while making them (:class:`~.model.SkippedRow`): a
            delivery's reason, and its field's when the field's control points were unusable.
        query: What returned `deliveries`, for the reason of those it did not return.

    Returns:
        By treatment time, then DHS_ID.

    Raises:
        ValueError: `window` lacks a column of :data:`WINDOW_DELIVERY_COLUMNS`.
    """
    require_columns(window, WINDOW_DELIVERY_COLUMNS, "window deliveries")
    converted = {str(d.dhs_id) for session in sessions for d in session.deliveries}
    reasons = {(row.table, row.key): row.reason for row in skipped}
    found: dict[str, NotConverted] = {}
    for row in row_records(deliveries):
        dhs_id = cell_text(row, "DHS_ID")
        if dhs_id in converted or dhs_id in found:
            continue
        # parse_deliveries read the first row of each DHS_ID and skipped it for this reason.
        reason = reasons[("Dose_Hst", row_key("DHS_ID", row["DHS_ID"]))]
        unusable = reasons.get(("TxFieldPoint", row_key("FLD_ID", cell_text(row, "FLD_ID"))))
        found[dhs_id] = _delivery(
            row,
            field=beam_name(row),
            reason=f"{reason}: {unusable}" if unusable else reason,
            session=row_session(row),
        )
    for row in row_records(window):
        dhs_id = cell_text(row, "DHS_ID")
        if dhs_id in converted or dhs_id in found:
            continue
        fld_id = cell_text(row, "FLD_ID")
        no_field = cell_text(row, "TxField_ID") == ""
        found[dhs_id] = _delivery(
            row,
            field="",
            reason=f"not returned by {query}"
            + (f": TxField has no field FLD_ID={fld_id}" if no_field else ""),
            session=None,
        )
    return tuple(sorted(found.values(), key=lambda n: (n.treated_at or dt.datetime.min, n.dhs_id)))


def _delivery(row: Row, *, field: str, reason: str, session: SessionKey | None) -> NotConverted:
    """The delivery of `row` (a Dose_Hst row) as not converted, for `reason`."""
    return NotConverted(
        dhs_id=cell_text(row, "DHS_ID"),
        mrn=cell_text(row, "MRN"),
        pat_id1=cell_text(row, "Pat_ID1"),
        treated_at=_timestamp(row),
        fld_id=cell_text(row, "FLD_ID"),
        field=field,
        reason=reason,
        session=session,
    )


def _timestamp(row: Row) -> dt.datetime | None:
    try:
        return cell_timestamp(row, "Tx_DtTm")
    except RowError:
        return None


def not_converted_frame(
    items: Iterable[NotConverted], records: Mapping[SessionKey, str]
) -> pd.DataFrame:
    """The day's file of deliveries that became no record: :data:`NOT_CONVERTED_COLUMNS`.

    Args:
        items: The deliveries (:func:`not_converted`).
        records: The SOP Instance UID of each session's record: a delivery of a session
            that has one names it (``session_record``), the record that lacks it.
    """
    rows = [
        {
            "dhs_id": item.dhs_id,
            "patient_id": item.mrn,
            "pat_id1": item.pat_id1,
            "treated_at": item.treated_at.isoformat(sep=" ") if item.treated_at else "",
            "fld_id": item.fld_id,
            "field": item.field,
            "reason": item.reason,
            "session_record": records.get(item.session, "") if item.session else "",
        }
        for item in items
    ]
    return pd.DataFrame(rows, columns=list(NOT_CONVERTED_COLUMNS), dtype=str)


def delivery_report(
    not_converted: pd.DataFrame,
    acknowledged: Mapping[int, Acknowledgement],
    *,
    unread: str = "",
) -> pd.DataFrame:
    """The validation report's rows of a source's deliveries that became no record.

    One row per delivery of the day's not-converted file: ``acknowledged`` when
    `acknowledged` holds its DHS_ID, else ``not_converted``. ``detail`` is the reason, then
    the record of its session that lacks it, then who acknowledged it, when and why (or,
    with `unread`, why the acknowledgements could not be read).

    Args:
        not_converted: The day's file (:func:`not_converted_frame`, as text).
        acknowledged: The source's acknowledgements by DHS_ID.
        unread: Why the acknowledgements file could not be read; empty when it was.

    Returns:
        :data:`DELIVERY_REPORT_COLUMNS`; ``patient_id`` is the MRN and ``treatment_date``
        the date of the delivery (``YYYYMMDD``, as a record's).
    """
    statuses, details = [], []
    for dhs_id, reason, record in zip(
        *(not_converted[c].astype(str).tolist() for c in ("dhs_id", "reason", "session_record")),
        strict=True,
    ):
        detail = reason + (f"; missing from the record of its session, {record}" if record else "")
        acknowledgement = acknowledged.get(int(dhs_id)) if dhs_id.isdigit() else None
        if acknowledgement is None:
            statuses.append(str(Status.NOT_CONVERTED))
            details.append(detail + (f" (acknowledgements not read: {unread})" if unread else ""))
        else:
            statuses.append(str(Status.ACKNOWLEDGED))
            details.append(
                f"{detail}; acknowledged by {acknowledgement.who} on {acknowledgement.when}: "
                f"{acknowledgement.why}"
            )
    report = pd.DataFrame("", index=not_converted.index, columns=list(DELIVERY_REPORT_COLUMNS))
    report["patient_id"] = not_converted["patient_id"]
    report["treatment_date"] = not_converted["treated_at"].str[:10].str.replace("-", "")
    report["dhs_id"] = not_converted["dhs_id"]
    report["status"] = statuses
    report["detail"] = details
    return report.reset_index(drop=True)


def not_converted_file(site: str, day: dt.date, alias: str) -> Path:
    """The not-converted file of the Mosaiq source `alias` of `site` for the date `day`."""
    return audit_path(site, day, f"{alias}_not_converted")


def day_delivery_report(site: SiteConfig, day: dt.date, alias: str) -> pd.DataFrame:
    """The validation report's rows of the deliveries of `alias` on `day` that made no record.

    :func:`delivery_report` of the day's not-converted file and the site's
    acknowledgements. A broken acknowledgements file acknowledges nothing: its problems
    are logged and in the rows' detail. Without the file (records generated by an earlier
    version, or the file deleted), one ``not_converted`` row says that the day's
    deliveries are not accounted for.
    """
    path = not_converted_file(site.name, day, alias)
    if not path.exists():
        unaccounted = dict.fromkeys(NOT_CONVERTED_COLUMNS, "") | {
            "reason": f"the deliveries of the day are not accounted for: no {path.name} "
            "(materialize treatment_records again)"
        }
        return delivery_report(pd.DataFrame([unaccounted]), {})
    try:
        acknowledged = load_acknowledgements(site).get(alias, {})
        unread = ""
    except ConfigError as exc:
        LOGGER.error("Acknowledgements of %s not read: %s", site.name, exc)
        acknowledged, unread = {}, "; ".join(str(problem) for problem in exc.problems)
    return delivery_report(read_frame(path), acknowledged, unread=unread)
