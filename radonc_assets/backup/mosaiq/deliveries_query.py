"""Which deliveries query the Mosaiq records read: the shipped ``deliveries.sql`` or the site's own.

A site file may set ``mosaiq_backup_sql_query`` (the earlier system's setting). It never
stops the site from loading: :func:`deliveries_query` decides, without a database,
whether the records can read it, and when they cannot they read the shipped query and
:attr:`DeliveriesQuery.warning` says so in one line (`radonc environments check`, the
``treatment_records`` asset, `radonc records` and `radonc query`). A query that passes
but that the database refuses, or whose result lacks a delivery column, is replaced the
same way when it runs (:func:`.queries.read_sessions`), with the same line.

No pandas here: `radonc environments check` imports this module.
"""

from dataclasses import dataclass

from resources.mosaiq_sql import SiteQueryError, validate_site_query

SETTING = "settings.mosaiq_backup_sql_query"
SHIPPED = "deliveries.sql"
# A site's query takes the window alone: its start and end, in that order.
WINDOW_PARAMETERS = 2
# The contract of the deliveries query, the shipped one's and a site's: one row per
# delivery with these columns (:func:`.model.parse_deliveries` reads them).
DELIVERY_COLUMNS = (
    "DHS_ID",
    "Pat_ID1",
    "Tx_DtTm",
    "Fraction_Number",
    "Delivered_Meterset",
    "Dose_Addtl_Projected",
    "Termination_Code",
    "Termination_Status_Enum",
    "Verification_Status_Enum",
    "MRN",
    "Last_Name",
    "First_Name",
    "Middle_Name",
    "Suffix",
    "Sex",
    "Birth_DtTm",
    "FLD_ID",
    "Sit_Set_ID",
    "Plan_UID",
    "Beam_Name",
    "Beam_Number",
    "Field_Name",
    "Field_Label",
    "Field_Start_DtTm",
    "Planned_Meterset",
    "Sad",
    "Modality_Enum",
    "Type_Enum",
    "Machine_Staff_ID",
    "Site_Name",
    "Fractions_Planned",
    "Setup_Note",
    "Plan_Label",
    "Study_UID",
    "Study_ID",
    "Study_Description",
    "Study_DtTm",
    "Machine_Name",
    "Machine_Source_Name",
    "Machine_Model",
    "Institution",
)
USED_NOTE = (
    f"{SETTING} is used: the Mosaiq records read their deliveries through it (a run reads "
    "the shipped query instead, and warns, when the database refuses it or its result "
    "lacks a delivery column)"
)


@dataclass(frozen=True)
class DeliveriesQuery:
    """The deliveries query the records read, and why a site's own is not that query.

    Attributes:
        site_sql: The site's query when the records read it; None: the shipped one.
        problem: Why a site's query that is set is not read; None when it is read, or
            when none is set.
    """

    site_sql: str | None = None
    problem: str | None = None

    @property
    def name(self) -> str:
        """What the deliveries are read through: the setting's name or the shipped file's."""
        return SETTING if self.site_sql is not None else SHIPPED

    @property
    def warning(self) -> str | None:
        """One line when a site's query is not read, None otherwise.

        What was found, what is read instead, and what a query the records can read is.
        """
        if self.problem is None:
            return None
        return (
            f"{SETTING} is not used ({self.problem}): the Mosaiq records read the shipped "
            f"deliveries query instead; one they can read is a single SELECT with exactly "
            f"{WINDOW_PARAMETERS} ? markers (the start and end of the day), no quotes, "
            f"returning the {len(DELIVERY_COLUMNS)} columns of {SHIPPED} (docs/mosaiq.md)"
        )


def deliveries_query(sql: str | None) -> DeliveriesQuery:
    """Whether the records can read a site's ``mosaiq_backup_sql_query``, decided without a database.

    They can when :func:`~resources.mosaiq_sql.validate_site_query` passes it with the
    window's two ``?`` markers and :data:`DELIVERY_COLUMNS`: one read-only SELECT, no
    string literal, every delivery column named (or ``*``).

    Args:
        sql: The setting as the site file gives it; None when it is not set.

    Returns:
        The site's query, stripped, or the shipped one and why.
    """
    if sql is None:
        return DeliveriesQuery()
    try:
        return DeliveriesQuery(
            site_sql=validate_site_query(sql, WINDOW_PARAMETERS, DELIVERY_COLUMNS)
        )
    except SiteQueryError as exc:
        return DeliveriesQuery(problem=str(exc))
