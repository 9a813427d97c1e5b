"""Mosaiq: the SQL, the parsing to sessions and the RT Beams Treatment Records, timed apart.

    .venv/bin/python -m benchmarks.mosaiq [--sessions 1000] [--control-points 100] [--leaf-pairs 80] [--profile-sessions 50]

A simulated Mosaiq (``write_mosaiq_database``) of at least `sessions` treatment
sessions, one per patient, over four weeks. In the benchmark's own database every
patient keeps 2 beams and each beam gets `control-points` VMAT-like points (gantry,
``[Index]`` and the MLC change at every point) instead of the synthetic plan's 2, and
`leaf-pairs` MLC leaf pairs (80 as an Elekta Agility, each of the synthetic plan's 40
split in two) instead of 40. Then, pinned to one core:

- the SQL alone through the SQLite3 ODBC driver: the window's deliveries, their
  fields' control points (500 fields per query) and the appointments;
- parsing those frames to sessions (``parse_*`` and ``group_sessions``);
- the records: ``encode_record`` per session (the DICOM file's bytes, which the
  asset writes as they are), against the target of 500 records/s on one core, and
  the manifest row the asset makes of each (``dcmread`` of the bytes and
  ``instance_record``); the garbage collector's time in those two apart;
- a cProfile of ``encode_record`` over the first sessions: each package's share of
  the time and the functions that take most.

The numbers are also written to benchmarks/results/mosaiq.json (not committed).
"""

import argparse
import cProfile
import datetime as dt
import gc
import io
import json
import math
import os
import pstats
import sqlite3
import struct
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

from pydicom import dcmread, dcmwrite

from radonc_assets.backup.mosaiq.model import (
    Session,
    group_sessions,
    parse_appointments,
    parse_control_points,
    parse_deliveries,
)
from radonc_assets.backup.mosaiq.queries import (
    CONTROL_POINT_BATCH,
    date_window,
    fetch_appointments,
    fetch_control_points,
    fetch_deliveries,
)
from radonc_assets.backup.mosaiq.records import RecordSettings, encode_record
from radonc_assets.devtools.datasets import decode_all
from radonc_assets.devtools.synthetic import SyntheticSpec
from radonc_assets.devtools.synthetic.mosaiq import (
    INDEX_SCALE,
    LEAF_SET_BYTES,
    leaf_set,
    write_mosaiq_database,
)
from resources.dicom.queries import instance_record
from resources.mosaiq_db import MosaiqDatabase

FIRST_DAY = dt.date(2026, 1, 5)  # a Monday
LAST_DAY = dt.date(2026, 1, 30)  # four weeks: 20 weekdays
WEEKDAYS = 20
BEAMS = 2
TARGET_RECORDS_PER_SECOND = 500.0
RESULTS = Path(__file__).resolve().parent / "results"
# The MLC sweeps by up to 1.5 cm (in Mosaiq's 0.01 cm) across the arc.
_MLC_SWEEP = 150
_CW = 1  # Gantry_Dir_Enum
_DYNAMIC = 2  # TxField.Beam_Type_Flag
_TOP_FUNCTIONS = 12
_TOP_PACKAGES = 5


def log(message: str) -> None:
    """Progress on stderr: the results are the only output on stdout."""
    print(message, file=sys.stderr, flush=True)


def pin_to_one_core() -> int:
    """Run this process (and the ODBC driver in it) on one CPU; its number."""
    core = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})
    return core


def simulated_mosaiq(path: Path, sessions: int, points: int, leaf_pairs: int) -> None:
    """A simulated Mosaiq of at least `sessions` sessions of 2 beams of `points` control points.

    Patient i is simulated on weekday ``i * WEEKDAYS // patients`` and treated once the next
    weekday, so those simulated on the last weekday are not treated: enough patients are
    written for `sessions` treated ones.
    """
    patients = math.ceil(sessions * WEEKDAYS / (WEEKDAYS - 1))
    spec = SyntheticSpec(start=FIRST_DAY, end=LAST_DAY, patients=patients, fractions=1)
    summary = write_mosaiq_database(spec, path)
    assert summary.sessions >= sessions, summary
    with closing(sqlite3.connect(path)) as db, db:
        beyond = "SELECT FLD_ID FROM TxField WHERE OriginalBeamNumber > ?"
        db.execute(f"DELETE FROM FLD_HST WHERE FLD_ID IN ({beyond})", (BEAMS,))
        db.execute(f"DELETE FROM Dose_Hst WHERE FLD_ID IN ({beyond})", (BEAMS,))
        db.execute(f"DELETE FROM TxFieldPoint WHERE FLD_ID IN ({beyond})", (BEAMS,))
        db.execute("DELETE FROM TxField WHERE OriginalBeamNumber > ?", (BEAMS,))
        cursor = db.execute("SELECT * FROM TxFieldPoint WHERE Point = 0 ORDER BY FLD_ID")
        columns = [column[0] for column in cursor.description]
        firsts = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
        db.execute("DELETE FROM TxFieldPoint")
        quoted = ", ".join(f'"{column}"' for column in columns)
        markers = ", ".join("?" * len(columns))
        db.executemany(
            f"INSERT INTO TxFieldPoint ({quoted}) VALUES ({markers})",
            (
                tuple(row[column] for column in columns)
                for first in firsts
                for row in arc(first, points, leaf_pairs)
            ),
        )
        db.execute("UPDATE TxField SET ControlPoints = ?, Beam_Type_Flag = ?", (points, _DYNAMIC))


