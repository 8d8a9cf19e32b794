"""The two client CLIs and `perci-sim serve` as real processes, the way a new user runs them.

One setup for the module: `perci-sim init DIR --broker-url URL`, then
`perci-sim serve --home DIR --port PORT` in its own process.  Every command is
then a separate process reading a credentials file of that setup, exactly as
in the README.  `verify-log` runs last and checks the evidence all of them left.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from process_helpers import free_port, healthy, stop_process

from perci_schemas import jws, load_example

pytestmark = pytest.mark.slow

#: Bounds (wall seconds): broker start-up, one CLI call, a daemon run, broker shutdown.
STARTUP_TIMEOUT = 20.0
CLI_TIMEOUT = 30.0
DAEMON_TIMEOUT = 20.0
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


def _env(pythonpath: Path | None = None) -> dict[str, str]:
    """The test's environment without any PERCI_* setting that could redirect a command."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERCI_")}
    env["PYTHONUNBUFFERED"] = "1"
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(pythonpath), env.get("PYTHONPATH")) if p
        )
    return env


def _command(name: str) -> list[str]:
    """The installed console script next to this interpreter, else its module's main()."""
    script = Path(sys.executable).with_name(name)
    if script.exists():
        return [str(script)]
    module = _ENTRY_POINTS[name]
    return [sys.executable, "-c", f"import sys; from {module} import main; sys.exit(main())"]


def _run(argv: list[str], *, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=env if env is not None else _env(),
        timeout=CLI_TIMEOUT,
        check=False,
    )


def authority(setup: Setup, participant_id: str, *args: str) -> subprocess.CompletedProcess[str]:
    creds = str(setup.credentials(participant_id))
    return _run([*_command("perci-authority"), "--credentials", creds, *args])


def platform(setup: Setup, participant_id: str, *args: str) -> subprocess.CompletedProcess[str]:
    creds = str(setup.credentials(participant_id))
    return _run([*_command("perci-platform"), "--credentials", creds, *args])


def _ok(result: subprocess.CompletedProcess[str]) -> Any:
    """Assert exit 0 and return the command's JSON output."""
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stderr}"
    return json.loads(result.stdout)


@pytest.fixture(scope="module", name="setup")
def _setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    root = tmp_path_factory.mktemp("cli-processes")
    home = root / "home"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    init = subprocess.run(
        [sys.executable, "-m", "perci_sim", "init", str(home), "--broker-url", url],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=CLI_TIMEOUT,
        check=False,
    )
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


def _order_args(hsp: str, *extra: str) -> list[str]:
    return [
        "issue",
        "--hsp",
        hsp,
        "--url",
        f"https://{hsp}.example/v/1",
        "--reason",
        "a",
        "--details",
        "Calls for attacks on public gatherings.",
        *extra,
    ]


def test_emergency_order_issued_acknowledged_and_executed(setup: Setup) -> None:
    """issue -> inbox -> ack -> feedback -> status executed, history of four events."""
    emergency = ["--emergency", "Ongoing attack", "--json"]
    issued = _ok(authority(setup, "de-bka", *_order_args("hsp-alpha"), *emergency))
    order = issued["order"]
    order_id = order["order_id"]
    assert (order["state"], order["emergency"], order["hsp_id"]) == (
        "delivered",
        True,
        "hsp-alpha",
    )
    assert issued["receipt"]["order_id"] == order_id

    inbox = _ok(platform(setup, "hsp-alpha", "inbox", "--json"))
    assert order_id in [o["order_id"] for o in inbox]

    acked = platform(setup, "hsp-alpha", "ack", order_id)
    assert acked.returncode == 0, acked.stderr
    answered = platform(setup, "hsp-alpha", "feedback", order_id)
    assert answered.returncode == 0, answered.stderr

    status = _ok(authority(setup, "de-bka", "status", order_id, "--json"))
    assert status["state"] == "executed"
    assert status["measure_at"] is not None

    history = _ok(authority(setup, "de-bka", "history", order_id, "--json"))
    assert [e["kind"] for e in history] == [
        "order_received",
        "order_delivered",
        "host_copy_delivered",  # R10, Art. 4(1)
        "acknowledgement_received",
        "feedback_received",
    ]
    seqs = [e["seq"] for e in history]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == len(seqs)


