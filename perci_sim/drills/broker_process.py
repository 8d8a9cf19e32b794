"""The broker a drill starts: a fresh home, ``python -m perci_sim serve``, verify-log.

:func:`prepare_home` registers the scenario's parties, a ``facilitator`` and (when
a referral wave names it) ``europol`` through :mod:`perci_sim.bootstrap`;
:class:`BrokerProcess` starts the broker on a free port at the scenario's clock
speed, waits for ``/v1/health`` and stops it; :func:`verify_log` runs
``perci-sim verify-log`` on the home afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import aiohttp

from perci_sim import bootstrap
from perci_sim.crypto.broker_key import load_or_create_broker_key
from perci_sim.drills.scenario import EUROPOL, Scenario
from perci_sim.storage.db import open_database

__all__ = ["BrokerProcess", "free_port", "prepare_home", "verify_log"]

#: How long the broker may take to answer /v1/health after start (wall seconds).
HEALTH_TIMEOUT_S = 30.0


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _participants(scenario: Scenario) -> list[bootstrap.DemoParticipant]:
    participants = [
        bootstrap.DemoParticipant(
            id=a.id,
            role="authority",
            name=a.name,
            member_state=a.member_state,
            languages=a.languages,
            contact_point=f"tco@{a.id}.example",
        )
        for a in scenario.authorities
    ]
    participants += [
        bootstrap.DemoParticipant(
            id=h.id,
            role="hsp",
            name=h.name,
            member_state=h.main_establishment,
            languages=h.languages,
            contact_point=f"tco@{h.id}.example",
        )
        for h in scenario.hsps
    ]
    if scenario.uses_europol:
        participants.append(
            bootstrap.DemoParticipant(
                id=EUROPOL,
                role="europol",
                name="Europol EU Internet Referral Unit",
                member_state="NL",
                languages=("en",),
                contact_point="eu-iru@europol.example",
            )
        )
    participants.append(
        bootstrap.DemoParticipant(
            id="facilitator",
            role="facilitator",
            name="Drill facilitator",
            member_state="NL",
            languages=("en",),
            contact_point="facilitator@perci-sim.example",
        )
    )
    return participants


async def prepare_home(scenario: Scenario, home: Path, broker_url: str) -> None:
    """A fresh setup in ``home``: broker key, database, the scenario's parties, a facilitator."""
    home.mkdir(parents=True, exist_ok=True)
    load_or_create_broker_key(home / "broker-key.jwk.json")
    db = await open_database(f"sqlite+aiosqlite:///{(home / 'perci.db').resolve()}")
    clock = _WallClock()
    try:
        for participant in _participants(scenario):
            await bootstrap.add_participant(
                db, home=home, broker_url=broker_url, participant=participant, clock=clock
            )
    finally:
        await db.close()


class _WallClock:
    """Registration time of the drill's participants (real time)."""

    speed = 1.0

    def now(self) -> datetime:
        from perci_sim.clock import SystemClock

        return SystemClock().now()

    def wall_seconds_until(self, at: datetime) -> float:
        return 0.0


class BrokerProcess:
    """``python -m perci_sim serve`` on ``home`` at ``speed``, its output in ``broker.log``."""

    def __init__(self, home: Path, *, speed: float) -> None:
        self.home = home
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.speed = speed
        self.log_path = home / "broker.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[Any] | None = None

    def start(self) -> None:
        """Start the broker (the home must be prepared for :attr:`url`)."""
        self._log = self.log_path.open("wb")
        env = {**os.environ, "PERCI_LOG_FORMAT": "json"}
        command = [sys.executable, "-m", "perci_sim", "serve", "--home", str(self.home)]
        command += ["--port", str(self.port), "--speed", repr(self.speed)]
        self._process = subprocess.Popen(
            command, stdout=self._log, stderr=subprocess.STDOUT, env=env
        )

    async def wait_healthy(self) -> None:
        """Wait until ``/v1/health`` answers 200 (or the broker exits, or it times out)."""
        process = self._process
        assert process is not None, "start() first"
        deadline = time.monotonic() + HEALTH_TIMEOUT_S
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                if process.poll() is not None:
                    raise RuntimeError(f"the broker exited during start-up: see {self.log_path}")
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get(f"{self.url}/v1/health") as response:
                        if response.status == 200:
                            return
                await asyncio.sleep(0.1)
        raise RuntimeError(
            f"the broker did not answer on {self.url} within {HEALTH_TIMEOUT_S:.0f} s"
        )

    def stop(self) -> None:
        """SIGINT, then kill after 10 s; close the log."""
        process = self._process
        if process is not None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
            self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None


def verify_log(home: Path) -> dict[str, Any]:
    """Run ``perci-sim verify-log`` on ``home``; its exit status and last lines."""
    done = subprocess.run(
        [sys.executable, "-m", "perci_sim", "verify-log", "--home", str(home)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    lines = (done.stdout + done.stderr).strip().splitlines()
    return {"ok": done.returncode == 0, "exit_status": done.returncode, "output": lines[-5:]}
