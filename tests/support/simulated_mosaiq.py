"""The simulated Mosaiq databases of the tests, and the LAB archive's records forgotten.

`WEEK` is the LAB's week (as `load_synthetic_week` writes it), `SPEC` the patients of the
Mosaiq commands' database.
"""

import datetime as dt
from pathlib import Path

from radonc_assets.backup.mosaiq.queries import day_window, read_sessions
from radonc_assets.backup.mosaiq.records import encode_record, record_settings
from radonc_assets.devtools.synthetic import SyntheticSpec
from radonc_assets.site.clients import archive_client
from radonc_assets.site.config import SiteConfig
from resources.mosaiq_db import MosaiqDatabase
from tests.support.sites import LAB_WEEK_END

# The lab's week, as load_synthetic_week writes it.
WEEK = SyntheticSpec(start=LAB_WEEK_END - dt.timedelta(days=6), end=LAB_WEEK_END, patients=3)
# The patients of the Mosaiq commands' simulated database.
SPEC = SyntheticSpec(
    start=dt.date(2026, 1, 5),
    end=dt.date(2026, 1, 9),
    patients=3,
    seed=3,
    ct_slices=2,
    image_size=16,
    fractions=3,
)


def forget_records(site: SiteConfig, database: Path, day: str) -> None:
    """Delete from the lab's archive the records of `day` (their UIDs are deterministic), so
    that the day's backup copies them whichever test ran first."""
    parsed = read_sessions(
        MosaiqDatabase("SQLite3", str(database)), day_window(dt.date.fromisoformat(day))
    )
    settings = record_settings(site)
    archive_client(site).delete_instances(
        encode_record(session, settings).uids.instance for session in parsed.items
    )
