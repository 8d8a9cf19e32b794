"""Benchmark of a Referral Action Day through the batch routes, on the embedded SQLite default.

One run:

1. initialises a fresh setup in a temporary folder and starts ``python -m perci_sim
   serve`` on a free 127.0.0.1 port at clock speed 1 (the helpers of bench/exchange.py);
2. runs this script again as a separate client process (``--worker``) that drives the
   broker through the real SDKs: the setup's three issuing authorities send ``--items``
   referrals (one URL each, spread evenly over the 9 authority/HSP pairs) with
   ``AuthorityClient.send_referral_batch``, ``--batch`` per call, the three concurrently;
   each HSP follows its WebSocket feed (``PlatformClient.watch``) and answers the
   referrals it sees with ``PlatformClient.answer_referral_batch`` (up to ``--batch`` per
   call, as many as have arrived);
3. reads the broker's peak RSS and CPU time, stops it and runs ``perci-sim verify-log``.

Progress and a summary go to stderr; the figures are one JSON object on the LAST line of
stdout.  The exit status is non-zero when anything failed; the JSON line is printed anyway.

    python bench/referrals.py                          # 5000 referrals, batches of 250
    python bench/referrals.py --items 600 --batch 100 --max-seconds 60 --json-only
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

# bench/exchange.py: broker start and stop, /proc figures, verify-log.
import exchange
from exchange import AUTHORITIES, HSPS, percentiles, say

#: How long an HSP waits for more referrals before answering a partial batch (seconds).
LINGER_S = 0.05
WORKER_GRACE_S = 30.0


# ----------------------------------------------------------------------- worker


@dataclass(slots=True)
class WorkerResult:
    """What the client process measured; written as JSON to ``--result``."""

    referrals_accepted: int = 0
    referrals_refused: int = 0
    answered: int = 0
    outcomes_refused: int = 0
    wall_s: float = 0.0
    submit_wall_s: float = 0.0
    referral_batch_s: list[float] = field(default_factory=list)
    outcome_batch_s: list[float] = field(default_factory=list)
    submit_to_feed_s: list[float] = field(default_factory=list)
    submit_to_outcome_s: list[float] = field(default_factory=list)
    cpu_s: float = 0.0
    errors: list[str] = field(default_factory=list)

    def error(self, message: str) -> None:
        if message not in self.errors and len(self.errors) < 10:
            self.errors.append(message)


class ActionDay:
    """The client side: three authorities refer, three platforms answer from their feeds."""

    def __init__(self, home: Path, url: str, items: int, batch: int, result: WorkerResult):
        from authority_client import AuthorityClient
        from perci_sim.bootstrap import credentials_path
        from platform_client import PlatformClient

        self.items, self.batch, self.result = items, batch, result
        self.authorities = {
            a: AuthorityClient.from_credentials(credentials_path(home, a), broker_url=url)
            for a in AUTHORITIES
        }
        self.platforms = {
            h: PlatformClient.from_credentials(credentials_path(home, h), broker_url=url)
            for h in HSPS
        }
        self.queues: dict[str, asyncio.Queue[tuple[str, str]]] = {h: asyncio.Queue() for h in HSPS}
        #: reference_number -> monotonic start of the batch request that carried it.
        self.sent_at: dict[str, float] = {}
        self.done = asyncio.Event()
        #: Referrals to answer: all of them, until the refused ones are known.
        self.target = items
        self.finished_at: float | None = None
        self._progress = max(1, items // 10)

    async def close(self) -> None:
        for client in (*self.authorities.values(), *self.platforms.values()):
            await client.close()

    async def warm_up(self) -> None:
        """Open every connection and read the directory, the clock and the broker's keys."""
        for client in (*self.authorities.values(), *self.platforms.values()):
            await client.participants()
            await client.clock()

    def plan(self) -> dict[str, list[dict[str, Any]]]:
        """Item ``i``: authority ``i % 3``, HSP ``(i // 3) % 3``, one URL of its own."""
        planned: dict[str, list[dict[str, Any]]] = {a: [] for a in AUTHORITIES}
        for index in range(self.items):
            authority_id = AUTHORITIES[index % len(AUTHORITIES)]
            hsp_id = HSPS[(index // len(AUTHORITIES)) % len(HSPS)]
            planned[authority_id].append(
                {
                    "hsp_id": hsp_id,
                    "urls": [f"https://{hsp_id}.example/rad/{index}"],
                    "details": "Propaganda video of a listed organisation (Referral Action Day).",
                    "reference": f"RAD-{index:06d}",
                    "reasons": ["a"],
                }
            )
        return planned

    async def refer(self, authority_id: str, referrals: list[dict[str, Any]]) -> None:
        """One authority's share, ``--batch`` referrals per SDK call."""
        client = self.authorities[authority_id]
        for start in range(0, len(referrals), self.batch):
            chunk = referrals[start : start + self.batch]
            began = time.monotonic()
            for referral in chunk:
                self.sent_at[referral["reference"]] = began
            results = await client.send_referral_batch(chunk)
            self.result.referral_batch_s.append(time.monotonic() - began)
            for referral, outcome in zip(chunk, results, strict=True):
                if isinstance(outcome, Exception):
                    self.result.referrals_refused += 1
                    self.result.error(f"referral {referral['reference']}: {outcome}")
                else:
                    self.result.referrals_accepted += 1

    async def follow(self, hsp_id: str) -> None:
        """The HSP's feed: queue every referral addressed to it."""
        async with aclosing(self.platforms[hsp_id].watch()) as feed:
            async for event in feed:
                if event["kind"] != "referral_received":  # its feed: addressed to it
                    continue
                data = event["data"]
                reference = str(data["reference_number"])
                began = self.sent_at.get(reference)
                if began is not None:
                    self.result.submit_to_feed_s.append(time.monotonic() - began)
                self.queues[hsp_id].put_nowait((str(data["referral_id"]), reference))

    async def answer(self, hsp_id: str) -> None:
        """Answer what has arrived, up to ``--batch`` per call (lingering briefly for more)."""
        queue, platform = self.queues[hsp_id], self.platforms[hsp_id]
        while True:
            taken = [await queue.get()]
            for attempt in range(2):
                while len(taken) < self.batch and not queue.empty():
                    taken.append(queue.get_nowait())
                if attempt == 0 and len(taken) < self.batch:
                    await asyncio.sleep(LINGER_S)
            began = time.monotonic()
            results = await platform.answer_referral_batch(
                [{"referral_id": rid, "outcome": "removed"} for rid, _ in taken]
            )
            finished = time.monotonic()
            self.result.outcome_batch_s.append(finished - began)
            for (rid, reference), outcome in zip(taken, results, strict=True):
                if isinstance(outcome, Exception):
                    self.result.outcomes_refused += 1
                    self.result.error(f"outcome for {rid}: {outcome}")
                    continue
                self.result.answered += 1
                if reference in self.sent_at:
                    self.result.submit_to_outcome_s.append(finished - self.sent_at[reference])
                if self.result.answered % self._progress == 0:
                    say(f"  {self.result.answered} referrals answered")
            self.check_done()

    def check_done(self) -> None:
        if not self.done.is_set() and (
            self.result.answered + self.result.outcomes_refused >= self.target
        ):
            self.finished_at = time.monotonic()
            self.done.set()


async def run_worker(home: Path, url: str, items: int, batch: int, deadline: float) -> WorkerResult:
    """Drive the broker until every referral is answered or the wall-clock ``deadline``."""
    result = WorkerResult()
    day = ActionDay(home, url, items, batch, result)
    tasks: list[asyncio.Future[Any]] = []
    senders: asyncio.Future[Any] | None = None
    started: float | None = None
    try:
        await asyncio.wait_for(day.warm_up(), exchange.WARM_UP_TIMEOUT_S)
        tasks += [asyncio.create_task(day.follow(h)) for h in HSPS]
        tasks += [asyncio.create_task(day.answer(h)) for h in HSPS]
        planned = day.plan()
        say(
            f"worker: sending {items} referrals in batches of {batch} from {len(AUTHORITIES)} "
            f"authorities to {len(HSPS)} HSPs"
        )
        started = time.monotonic()
        senders = asyncio.gather(*(day.refer(a, planned[a]) for a in AUTHORITIES))
        finished = asyncio.ensure_future(day.done.wait())
        tasks += [finished]
        remaining = max(0.0, deadline - time.time())
        await asyncio.wait({senders}, timeout=remaining)
        if senders.done():
            senders.result()
            result.submit_wall_s = time.monotonic() - started
            say(
                f"worker: {result.referrals_accepted} referrals accepted in "
                f"{result.submit_wall_s:.2f} s; waiting for the answers"
            )
            day.target = result.referrals_accepted  # refused referrals are never answered
            day.check_done()
        every = {finished, *tasks[: 2 * len(HSPS)]}
        await asyncio.wait(
            every, timeout=max(0.0, deadline - time.time()), return_when=asyncio.FIRST_COMPLETED
        )
        for task in tasks[: 2 * len(HSPS)]:
            if task.done():
                error = None if task.cancelled() else task.exception()
                raise RuntimeError(f"an HSP task ended: {error!r}")
        if not finished.done():
            say("worker: wall-time limit reached")
    except Exception as exc:
        result.error(f"{type(exc).__name__}: {exc}")
        say(f"worker: {type(exc).__name__}: {exc}")
    finally:
        if started is not None:
            result.wall_s = (day.finished_at or time.monotonic()) - started
        if senders is not None:
            tasks.append(senders)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await day.close()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result.cpu_s = round(usage.ru_utime + usage.ru_stime, 2)
    return result


def worker_main(args: argparse.Namespace) -> int:
    result = asyncio.run(
        run_worker(Path(args.home), args.url, args.items, args.batch, args.deadline)
    )
    tmp = Path(args.result).with_suffix(".tmp")
    tmp.write_text(json.dumps(dataclasses.asdict(result)), encoding="utf-8")
    tmp.replace(args.result)
    return 0 if result.answered == args.items else 1


# ----------------------------------------------------------------- orchestrator


def _run_client(
    args: argparse.Namespace, home: Path, url: str, env: dict[str, str], deadline: float
) -> tuple[WorkerResult | None, list[str]]:
    """Run the client process (this script with ``--worker``) and read its result."""
    return exchange.run_client_process(
        Path(__file__),
        ["--items", str(args.items), "--batch", str(args.batch)],
        WorkerResult,
        home=home,
        url=url,
        env=env,
        deadline=deadline,
        json_only=args.json_only,
    )


def orchestrate(args: argparse.Namespace) -> int:
    """Set up, start the broker and the client process, collect and print the figures."""
    from perci_sim.bootstrap import init_home
    from perci_sim.logging import configure_logging

    configure_logging("console", logging.WARNING)
    deadline = time.time() + args.max_seconds
    problems: list[str] = []
    figures: dict[str, Any] = {
        "benchmark": "referrals",
        "backend": "sqlite",
        "items": args.items,
        "batch": args.batch,
        "completed": 0,
        "wall_s": None,
        "items_per_s_end_to_end": None,
        "referrals_per_s_submitted": None,
        "referral_batch_ms": percentiles([]),
        "outcome_batch_ms": percentiles([]),
        "submit_to_feed_ms": percentiles([]),
        "submit_to_outcome_ms": percentiles([]),
        "broker_cpu_s": None,
        "broker_peak_rss_mb": None,
        "client_cpu_s": None,
        "complete": False,
        "log_verified": False,
    }
    home = Path(tempfile.mkdtemp(prefix="perci-bench-rad-"))
    port = exchange._free_port()
    url = f"http://127.0.0.1:{port}"
    env = exchange._broker_env()
    broker: subprocess.Popen[bytes] | None = None
    result: WorkerResult | None = None
    try:
        asyncio.run(init_home(home, broker_url=url))
        say(f"setup in {home}; broker on {url} (clock speed 1, log {home / 'broker.log'})")
        broker = exchange._start_broker(home, port, env, args.profile_broker)
        exchange._wait_healthy(url, broker, min(deadline, time.time() + exchange.HEALTH_TIMEOUT_S))
        say(f"broker healthy (pid {broker.pid}); starting the client process")
        result, client_problems = _run_client(args, home, url, env, deadline)
        problems += client_problems
        if broker.poll() is not None:
            problems.append(f"the broker exited during the run (status {broker.returncode})")
    except Exception as exc:
        problems.append(f"{type(exc).__name__}: {exc}")
    finally:
        if broker is not None:
            figures["broker_peak_rss_mb"] = exchange._peak_rss_mb(broker.pid)
            figures["broker_cpu_s"] = exchange._cpu_s(broker.pid)
            if not exchange._stop(broker):
                problems.append("the broker did not stop on SIGINT in time")

    if result is not None:
        figures["completed"] = result.answered
        figures["wall_s"] = round(result.wall_s, 3)
        if result.wall_s > 0:
            figures["items_per_s_end_to_end"] = round(result.answered / result.wall_s, 1)
        if result.submit_wall_s > 0:
            figures["referrals_per_s_submitted"] = round(
                result.referrals_accepted / result.submit_wall_s, 1
            )
        figures["referral_batch_ms"] = percentiles(result.referral_batch_s)
        figures["outcome_batch_ms"] = percentiles(result.outcome_batch_s)
        figures["submit_to_feed_ms"] = percentiles(result.submit_to_feed_s)
        figures["submit_to_outcome_ms"] = percentiles(result.submit_to_outcome_s)
        figures["client_cpu_s"] = result.cpu_s
        if result.referrals_refused or result.outcomes_refused:
            problems.append(
                f"{result.referrals_refused} referrals and {result.outcomes_refused} outcomes "
                "refused"
            )
        problems += result.errors
    figures["complete"] = result is not None and result.answered == args.items
    if not figures["complete"]:
        problems.append(f"{figures['completed']} of {args.items} referrals answered")

    if (home / "broker-key.jwk.json").exists():
        figures["log_verified"], verify_problems = exchange._verify_log(home, env)
        problems += verify_problems
    broker_errors = exchange._log_errors(home / "broker.log")
    figures["broker_log_errors"] = len(broker_errors)
    for line in broker_errors[:5]:
        say(f"broker log: {line[:400]}")
    if broker_errors:
        problems.append(f"{len(broker_errors)} error lines in the broker log")
    figures["problems"] = problems

    say(
        f"\n{figures['completed']}/{args.items} referrals sent and answered in "
        f"{figures['wall_s']} s ({figures['items_per_s_end_to_end']} items/s end to end; "
        f"referrals accepted at {figures['referrals_per_s_submitted']}/s)"
        f"\n  referral batch POST {figures['referral_batch_ms']}, outcome batch POST "
        f"{figures['outcome_batch_ms']}"
        f"\n  batch start -> feed {figures['submit_to_feed_ms']}, -> outcome accepted "
        f"{figures['submit_to_outcome_ms']}"
        f"\n  CPU: broker {figures['broker_cpu_s']} s, client {figures['client_cpu_s']} s; "
        f"broker peak RSS {figures['broker_peak_rss_mb']} MiB; "
        f"log verified: {figures['log_verified']}"
    )
    for problem in problems:
        say(f"  ✗ {problem}")
    if problems or args.keep:
        say(f"setup kept in {home}")
    else:
        shutil.rmtree(home, ignore_errors=True)
    print(json.dumps(figures), flush=True)
    return 1 if problems else 0


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def _batch(text: str) -> int:
    value = _positive(text)
    if value > 500:
        raise argparse.ArgumentTypeError(f"the broker takes at most 500 per batch, got {text}")
    return value


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--items", type=_positive, default=5000, help="referrals to send")
    parser.add_argument(
        "--batch", type=_batch, default=250, help="referrals (and outcomes) per SDK call"
    )
    parser.add_argument(
        "--max-seconds", type=float, default=300.0, help="wall-time limit (start-up included)"
    )
    parser.add_argument("--json-only", action="store_true", help="no progress on stderr")
    parser.add_argument("--keep", action="store_true", help="keep the temporary setup")
    parser.add_argument(
        "--profile-broker", metavar="FILE", help="run the broker under cProfile, stats to FILE"
    )
    worker = parser.add_argument_group("internal (the client process)")
    worker.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    worker.add_argument("--home", help=argparse.SUPPRESS)
    worker.add_argument("--url", help=argparse.SUPPRESS)
    worker.add_argument("--result", help=argparse.SUPPRESS)
    worker.add_argument("--deadline", type=float, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    return exchange.dispatch(parse_args(argv), worker_main, orchestrate)


if __name__ == "__main__":
    sys.exit(main())
