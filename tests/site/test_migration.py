"""Migrating from the earlier system: its README's site file loads as it is, its password
placeholder names an environment variable, and `radonc environments check` says what each
key became."""

import re
from pathlib import Path

import pytest

from radonc_assets.backup.mosaiq.deliveries_query import USED_NOTE
from radonc_assets.cli.main import main
from radonc_assets.site.config import MosaiqSource, OrthancTarget
from radonc_assets.site.errors import ConfigError
from radonc_assets.site.loading import load_sites, read_secret
from radonc_assets.site.migration import EARLIER_KEYS
from radonc_assets.site.odbc_drivers import installed_drivers
from tests.support.site_texts import LEGACY_UCLA, REPO_ENVIRONMENTS, write

# The example of the earlier system's README, copied verbatim below a comment
# (/work/shared/reference/earlier-system-README.md, "Example structure").
EARLIER_README_EXAMPLE = (
    Path(__file__).resolve().parents[1] / "data" / "earlier-system-environments.toml"
)
DOCS = REPO_ENVIRONMENTS.parent / "docs" / "configuration.md"
PLACEHOLDER = 'db_password = "__UCLA_DB_PASSWORD__"'
# The README example's settings end with its query commented out; a site of the earlier
# system wrote one in its shape: the date as the one marker, and a string literal.
COMMENTED_QUERY = '# mosaiq_backup_sql_query = "SELECT ..."'
EARLIER_QUERY = "SELECT * FROM Dose_Hst WHERE CONVERT(date, Tx_DtTm) = ? AND Edit_ID <> 'QA'"


