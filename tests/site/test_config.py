"""Site configuration: the earlier format loads unchanged; every broken file is named precisely."""

from pathlib import Path

import dagster as dg
import pytest

from radonc_assets.cli.main import main
from radonc_assets.site.config import DicomSource, MosaiqSource, OrthancTarget
from radonc_assets.site.dagster_resources import MosaiqDatabaseResource, site_resources
from radonc_assets.site.errors import ConfigError
from radonc_assets.site.loading import load_site, load_sites, read_secret
from tests.support.site_texts import LEGACY_UCLA, REPO_ENVIRONMENTS, write


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_sites(path)
    return [str(p) for p in info.value.problems]


def test_earlier_format_loads_unchanged(tmp_path: Path) -> None:
    site = load_sites(write(tmp_path, LEGACY_UCLA))["UCLA"]

    assert site.description == "UCLA Testbed Environment"
    assert site.script_ae.aet == "UCLA_SCRIPT_SCU"
    aria = site.sources["ARIA_MAIN"]
    assert isinstance(aria, DicomSource)
    assert (aria.type, aria.aet, aria.ip, aria.port) == ("aria", "ARIA_UCLA_AE", "10.0.0.100", 104)
    assert site.sources["MIM"].type == "mim"
    mosaiq = site.sources["MOSAIQ_DB"]
    assert isinstance(mosaiq, MosaiqSource)
    assert mosaiq.db_password_env_var == "UCLA_MOSAIQ_DB_PASSWORD"
    assert mosaiq.staging_target_alias == "UCLA_MOSAIQ_STAGE"
    assert mosaiq.db_database == "ucla_mosaiq"  # not a path: not the SQLite driver
    assert isinstance(site.archive(), OrthancTarget)
    assert site.backup_targets["UCLA_MOSAIQ_STAGE"].type == "dicom_scp"
    assert site.settings.max_uids_per_run == 100
    assert (site.timezone, site.backfill_start, site.phi_in_metadata) == ("UTC", None, False)


@pytest.mark.parametrize(
    ("keys", "retrieve"),
    [
        ('type = "aria"', "c-move"),
        ('type = "mim"', "c-get"),
        ('type = "mim", retrieve = "c-move"', "c-move"),
        ('type = "aria", retrieve = "c-get"', "c-get"),
        ('type = "dicom", retrieve = "c-move"', "c-move"),
        ('type = "dicom", retrieve = "c-get"', "c-get"),
    ],
)
def test_retrieve_defaults_by_type_and_decides_the_protocol(
    tmp_path: Path, keys: str, retrieve: str
) -> None:
    text = LEGACY_UCLA.replace('type = "mim"', keys)
    source = load_sites(write(tmp_path, text))["UCLA"].sources["MIM"]
    assert isinstance(source, DicomSource)
    assert (source.retrieve, source.moves) == (retrieve, retrieve == "c-move")
    # The type keeps what the vendor holds: only ARIA is asked for treatment records.
    expected = ("study_date", "treatment_records") if source.type == "aria" else ("study_date",)
    assert source.daily_queries == expected


def test_shipped_site_files_load() -> None:
    assert set(load_sites(REPO_ENVIRONMENTS)) == {"DEMO"}
    assert set(load_sites(REPO_ENVIRONMENTS / "examples")) == {"UCLA", "TJU"}


def test_environments_folder_can_be_overridden(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, LEGACY_UCLA)
    monkeypatch.setenv("RADONC_ENVIRONMENTS", str(tmp_path))
    assert load_site("ucla").name == "UCLA"


def test_unknown_settings_of_the_earlier_system_are_kept(tmp_path: Path) -> None:
    text = LEGACY_UCLA + 'report_recipients = "physics@example.org"\n'
    site = load_sites(write(tmp_path, text))["UCLA"]
    assert site.settings.model_extra == {"report_recipients": "physics@example.org"}


def test_sqlite_database_path_is_relative_to_the_site_file(tmp_path: Path) -> None:
    demo = load_sites(REPO_ENVIRONMENTS / "demo.toml")["DEMO"]
    mosaiq = demo.sources["MOSAIQ"]
    assert isinstance(mosaiq, MosaiqSource)
    assert mosaiq.is_sqlite
    assert Path(mosaiq.db_database) == REPO_ENVIRONMENTS.parent / ".radonc" / "demo" / "mosaiq.db"


