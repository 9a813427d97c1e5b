"""One measured step in a process of its own, so that its peak memory is that step's alone.

    python -m benchmarks.isolated relay SITE --alias ALIAS --manifest FILE
    python -m benchmarks.isolated validate SITE --report FILE ALIAS:DATE [ALIAS:DATE ...]
    python -m benchmarks.isolated content SITE --rolling-days N --on DATE DATE [DATE ...]
    python -m benchmarks.isolated content-plan SITE --rolling-days N --instances COUNT

``relay``: the C-GET relay of the instances of a manifest file from the source `ALIAS`
into the site's archive (``relay_missing``, as the MIM copy runs it). ``validate``: what
the validation report of one date does, without Dagster, over the manifests of every
``ALIAS:DATE`` given as if they were one day's: the archive listed for their studies,
each manifest compared with it and explained by its copies file, the extra instances,
the treatment chains, the report written; also how the archive's files were checked and
that check's seconds (``integrity``, ``integrity_s``). ``content``: one day's rolling content
verification (``verify_day``, as the asset runs it, without Dagster) on `--on`, with N =
`--rolling-days`, of the instances the validation reports of the dates given list as
verified, against the site's DICOM sources and archive, the ledger read and written.
``content-plan``: the same day's work without the network, for `--instances` synthetic
verified instances (a series of 500 each, listed over a year) with a steady ledger
(:func:`steady_ledger`): the ledger read, the due instances chosen,
the ledger updated and written, and what the coverage reads of it (``content_state``,
applied to a 10,000-instance report), each timed. The site comes from
``RADONC_ENVIRONMENTS``, the manifests and reports from ``RADONC_DATA_DIR``.

Prints the step's seconds, the peak resident memory of the process and that peak before
the step (the imports) as one line of JSON. The peak is the kernel's ``VmHWM``: not
``getrusage``'s ``ru_maxrss``, which keeps the peak of the parent this process was
forked from.
"""

import argparse
import datetime as dt
import json
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from radonc_assets.backup.audit_files import audit_path, read_frame, write_frame
from radonc_assets.backup.content_verification import (
    dicom_source,
    read_ledger,
    verify_day,
    write_ledger,
)
from radonc_assets.backup.manifest import Status
from radonc_assets.backup.rolling_content import (
    LEDGER_COLUMNS,
    Result,
    content_state,
    day_slot,
    due_instances,
    slot,
    updated_ledger,
)
from radonc_assets.backup.transfers import relay_missing
from radonc_assets.backup.validation import validate_day
from radonc_assets.site.clients import archive_client, dicom_client
from radonc_assets.site.config import SiteConfig
from radonc_assets.site.loading import load_site

# The day of the content verification measured: after every day the benchmarks archive.
MEASURED_ON = dt.date(2026, 6, 1)


def steady_ledger(instances: pd.DataFrame, on: dt.date, rolling_days: int) -> pd.DataFrame:
    """The ledger of a steady state before `on`, N being `rolling_days`.

    Each of `instances` (``sop_instance_uid``, ``source``, ``date``) last found identical
    on the latest day of its slot before `on`, the ledger's rows in the order verified.
    """
    today = day_slot(on, rolling_days)
    back = [
        (today - slot(uid, rolling_days)) % rolling_days or rolling_days
        for uid in instances["sop_instance_uid"]
    ]
    ledger = instances[["sop_instance_uid", "source", "date"]].assign(
        verified_at=[f"{on - dt.timedelta(days=n)}T04:30:00+00:00" for n in back],
        result=str(Result.IDENTICAL),
        detail="",
    )
    return ledger.sort_values("verified_at", kind="stable")[LEDGER_COLUMNS]


