"""The UI description of the retention's purge, beside its factory."""


def retention_description(days: int) -> str:
    """``[site, "retention"]`` keeping `days` days."""
    return (
        f"Deletes the data folder's files of the dates more than {days} days old "
        "(settings.retention_days): manifests, copies files, validation reports, "
        "treatment chains and generated RT Records, which name patients; each date "
        "keeps its validation summary (instances per source and status, no identifier) "
        "so that the coverage still shows it. Restore and drill reports older than "
        f"{days} days are deleted too, and so are the access log's lines of older "
        "accesses. One materialization per purge: the cutoff, the dates, files, bytes "
        "and access log lines deleted, who ran it."
    )
