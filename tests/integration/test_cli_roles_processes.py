"""``perci-authority`` and ``perci-platform`` driven by every role, as real processes.

One setup for the module, as in ``test_cli_processes.py``: ``perci-sim init DIR
--broker-url URL`` and ``perci-sim serve`` on a free 127.0.0.1 port; every command
is a separate process reading a credentials file of that setup.  The credentials'
role chooses the client and the subcommands: authorities, the court ``de-court``
and Europol use ``perci-authority``; the HSPs and the content provider ``cp-demo``
use ``perci-platform``.

The scenario (TCO Art. 4, 9, 10, 11): de-bka issues an emergency order to
hsp-alpha (IE, so the host authority ie-cnam gets a copy); hsp-alpha executes it,
keeping the content restorable, and informs cp-demo; cp-demo reads the order and
requests scrutiny; ie-cnam sends a prenotice and an infringement decision;
hsp-alpha reinstates.  A second order is appealed, its preservation extended and
then annulled by de-court.  Commands a role may not run are refused in one line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from process_helpers import free_port, healthy, stop_process

pytestmark = pytest.mark.slow

STARTUP_TIMEOUT = 20.0
CLI_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0

_ENTRY_POINTS = {
    "perci-authority": "authority_client._cli",
    "perci-platform": "platform_client._cli",
}


@dataclass(slots=True)
class Setup:
    """A setup made by `perci-sim init` and the `perci-sim serve` process serving it."""

    home: Path
    url: str
    log: Path
    process: subprocess.Popen[bytes]

    def credentials(self, participant_id: str) -> Path:
        return self.home / "credentials" / f"{participant_id}.json"

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERCI_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _command(name: str) -> list[str]:
    script = Path(sys.executable).with_name(name)
    if script.exists():
        return [str(script)]
    module = _ENTRY_POINTS[name]
    return [sys.executable, "-c", f"import sys; from {module} import main; sys.exit(main())"]


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=_env(),
        timeout=CLI_TIMEOUT,
        check=False,
    )


def authority(setup: Setup, who: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`perci-authority --credentials WHO.json ARGS` (authorities, the court, Europol)."""
    return _run([*_command("perci-authority"), "--credentials", str(setup.credentials(who)), *args])


def platform(setup: Setup, who: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`perci-platform --credentials WHO.json ARGS` (HSPs, the content provider)."""
    return _run([*_command("perci-platform"), "--credentials", str(setup.credentials(who)), *args])


def _ok(result: subprocess.CompletedProcess[str]) -> Any:
    """Assert exit 0 and return the command's JSON output."""
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stderr}"
    return json.loads(result.stdout)


def _refused(result: subprocess.CompletedProcess[str], prog: str) -> str:
    """Assert exit 1 with exactly one line on stderr and nothing on stdout; return it."""
    assert result.returncode == 1, f"exit {result.returncode}\n{result.stdout}{result.stderr}"
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"{prog}: error: ")
    return lines[0]


@pytest.fixture(scope="module", name="setup")
def _setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    root = tmp_path_factory.mktemp("cli-roles")
    home = root / "home"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    init = _run([sys.executable, "-m", "perci_sim", "init", str(home), "--broker-url", url])
    assert init.returncode == 0, init.stderr
    log = root / "broker.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "perci_sim", "serve", "--home", str(home), "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=_env(),
        )
    setup = Setup(home=home, url=url, log=log, process=process)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not healthy(url):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    f"broker not healthy at {url} (exit {process.poll()}):\n{setup.log_text()}"
                )
            time.sleep(0.1)
        yield setup
    finally:
        code = stop_process(process, STOP_TIMEOUT)
    assert code == 0, f"perci-sim serve exited {code} on SIGINT:\n{setup.log_text()}"


def _issue(setup: Setup, hsp: str, path: str) -> str:
    """de-bka issues an emergency order to ``hsp``; return its id."""
    issued = _ok(
        authority(
            setup,
            "de-bka",
            "issue",
            "--hsp",
            hsp,
            "--url",
            f"https://{hsp}.example/{path}",
            "--reason",
            "a",
            "--details",
            "Calls for attacks on public gatherings.",
            "--emergency",
            "Ongoing attack",
            "--json",
        )
    )
    order = issued["order"]
    assert (order["state"], order["hsp_id"]) == ("delivered", hsp)
    return str(order["order_id"])


