"""Fresh setups and broker processes for the multi-phase benchmarks (bench/throughput.py).

A phase gets its own ``perci-sim init`` setup (a temporary folder, SQLite or a fresh
PostgreSQL database), starts one or two ``perci-sim serve`` replicas on it (one broker
key, one clock epoch, as a deployment of replicas runs), and ends with
``perci-sim verify-log``, the brokers' error lines and the removal of the setup
(:class:`Phase`).  The process helpers themselves are bench/exchange.py's.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import exchange
from exchange import say

#: The broker's default is 200 requests a second per participant: 3 HSPs x 3 requests
#: per order would cap the exchange at 200 orders/s, below the goal being measured.
RATE_LIMIT = "0"


@dataclass(slots=True)
class Setup:
    """A fresh ``perci-sim init`` setup: its folder, database and broker environment."""

    home: Path
    env: dict[str, str]
    database_url: str
    #: The PostgreSQL database created for it (dropped by :meth:`remove`).
    database: str | None = None

    @classmethod
    def create(cls, label: str, postgres: str | None) -> Setup:
        from perci_sim.bootstrap import init_home

        home = Path(tempfile.mkdtemp(prefix=f"perci-bench-{label}-"))
        env = exchange._broker_env()
        # The replicas' shared signing key, as a deployment mounts it (test_replicas.py).
        env["PERCI_BROKER_KEY_FILE"] = str(home / "broker-key.jwk.json")
        setup = cls(home, env, f"sqlite+aiosqlite:///{(home / 'perci.db').resolve()}")
        if postgres:
            setup.database = f"perci_bench_{uuid.uuid4().hex[:12]}"
            asyncio.run(exchange._postgres_admin(postgres, f'CREATE DATABASE "{setup.database}"'))
            setup.database_url = exchange._on_database(postgres, setup.database)
            env["PERCI_DATABASE_URL"] = setup.database_url
        # The credentials name a placeholder URL: every client is given its replica's.
        url = "http://127.0.0.1:9"
        try:
            asyncio.run(init_home(home, broker_url=url, database_url=env.get("PERCI_DATABASE_URL")))
        except BaseException:
            setup.remove(postgres, keep=True)  # drops the database, keeps the folder to read
            raise
        return setup

    def remove(self, postgres: str | None, *, keep: bool) -> None:
        """Drop the database and the folder; ``keep`` (asked for, or a failure) keeps both."""
        if self.database is not None and postgres and not keep:
            asyncio.run(
                exchange._postgres_admin(postgres, f'DROP DATABASE IF EXISTS "{self.database}"')
            )
        if keep:
            say(f"setup kept in {self.home}")
        else:
            shutil.rmtree(self.home, ignore_errors=True)


@dataclass(slots=True)
class Broker:
    """One ``perci-sim serve`` process."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    launched: float
    startup_s: float | None = None
    figures: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_name(self) -> str:
        return f"broker-{self.name}.log"

    def cpu_s(self) -> float | None:
        return exchange._cpu_s(self.process.pid)


def start_brokers(setup: Setup, count: int, deadline: float) -> list[Broker]:
    """Start ``count`` replicas on one database (same key, same clock epoch), wait healthy."""
    # At speed 1 every replica reads the system clock; the shared epoch is passed as a
    # deployment of replicas would (tests/integration/test_replicas.py).
    epoch = datetime.now(UTC).isoformat()
    extra = ["--clock-epoch", epoch, "--rate-limit", RATE_LIMIT]
    brokers: list[Broker] = []
    for name in "ab"[:count]:
        port = exchange._free_port()
        launched = time.monotonic()
        process = exchange._start_broker(
            setup.home, port, setup.env, None, extra=extra, log_name=f"broker-{name}.log"
        )
        brokers.append(Broker(name, port, process, launched))
    for broker in brokers:
        limit = min(deadline, time.time() + exchange.HEALTH_TIMEOUT_S)
        exchange._wait_healthy(broker.url, broker.process, limit)
        broker.startup_s = round(time.monotonic() - broker.launched, 2)
        say(f"broker {broker.name} healthy on {broker.url} after {broker.startup_s} s")
    return brokers


def stop_brokers(brokers: Sequence[Broker]) -> list[str]:
    """Read each broker's peak RSS and CPU (while it runs), stop it; the problems."""
    problems = []
    for broker in brokers:
        broker.figures["peak_rss_mb"] = exchange._peak_rss_mb(broker.process.pid)
        broker.figures["cpu_s"] = broker.cpu_s()
        if broker.process.poll() is not None:
            problems.append(
                f"broker {broker.name} exited early (status {broker.process.returncode})"
            )
        if not exchange._stop(broker.process):
            problems.append(
                f"broker {broker.name} did not stop within {exchange.STOP_TIMEOUT_S:g} s of SIGINT"
            )
    return problems


def log_problems(setup: Setup, brokers: Sequence[Broker]) -> tuple[int, list[str]]:
    """Error lines in the brokers' JSON logs."""
    errors = [e for b in brokers for e in exchange._log_errors(setup.home / b.log_name)]
    for line in errors[:5]:
        say(f"broker log: {line[:400]}")
    return len(errors), ([f"{len(errors)} error lines in the broker logs"] if errors else [])


class Phase:
    """What every phase shares: its name, options, time limit, problems and figures."""

    def __init__(
        self, name: str, args: argparse.Namespace, backend: str, figures: dict[str, Any]
    ) -> None:
        self.name, self.args, self.backend = name, args, backend
        self.postgres: str | None = args.postgres if backend == "postgresql" else None
        self.deadline = time.time() + args.max_seconds
        self.problems: list[str] = []
        self.figures: dict[str, Any] = {"backend": backend, **figures}

    def finish(self, setup: Setup, brokers: Sequence[Broker]) -> None:
        """verify-log, the brokers' error lines, then remove the setup (kept on failure)."""
        verified, problems = exchange._verify_log(setup.home, setup.env)
        self.figures["log_verified"] = verified
        self.problems += problems
        self.figures["broker_log_errors"], problems = log_problems(setup, brokers)
        self.problems += problems
        setup.remove(self.postgres, keep=self.args.keep or bool(self.problems))

    def done(self, began: float) -> dict[str, Any]:
        """The phase's figures, with its wall time and problems."""
        self.figures["phase_wall_s"] = round(time.monotonic() - began, 1)
        self.figures["problems"] = self.problems
        return self.figures
