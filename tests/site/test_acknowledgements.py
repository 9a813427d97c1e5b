"""The acknowledgements file of a site: strict, one line per problem naming file and key,
never a site file, and no part of the site's loading."""

import datetime as dt
from pathlib import Path

import pytest

from radonc_assets.cli.main import main
from radonc_assets.site.acknowledgements import Acknowledgement, load_acknowledgements
from radonc_assets.site.config import SiteConfig
from radonc_assets.site.errors import ConfigError
from radonc_assets.site.loading import load_site_files, load_sites
from tests.support.site_texts import LEGACY_UCLA, write

GOOD = """\
[[MOSAIQ_DB]]
dhs_id = 123456
who = "A. Physicist"
why = "Setup field imported without control points: no dose delivered"
when = 2026-01-08

[[MOSAIQ_DB]]
dhs_id = 123457
who = "B. Physicist"
why = "Orthovoltage treatment, no linac record"
when = 2026-01-09
"""


@pytest.fixture
def site(tmp_path: Path) -> SiteConfig:
    return load_sites(write(tmp_path, LEGACY_UCLA, "ucla.toml"))["UCLA"]


def problems(site: SiteConfig, text: str) -> list[str]:
    write(site.source_file.parent, text, "ucla.acknowledgements.toml")
    with pytest.raises(ConfigError) as info:
        load_acknowledgements(site)
    return [str(p) for p in info.value.problems]


def test_acknowledgements_by_source_and_dhs_id(site: SiteConfig) -> None:
    assert load_acknowledgements(site) == {}  # no file, nothing acknowledged
    write(site.source_file.parent, GOOD, "ucla.acknowledgements.toml")
    assert load_acknowledgements(site) == {
        "MOSAIQ_DB": {
            123456: Acknowledgement(
                dhs_id=123456,
                who="A. Physicist",
                why="Setup field imported without control points: no dose delivered",
                when=dt.date(2026, 1, 8),
            ),
            123457: Acknowledgement(
                dhs_id=123457,
                who="B. Physicist",
                why="Orthovoltage treatment, no linac record",
                when=dt.date(2026, 1, 9),
            ),
        }
    }


def test_every_problem_is_one_line_naming_file_site_and_key(site: SiteConfig) -> None:
    file = site.source_file.parent / "ucla.acknowledgements.toml"
    text = (
        GOOD.replace("when = 2026-01-08", 'when = "2026-01-08"')
        .replace('who = "B. Physicist"', 'who = " "\nnote = "x"')
        .replace("dhs_id = 123457", 'dhs_id = "123457"')
        + '\n[[ARIA_MAIN]]\ndhs_id = 1\nwho = "x"\nwhy = "y"\nwhen = 2026-01-08\n'
        + '\n[[MOSAIQ_DB]]\ndhs_id = 123456\nwhy = "again"\nwhen = 2026-01-10T08:00:00\n'
    )
    assert problems(site, text) == [
        f"{file}: site UCLA: MOSAIQ_DB[1].when: Input should be a valid date, "
        'not the string "2026-01-08"',
        f"{file}: site UCLA: MOSAIQ_DB[2].dhs_id: Input should be a valid integer, "
        'not the string "123457"',
        f"{file}: site UCLA: MOSAIQ_DB[2].who: String should have at least 1 character",
        f"{file}: site UCLA: MOSAIQ_DB[2].note: Extra inputs are not permitted",
        f"{file}: site UCLA: MOSAIQ_DB[3].who: Field required",
        f"{file}: site UCLA: MOSAIQ_DB[3].when: Input should be a valid date, "
        "not the datetime 2026-01-10 08:00:00",
        f"{file}: site UCLA: ARIA_MAIN: not a Mosaiq source of the site "
        "(Mosaiq sources: MOSAIQ_DB)",
    ]


def test_a_delivery_is_acknowledged_once(site: SiteConfig) -> None:
    file = site.source_file.parent / "ucla.acknowledgements.toml"
    assert problems(site, GOOD.replace("123457", "123456")) == [
        f"{file}: site UCLA: MOSAIQ_DB[2].dhs_id: DHS_ID 123456 is acknowledged twice"
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "MOSAIQ_DB = 1\n",
            "MOSAIQ_DB: must be an array of tables, one [[MOSAIQ_DB]] per delivery",
        ),
        ("[MOSAIQ_DB]\ndhs_id = 1\n", "MOSAIQ_DB: must be an array of tables"),
        ("[[MOSAIQ_DB]\n", "invalid TOML: "),
    ],
)
def test_a_file_of_another_shape_is_refused(site: SiteConfig, text: str, message: str) -> None:
    (problem,) = problems(site, text)
    assert message in problem
    assert problem.startswith(str(site.source_file.parent / "ucla.acknowledgements.toml"))


def test_an_acknowledgements_file_is_no_site_file(
    site: SiteConfig, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = site.source_file.parent
    write(folder, GOOD.replace("2026-01-08", '"2026-01-08"'), "ucla.acknowledgements.toml")
    loaded = load_site_files(folder)
    assert loaded.files == (site.source_file,)
    assert set(loaded.sites) == {"UCLA"}  # a broken acknowledgements file fails no site

    monkeypatch.setenv("RADONC_ENVIRONMENTS", str(folder))
    assert main(["environments", "check"]) == 1
    captured = capsys.readouterr()
    assert "1 site(s) OK" in captured.out
    assert "1 acknowledgements file(s) did not load" in captured.out
    assert captured.err.splitlines() == [
        f"radonc: {folder / 'ucla.acknowledgements.toml'}: site UCLA: MOSAIQ_DB[1].when: "
        'Input should be a valid date, not the string "2026-01-08"'
    ]
    write(folder, GOOD, "ucla.acknowledgements.toml")
    assert main(["environments", "check"]) == 0
    assert "MOSAIQ_DB: 2 delivery(ies) acknowledged" in capsys.readouterr().out