def peak_mib() -> float:
    """The peak resident memory of this process so far (``VmHWM``), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _relay(site: SiteConfig, args: argparse.Namespace) -> dict[str, object]:
    manifest = read_frame(args.manifest)
    with archive_client(site) as archive:
        transfer = relay_missing(dicom_client(site, args.alias), archive, manifest, manifest)
    copied = sum(outcome == "copied" for outcome, _ in transfer.outcomes.values())
    if copied != len(manifest):
        raise RuntimeError(f"relayed {copied} of {len(manifest)} instances")
    return {"instances": copied}


def _validate(site: SiteConfig, args: argparse.Namespace) -> dict[str, object]:
    days = [
        (alias, dt.date.fromisoformat(day)) for alias, day in (d.split(":", 1) for d in args.days)
    ]
    manifests = [read_frame(audit_path(site.name, day, f"{a}_source_studies")) for a, day in days]
    copies = [audit_path(site.name, day, f"{a}_orthanc_copies") for a, day in days]
    with archive_client(site) as archive:
        checked = validate_day(
            archive, manifests, [read_frame(c) if c.exists() else None for c in copies]
        )
    report = pd.concat([*checked.reports, checked.extra], ignore_index=True)
    write_frame(report, args.report)
    verified = int((report["status"] == Status.VERIFIED).sum())
    if verified != len(report):
        raise RuntimeError(f"{len(report) - verified} of {len(report)} instances not verified")
    return {
        "instances": verified,
        "studies": checked.studies,
        "integrity": str(checked.integrity),
        "integrity_s": checked.integrity_seconds,
    }


def _content(site: SiteConfig, args: argparse.Namespace) -> dict[str, object]:
    sources = {alias: dicom_source(dicom_client(site, alias)) for alias in site.dicom_sources}
    now = dt.datetime.combine(dt.date.fromisoformat(args.on), dt.time(4, 30), tzinfo=dt.UTC)
    with archive_client(site) as archive:
        dates = [dt.date.fromisoformat(day) for day in args.days]
        day = verify_day(site.name, dates, sources, archive.dicom, now, args.rolling_days)
    results = day.done.rows["result"].value_counts()
    if int(results.get(Result.IDENTICAL, 0)) != len(day.due):
        raise RuntimeError(f"not all identical: {results.to_dict()}")
    return {
        "instances": len(day.instances),
        "due": len(day.due),
        "source_bytes": sum(day.done.source_bytes.values()),
        "archive_bytes": day.done.archive_bytes,
        "ledger_rows": len(day.ledger),
    }


def _content_plan(site: SiteConfig, args: argparse.Namespace) -> dict[str, object]:
    count, days = args.instances, args.rolling_days
    uids = [f"1.2.826.0.1.3680043.8.498.{10**11 + n}" for n in range(count)]
    first = dt.date(2026, 1, 1)
    instances = pd.DataFrame(
        {
            "sop_instance_uid": uids,
            "source": "ARIA",
            "date": [
                (first + dt.timedelta(days=n * 365 // count)).isoformat() for n in range(count)
            ],
            "study_instance_uid": [f"1.2.3.{n // 500}" for n in range(count)],
            "series_instance_uid": [f"1.2.3.{n // 500}.1" for n in range(count)],
            "sop_class_uid": "1.2.840.10008.5.1.4.1.1.2",
            "modality": "CT",
        }
    )
    on = MEASURED_ON
    write_ledger(site.name, steady_ledger(instances, on, days))
    seconds: dict[str, float] = {}

    def lap(name: str, started: float) -> None:
        seconds[f"{name}_s"] = round(time.monotonic() - started, 2)

    started = time.monotonic()
    ledger = read_ledger(site.name)
    lap("read_ledger", started)
    started = time.monotonic()
    due = due_instances(instances, ledger, on, days)
    lap("choose", started)
    rows = due[["sop_instance_uid", "source", "date"]].assign(
        verified_at=f"{on}T04:30:00+00:00", result=str(Result.IDENTICAL), detail=""
    )
    started = time.monotonic()
    ledger = updated_ledger(ledger, rows, instances)
    lap("update", started)
    started = time.monotonic()
    write_ledger(site.name, ledger)
    lap("write_ledger", started)
    started = time.monotonic()
    state = content_state(read_ledger(site.name), on, days)
    lap("coverage_state", started)
    report = instances.head(10_000).assign(status=str(Status.VERIFIED), detail="")
    started = time.monotonic()
    state.verified(state.apply(report))
    lap("coverage_per_report", started)
    return {"instances": count, "due": len(due), "ledger_rows": len(ledger), **seconds}


def main() -> None:
    """Run the step the command line names; print its measures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=["relay", "validate", "content", "content-plan"])
    parser.add_argument("site")
    parser.add_argument("--alias", help="relay: the source")
    parser.add_argument("--manifest", type=Path, help="relay: the instances to relay")
    parser.add_argument("--report", type=Path, help="validate: the report file to write")
    parser.add_argument("--rolling-days", type=int, help="content: N")
    parser.add_argument("--on", help="content: the day of the verification (YYYY-MM-DD)")
    parser.add_argument("--instances", type=int, help="content-plan: verified instances")
    parser.add_argument(
        "days", nargs="*", help="validate: ALIAS:DATE of each manifest; content: the dates"
    )
    args = parser.parse_intermixed_args()
    steps: dict[str, Callable[[SiteConfig, argparse.Namespace], dict[str, object]]] = {
        "relay": _relay,
        "validate": _validate,
        "content": _content,
        "content-plan": _content_plan,
    }
    step = steps[args.step]
    site = load_site(args.site)
    before = peak_mib()
    started = time.monotonic()
    measures = step(site, args)
    seconds = time.monotonic() - started
    print(
        json.dumps(
            {
                **measures,
                "seconds": seconds,
                "peak_mib": peak_mib(),
                "before_mib": before,
            }
        )
    )


if __name__ == "__main__":
    main()
