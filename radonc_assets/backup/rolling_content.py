"""Rolling content verification: which archived instances are due on a day, and the ledger.

With ``[SITE.settings] rolling_content_days = N``, every instance a validation report
lists as verified is compared by content with its source at least once every N days,
about a N-th of them each day. What is due on a day (:func:`due_instances`):

- its slot: a stable hash of the SOPInstanceUID modulo N (:func:`slot`) equal to the
  day's ordinal modulo N (:func:`day_slot`), so the instances are spread evenly over the
  N days and every instance's turn comes once in N days, whatever the ledger says;
- catching up, at most a N-th of the instances a day, the most urgent first: those
  whose last verification failed (``retry``), then those ``overdue``, the longest first:
  last verified identical N days ago or more, or never verified though listed verified
  N days ago or more (counted from the ledger's first verification, so that turning the
  setting on does not make the whole archive due at once).

The ledger (``SITE/content_verification.csv``, :data:`LEDGER_COLUMNS`) has one row per
verification: the instance and source, the date of the report that lists it (the
latest), when it was verified (the site's local time, ISO 8601) and the result
(:class:`Result`) with its detail. Each run's rows are appended, so that its rows are
in the order they were verified, and the ledger is kept bounded (:func:`updated_ledger`):
per instance and source, its last identical verification and every row after it; an
instance no report lists any more (past the retention) leaves it.

Pure functions over DataFrames; the retrieval and the files are
:mod:`radonc_assets.backup.content_verification`'s.
"""

import datetime as dt
import hashlib
import math
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from enum import StrEnum

import pandas as pd

from radonc_assets.backup.manifest import ORDER, Status, among
from radonc_assets.site.naming import CONTENT_VERIFICATION

# The ledger's file (beside the site's dates) and its columns.
LEDGER = CONTENT_VERIFICATION
LEDGER_COLUMNS = ["sop_instance_uid", "source", "date", "verified_at", "result", "detail"]
# What the ledger tells apart: an instance of a source (a CT that ARIA and MIM both hold
# is verified against each).
KEY = ["sop_instance_uid", "source"]
# The columns of the instances to verify: their key, the date of the report that lists
# them, and what retrieving them takes.
POPULATION_COLUMNS = [
    *KEY,
    "date",
    "study_instance_uid",
    "series_instance_uid",
    "sop_class_uid",
    "modality",
]
# The columns of the validation reports the verification reads.
REPORT_COLUMNS = [c for c in POPULATION_COLUMNS if c != "date"] + ["status"]


class Result(StrEnum):
    """What one content verification of an instance found.

    ``not_in_source`` and ``not_in_archive``: that side answered and did not return it;
    ``unreachable``: that side could not be reached (``detail`` says which, and why).
    """

    IDENTICAL = "identical"
    DIFFERS = "differs"
    NOT_IN_SOURCE = "not_in_source"
    NOT_IN_ARCHIVE = "not_in_archive"
    UNREACHABLE = "unreachable"


# What makes the dates that list the instance incomplete: the archive does not give back
# the source's content. The others fail the check but prove nothing about the archive.
FINDINGS = (Result.DIFFERS, Result.NOT_IN_ARCHIVE)


class Due(StrEnum):
    """Why an instance is due on a day (the first that applies)."""

    RETRY = "retry"
    OVERDUE = "overdue"
    SLOT = "slot"


def slot(uid: str, days: int) -> int:
    """The slot of the instance `uid` among `days`: a stable hash of it, modulo `days`."""
    return int.from_bytes(hashlib.sha256(uid.encode()).digest()[:8], "big") % days


def day_slot(day: dt.date, days: int) -> int:
    """The slot whose instances are due on `day`: its ordinal modulo `days`."""
    return day.toordinal() % days


def empty_ledger() -> pd.DataFrame:
    """A ledger without rows."""
    return pd.DataFrame(columns=LEDGER_COLUMNS, dtype=str)


def population(reports: pd.DataFrame, sources: Collection[str]) -> pd.DataFrame:
    """The instances to verify: those `reports` list as verified for one of `sources`.

    Args:
        reports: Validation reports with their ``day``
            (:func:`~radonc_assets.backup.audit_files.validation_reports`).
        sources: The aliases whose instances are verified.

    Returns:
        One row per instance and source (:data:`POPULATION_COLUMNS`), ``date`` being the
        latest day that lists it, in :data:`~radonc_assets.backup.manifest.ORDER`.
    """
    if reports.empty:
        return pd.DataFrame(columns=POPULATION_COLUMNS, dtype=str)
    verified = reports[
        (reports["status"] == Status.VERIFIED)
        & among(reports["source"], set(sources))
        & (reports["sop_instance_uid"] != "")
    ]
    latest = verified.sort_values("day", kind="stable").drop_duplicates(KEY, keep="last")
    rows = latest.rename(columns={"day": "date"})[POPULATION_COLUMNS]
    return rows.sort_values([*ORDER, "source"], kind="stable").reset_index(drop=True)


def _history(ledger: pd.DataFrame) -> pd.DataFrame:
    """What `ledger` says per instance and source, indexed by :data:`KEY`.

    Its rows are in the order they were verified (each run appends its own).

    Returns:
        Each instance's latest row (``verified_at``, ``result``, ``detail``) and
        ``last_identical``, the ``verified_at`` of its last identical one ("" if none).
    """
    latest = ledger.drop_duplicates(KEY, keep="last").set_index(KEY)
    identical = ledger[ledger["result"] == Result.IDENTICAL].drop_duplicates(KEY, keep="last")
    proof = identical.set_index(KEY)["verified_at"].reindex(latest.index).fillna("")
    return latest[["verified_at", "result", "detail"]].assign(last_identical=proof)


