"""Deliveries queries a site may write (`mosaiq_backup_sql_query`), as the tests give them."""

from radonc_assets.backup.mosaiq.queries import load_sql

# The shipped query without its comments and its MRN condition: what a site's query adapts.
SHIPPED_FOR_THE_WINDOW = "\n".join(
    line for line in load_sql("deliveries").splitlines() if not line.startswith("--")
).replace(" AND (? IS NULL OR Ident.IDA = ?)", "")
# The earlier system's shape: one marker (the date) and a string literal.
EARLIER_SHAPE = "SELECT * FROM Dose_Hst WHERE CONVERT(date, Tx_DtTm) = ? AND Edit_ID <> 'QA'"
# Two markers, no literal, every column named, so it passes without a database; its
# result, Dose_Hst's own columns, lacks most of those of the records.
DOSE_HST_ONLY = "SELECT * FROM Dose_Hst WHERE Tx_DtTm >= ? AND Tx_DtTm < ?"
