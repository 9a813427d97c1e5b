"""What a Dagster run gave: the event that ended it, the names of its metadata."""

import itertools

import dagster as dg


def run_end(instance: dg.DagsterInstance, run: dg.DagsterRun) -> dg.DagsterEvent:
    """The RUN_SUCCESS or RUN_FAILURE event of `run`."""
    (ended,) = [
        record.dagster_event
        for record in instance.all_logs(run.run_id)
        if record.dagster_event is not None
        and record.dagster_event.event_type
        in (dg.DagsterEventType.RUN_FAILURE, dg.DagsterEventType.RUN_SUCCESS)
    ]
    return ended


def assert_clear_names(result: dg.ExecuteInProcessResult) -> None:
    """No metadata key of a materialization or check says a word twice in a row
    (``treatment_records_records``)."""
    keys = [
        key
        for event in result.get_asset_materialization_events()
        for key in event.materialization.metadata
    ] + [key for e in result.get_asset_check_evaluations() for key in e.metadata]
    assert keys
    doubled = [k for k in keys if any(a == b for a, b in itertools.pairwise(k.split("_")))]
    assert doubled == []