def _keys(frame: pd.DataFrame) -> pd.MultiIndex:
    return pd.MultiIndex.from_frame(frame[KEY])


def _aligned(history: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    """The :func:`_history` of each row of `frame` (its index); "" where it has none."""
    found = history.reindex(_keys(frame)).fillna("")
    return found.set_axis(frame.index)


def due_instances(
    instances: pd.DataFrame, ledger: pd.DataFrame, today: dt.date, days: int
) -> pd.DataFrame:
    """The instances of `instances` due for verification on `today` (module docstring).

    Deterministic: the same instances, ledger and day give the same rows.

    Args:
        instances: :func:`population` rows.
        ledger: The ledger so far.
        today: The day of the verification (the site's local date).
        days: N, ``rolling_content_days``.

    Returns:
        The due rows of `instances` with ``due`` (:class:`Due`), in their order.
    """
    if instances.empty:
        return instances.assign(due=pd.Series(dtype=str))
    known = _aligned(_history(ledger), instances)
    last_identical = known["last_identical"].str[:10]
    retry = (known["result"] != "") & (known["result"] != Result.IDENTICAL)
    # Waiting since its last proof; never verified: since the later of the date of its
    # report and the ledger's first verification (today, without one).
    start = str(ledger["verified_at"].min())[:10] if len(ledger) else today.isoformat()
    never = instances["date"].where(instances["date"] > start, start)
    since = last_identical.where(last_identical != "", never)
    overdue = since <= (today - dt.timedelta(days=days)).isoformat()
    today_slot = day_slot(today, days)
    in_slot = pd.Series(
        [slot(uid, days) == today_slot for uid in instances["sop_instance_uid"].tolist()],
        index=instances.index,
    )
    # The most urgent first: failed last time, then the longest waiting.
    urgent = instances.assign(_first=~retry, _since=since)[retry | overdue]
    urgent = urgent.sort_values(["_first", "_since", *KEY], kind="stable")
    catching_up = instances.index.isin(urgent.index[: math.ceil(len(instances) / days)])
    reason = pd.Series(str(Due.SLOT), index=instances.index)
    reason[catching_up & overdue.to_numpy()] = str(Due.OVERDUE)
    reason[catching_up & retry.to_numpy()] = str(Due.RETRY)
    chosen = in_slot.to_numpy() | catching_up
    return instances[chosen].assign(due=reason[chosen])


def updated_ledger(
    ledger: pd.DataFrame, rows: pd.DataFrame, instances: pd.DataFrame
) -> pd.DataFrame:
    """`ledger` with a run's `rows` appended, kept bounded (module docstring).

    Args:
        ledger: The ledger so far.
        rows: The run's verifications (:data:`LEDGER_COLUMNS`).
        instances: The :func:`population`: rows of other instances are dropped.
    """
    frames = [frame[LEDGER_COLUMNS] for frame in (ledger, rows) if not frame.empty]
    if not frames:
        return empty_ledger()
    merged = pd.concat(frames, ignore_index=True)
    merged = merged[_keys(merged).isin(_keys(instances))]
    proof = _aligned(_history(merged), merged)["last_identical"]
    return merged[merged["verified_at"] >= proof].reset_index(drop=True)


@dataclass(frozen=True)
class ContentState:
    """What the ledger says of each instance and source on a day, for the coverage.

    Attributes:
        proven: The instances (``(sop_instance_uid, source)``) whose latest verification,
            within the last N days, found them identical.
        findings: The instances whose latest verification found that the archive does
            not give back the source's content (:data:`FINDINGS`), with a sentence
            saying so.
    """

    proven: frozenset[tuple[str, str]]
    findings: dict[tuple[str, str], str]

    def apply(self, report: pd.DataFrame) -> pd.DataFrame:
        """`report` (a date's validation report) with its findings ``mismatched``.

        Each verified row of an instance with a finding becomes ``mismatched``, the
        finding in its ``detail``, so that the date's verdict
        (:func:`~radonc_assets.backup.coverage.verdict`) counts it.
        """
        if not self.findings or report.empty:
            return report
        details = pd.Series(
            [
                self.findings.get(key, "") if status == Status.VERIFIED else ""
                for key, status in zip(_report_keys(report), report["status"], strict=True)
            ],
            index=report.index,
        )
        found = details != ""
        if not found.any():
            return report
        report = report.copy()
        report.loc[found, "status"] = str(Status.MISMATCHED)
        report.loc[found, "detail"] = details[found]
        return report

    def verified(self, report: pd.DataFrame) -> int:
        """How many verified rows of `report` the ledger proves identical within N days."""
        return sum(
            key in self.proven
            for key, status in zip(_report_keys(report), report["status"], strict=True)
            if status == Status.VERIFIED
        )


def _report_keys(report: pd.DataFrame) -> Iterator[tuple[str, str]]:
    return zip(report["sop_instance_uid"].tolist(), report["source"].tolist(), strict=True)


def content_state(ledger: pd.DataFrame, today: dt.date, days: int) -> ContentState:
    """What `ledger` says of each instance on `today`, N being `days` (:class:`ContentState`)."""
    if ledger.empty:
        return ContentState(frozenset(), {})
    latest = _history(ledger)
    cutoff = (today - dt.timedelta(days=days)).isoformat()
    recent = latest["verified_at"].str[:10] > cutoff
    proven = latest[recent & (latest["result"] == Result.IDENTICAL)].index
    found = latest[latest["result"].isin([str(f) for f in FINDINGS])]
    findings = {
        key: f"content verification of {when[:10]}: {detail}"
        for key, when, detail in zip(
            found.index.tolist(),
            found["verified_at"].tolist(),
            found["detail"].tolist(),
            strict=True,
        )
    }
    return ContentState(frozenset(proven.tolist()), findings)