def test_scrutiny_requested_by_the_content_provider_and_reinstatement(setup: Setup) -> None:
    """Art. 4, 10, 11 across three CLIs' roles: HSP, content provider, host authority."""
    order_id = _issue(setup, "hsp-alpha", "v/scrutiny")

    executed = _ok(platform(setup, "hsp-alpha", "feedback", order_id, "--reinstatable", "--json"))
    assert executed["order"]["state"] == "executed"
    assert not any(f.startswith("breach_4_2_risk") for f in executed["order"]["flags"])

    informed = platform(
        setup,
        "hsp-alpha",
        "inform-provider",
        order_id,
        "cp-demo",
        "Your video was removed.",
        "--copy",
    )
    assert informed.returncode == 0, informed.stderr

    shown = _ok(platform(setup, "cp-demo", "show", order_id, "--json"))
    assert shown["signed_by"].startswith("de-bka#")
    assert shown["view"]["hsp_id"] == "hsp-alpha"
    requested = _ok(
        platform(
            setup,
            "cp-demo",
            "request-scrutiny",
            order_id,
            "--reason",
            "The video is reporting, not incitement.",
            "--json",
        )
    )
    assert requested["receipt"]["message_type"] == "scrutiny_request"
    complained = _ok(
        platform(setup, "cp-demo", "complain", order_id, "--text", "Journalism.", "--json")
    )
    assert complained["receipt"]["message_type"] == "complaint"

    prenotice = authority(setup, "ie-cnam", "scrutiny-prenotice", order_id, "Press reporting.")
    assert prenotice.returncode == 0, prenotice.stderr
    decided = _ok(
        authority(
            setup,
            "ie-cnam",
            "scrutiny-decision",
            order_id,
            "infringement",
            "Freedom of the press (Art. 1(3)).",
            "--initiative",
            "request",
            "--json",
        )
    )
    assert decided["order"]["state"] == "no_legal_effect"

    reinstated = _ok(platform(setup, "hsp-alpha", "reinstate", order_id, "--json"))
    assert reinstated["order"]["state"] == "reinstated"

    assert _ok(authority(setup, "de-bka", "status", order_id, "--json"))["state"] == "reinstated"
    lifecycle = _ok(platform(setup, "cp-demo", "lifecycle", order_id, "--json"))
    assert lifecycle["state"] == "reinstated"
    assert lifecycle["lifecycle"]["legal_effect_cause"] == "infringement_decision"
    kinds = [e["kind"] for e in _ok(platform(setup, "cp-demo", "history", order_id, "--json"))]
    for kind in (
        "content_provider_information_received",
        "scrutiny_request_received",
        "complaint_received",
        "scrutiny_decision_received",
        "reinstatement_received",
    ):
        assert kind in kinds, kinds
    assert "order_received" not in kinds  # a third party sees what it was shown, no more


def test_court_appeals_extends_preservation_and_annuls(setup: Setup) -> None:
    """Art. 3(9), 6(2), 9: de-court on an order of its Member State's authority."""
    order_id = _issue(setup, "hsp-beta", "v/annul")
    executed = _ok(platform(setup, "hsp-beta", "feedback", order_id, "--reinstatable", "--json"))
    assert executed["order"]["state"] == "executed"

    assert _ok(authority(setup, "de-court", "status", order_id, "--json"))["state"] == "executed"
    appeal = authority(setup, "de-court", "appeal-notice", order_id, "appeal_lodged", "--json")
    assert _ok(appeal)["receipt"]["message_type"] == "appeal_notice"
    current = _ok(authority(setup, "de-court", "lifecycle", order_id, "--json"))["lifecycle"]
    until = datetime.fromisoformat(current["preserve_until"]) + timedelta(days=90)
    extended = authority(
        setup, "de-court", "extend-preservation", order_id, until.isoformat(), "Main proceedings"
    )
    assert extended.returncode == 0, extended.stderr

    annulled = _ok(
        authority(setup, "de-court", "annul", order_id, "--judgment", "VG WI 6 K 1/26", "--json")
    )
    assert annulled["order"]["state"] == "no_legal_effect"
    assert annulled["receipt"]["message_type"] == "court_annulment"

    for who in ("de-bka", "de-court"):
        assert _ok(authority(setup, who, "status", order_id, "--json"))["state"] == (
            "no_legal_effect"
        )
    history = _ok(authority(setup, "de-court", "history", order_id, "--json"))
    annulment = next(e for e in history if e["kind"] == "court_annulment_received")
    assert annulment["data"]["court"] == "Verwaltungsgericht Wiesbaden"  # its directory name
    assert annulment["data"]["target"] == "order"


def test_commands_of_another_role_are_one_line_errors(setup: Setup) -> None:
    """A court may not issue, a content provider has no inbox; exit 1, one line, no request."""
    line = _refused(authority(setup, "de-court", "issue", "--hsp", "hsp-alpha"), "perci-authority")
    assert "issue is for role authority" in line
    assert "'de-court' is a court" in line

    line = _refused(platform(setup, "cp-demo", "inbox"), "perci-platform")
    assert "inbox is for role hsp" in line

    line = _refused(authority(setup, "europol", "withdraw", "o-1", "x"), "perci-authority")
    assert "withdraw is for role authority" in line

    line = _refused(platform(setup, "de-court", "inbox"), "perci-platform")
    assert "use perci-authority" in line

    # Europol's Art. 14 commands run with the authority CLI.
    assert _ok(authority(setup, "europol", "referrals", "--json")) == []


def test_verify_log_after_the_role_sessions(setup: Setup) -> None:
    """Last: the broker is still up and the record is intact."""
    assert setup.process.poll() is None, setup.log_text()
    result = _run([sys.executable, "-m", "perci_sim", "verify-log", "--home", str(setup.home)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "hash chain intact" in result.stdout
    assert "Traceback" not in setup.log_text()
