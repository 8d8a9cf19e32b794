"""A small drill end to end: a real broker process, the SDKs, the report checked
against counts made independently from the broker's database; and the same seed twice.

TINY exercises orders; REFERRALS exercises referral waves (Europol included), a
webhook HSP, and a cross-border scrutiny with a reinstatement (Art. 4)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from perci_sim.drills.report import SEED_STABLE
from perci_sim.drills.runner import run_drill
from perci_sim.drills.scenario import parse_scenario

pytestmark = pytest.mark.slow

TINY = """\
name: tiny
speed: 3600
seed: 11
authorities:
  - {id: de-bka, member_state: DE, clarification_delay: {min: 2, max: 6}}
  - {id: fr-ocrim, member_state: FR}
hsps:
  - id: hsp-alpha
    main_establishment: IE
    profile: {time_to_removal: {min: 5, max: 40}, late: 0.3, acknowledge: {share: 0.7}}
  - id: hsp-beta
    main_establishment: NL
    channel: polling
    profile: {time_to_removal: {median: 10, p95: 30}, missing: 0.3, feedback: {late: 0.5}}
injects:
  - {at: "T+00:01", do: wave, ref: w1, from: [de-bka, fr-ocrim], to: [hsp-alpha, hsp-beta],
     orders: 4, over: "00:10", emergency: true}
  - {at: "T+00:05", do: order, ref: clar, from: de-bka, to: hsp-alpha, emergency: true,
     annex_iii: insufficient_information}
  - {at: "T+00:06", do: order, ref: fm, from: fr-ocrim, to: hsp-beta, emergency: true,
     annex_iii: force_majeure}
  - {at: "T+00:20", do: offline, hsp: hsp-alpha, for: "00:30"}
  - {at: "T+00:30", do: order, ref: late-one, from: fr-ocrim, to: hsp-alpha, emergency: true}
"""


REFERRALS = """\
name: refs
speed: 1200
seed: 23
authorities:
  - {id: de-bka, member_state: DE}
  - {id: ie-cnam, member_state: IE}
hsps:
  - id: hsp-alpha
    main_establishment: IE
    channel: webhook
    profile: {time_to_removal: {min: 5, max: 20}, reinstate: {delay: {min: 2, max: 5}}}
    referrals: {removed: 0.7, missing: 0.1, delay: {min: 5, max: 30}}
  - id: hsp-beta
    main_establishment: NL
    channel: polling
    referrals: {removed: 0.5, missing: 0.2, delay: {median: 10, p95: 40}}
injects:
  - {at: "T+00:01", do: referrals, ref: r1, from: [de-bka, europol], to: [hsp-alpha, hsp-beta],
     items: 60, over: "00:20"}
  - {at: "T+00:02", do: order, ref: o1, from: de-bka, to: hsp-alpha, emergency: true}
  - {at: "T+00:03", do: order, ref: o2, from: de-bka, to: hsp-alpha, emergency: true}
  - {do: scrutiny, order: o1, by: ie-cnam, decision: infringement, after: "00:40"}
  - {do: scrutiny, order: o2, by: ie-cnam, decision: no_infringement, after: "00:30"}