def arc(first: dict[str, Any], points: int, leaf_pairs: int) -> list[dict[str, Any]]:
    """`points` control points of `leaf_pairs` MLC leaf pairs from a field's first, VMAT-like.

    A 358 degree clockwise arc from 181, ``[Index]`` rising evenly to 100, and the MLC
    leaves sweeping together; leaf i takes the position of the field's leaf
    ``i * MLC_Leaves // leaf_pairs``.
    """
    leaves = first["MLC_Leaves"]
    banks = [
        struct.unpack_from(f"<{leaves}h", first[column]) for column in ("A_Leaf_Set", "B_Leaf_Set")
    ]
    bank_a, bank_b = ([bank[i * leaves // leaf_pairs] for i in range(leaf_pairs)] for bank in banks)
    rows = []
    for k in range(points):
        fraction = k / (points - 1)
        shift = round(_MLC_SWEEP * math.sin(2 * math.pi * fraction))
        rows.append(
            first
            | {
                "Point": k,
                "MLC_Leaves": leaf_pairs,
                "Index": round(INDEX_SCALE * fraction, 3),
                "Gantry_Ang": round((181.0 + 358.0 * fraction) % 360.0, 1),
                "Gantry_Dir_Enum": _CW,
                "A_Leaf_Set": leaf_set([value + shift for value in bank_a]),
                "B_Leaf_Set": leaf_set([value + shift for value in bank_b]),
            }
        )
    return rows


class GarbageCollection:
    """The time the garbage collector takes while in use (``gc.callbacks``)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._started = 0.0

    def _callback(self, phase: str, _: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started

    def __enter__(self) -> "GarbageCollection":
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *_: object) -> None:
        gc.callbacks.remove(self._callback)


def read(path: Path, results: dict[str, float]) -> tuple[Session, ...]:
    """The sessions of the window, as ``read_sessions`` makes them, each step timed.

    The frames are freed on return, as they are in the asset: only the sessions stay in
    memory while the records are generated (what the garbage collector walks through).
    """
    db = MosaiqDatabase("SQLite3", str(path))
    window = date_window(FIRST_DAY, LAST_DAY)
    started = time.perf_counter()
    deliveries_frame = fetch_deliveries(db, window)
    results["sql_deliveries_s"] = time.perf_counter() - started
    field_ids = sorted({int(i) for i in deliveries_frame["FLD_ID"]})
    started = time.perf_counter()
    points_frame = fetch_control_points(db, field_ids)
    results["sql_control_points_s"] = time.perf_counter() - started
    started = time.perf_counter()
    appointments_frame = fetch_appointments(db, window)
    results["sql_appointments_s"] = time.perf_counter() - started
    results |= {
        "deliveries": len(deliveries_frame),
        "fields": len(field_ids),
        "control_points": len(points_frame),
        "leaf_pairs": int(points_frame["MLC_Leaves"].max()),
        "control_point_queries": math.ceil(len(field_ids) / CONTROL_POINT_BATCH),
        "appointments": len(appointments_frame),
    }
    log(f"SQL done: {len(deliveries_frame)} deliveries, {len(points_frame)} control points")

    started = time.perf_counter()
    points, skipped_points = parse_control_points(points_frame)
    deliveries = parse_deliveries(deliveries_frame, points)
    appointments = parse_appointments(appointments_frame)
    sessions = group_sessions(deliveries.items, appointments.items)
    results["parse_s"] = time.perf_counter() - started
    skipped = len(skipped_points) + len(deliveries.skipped) + len(appointments.skipped)
    assert skipped == 0, f"{skipped} rows skipped"
    results["sessions"] = len(sessions)
    return sessions


def bench(path: Path, profile_sessions: int) -> tuple[dict[str, float], dict[str, pstats.Stats]]:
    """Time each step on the database at `path`.

    Returns:
        The numbers, and the profile of the records' encoding.
    """
    results: dict[str, float] = {}
    sessions = read(path, results)
    log(f"parsed: {len(sessions)} sessions; generating the records")

    settings = RecordSettings()
    records_s = manifest_s = 0.0
    encoded = 0
    with GarbageCollection() as collection:
        for session in sessions:
            started = time.perf_counter()
            record = encode_record(session, settings)
            generated = time.perf_counter()
            ds = record.dataset()
            instance_record(ds, ds, ds)
            manifest_s += time.perf_counter() - generated
            records_s += generated - started
            encoded += len(record.data)
    results |= {
        "records_s": records_s,
        "manifest_s": manifest_s,
        "records_and_manifest_gc_s": collection.seconds,
        "record_bytes": encoded,
    }

    profiled = sessions[:profile_sessions]
    log(f"pydicom encoding the first {len(profiled)} records again, then profiling")
    results |= reference(profiled, settings)

    def generate() -> None:
        for session in profiled:
            encode_record(session, settings)

    return results, {"encode_record": profiled_stats(generate)}


def reference(sessions: Sequence[Session], settings: RecordSettings) -> dict[str, float]:
    """Pydicom encoding the same records: its time per record, against ``encode_record``'s.

    Each record is read, every element decoded into pydicom's values (what building the
    dataset in memory makes) and written again by ``dcmwrite``: the same bytes (a test
    checks it), encoded by pydicom. Both are timed over the same sessions.
    """
    ours_s = pydicom_s = 0.0
    for session in sessions:
        started = time.perf_counter()
        data = encode_record(session, settings).data
        encoded = time.perf_counter()
        ds = dcmread(io.BytesIO(data))
        decode_all(ds)
        again = io.BytesIO()
        dcmwrite(again, ds, enforce_file_format=True)
        pydicom_s += time.perf_counter() - encoded
        ours_s += encoded - started
        assert again.getvalue() == data
    return {"reference_sessions": len(sessions), "reference_ours_s": ours_s, "pydicom_s": pydicom_s}


def profiled_stats(action: Callable[[], None]) -> pstats.Stats:
    """The cProfile of `action`, run without the garbage collector.

    Its pauses (timed apart) would be charged to whatever function runs when one starts.
    """
    gc.collect()
    gc.disable()
    profile = cProfile.Profile()
    try:
        profile.runcall(action)
    finally:
        gc.enable()
    return pstats.Stats(profile)


def module(file_name: str) -> str:
    """The module of a profiled function: dotted for pydicom and ours, else its file name."""
    path = file_name.replace(os.sep, "/")
    for root in ("pydicom/", "radonc_assets/"):
        if root in path:
            return root + path.rsplit(root, 1)[1].removesuffix(".py").replace("/", ".")
    if path.startswith(("~", "<")):
        return "builtins"
    file = Path(path)
    return file.parent.name if file.stem == "__init__" else file.stem


def package(file_name: str) -> str:
    """Where a profiled function's time is charged: pydicom, else its module."""
    name = module(file_name)
    return "pydicom" if name.startswith("pydicom/") else name.replace("/", ".")


def profile_lines(step: str, stats: pstats.Stats) -> list[str]:
    """Each package's share of the own time, then the functions with the most own time.

    A built-in function's time (``isinstance``, ``str.join``...) is charged to its callers,
    in proportion to the time each call site spent in it.
    """
    entries = stats.stats  # type: ignore[attr-defined]  # pstats keeps its table there
    total = sum(tottime for _, _, tottime, _, _ in entries.values())
    shares: dict[str, float] = defaultdict(float)
    for (file_name, _, _), (_, _, tottime, _, callers) in entries.items():
        if module(file_name) == "builtins" and callers:
            for (caller_file, _, _), (_, _, caller_time, _) in callers.items():
                shares[package(caller_file)] += caller_time
        else:
            shares[package(file_name)] += tottime
    lines = [
        f"where the time of {step} goes (cProfile without garbage collection, "
        f"{total:.2f} s of own time; built-ins charged to their callers)"
    ]
    ranked = sorted(shares.items(), key=lambda item: -item[1])
    rest = sum(share for _, share in ranked[_TOP_PACKAGES:])
    lines += [f"  {share / total:6.1%}  {name}" for name, share in ranked[:_TOP_PACKAGES]]
    lines.append(f"  {rest / total:6.1%}  the rest")
    lines.append("  own time   share      calls  function")
    top = sorted(entries.items(), key=lambda item: -item[1][2])[:_TOP_FUNCTIONS]
    for (file_name, line, function), (_, calls, tottime, _, _) in top:
        where = module(file_name).replace("/", ".") + (f":{line}" if line else "")
        lines.append(f"  {tottime:7.2f}s {tottime / total:6.1%} {calls:10d}  {function} ({where})")
    return lines


def report(results: dict[str, float], core: int) -> list[str]:
    """The results, side by side with the target."""
    sessions, deliveries = int(results["sessions"]), int(results["deliveries"])
    queries = int(results["control_point_queries"])
    sql_s = results["sql_deliveries_s"] + results["sql_control_points_s"]
    sql_s += results["sql_appointments_s"]
    total_s = sql_s + results["parse_s"] + results["records_s"] + results["manifest_s"]

    def line(step: str, seconds: float, rate: bool = False, target: bool = False) -> str:
        text = f"{step:46} {seconds:7.1f}s"
        if rate:
            text += f" {sessions / seconds:9.1f}/s"
        if target:
            ratio = sessions / seconds / TARGET_RECORDS_PER_SECOND
            text += f"  >= {TARGET_RECORDS_PER_SECOND:.0f} records/s {ratio:8.3f}x"
        return text

    return [
        f"Mosaiq: {sessions} sessions, {deliveries} deliveries of {BEAMS} beams x "
        f"{int(results['control_points']) // int(results['fields'])} control points of "
        f"{int(results['leaf_pairs'])} leaf pairs ({int(results['control_points'])} control "
        f"points), one core (CPU {core})",
        "",
        f"{'step':46} {'time':>8} {'rate':>11}  {'target':18} {'ratio':>8}",
        line(f"SQL: deliveries ({deliveries} rows)", results["sql_deliveries_s"]),
        line(
            f"SQL: control points ({int(results['control_points'])} rows, "
            f"{queries} {'query' if queries == 1 else 'queries'})",
            results["sql_control_points_s"],
        ),
        line(
            f"SQL: appointments ({int(results['appointments'])} rows)",
            results["sql_appointments_s"],
        ),
        line(f"parse to {sessions} sessions", results["parse_s"], rate=True),
        line(
            f"records: encode_record ({results['record_bytes'] / sessions / 1024:.0f} KiB each)",
            results["records_s"],
            rate=True,
            target=True,
        ),
        line("records: manifest rows (dcmread)", results["manifest_s"], rate=True),
        line("  garbage collection in those two", results["records_and_manifest_gc_s"]),
        line("all: SQL, parse, records, manifest", total_s, rate=True, target=True),
        "",
        f"against pydicom (the first {int(results['reference_sessions'])} records, the same bytes)",
        f"{'encoder':46} {'time':>8} {'rate':>11}  {'ratio':>8}",
        *(
            f"{name:46} {seconds:7.2f}s {results['reference_sessions'] / seconds:9.1f}/s  "
            f"{seconds / results['pydicom_s']:7.3f}x"
            for name, seconds in (
                ("encode_record", results["reference_ours_s"]),
                ("pydicom: decode every element, dcmwrite", results["pydicom_s"]),
            )
        ),
    ]


def main() -> int:
    """Write the simulated Mosaiq, time each step and print them against the target."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--control-points", type=int, default=100)
    parser.add_argument("--leaf-pairs", type=int, default=80)
    parser.add_argument("--profile-sessions", type=int, default=50)
    args = parser.parse_args()
    if args.control_points < 2:
        parser.error("--control-points must be at least 2")
    if not 1 <= args.leaf_pairs <= LEAF_SET_BYTES // 2:
        parser.error(f"--leaf-pairs must be between 1 and {LEAF_SET_BYTES // 2}")
    core = pin_to_one_core()
    with tempfile.TemporaryDirectory(prefix="radonc-bench-mosaiq-") as tmp:
        path = Path(tmp) / "mosaiq.db"
        log(f"writing a simulated Mosaiq of {args.sessions} sessions to {path}")
        simulated_mosaiq(path, args.sessions, args.control_points, args.leaf_pairs)
        results, profiles = bench(path, args.profile_sessions)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "mosaiq.json").write_text(json.dumps(results | {"cpu": core}, indent=2))
    lines = report(results, core)
    for step, stats in profiles.items():
        lines += ["", *profile_lines(step, stats)]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
