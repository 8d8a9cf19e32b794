"""Drills (issue 4): scenario files, a runner that drives simulated parties through the
SDKs against a real broker, and an after-action report.  See docs/DRILLS.md."""

from perci_sim.drills.scenario import Scenario, ScenarioError, load_scenario, parse_scenario

__all__ = ["Scenario", "ScenarioError", "load_scenario", "parse_scenario"]
