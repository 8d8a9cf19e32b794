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


SHIPPED = sorted((ROOT / "scenarios").glob("*.yaml"))


def test_the_shipped_scenarios_are_there() -> None:
    """The scenarios docs/DRILLS.md lists are shipped."""
    names = {p.stem for p in SHIPPED}
    assert {
        "small-crisis",
        "first-day",
        "referral-action-day",
        "livestream-crisis",
        "year-steady-state",
    } <= names


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_scenarios_parse(path: Path) -> None:
    """Every file under scenarios/ is valid (schema and cross-checks) and cites TCO.md §4."""
    scenario = load_scenario(path)
    assert scenario.name == path.stem
    assert "TCO.md §4" in path.read_text(encoding="utf-8")


def test_referral_action_day_is_nov_2019_scale() -> None:
    """~26,000 items from 12 Member States to 9 HSPs, plus a few dozen emergency orders."""
    scenario = load_scenario(ROOT / "scenarios" / "referral-action-day.yaml")
    items = scenario.referral_items()
    senders = {sender for _, _, sender, _ in items}
    recipients = {hsp for _, _, _, hsp in items}
    assert 25_000 <= len(items) <= 27_000
    assert len({scenario.authority(a).member_state for a in senders}) == 12
    assert len(recipients) == 9 == len(scenario.hsps)
    assert len({key for key, _, _, _ in items}) == len(items)
    assert all(item[1] <= 24 * 3600 for item in items)  # one day
    orders = [i for i in scenario.injects if i.kind in ("wave", "order")]
    assert all(i.emergency for i in orders)
    assert 20 <= len(scenario.order_keys()) <= 60


def test_year_steady_state_is_germany_2024() -> None:
    """482 orders to foreign HSPs, 20 of them to HSPs that never answer (2 clusters)."""
    scenario = load_scenario(ROOT / "scenarios" / "year-steady-state.yaml")
    pairs = scenario.order_pairs()
    assert len(pairs) == 482
    assert scenario.skip_idle
    assert all(
        scenario.authority(a).member_state != scenario.hsp(h).main_establishment
        for a, h in pairs.values()
    )
    never = [h.id for h in scenario.hsps if h.profile.missing == 1.0]
    assert len(never) == 2
    assert sum(1 for _, h in pairs.values() if h in never) == 20
    assert max(i.at_s for i in scenario.injects) < 366 * 86400


def test_livestream_crisis_spreads_across_dozens_of_platforms() -> None:
    """30+ HSPs, emergency orders, referrals with Europol, offline, withdrawal, scrutiny."""
    scenario = load_scenario(ROOT / "scenarios" / "livestream-crisis.yaml")
    kinds = {i.kind for i in scenario.injects}
    assert len(scenario.hsps) >= 30
    assert {"wave", "referrals", "offline", "withdraw", "scrutiny"} <= kinds
    assert scenario.uses_europol
    assert "order" in kinds
    assert any(i.annex_iii for i in scenario.injects)


REFERRALS = """\
name: r
authorities:
  - {id: de-bka, member_state: DE}
  - {id: ie-cnam, member_state: IE}
  - {id: ie-garda, member_state: IE}
hsps:
  - id: hsp-a
    main_establishment: IE
    referrals: {removed: 0.7, missing: 0.1, delay: {min: 5, max: 30}}
  - {id: hsp-b, main_establishment: DE}
injects:
  - {at: "T+00:01", do: referrals, ref: r1, from: [de-bka, europol], to: [hsp-a, hsp-b],
     items: 1500, over: "1d 02:00"}
  - {at: "T+2d 00:02", do: order, ref: o1, from: de-bka, to: hsp-a, emergency: true}
  - {do: scrutiny, order: o1, by: ie-cnam, decision: infringement, after: "00:40"}
"""


def test_referrals_and_scrutiny_parse() -> None:
    """Referral items are keyed REF-NNNN, round-robin; a scrutiny sits after its order."""
    scenario = parse_scenario(REFERRALS)
    items = scenario.referral_items()
    assert len(items) == 1500
    assert items[0] == ("r1-0001", 60.0, "de-bka", "hsp-a")
    assert items[1][2:] == ("de-bka", "hsp-b")
    assert items[2][2:] == ("europol", "hsp-a")
    assert scenario.uses_europol
    assert scenario.hsp("hsp-a").referrals.removed == 0.7
    scrutiny = next(i for i in scenario.injects if i.kind == "scrutiny")
    assert scrutiny.at_s == 2 * 86400 + 120 + 2400
    assert scenario.injects[-1] is scrutiny


@pytest.mark.parametrize(
    ("old", "new", "where", "expected"),
    [
        ("by: ie-cnam", "by: ie-garda", "15:31", "expected 'ie-cnam', the authority of the host"),
        ("to: hsp-a, emergency", "to: hsp-b, emergency", "15:20", "expected a cross-border order"),
        ('after: "00:40"', 'after: "72:00"', "15:68", "expected less than 72:00"),
        ("removed: 0.7", "removed: 0.95", "9:16", "expected removed + missing to be at most 1"),
        ("europol]", "europa]", "12:45", "expected an authority or europol"),
        ("id: ie-garda", "id: europol", "5:6", "'europol' is Europol"),
        ("items: 1500", "items: 0", "13:13", "0 is less than the minimum"),
        ("order: o1, by", "order: o9, by", "15:20", "expected the ref of an order inject"),
    ],
)
def test_referral_and_scrutiny_errors(old: str, new: str, where: str, expected: str) -> None:
    """Errors in the new inject kinds are reported as file:line:col: what is expected."""
    assert old in REFERRALS
    with pytest.raises(ScenarioError) as info:
        parse_scenario(REFERRALS.replace(old, new, 1), source="s.yaml")
    assert any(p.startswith(f"s.yaml:{where}:") and expected in p for p in info.value.problems), (
        info.value.problems
    )


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


def test_live_parties_forbid_skip_idle() -> None:
    """Quiet periods cannot be skipped while a real participant may be acting."""
    text = GOOD.replace("member_state: DE}", "member_state: DE, live: true}")
    text = text.replace("seed: 5\n", 'seed: 5\nskip_idle: true\nduration: "02:00"\n')
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, source="s.yaml")
    assert info.value.problems == [
        "s.yaml:4:1: /skip_idle: expected skip_idle false with live parties (de-bka): the "
        "runner cannot tell when a real participant is idle"
    ]
