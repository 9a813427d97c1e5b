"""Mosaiq delivery history to RT Beams Treatment Records (Dagster-free).

Mosaiq keeps no DICOM for deliveries; the backup generates standard records from
its SQL Server database:

- :mod:`.queries`: the SQL files in ``sql/`` run with ``?`` parameters over
  :class:`resources.mosaiq_db.MosaiqDatabase`, date windows, and
  :func:`.queries.read_sessions`, which reads one window's sessions.
- :mod:`.deliveries_query`: the deliveries' columns, and whether the records read a
  site's own query (``mosaiq_backup_sql_query``) or the shipped one.
- :mod:`.model`: frozen dataclasses of what the queries return and the pure functions
  that build them from the query DataFrames (rows that cannot be used are returned as
  :class:`.model.SkippedRow`, never raised).
- :mod:`.enums` and :mod:`.mlc`: Mosaiq enumerations and leaf records in DICOM terms
  (the leaf positions' DS text made in bulk).
- :mod:`.records`: one RT Beams Treatment Record per session, deterministic, encoded by
  :mod:`resources.dicom.part10` (Explicit VR Little Endian, element by element: pydicom's
  ``Dataset`` and ``dcmwrite`` were far slower on these records; docs/benchmarks.md,
  "Mosaiq records").

docs/mosaiq.md describes the mapping for operators and reviewers.
"""
