"""Content hashes of instances retrieved by C-GET, from each source implementation."""

import pandas as pd
from pydicom import dcmread

from radonc_assets.backup.content_hash import content_hash, retrieved_hashes
from radonc_assets.backup.manifest import MANIFEST_COLUMNS
from tests.support.sources import Source, SyntheticInstance


def rows(instances: list[SyntheticInstance]) -> pd.DataFrame:
    """Manifest rows of `instances`."""
    frame = pd.DataFrame(
        [
            {
                "patient_id": i.patient_id,
                "study_instance_uid": i.study_uid,
                "series_instance_uid": i.series_uid,
                "sop_instance_uid": i.sop_instance_uid,
                "sop_class_uid": i.sop_class_uid,
                "modality": i.modality,
            }
            for i in instances
        ]
    )
    return frame.reindex(columns=MANIFEST_COLUMNS, fill_value="")


def test_part_of_a_series_is_retrieved_by_lists_and_only_that_part(
    source: Source, synthetic_files: list[SyntheticInstance]
) -> None:
    """Half of a CT series asked for by one listing request: exactly those come, hashed
    as the files are; an instance the source does not hold is asked for again on its
    own, and is absent."""
    ct = sorted(
        (i for i in synthetic_files if i.modality == "CT"), key=lambda i: i.sop_instance_uid
    )
    series = [i for i in ct if i.series_uid == ct[0].series_uid]
    wanted = rows(series[::2])
    ghost = wanted.iloc[:1].assign(sop_instance_uid="1.2.826.0.1.3680043.8.498.999999")
    asked = pd.concat([wanted, ghost], ignore_index=True)

    got = retrieved_hashes(
        source.client(),
        asked,
        series=pd.concat([rows(series), ghost], ignore_index=True),
        isolate_failures=True,
    )

    assert got.hashes == {i.sop_instance_uid: content_hash(dcmread(i.path)) for i in series[::2]}
    assert got.bytes > 0