def test_driver_name_with_or_without_braces(tmp_path: Path) -> None:
    text = LEGACY_UCLA.replace('"ODBC Driver 17 for SQL Server"', '"{FreeTDS}"')
    mosaiq = load_sites(write(tmp_path, text))["UCLA"].sources["MOSAIQ_DB"]
    assert isinstance(mosaiq, MosaiqSource)
    assert mosaiq.odbc_driver == "FreeTDS"


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        pytest.param(
            'type = "aria"',
            'type = "pacs"',
            "site UCLA: sources.ARIA_MAIN.type: unknown type 'pacs' (expected 'aria', 'mim', "
            "'dicom', 'mosaiq')",
            id="unknown-source-type",
        ),
        pytest.param(
            'type = "aria"',
            'type = "dicom"',
            'site UCLA: sources.ARIA_MAIN: Value error, retrieve is required with type = "dicom": '
            '"c-move" or "c-get"',
            id="dicom-source-without-retrieve",
        ),
        pytest.param(
            'type = "aria"',
            'type = "aria", retrieve = "c-find"',
            "site UCLA: sources.ARIA_MAIN.retrieve: Input should be 'c-move' or 'c-get'",
            id="unknown-retrieve",
        ),
        pytest.param(
            "port = 104",
            "port = 70000",
            "site UCLA: sources.ARIA_MAIN.port: Input should be less than or equal to 65535",
            id="bad-port",
        ),
        pytest.param(
            'default_source = "ARIA_MAIN"',
            'default_source = "ARIA"',
            "site UCLA: default_source: 'ARIA' is not in sources (ARIA_MAIN, MIM, MOSAIQ_DB)",
            id="missing-default-source",
        ),
        pytest.param(
            'default_backup = "ORTHANC_UCLA_BACKUP"',
            'default_backup = "ORTHANC"',
            "site UCLA: default_backup: 'ORTHANC' is not in backup_targets",
            id="missing-default-backup",
        ),
        pytest.param(
            'aet = "MIM_UCLA_AE"',
            'aet = "ARIA_UCLA_AE"',
            "site UCLA: sources.MIM.aet: AE title 'ARIA_UCLA_AE' is also used by sources.ARIA_MAIN.aet",
            id="duplicate-ae-title",
        ),
        pytest.param(
            'aet = "MIM_UCLA_AE"',
            'aet = "THIS_AE_TITLE_IS_TOO_LONG"',
            "site UCLA: sources.MIM.aet: String should have at most 16 characters",
            id="ae-title-too-long",
        ),
        pytest.param(
            'staging_target_alias = "UCLA_MOSAIQ_STAGE"',
            'staging_target_alias = "NOWHERE"',
            "site UCLA: sources.MOSAIQ_DB.staging_target_alias: 'NOWHERE' is not in backup_targets",
            id="missing-staging-target",
        ),
        pytest.param(
            'db_password_env_var = "UCLA_MOSAIQ_DB_PASSWORD"',
            'db_password = "hunter2"',
            "site UCLA: sources.MOSAIQ_DB: Value error, db_password: secrets never live in site files",
            id="inline-password",
        ),
        pytest.param(
            'ip = "10.0.0.100"',
            'ip = "not a host!"',
            "site UCLA: sources.ARIA_MAIN.ip: Value error, 'not a host!' is neither an IP address",
            id="bad-host",
        ),
        pytest.param(
            "max_uids_per_run = 100",
            "max_uids_per_run = 0",
            "site UCLA: settings.max_uids_per_run: Input should be greater than or equal to 1",
            id="bad-setting",
        ),
        pytest.param(
            "port = 104",
            "port = true",
            "site UCLA: sources.ARIA_MAIN.port: Input should be a valid integer, not the boolean true",
            id="bool-port",
        ),
        pytest.param(
            "port = 104",
            'port = "58329"',
            'site UCLA: sources.ARIA_MAIN.port: Input should be a valid integer, not the string "58329"',
            id="string-port",
        ),
        pytest.param(
            "port = 4242",
            "port = 4242.0",
            "site UCLA: backup_targets.ORTHANC_UCLA_BACKUP.port: Input should be a valid integer, not the float 4242.0",
            id="float-port",
        ),
        pytest.param(
            "port = 105 }",
            'port = 105, record_lookback_days = "30" }',
            'site UCLA: sources.MIM.record_lookback_days: Input should be a valid integer, not the string "30"',
            id="string-lookback",
        ),
        pytest.param(
            'staging_target_alias = "UCLA_MOSAIQ_STAGE"',
            'staging_target_alias = "UCLA_MOSAIQ_STAGE", query_timeout = true',
            "site UCLA: sources.MOSAIQ_DB.query_timeout: Input should be a valid integer, not the boolean true",
            id="bool-query-timeout",
        ),
        pytest.param(
            "max_uids_per_run = 100",
            'max_uids_per_run = "100"',
            'site UCLA: settings.max_uids_per_run: Input should be a valid integer, not the string "100"',
            id="string-max-uids",
        ),
        pytest.param(
            "max_uids_per_run = 100",
            "max_uids_per_run = 100\nconnect_timeout = true",
            "site UCLA: settings.connect_timeout: Input should be a valid number, not the boolean true",
            id="bool-timeout",
        ),
        pytest.param(
            "max_uids_per_run = 100",
            'max_uids_per_run = 100\nnetwork_timeout = "60"',
            'site UCLA: settings.network_timeout: Input should be a valid number, not the string "60"',
            id="string-timeout",
        ),
        pytest.param(
            "max_uids_per_run = 100",
            "max_uids_per_run = 100\nmax_pdu = true",
            "site UCLA: settings.max_pdu: Input should be a valid integer, not the boolean true",
            id="bool-max-pdu",
        ),
        pytest.param(
            "max_uids_per_run = 100",
            'max_uids_per_run = 100\ndeep_validation = "false"',
            'site UCLA: settings.deep_validation: Input should be a valid boolean, not the string "false"',
            id="string-deep-validation",
        ),
        pytest.param(
            "max_uids_per_run = 100",
            "max_uids_per_run = 100\nrolling_content_days = 0",
            "site UCLA: settings.rolling_content_days: Input should be greater than or equal to 1",
            id="zero-rolling-content-days",
        ),
        pytest.param(
            "max_uids_per_run = 100",
            'max_uids_per_run = 100\nrolling_content_days = "30"',
            "site UCLA: settings.rolling_content_days: Input should be a valid integer",
            id="string-rolling-content-days",
        ),
        pytest.param(
            "max_uids_per_run = 100",
            "max_uids_per_run = 100\ncatch_up_days = 0",
            "site UCLA: settings.catch_up_days: Input should be greater than or equal to 1",
            id="zero-catch-up-days",
        ),
        pytest.param(
            'description = "UCLA Testbed Environment"',
            "phi_in_metadata = 1",
            "site UCLA: phi_in_metadata: Input should be a valid boolean, not the int 1",
            id="int-phi-in-metadata",
        ),
        pytest.param(
            'description = "UCLA Testbed Environment"',
            'timezone = "Mars/Olympus"',
            "site UCLA: timezone: Value error, unknown time zone 'Mars/Olympus'",
            id="bad-timezone",
        ),
        pytest.param(
            '[UCLA.script_ae]\naet = "UCLA_SCRIPT_SCU"\n',
            "",
            "site UCLA: script_ae: Field required",
            id="missing-script-ae",
        ),
        pytest.param(
            "[UCLA.script_ae]",
            '[UCLA.drill]\nscratch = "ORTHANC_UCLA_BACKUP"\n[UCLA.script_ae]',
            "site UCLA: drill.scratch: 'ORTHANC_UCLA_BACKUP' is the archive or a staging "
            "target: the drill would delete from it",
            id="drill-into-the-archive",
        ),
        pytest.param(
            "[UCLA.script_ae]",
            '[UCLA.drill]\nscratch = "UCLA_MOSAIQ_STAGE"\n[UCLA.script_ae]',
            "site UCLA: drill.scratch: 'UCLA_MOSAIQ_STAGE' is the archive or a staging target",
            id="drill-into-a-staging-target",
        ),
        pytest.param(
            "[UCLA.script_ae]",
            '[UCLA.drill]\nscratch = "NOWHERE"\n[UCLA.script_ae]',
            "site UCLA: drill.scratch: 'NOWHERE' is not an Orthanc backup target with a rest_url",
            id="drill-into-no-orthanc",
        ),
        pytest.param(
            "[UCLA.script_ae]",
            '[UCLA.drill]\ntime = "25:00"\n[UCLA.script_ae]',
            "site UCLA: drill.time: Value error, '25:00' is not a time HH:MM",
            id="drill-time",
        ),
    ],
)
def test_broken_site_names_file_site_and_key(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    assert old in LEGACY_UCLA
    path = write(tmp_path, LEGACY_UCLA.replace(old, new))
    found = problems(path)
    assert any(p.startswith(f"{path}: {expected}") for p in found), found
    assert all("\n" not in p for p in found)  # one line per problem


def test_numbers_and_booleans_of_the_right_type_load(tmp_path: Path) -> None:
    """Strict, but a float key takes an integer (TOML writes 5 for 5 seconds)."""
    text = LEGACY_UCLA + (
        "connect_timeout = 5\nnetwork_timeout = 2.5\ndeep_validation = true\n"
        "rolling_content_days = 30\n"
    )
    settings = load_sites(write(tmp_path, text))["UCLA"].settings
    assert (settings.connect_timeout, settings.network_timeout) == (5.0, 2.5)
    assert isinstance(settings.connect_timeout, float)
    assert settings.deep_validation is True
    assert settings.rolling_content_days == 30
    assert load_sites(write(tmp_path, LEGACY_UCLA))["UCLA"].settings.rolling_content_days is None


@pytest.mark.parametrize(
    ("keys", "days"),
    [
        ("", 7),  # the sensors' retry_days, 7 unless set
        ("[UCLA.automation]\nretry_days = 3\n", 3),
        ("[UCLA.automation]\nretry_days = 0\n", 1),  # at least yesterday
        ("catch_up_days = 30\n", 30),
    ],
)
def test_catch_up_days_default_to_the_sensors_retry_days(
    tmp_path: Path, keys: str, days: int
) -> None:
    assert load_sites(write(tmp_path, LEGACY_UCLA + keys))["UCLA"].catch_up_days == days


def test_max_uids_per_run_defaults_to_no_bound(tmp_path: Path) -> None:
    text = LEGACY_UCLA.replace("max_uids_per_run = 100\n", "")
    assert load_sites(write(tmp_path, text))["UCLA"].settings.max_uids_per_run is None
    text = LEGACY_UCLA.replace("[UCLA.settings]\nmax_uids_per_run = 100\n", "")
    assert load_sites(write(tmp_path, text))["UCLA"].settings.max_uids_per_run is None


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ('uid_root = "1.2.03"', "settings.uid_root: String should match pattern"),
        (
            'mosaiq_private_creator = "A\\\\B"',
            "settings.mosaiq_private_creator: String should match pattern",
        ),
    ],
)
def test_mosaiq_record_settings_are_checked_at_load(
    tmp_path: Path, setting: str, message: str
) -> None:
    text = LEGACY_UCLA.replace("max_uids_per_run = 100\n", f"max_uids_per_run = 100\n{setting}\n")
    (problem,) = problems(write(tmp_path, text))
    assert message in problem
    assert problem.startswith(f"{tmp_path / 'site.toml'}: site UCLA: ")