def test_first_order_without_advance_information_is_one_line_error(setup: Setup) -> None:
    """R4: a first, non-emergency order is refused: exit 1, one line on stderr."""
    result = authority(setup, "fr-ocrim", *_order_args("hsp-beta"))
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("perci-authority: error:")
    assert "advance" in lines[0]
    assert "Traceback" not in result.stderr


def test_daemon_executes_one_order_and_exits(setup: Setup, tmp_path: Path) -> None:
    """`perci-platform run --max-orders 1`: an ES256 emergency order is removed and answered."""
    (tmp_path / "cli_takedown.py").write_text(
        "def remove(order):\n    return None  # content removed\n", encoding="utf-8"
    )
    creds = json.loads(setup.credentials("es-cgi").read_text(encoding="utf-8"))
    assert creds["private_jwk"]["crv"] == "P-256"
    out, err = tmp_path / "daemon.out", tmp_path / "daemon.err"
    argv = [*_command("perci-platform"), "--credentials", str(setup.credentials("hsp-gamma"))]
    argv += ["run", "--handler", "cli_takedown:remove", "--max-orders", "1"]
    with out.open("wb") as stdout, err.open("wb") as stderr:
        daemon = subprocess.Popen(argv, stdout=stdout, stderr=stderr, env=_env(tmp_path))
    try:
        deadline = time.monotonic() + DAEMON_TIMEOUT
        while "daemon_started" not in err.read_text(encoding="utf-8", errors="replace"):
            if daemon.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"daemon did not start (exit {daemon.poll()}):\n{err.read_text()}")
            time.sleep(0.1)

        emergency = ["--emergency", "Attack announced for tonight", "--json"]
        issued = _ok(authority(setup, "es-cgi", *_order_args("hsp-gamma"), *emergency))
        order_id = issued["order"]["order_id"]
        assert jws.peek_header(issued["order"]["document"])["alg"] == "ES256"

        try:
            code = daemon.wait(timeout=DAEMON_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"daemon still running after one order:\n{err.read_text()}")
        assert code == 0, err.read_text()
        assert out.read_text().strip() == "handled 1 order round(s)"
    finally:
        stop_process(daemon, STOP_TIMEOUT)

    deadline = time.monotonic() + 10.0
    while (state := _ok(authority(setup, "es-cgi", "status", order_id, "--json"))["state"]) != (
        "executed"
    ):
        assert time.monotonic() < deadline, f"order still {state}"
        time.sleep(0.2)


def test_order_file_in_yaml_is_accepted(setup: Setup, tmp_path: Path) -> None:
    """`perci-authority issue order.yaml`: the shipped Annex I example, addressed to hsp-alpha."""
    order = load_example("removal_order")
    del order["message_id"], order["sent_at"]  # filled in by the client
    reference = f"BKA-TCO-CLI-{uuid.uuid4().hex[:8]}"
    order["sender"] = "de-bka"
    order["emergency"] = {"is_emergency": True, "justification": "Ongoing attack"}
    order["section_a"] |= {
        "addressee": {"hsp_id": "hsp-alpha", "name": "Alpha Video Ltd"},
        "contact_point": "tco-contact@alpha.example",
        "hsp_member_state": "IE",
        "reference_number": reference,
    }
    path = tmp_path / "order.yaml"
    path.write_text(yaml.safe_dump(order, allow_unicode=True, sort_keys=False), encoding="utf-8")

    issued = _ok(authority(setup, "de-bka", "issue", str(path), "--json"))
    view = issued["order"]
    assert (view["state"], view["reference_number"], view["hsp_id"]) == (
        "delivered",
        reference,
        "hsp-alpha",
    )
    assert view["emergency"] is True
    assert view["flags"] == []
    sent = issued["document"]
    assert {k: v for k, v in sent.items() if k not in ("message_id", "sent_at")} == order


def test_verify_log_after_the_cli_sessions(setup: Setup) -> None:
    """Last: the broker is still up, and `perci-sim verify-log` finds the record intact."""
    assert setup.process.poll() is None, setup.log_text()
    result = _run([sys.executable, "-m", "perci_sim", "verify-log", "--home", str(setup.home)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "hash chain intact" in result.stdout
    assert "Traceback" not in setup.log_text()
    # The broker ran on uvloop (installed with the project on Linux): perci-sim serve's
    # default event loop.
    assert "event loop uvloop" in setup.log_text()
