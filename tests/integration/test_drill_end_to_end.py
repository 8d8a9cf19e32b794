"""A small drill end to end: a real broker process, the SDKs, the report checked
against counts made independently from the broker's database; and the same seed twice."""

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
    profile: {time_to_removal: {median: 10, p95: 30}, missing: 0.3}
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


def _run(tmp: Path, seed: int | None = None) -> dict[str, Any]:
    result = run_drill(parse_scenario(TINY), report_dir=tmp, seed=seed, max_wall_s=60)
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
            (o["reference"].rsplit("/", 1)[-1], o["hsp_id"], o["on_time"], o["annex_iii"])
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
    assert report["verify_log"]["ok"]


def test_same_seed_same_figures(tmp_path: Path) -> None:
    """Two runs with the same seed give identical seed-stable figures."""
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
