"""``make demo``: one authority, two platforms, the one-hour clock, in about half a minute.

It initialises a fresh setup in ``./demo-home``, starts a real broker process on
a free 127.0.0.1 port at a scaled clock (2400x: one hour of the Regulation
passes in 1.5 s), and drives it through the real SDKs over HTTP:

1. de-bka sends Art. 3(2) advance information to hsp-beta;
2. an emergency order to hsp-alpha (first order, no advance information
   needed), executed in time;
3. a first order to hsp-beta refused: the 12 hours have not passed (R4);
4. an order hsp-alpha answers with Annex III (insufficient information),
   clarified by the authority, then executed within the fresh hour (R7);
5. an order hsp-alpha lets run past its deadline: overdue, then executed late (R8);
6. an order hsp-beta cannot execute for force majeure, then the grounds cease
   and it executes within the fresh hour (R6);
7. once the 12 hours have passed, the refused order is issued again and executed.

It prints a table of what happened, checks the hash chain with
``perci-sim verify-log``, and exits 0 only if every outcome is the expected one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import aiohttp
from rich.console import Console
from rich.table import Table

from authority_client import AuthorityClient
from authority_client.errors import ProblemError
from perci_sim.bootstrap import credentials_path, init_home
from perci_sim.logging import configure_logging
from platform_client import PlatformClient

SPEED = 2400.0
HOME = Path("demo-home")
console = Console()


@dataclass(slots=True)
class Outcome:
    """What the demo expects of one order, and what happened."""

    label: str
    hsp_id: str
    expected_state: str
    order_id: str | None = None
    refused_with: str | None = None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _wait_healthy(url: str, process: subprocess.Popen[bytes], within: float) -> None:
    deadline = time.monotonic() + within
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError("the broker exited during start-up: see demo-home/broker.log")
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(f"{url}/v1/health") as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.1)
    raise RuntimeError(f"the broker did not answer on {url} within {within:.0f} s")


async def _until(predicate: Callable[[], Awaitable[bool]], within: float) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.05)
    raise RuntimeError("timed out waiting for the broker")


async def _scenario(url: str) -> list[Outcome]:
    authority = AuthorityClient.from_credentials(credentials_path(HOME, "de-bka"), broker_url=url)
    alpha = PlatformClient.from_credentials(credentials_path(HOME, "hsp-alpha"), broker_url=url)
    beta = PlatformClient.from_credentials(credentials_path(HOME, "hsp-beta"), broker_url=url)
    outcomes: list[Outcome] = []
    async with authority, alpha, beta:
        console.print("1. de-bka sends advance information (Art. 3(2)) to hsp-beta")
        await authority.send_advance_information(
            "hsp-beta",
            procedures="Orders arrive through perci-sim, signed by de-bka#1.",
            deadlines="One hour from receipt (Art. 3(3)).",
            contact_point="tco-kontakt@bka.example",
        )

        async def issue(hsp: str, url_path: str, **kwargs: str) -> str:
            order = await authority.prepare_order(
                hsp_id=hsp,
                urls=[f"https://{hsp}.example/{url_path}"],
                reasons=["a"],
                details="Video glorifying an attack and calling for further attacks.",
                **kwargs,
            )
            issued = await authority.issue_order(order)
            return issued.order["order_id"]

        console.print("2. emergency order to hsp-alpha, executed in time")
        first = Outcome("emergency, in time", "hsp-alpha", "executed")
        first.order_id = await issue(
            "hsp-alpha",
            "v/attack-live",
            emergency_justification="Livestream of an ongoing attack (Recital 17).",
        )
        await alpha.acknowledge(first.order_id)
        await alpha.send_feedback(first.order_id)
        outcomes.append(first)

        console.print("3. first order to hsp-beta before the 12 hours have passed")
        refused = Outcome("R4 refused, later issued", "hsp-beta", "executed")
        not_before: datetime | None = None
        try:
            await issue("hsp-beta", "files/manual.pdf")
        except ProblemError as exc:
            refused.refused_with = exc.code
            not_before = datetime.fromisoformat(str(exc.body.get("not_before")))
            console.print(f"   refused: {exc.code}; can be issued from {not_before:%H:%M:%S} UTC")
        outcomes.append(refused)

        console.print("4. Annex III for insufficient information, clarified, executed")
        clarified = Outcome("Annex III, clarified", "hsp-alpha", "executed")
        clarified.order_id = await issue("hsp-alpha", "p/12345")
        await alpha.acknowledge(clarified.order_id)
        await alpha.send_impossibility(
            clarified.order_id,
            ["insufficient_information"],
            "The URL points to a channel with 400 videos.",
            clarification_required="Which video of the channel is meant?",
        )
        await authority.clarify(
            clarified.order_id,
            "The video posted on 24 November at 21:14.",
            amended_content=[{"url": "https://hsp-alpha.example/p/12345/v/9"}],
        )
        await alpha.send_feedback(clarified.order_id)
        outcomes.append(clarified)

        console.print("5. hsp-alpha lets an order pass its deadline, then executes late")
        late = Outcome("deadline missed", "hsp-alpha", "executed_late")
        late.order_id = await issue("hsp-alpha", "v/recruitment")
        late_id = late.order_id
        await alpha.acknowledge(late_id)

        async def overdue() -> bool:
            return (await authority.get_order(late_id))["state"] == "overdue"

        await _until(overdue, within=30)
        await alpha.send_feedback(late_id)
        outcomes.append(late)

        console.print("6. waiting for the 12 hours of step 1 to pass (simulated)")
        if not_before is not None:
            wait = (not_before - await authority.broker_now()).total_seconds() / SPEED
            await asyncio.sleep(max(0.0, wait) + 0.2)
        refused.order_id = await issue("hsp-beta", "files/manual.pdf")
        await beta.acknowledge(refused.order_id)

        console.print("7. hsp-beta: force majeure, grounds cease, executed in the fresh hour")
        await beta.send_feedback(refused.order_id)
        majeure = Outcome("force majeure", "hsp-beta", "executed")
        majeure.order_id = await issue("hsp-beta", "forum/thread/77")
        await beta.send_impossibility(
            majeure.order_id, ["force_majeure"], "Data centre power outage in Amsterdam."
        )
        await beta.send_grounds_ceased(majeure.order_id, "Power restored at 14:02.")
        await beta.send_feedback(majeure.order_id)
        outcomes.append(majeure)

        await _print_table(authority, outcomes)
    return outcomes


def _minutes(start: str, end: str | None) -> str:
    if not end:
        return "-"
    delta = datetime.fromisoformat(end) - datetime.fromisoformat(start)
    return f"{delta.total_seconds() / 60:.1f} min"


async def _print_table(authority: AuthorityClient, outcomes: list[Outcome]) -> None:
    table = Table(title="What happened (simulated time, UTC)")
    for column in ("order", "HSP", "state", "received", "removed", "to removal"):
        table.add_column(column)
    histories: list[tuple[str, list[str]]] = []
    for outcome in outcomes:
        if outcome.order_id is None:
            table.add_row(outcome.label, outcome.hsp_id, "never issued", "-", "-", "-")
            continue
        view = await authority.get_order(outcome.order_id)
        history = await authority.history(outcome.order_id)
        measure_at = view.get("measure_at") or ""
        table.add_row(
            outcome.label,
            outcome.hsp_id,
            view["state"],
            view["received_at"][11:19],
            measure_at[11:19] or "-",
            _minutes(view["received_at"], measure_at or None),
        )
        histories.append(
            (outcome.label, [f"{e['received_at'][11:19]} {e['kind']}" for e in history])
        )
    console.print(table)
    for label, lines in histories:
        console.print(f"[bold]{label}[/bold]", highlight=False)
        for line in lines:
            console.print(f"   {line}", highlight=False)


def _check(outcomes: list[Outcome], url: str) -> list[str]:
    async def states() -> dict[str, str]:
        client = AuthorityClient.from_credentials(credentials_path(HOME, "de-bka"), broker_url=url)
        async with client:
            return {
                o.order_id: (await client.get_order(o.order_id))["state"]
                for o in outcomes
                if o.order_id
            }

    found = asyncio.run(states())
    problems = [
        f"{o.label}: expected {o.expected_state}, got {found.get(o.order_id or '', 'nothing')}"
        for o in outcomes
        if found.get(o.order_id or "") != o.expected_state
    ]
    if outcomes[1].refused_with != "advance_information_missing":
        problems.append("the first order to hsp-beta was not refused under Art. 3(2)")
    return problems


def main() -> int:
    """Run the demo; exit 0 when every outcome is the expected one."""
    configure_logging("console", level=logging.WARNING)
    shutil.rmtree(HOME, ignore_errors=True)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    asyncio.run(init_home(HOME, broker_url=url))
    console.print(f"Initialised {HOME}/ with 3 authorities and 3 hosting providers")
    log = (HOME / "broker.log").open("wb")
    env = {**os.environ, "PERCI_LOG_FORMAT": "json"}
    command = [sys.executable, "-m", "perci_sim", "serve", "--home", str(HOME)]
    command += ["--port", str(port), "--speed", str(SPEED)]
    broker = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        asyncio.run(_wait_healthy(url, broker, within=30))
        console.print(f"Broker running on {url}, clock at {SPEED:g}x (one hour = 1.5 s)\n")
        started = time.monotonic()
        outcomes = asyncio.run(_scenario(url))
        problems = _check(outcomes, url)
        console.print(f"Scenario ran in {time.monotonic() - started:.1f} s of wall time")
    finally:
        broker.send_signal(signal.SIGINT)
        try:
            broker.wait(timeout=10)
        except subprocess.TimeoutExpired:
            broker.kill()
        log.close()
    verify = subprocess.run(
        [sys.executable, "-m", "perci_sim", "verify-log", "--home", str(HOME)], check=False
    )
    if verify.returncode != 0:
        problems.append("perci-sim verify-log found problems")
    for problem in problems:
        console.print(f"[red]✗ {problem}[/red]")
    if not problems:
        summary = {"orders": len(outcomes), "home": str(HOME), "broker_log": "broker.log"}
        console.print(f"[green]✓ every outcome as expected[/green] {json.dumps(summary)}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
