"""Why a run cannot start, for the command line to say in one line (no Dagster here)."""


class RunRefusedError(Exception):
    """A run cannot start: a date outside the partitions, or a source's pool stays busy."""


class PoolBusyError(RunRefusedError):
    """A pool stayed held by another run for longer than the wait allowed."""
