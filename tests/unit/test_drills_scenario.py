"""Scenario files: parsing into the model, and errors with their line and column."""

from __future__ import annotations

from pathlib import Path

import pytest

from perci_sim.drills.scenario import ScenarioError, load_scenario, parse_scenario

ROOT = Path(__file__).resolve().parents[2]

GOOD = """\
name: t
speed: 3600
seed: 5
authorities:
  - {id: de-bka, member_state: DE}
hsps:
  - id: hsp-a
    main_establishment: IE
    profile: {time_to_removal: {median: 10, p95: 30}, late: 0.1}
injects:
  - {at: "T+00:05", do: wave, ref: w1, from: [de-bka], to: [hsp-a], orders: 3, over: "00:10"}
  - {at: 900, do: offline, hsp: hsp-a, for: "00:30"}
  - {at: "T+00:20", do: withdraw, order: w1-002}
"""


def test_a_good_scenario_parses() -> None:
    """Offsets, durations, delays and order keys come out as documented."""
    scenario = parse_scenario(GOOD)
    assert scenario.speed == 3600
    assert scenario.seed == 5
    assert [i.at_s for i in scenario.injects] == [300, 900, 1200]
    assert scenario.order_keys() == ["w1-001", "w1-002", "w1-003"]
    assert scenario.offline_windows("hsp-a") == [(900, 2700)]
    assert scenario.hsp("hsp-a").languages == ("en", "ga")
    assert scenario.hsp("hsp-a").profile.time_to_removal.kind == "lognormal"


@pytest.mark.parametrize("name", ["small-crisis", "first-day"])
def test_shipped_scenarios_parse(name: str) -> None:
    """Every file under scenarios/ is valid."""
    assert load_scenario(ROOT / "scenarios" / f"{name}.yaml").name == name


@pytest.mark.parametrize(
    ("old", "new", "where", "expected"),
    [
        ('"T+00:05"', '"T+5"', "11:10", "expected Simulated time after T+0"),
        ("do: offline", "do: explode", "12:19", "expected one of 'wave'"),
        ("member_state: DE", "member_state: XX", "5:18", "expected an EU Member State code"),
        (
            "main_establishment: IE",
            "main_establishment: IE\n    colour: red",
            "9:5",
            "unexpected member 'colour'",
        ),
        ("order: w1-002", "order: w9-001", "13:35", "expected the ref of an order inject"),
        ("p95: 30", "p95: 5", "9:45", "expected p95 greater than median"),
        ("orders: 3", "orders: 0", "11:77", "/injects/0/orders: 0 is less than the minimum"),
        ("to: [hsp-a]", "to: [hsp-z]", "11:56", "expected an hsp of the scenario"),
        ("seed: 5", "seed: [5", "4:12", "expected valid YAML"),
    ],
)
def test_errors_name_line_and_column(old: str, new: str, where: str, expected: str) -> None:
    """Each problem is reported as file:line:col: what is expected."""
    assert old in GOOD
    with pytest.raises(ScenarioError) as info:
        parse_scenario(GOOD.replace(old, new, 1), source="s.yaml")
    assert any(p.startswith(f"s.yaml:{where}:") and expected in p for p in info.value.problems), (
        info.value.problems
    )


def test_live_parties_need_a_duration() -> None:
    """A drill with a real participant cannot end by itself: it needs a duration."""
    with pytest.raises(ScenarioError, match="expected a duration"):
        parse_scenario(GOOD.replace("member_state: DE}", "member_state: DE, live: true}"))
