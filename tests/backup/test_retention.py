"""The retention's purge: a date's identifiers deleted, its validation summary kept, so that
its coverage stays."""

import datetime as dt
import os
from pathlib import Path

import pandas as pd

from radonc_assets.backup.audit_files import SUMMARY, audit_path, read_frame, write_frame
from radonc_assets.backup.coverage import DayStatus, day_coverage
from radonc_assets.backup.retention import purge
from radonc_assets.site.naming import SOURCE_STUDIES, VALIDATION_REPORT
from radonc_assets.site.partitions import partition_date
from radonc_assets.site.private_files import write_private


def write_day(day: str, report: pd.DataFrame) -> None:
    write_frame(report, audit_path("LAB", partition_date(day), VALIDATION_REPORT))
    write_frame(
        report[["patient_id"]], audit_path("LAB", partition_date(day), f"aria_{SOURCE_STUDIES}")
    )
    write_private(
        audit_path("LAB", partition_date(day), "x").parent / "mosaiq_records" / "1.2.dcm", b"DICM"
    )


def test_the_retention_purges_identifiers_and_keeps_the_coverage(data_dir: Path) -> None:
    report = pd.DataFrame(
        {
            "patient_id": ["SYN-1", "SYN-1", "SYN-2"],
            "sop_instance_uid": ["1.1", "1.2", "1.3"],
            "status": ["verified", "missing", "verified"],
            "source": ["ARIA", "ARIA", "MIM"],
        }
    )
    write_day("2026-01-05", report)
    write_day("2026-03-01", report)
    restores = data_dir / "lab" / "recoveries"
    write_private(restores / "old.csv", b"SYN-1")
    write_private(restores / "new.csv", b"SYN-2")
    long_ago = dt.datetime(2026, 1, 1).timestamp()
    os.utime(restores / "old.csv", (long_ago, long_ago))
    before = day_coverage("LAB", dt.date(2026, 1, 5))

    purged = purge("LAB", dt.date(2026, 2, 1))

    assert purged.days == [dt.date(2026, 1, 5)]
    assert purged.files == 4  # report, manifest, record, old restore report
    assert purged.bytes > 0
    old = data_dir / "lab" / "2026-01-05"
    assert [p.name for p in old.rglob("*")] == [f"{SUMMARY}.csv"]
    summary = read_frame(audit_path("LAB", dt.date(2026, 1, 5), SUMMARY))
    assert summary.to_dict("records") == [
        {"source": "ARIA", "status": "missing", "instances": "1"},
        {"source": "ARIA", "status": "verified", "instances": "1"},
        {"source": "MIM", "status": "verified", "instances": "1"},
    ]
    after = day_coverage("LAB", dt.date(2026, 1, 5))
    assert (after.status, after.counts) == (before.status, before.counts)
    assert after.status == DayStatus.INCOMPLETE
    assert day_coverage("LAB", dt.date(2026, 1, 5), "MIM").status == DayStatus.COMPLETE
    assert len(list((data_dir / "lab" / "2026-03-01").rglob("*.*"))) == 3  # untouched
    assert [p.name for p in restores.iterdir()] == ["new.csv"]
    assert purge("LAB", dt.date(2026, 2, 1)).files == 0  # nothing left to purge
