"""How a source's listing differs from the manifest that was verified (the catch-up's check)."""

import pandas as pd

from radonc_assets.backup.catch_up import manifest_changes
from radonc_assets.backup.manifest import MANIFEST_COLUMNS


def manifest(*rows: tuple[str, str]) -> pd.DataFrame:
    """A manifest of instances (SOPInstanceUID, modality); the other columns alike."""
    return pd.DataFrame(
        [
            dict.fromkeys(MANIFEST_COLUMNS, "1.2") | {"sop_instance_uid": u, "modality": m}
            for u, m in rows
        ],
        columns=MANIFEST_COLUMNS,
    )


def test_the_same_listing_is_no_change() -> None:
    listed = manifest(("1.1", "CT"), ("1.2", "RTPLAN"))
    assert manifest_changes(listed, listed.iloc[::-1]) == []


def test_instances_new_gone_and_changed_are_counted_apart() -> None:
    recorded = manifest(("1.1", "CT"), ("1.2", "RTPLAN"), ("1.3", "CT"))
    listed = manifest(("1.1", "CT"), ("1.2", "RTDOSE"), ("1.4", "CT"), ("1.5", "CT"))
    assert manifest_changes(recorded, listed) == [
        "2 instance(s) new",
        "1 instance(s) gone",
        "1 instance(s) changed",
    ]


def test_a_source_emptied_since_is_a_change() -> None:
    assert manifest_changes(manifest(("1.1", "CT")), manifest()) == ["1 instance(s) gone"]
