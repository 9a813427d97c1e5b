"""Metadata values the capabilities share: tables, counts and their bounds."""

from collections.abc import Mapping, Sequence

import dagster as dg
import pandas as pd

from radonc_assets.backup.manifest import study_rows

# UIDs listed in metadata at most; the files hold them all.
MAX_UIDS_IN_METADATA = 50


def table(rows: Sequence[Mapping[str, str | int]], columns: Sequence[str]) -> dg.TableMetadataValue:
    """A table for the UI (Dagster table metadata) of `rows`, with `columns` in that order.

    A column is an integer column when every row's value is an int, text otherwise; a
    row lacking a column shows it empty.
    """
    kinds = {
        column: "int"
        if rows and all(isinstance(row.get(column), int) for row in rows)
        else "string"
        for column in columns
    }
    return dg.MetadataValue.table(
        records=[
            dg.TableRecord({column: row.get(column, "") for column in columns}) for row in rows
        ],
        schema=dg.TableSchema(
            columns=[dg.TableColumn(column, kinds[column]) for column in columns]
        ),
    )


def rate(count: int, seconds: float) -> float:
    """Instances per second, for metadata."""
    return round(count / seconds, 1) if seconds > 0 else 0.0


def studies_table(frame: pd.DataFrame, *, show_patient_id: bool) -> dg.TableMetadataValue:
    """The studies of a manifest, copies file or report (:func:`.manifest.study_rows`)."""
    columns = [
        *(["patient"] if show_patient_id else []),
        *(["source"] if "source" in frame.columns else []),
        "study",
        "date",
        "modalities",
        "instances",
        *(["status"] if "status" in frame.columns else []),
    ]
    return table(study_rows(frame, show_patient_id=show_patient_id), columns)