def check(path: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    """The lines `radonc environments check PATH` prints, which must succeed."""
    assert main(["environments", "check", str(path)]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    return captured.out.splitlines()


def key_table(lines: list[str]) -> dict[str, tuple[str, str]]:
    """The rows of the key table of `check`: key -> (value, what it became)."""
    start = lines.index("keys of the earlier system, as radonc-backup reads them:") + 3
    rows = {}
    for line in lines[start:]:
        if line.startswith(("note:", "warning:")) or not line:
            break
        key, value, becomes = re.split(r"\s{2,}", line, maxsplit=2)
        rows[key] = (value, becomes)
    return rows


def with_query(tmp_path: Path, query: str, text: str | None = None) -> Path:
    """The README example (or `text`) whose settings set `query` as its own deliveries query."""
    text = text or EARLIER_README_EXAMPLE.read_text(encoding="utf-8")
    return write(tmp_path, text.replace(COMMENTED_QUERY, f'mosaiq_backup_sql_query = "{query}"'))


def test_the_readme_example_is_the_earlier_system_s_verbatim() -> None:
    text = EARLIER_README_EXAMPLE.read_text(encoding="utf-8")
    assert PLACEHOLDER in text
    assert COMMENTED_QUERY in text
    assert 'odbc_driver = "DefaultDriver"' in text
    assert "db_password_env_var" not in text


def test_the_readme_example_loads_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("UCLA_DB_PASSWORD", raising=False)
    site = load_sites(EARLIER_README_EXAMPLE)["UCLA"]
    mosaiq = site.sources["MOSAIQ_DB"]
    assert isinstance(mosaiq, MosaiqSource)
    assert (mosaiq.db_password_env_var, mosaiq.odbc_driver) == ("UCLA_DB_PASSWORD", "DefaultDriver")
    assert site.settings.max_uids_per_run == 100


def test_the_placeholder_is_read_as_the_env_var_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = EARLIER_README_EXAMPLE.read_text(encoding="utf-8")
    written = write(tmp_path, text.replace(PLACEHOLDER, 'db_password_env_var = "UCLA_DB_PASSWORD"'))
    placeholder = load_sites(EARLIER_README_EXAMPLE)["UCLA"]
    assert placeholder.sources == load_sites(written)["UCLA"].sources

    monkeypatch.setenv("UCLA_DB_PASSWORD", "s3cret")
    mosaiq = placeholder.mosaiq_sources["MOSAIQ_DB"]
    assert mosaiq.db_password_env_var is not None
    key = "sources.MOSAIQ_DB.db_password"
    assert read_secret(placeholder, key, mosaiq.db_password_env_var) == "s3cret"
    monkeypatch.delenv("UCLA_DB_PASSWORD")
    with pytest.raises(ConfigError, match="environment variable UCLA_DB_PASSWORD is not set"):
        read_secret(placeholder, key, mosaiq.db_password_env_var)


@pytest.mark.parametrize(
    "value",
    [
        '"hunter2"',
        '"__hunter2"',
        '"____"',
        '"__UCLA_DB_PASSWORD___"',
        '"__UCLA DB__"',
        '"_UCLA_DB_PASSWORD_"',
        '"${UCLA_DB_PASSWORD}"',
        "1234",
    ],
)
def test_any_other_password_is_still_refused(tmp_path: Path, value: str) -> None:
    text = EARLIER_README_EXAMPLE.read_text(encoding="utf-8")
    path = write(tmp_path, text.replace(PLACEHOLDER, f"db_password = {value}"))
    with pytest.raises(ConfigError) as info:
        load_sites(path)
    (problem,) = [str(p) for p in info.value.problems]
    assert problem == (  # the value is never repeated
        f"{path}: site UCLA: sources.MOSAIQ_DB: Value error, db_password: secrets never "
        "live in site files; put the password in an environment variable and name it "
        "with db_password_env_var"
    )


def test_a_placeholder_and_the_env_var_key_together_are_refused(tmp_path: Path) -> None:
    text = EARLIER_README_EXAMPLE.read_text(encoding="utf-8")
    path = write(tmp_path, text.replace(PLACEHOLDER, f'{PLACEHOLDER}, db_password_env_var = "X"'))
    with pytest.raises(ConfigError, match="db_password and db_password_env_var both name"):
        load_sites(path)


def test_an_orthanc_rest_password_placeholder(tmp_path: Path) -> None:
    rest = 'rest_url = "http://127.0.0.1:8042", rest_username = "radonc"'
    text = LEGACY_UCLA.replace(
        "port = 4242 }", f'port = 4242, {rest}, rest_password = "__PACS_PW__" }}'
    )
    archive = load_sites(write(tmp_path, text))["UCLA"].archive()
    assert isinstance(archive, OrthancTarget)
    assert archive.rest_password_env_var == "PACS_PW"

    path = write(tmp_path, text.replace('"__PACS_PW__"', '"orthanc"'))
    with pytest.raises(ConfigError, match="rest_password: secrets never live in site files"):
        load_sites(path)


def test_check_lists_what_each_key_of_the_readme_example_became(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("UCLA_DB_PASSWORD", raising=False)  # not needed to check
    lines = check(EARLIER_README_EXAMPLE, capsys)
    rows = key_table(lines)
    assert len(rows) == 24  # every key of the example: 3 + 1 + 4 + 7 + 4 + 4 + 1
    assert rows["sources.MOSAIQ_DB.db_password"] == (
        '"__UCLA_DB_PASSWORD__"',
        "password from the environment variable UCLA_DB_PASSWORD",
    )
    assert rows["sources.ARIA_MAIN.type"] == (
        '"aria"',
        'ARIA, retrieve = "c-move" (C-MOVE into the archive); asked daily for study_date, '
        "treatment_records",
    )
    assert rows["sources.MOSAIQ_DB.staging_target_alias"][1] == (
        "RT Records go to the archive through UCLA_MOSAIQ_STAGE (C-STORE, then C-MOVE; also "
        "stored directly when it only stores)"
    )
    assert rows["settings.max_uids_per_run"][0] == "100"
    notes = [line for line in lines if line.startswith("note:")]
    assert notes == [
        'note: sources.MOSAIQ_DB.db_password = "__UCLA_DB_PASSWORD__" is read as the '
        'environment variable UCLA_DB_PASSWORD; write db_password_env_var = "UCLA_DB_PASSWORD" '
        "instead"
    ]
    assert lines[-1] == f"1 site(s) OK in {EARLIER_README_EXAMPLE}"


def test_check_warns_about_the_driver_naming_the_installed_ones(
    capsys: pytest.CaptureFixture[str],
) -> None:
    installed = installed_drivers()
    assert "SQLite3" in installed.names  # scripts/setup.sh installs libsqliteodbc
    warnings = [
        line for line in check(EARLIER_README_EXAMPLE, capsys) if line.startswith("warning:")
    ]
    assert warnings == [
        "warning: sources.MOSAIQ_DB.odbc_driver: ODBC driver 'DefaultDriver' is not installed: "
        "MOSAIQ_DB cannot be read (the site loads); installed drivers (odbcinst -q -d): "
        + ", ".join(installed.names)
    ]


def test_a_site_of_the_earlier_format_without_placeholder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = key_table(lines := check(write(tmp_path, LEGACY_UCLA), capsys))
    assert rows["sources.MIM.type"] == (
        '"mim"',
        'MIM, retrieve = "c-get" (C-GET, relayed to the archive); asked daily for study_date',
    )
    assert rows["sources.MOSAIQ_DB.db_password_env_var"] == (
        '"UCLA_MOSAIQ_DB_PASSWORD"',
        "password from the environment variable UCLA_MOSAIQ_DB_PASSWORD",
    )
    assert not [line for line in lines if line.startswith("note:")]


def test_a_site_written_for_radonc_shows_no_key_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path, LEGACY_UCLA.replace("[UCLA.script_ae]", 'timezone = "UTC"\n\n[UCLA.script_ae]')
    )
    assert not any(line.startswith("keys of the earlier") for line in check(path, capsys))
    path = write(tmp_path, LEGACY_UCLA + "connect_timeout = 5\n")  # a radonc-backup setting
    assert not any(line.startswith("keys of the earlier") for line in check(path, capsys))
    for mim in ('type = "mim", retrieve = "c-get"', 'type = "dicom", retrieve = "c-get"'):
        path = write(tmp_path, LEGACY_UCLA.replace('type = "mim"', mim))  # keys of radonc-backup
        assert not any(line.startswith("keys of the earlier") for line in check(path, capsys))
    tju = check(REPO_ENVIRONMENTS / "examples" / "tju.toml", capsys)
    assert not any(line.startswith(("keys of the earlier", "note:", "warning:")) for line in tju)


def test_an_earlier_site_query_never_stops_the_site(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = with_query(tmp_path, EARLIER_QUERY)

    site = load_sites(path)["UCLA"]
    assert set(site.sources) == {"ARIA_MAIN", "MOSAIQ_DB"}  # ARIA loads with it
    assert site.settings.mosaiq_backup_sql_query == EARLIER_QUERY
    lines = check(path, capsys)  # exit 0
    assert key_table(lines)["settings.mosaiq_backup_sql_query"] == (
        f'"{EARLIER_QUERY}"',
        "the Mosaiq records' deliveries query if they can read it: see the line below",
    )
    (warning,) = [line for line in lines if "mosaiq_backup_sql_query is" in line]
    assert warning == (
        "warning: settings.mosaiq_backup_sql_query is not used (the query holds a quote "
        '("\'"): pass values as ? parameters, and quote identifiers with [brackets]): the '
        "Mosaiq records read the shipped deliveries query instead; one they can read is a "
        "single SELECT with exactly 2 ? markers (the start and end of the day), no quotes, "
        "returning the 41 columns of deliveries.sql (docs/mosaiq.md)"
    )
    assert lines[-1] == f"1 site(s) OK in {path}"
    assert f"\n    {warning}\n" in DOCS.read_text(encoding="utf-8")  # the docs show it


def test_check_says_which_deliveries_query_the_records_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def query_lines(path: Path) -> list[str]:
        return [line for line in check(path, capsys) if "mosaiq_backup_sql_query is" in line]

    (line,) = query_lines(with_query(tmp_path, "SELECT DHS_ID FROM Dose_Hst WHERE ? < ? "))
    assert line.startswith(
        "warning: settings.mosaiq_backup_sql_query is not used (the query names no column "
        "Pat_ID1, Tx_DtTm, Fraction_Number, "
    )
    compatible = "SELECT * FROM Deliveries_Of_The_Site WHERE Tx_DtTm >= ? AND Tx_DtTm < ?"
    assert query_lines(with_query(tmp_path, compatible)) == [f"note: {USED_NOTE}"]
    assert USED_NOTE.startswith("settings.mosaiq_backup_sql_query is used: ")
    no_mosaiq = "\n".join(
        line
        for line in EARLIER_README_EXAMPLE.read_text(encoding="utf-8").splitlines()
        if not line.startswith("MOSAIQ_DB")
    ).replace(', staging_target_alias = "UCLA_MOSAIQ_STAGE"', "")
    assert query_lines(with_query(tmp_path, compatible, no_mosaiq)) == [
        "note: settings.mosaiq_backup_sql_query is not read: the site has no Mosaiq source"
    ]


def test_the_docs_map_every_earlier_key_and_command() -> None:
    text = DOCS.read_text(encoding="utf-8")
    section = text[text.index("## Coming from the earlier system") :]
    for keys in EARLIER_KEYS.values():
        for key in keys:
            assert f"`{key}" in section or f".{key}" in section or f"{key}`" in section, key
    for earlier, radonc in [
        ("src.cli.backup", "radonc backup"),
        ("src.cli.validate", "radonc validate"),
        ("src.cli.query", "radonc query"),
        ("src.cli.get_report", "radonc report"),
        ("src.cli.dicom_utils", "radonc dicom echo"),
        ("src/app.py", "dagster-webserver"),
    ]:
        row = next(line for line in section.splitlines() if earlier in line)
        assert radonc in row, row
    assert "radonc environments check" in section
