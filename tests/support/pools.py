"""Another run holding a source's pool, as the CLI's backups meet it."""

from pathlib import Path

import dagster as dg
import pytest

from radonc_assets.site.naming import ORTHANC_COPIES

HOLDER = "a-live-run"


def hold_aria_pool(home: Path) -> None:
    """Claim LAB's ARIA pool for the run :data:`HOLDER` in the instance at `home`."""
    with dg.DagsterInstance.from_config(str(home)) as instance:
        storage = instance.event_log_storage
        storage.initialize_concurrency_limit_to_default("lab_aria")
        claim = storage.claim_concurrency_slot("lab_aria", HOLDER, f"lab__aria__{ORTHANC_COPIES}")
        assert claim.is_claimed


def assert_waited_for_pool(capsys: pytest.CaptureFixture[str]) -> None:
    """The command said whom it waited for, and after its one-second wait stopped in one line."""
    captured = capsys.readouterr()
    assert f"waiting for pool lab_aria, held by run {HOLDER}" in captured.out
    assert captured.err.strip() == (
        f"radonc: pool lab_aria is still held by run {HOLDER} after 1 s; let it finish, "
        "or stop it (the Dagster UI's run page)"
    )