@pytest.mark.parametrize(
    "query",
    [
        "DELETE FROM Dose_Hst WHERE DHS_ID > ? AND DHS_ID < ?",
        "SELECT * FROM Dose_Hst WHERE CONVERT(date, Tx_DtTm) = ? AND Edit_ID <> 'QA'",
        "",
    ],
)
def test_a_site_query_never_stops_the_site_loading(tmp_path: Path, query: str) -> None:
    """Whether the records read it is decided apart (backup.mosaiq.deliveries_query)."""
    setting = f'mosaiq_backup_sql_query = "{query}"'
    text = LEGACY_UCLA.replace("max_uids_per_run = 100\n", f"max_uids_per_run = 100\n{setting}\n")
    site = load_sites(write(tmp_path, text))["UCLA"]
    assert site.settings.mosaiq_backup_sql_query == query  # kept as written
    assert set(site.sources) == {"ARIA_MAIN", "MIM", "MOSAIQ_DB"}


def test_malformed_toml_reports_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, LEGACY_UCLA.replace("port = 104", "port = = 104"))
    (problem,) = problems(path)
    assert problem.startswith(f"{path}: invalid TOML:")
    assert "line 10" in problem  # the ARIA_MAIN line


def test_every_problem_of_a_file_is_reported(tmp_path: Path) -> None:
    text = LEGACY_UCLA.replace("port = 104", "port = 0").replace('"ARIA_MAIN"', '"X"', 1)
    found = problems(write(tmp_path, text))
    assert len(found) == 1  # a site that fails validation is not cross-checked
    assert "sources.ARIA_MAIN.port" in found[0]


