"""Site files written from their text: the earlier system's example site UCLA, the
repository's own site files, and the writer of a text into a file."""

import textwrap
from pathlib import Path

# The earlier RadOncBackupSystem format, verbatim from the product design.
LEGACY_UCLA = """\
[UCLA]
description = "UCLA Testbed Environment"
default_source = "ARIA_MAIN"
default_backup = "ORTHANC_UCLA_BACKUP"

[UCLA.script_ae]
aet = "UCLA_SCRIPT_SCU"

[UCLA.sources]
ARIA_MAIN = { type = "aria", aet = "ARIA_UCLA_AE", ip = "10.0.0.100", port = 104 }
MIM = { type = "mim", aet = "MIM_UCLA_AE", ip = "10.0.0.101", port = 105 }
MOSAIQ_DB = { type = "mosaiq", db_server = "ucla_db", db_database = "ucla_mosaiq", db_username = "user_ucla", db_password_env_var = "UCLA_MOSAIQ_DB_PASSWORD", odbc_driver = "ODBC Driver 17 for SQL Server", staging_target_alias = "UCLA_MOSAIQ_STAGE" }

[UCLA.backup_targets]
ORTHANC_UCLA_BACKUP = { type = "orthanc", aet = "UCLA_ORTHANC_AE", ip = "10.0.0.200", port = 4242 }
UCLA_MOSAIQ_STAGE = { type = "dicom_scp", aet = "UCLA_STAGE_AE", ip = "10.0.0.201", port = 11113 }

[UCLA.settings]
max_uids_per_run = 100
"""

REPO_ENVIRONMENTS = Path(__file__).resolve().parents[2] / "environments"


def write(tmp_path: Path, text: str, name: str = "site.toml") -> Path:
    """`text`, dedented, as the file `name` of `tmp_path`."""
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path
