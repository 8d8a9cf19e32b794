"""bench/throughput.py's smoke run on SQLite: it runs, prints its JSON, and nothing fails.

The benchmark starts the broker and its client processes itself (bench/README.md); this
keeps it from rotting between the full runs.  A missed goal of issue 5 is a figure, not
a failure: only the shape of the goals is checked here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(150)]

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "throughput.py"
PHASES = ("sqlite-1", "deadlines-sqlite")


def _run() -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERCI_")}
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--smoke", "--phases", ",".join(PHASES), "--json-only"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    assert lines, done.stderr[-3000:]
    return done, json.loads(lines[-1])


def test_smoke_run_reports_every_figure_and_nothing_failed() -> None:
    done, figures = _run()
    assert figures["problems"] == [], done.stderr[-3000:]
    assert done.returncode == 0
    assert figures["failed"] is False
    assert list(figures["phases"]) == list(PHASES)

    orders = figures["phases"]["sqlite-1"]
    for run, count in (("saturation", 40), ("half_rate", 20)):
        assert orders[run]["completed"] == count
        assert orders[run]["failed"] == 0
        assert orders[run]["submit_to_delivery_ms"]["p99"] is not None
    assert orders["saturation"]["orders_per_s_end_to_end"] > 0
    assert orders["half_rate"]["target_rate_per_s"] > 0
    assert orders["brokers"][0]["peak_rss_mb"] > 0
    assert orders["log_verified"] is True

    deadlines = figures["phases"]["deadlines-sqlite"]
    assert deadlines["open_deadlines"] == 2000
    assert deadlines["fired"] == deadlines["fire"] == 50
    for key in ("not_fired", "fired_twice", "fired_early", "without_event", "others_fired"):
        assert deadlines[key] == 0, key
    assert deadlines["lateness_ms"]["p99"] is not None
    assert deadlines["rearm_s"] >= 0
    assert deadlines["log_verified"] is True

    goals = figures["goals"]
    for name in (
        "orders_per_s_end_to_end",
        "half_rate_submit_to_delivery_p99_ms",
        "deadline_lateness_p99_ms",
        "rearm_s",
        "broker_peak_rss_mb",
    ):
        assert goals[name]["met"] in (True, False), name
    assert goals["rearm_s"]["full_scale"] is False  # 2,000 of the goal's 1,000,000