def test_same_site_in_two_files(tmp_path: Path) -> None:
    write(tmp_path, LEGACY_UCLA, "a.toml")
    write(tmp_path, LEGACY_UCLA.replace("[UCLA", "[ucla"), "b.toml")
    (problem,) = problems(tmp_path)
    assert (
        problem == f"{tmp_path / 'b.toml'}: site ucla: site also defined in {tmp_path / 'a.toml'}"
    )


def test_missing_secret_names_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = load_sites(write(tmp_path, LEGACY_UCLA))["UCLA"]
    monkeypatch.delenv("UCLA_MOSAIQ_DB_PASSWORD", raising=False)
    with pytest.raises(
        ConfigError, match="environment variable UCLA_MOSAIQ_DB_PASSWORD is not set"
    ):
        read_secret(site, "sources.MOSAIQ_DB.db_password_env_var", "UCLA_MOSAIQ_DB_PASSWORD")
    monkeypatch.setenv("UCLA_MOSAIQ_DB_PASSWORD", "s3cret;}")
    assert read_secret(site, "x", "UCLA_MOSAIQ_DB_PASSWORD") == "s3cret;}"


def test_resources_resolve_secrets_only_when_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("UCLA_MOSAIQ_DB_PASSWORD", raising=False)
    site = load_sites(write(tmp_path, LEGACY_UCLA))["UCLA"]
    resources = site_resources(site)
    assert set(resources) == {
        "ucla_aria_main",
        "ucla_mim",
        "ucla_mosaiq_db",
        "ucla_orthanc_ucla_backup",
        "ucla_ucla_mosaiq_stage",
    }
    mosaiq = resources["ucla_mosaiq_db"]
    assert isinstance(mosaiq, MosaiqDatabaseResource)

    @dg.asset
    def needs_mosaiq(ucla_mosaiq_db: MosaiqDatabaseResource) -> str:
        return ucla_mosaiq_db.db_password

    with pytest.raises(dg.DagsterInvalidConfigError, match="UCLA_MOSAIQ_DB_PASSWORD"):
        dg.materialize([needs_mosaiq], resources={"ucla_mosaiq_db": mosaiq})
    monkeypatch.setenv("UCLA_MOSAIQ_DB_PASSWORD", "pw")
    result = dg.materialize([needs_mosaiq], resources={"ucla_mosaiq_db": mosaiq})
    assert result.output_for_node("needs_mosaiq") == "pw"


def test_cli_check_accepts_the_earlier_format(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["environments", "check", str(write(tmp_path, LEGACY_UCLA))]) == 0
    out = capsys.readouterr().out
    assert "UCLA: UCLA Testbed Environment" in out
    assert "ARIA_UCLA_AE@10.0.0.100:104" in out
    assert "1 site(s) OK" in out


def test_cli_check_rejects_a_broken_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, LEGACY_UCLA.replace("port = 104", "port = -1"))
    assert main(["environments", "check", str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith(f"radonc: {path}: site UCLA: sources.ARIA_MAIN.port:")
    assert "Traceback" not in captured.err