"""


def _run(tmp: Path, seed: int | None = None, text: str = TINY) -> dict[str, Any]:
    result = run_drill(parse_scenario(text), report_dir=tmp, seed=seed, max_wall_s=60)
    assert result.ok, result.report["errors"]
    return result.report


def _stable(report: dict[str, Any]) -> dict[str, Any]:
    def pick(figures: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in figures.items() if k in SEED_STABLE}

    return {
        "overall": pick(report["overall"]),
        "hsps": {k: pick(v) for k, v in report["hsps"].items()},
        "authorities": {k: pick(v) for k, v in report["authorities"].items()},
        "orders": sorted(
            (
                o["reference"].rsplit("/", 1)[-1],
                o["hsp_id"],
                o["on_time"],
                o["annex_iii"],
                o["scrutiny"],
                o["reinstated_s"] is not None,
            )
            for o in report["orders"]
        ),
    }


def test_report_matches_the_event_log(tmp_path: Path) -> None:
    """report.json's counts equal counts made directly from the broker's SQLite log."""
    report = _run(tmp_path)
    assert (tmp_path / "report.html").read_text().startswith("<!DOCTYPE html>")
    assert json.loads((tmp_path / "report.json").read_text())["overall"] == report["overall"]
    with sqlite3.connect(tmp_path / "home" / "perci.db") as db:
        rows = db.execute("SELECT kind, hsp_id, authority_id, data FROM event").fetchall()
    kinds = Counter((kind, hsp) for kind, hsp, _, _ in rows)
    for hsp, figures in report["hsps"].items():
        assert figures["orders_received"] == kinds[("order_delivered", hsp)]
        feedback = [json.loads(d) for k, h, _, d in rows if k == "feedback_received" and h == hsp]
        assert figures["executed_within_1h"] == sum(1 for d in feedback if d["on_time"])
        assert figures["executed_late"] == sum(1 for d in feedback if not d["on_time"])
        reasons = Counter(
            r
            for k, h, _, d in rows
            if k == "impossibility_received" and h == hsp
            for r in json.loads(d)["reasons"]
        )
        assert figures["annex_iii_by_reason"] == dict(reasons)
        # Art. 3(6): Annex II long after the removal (the broker's breach_3_6).
        assert figures["feedback_undue_delay"] == sum(1 for d in feedback if d.get("breach_3_6"))
        acks = kinds[("acknowledgement_received", hsp)]
        assert figures["orders_received"] - figures["never_acknowledged"] == acks
    for authority, figures in report["authorities"].items():
        issued = sum(1 for k, _, a, _ in rows if k == "order_received" and a == authority)
        assert figures["orders_issued"] == issued
    overall = report["overall"]
    assert overall["orders_received"] == 7
    answered = overall["executed_within_1h"] + overall["executed_late"]
    assert answered + overall["overdue_at_end"] + overall["withdrawn"] == 7
    assert report["authorities"]["de-bka"]["clarifications_asked"] == 1
    assert report["hsps"]["hsp-beta"]["feedback_undue_delay"] >= 1
    assert report["hsps"]["hsp-alpha"]["feedback_undue_delay"] == 0
    assert report["verify_log"]["ok"]


def test_referrals_match_the_event_log_and_the_seed(tmp_path: Path) -> None:
    """Referral, scrutiny and reinstatement figures equal counts made from the SQLite log;
    the webhook HSP received its events at its webhook; a second run with the same seed
    gives identical seed-stable figures (referrals included)."""
    report = _run(tmp_path / "a", text=REFERRALS)
    again = _run(tmp_path / "b", text=REFERRALS)
    assert _stable(report) == _stable(again)
    with sqlite3.connect(tmp_path / "a" / "home" / "perci.db") as db:
        rows = db.execute("SELECT kind, actor, hsp_id, authority_id, data FROM event").fetchall()
    received = Counter(h for k, _, h, _, _ in rows if k == "referral_received")
    outcomes = Counter(
        (h, json.loads(d)["outcome"]) for k, _, h, _, d in rows if k == "referral_outcome_received"
    )
    for hsp, figures in report["hsps"].items():
        assert figures["referrals_received"] == received[hsp]
        assert figures["referrals_removed"] == outcomes[(hsp, "removed")]
        assert figures["referrals_not_removed"] == outcomes[(hsp, "not_removed")]
        answered = outcomes[(hsp, "removed")] + outcomes[(hsp, "not_removed")]
        assert figures["referrals_unanswered"] == received[hsp] - answered
        assert figures["referral_time_to_outcome_min"]["count"] == answered
        reinstated = sum(1 for k, _, h, _, _ in rows if k == "reinstatement_received" and h == hsp)
        assert figures["reinstated"] == reinstated
    for authority, figures in report["authorities"].items():
        sent = sum(1 for k, a, _, _, _ in rows if k == "referral_received" and a == authority)
        assert figures["referrals_sent"] == sent
        decisions = Counter(
            json.loads(d)["outcome"]
            for k, a, _, _, d in rows
            if k == "scrutiny_decision_received" and a == authority
        )
        assert figures["scrutiny_decisions"] == dict(decisions)
    overall = report["overall"]
    assert overall["referrals_received"] == 60 == sum(received.values())
    assert report["authorities"]["europol"]["referrals_sent"] == 30
    assert overall["scrutiny_decisions"] == {"infringement": 1, "no_infringement": 1}
    assert report["hsps"]["hsp-alpha"]["reinstated"] == 1
    assert any(j["kind"] == "webhook" for j in report["journal"])
    assert not any(j["kind"] == "webhook_fallback" for j in report["journal"])
    assert report["verify_log"]["ok"]


def test_same_seed_same_figures(tmp_path: Path) -> None:
    """Two runs with the same seed give identical seed-stable figures (referrals: above)."""
    first = _stable(_run(tmp_path / "a"))
    second = _stable(_run(tmp_path / "b"))
    assert first == second


def test_cli_reports_scenario_errors(tmp_path: Path) -> None:
    """`perci-sim drill` prints file:line:col problems and exits 1."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(TINY.replace("member_state: FR", "member_state: XX"))
    done = subprocess.run(
        [sys.executable, "-m", "perci_sim", "drill", str(bad), "--report", str(tmp_path / "r")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert f"{bad}:6:" in done.stderr
    assert "expected an EU Member State code" in done.stderr


QUIET = """\
name: quiet
speed: 3600
seed: 5
skip_idle: true
authorities:
  - {id: de-bka, member_state: DE}
hsps:
  - {id: hsp-alpha, main_establishment: IE, profile: {time_to_removal: {min: 5, max: 20}}}
injects:
  - {at: "T+00:01", do: order, ref: first, from: de-bka, to: hsp-alpha, emergency: true}
  - {at: "T+20d 00:00", do: order, ref: later, from: de-bka, to: hsp-alpha, emergency: true}
"""


def test_skip_idle_skips_the_quiet_days(tmp_path: Path) -> None:
    """Twenty quiet days pass in seconds: the facilitator advances the broker's clock."""
    report = _run(tmp_path, text=QUIET)
    assert report["overall"]["executed_within_1h"] == 2
    assert report["scenario"]["wall_seconds"] < 60  # 20 days at 3600x would be 8 minutes
    assert report["scenario"]["skipped_seconds"] > 19 * 86400
    skips = [j for j in report["journal"] if j["kind"] == "skip"]
    assert skips
    with sqlite3.connect(tmp_path / "home" / "perci.db") as db:
        advanced = db.execute("SELECT count(*) FROM event WHERE kind = 'clock_advanced'").fetchone()
    assert advanced[0] == len(skips)
