"""Benchmark of the core exchange on the embedded SQLite default.

One run:

1. initialises a fresh setup in a temporary folder (``perci_sim.bootstrap.init_home``)
   and starts ``python -m perci_sim serve`` on a free 127.0.0.1 port at clock speed 1,
   logging JSON to ``broker.log`` in that folder;
2. runs this script again as a separate client process (``--worker``) that drives the
   broker through the real SDKs: the setup's three issuing authorities send signed
   emergency orders (Art. 3(2) exception) to its three HSPs, spread evenly over the
   9 authority/HSP pairs; each HSP follows its WebSocket feed
   (``PlatformClient.watch``) and on ``order_delivered`` reads, verifies,
   acknowledges and answers with Annex II; at most ``--concurrency`` orders are in
   flight (from the start of the POST to the accepted Annex II);
3. reads the broker's peak RSS, stops it (SIGINT, bounded wait, kill as fallback),
   runs ``perci-sim verify-log`` on the setup.

Progress and a human-readable summary go to stderr; the figures are printed as one
JSON object on the LAST line of stdout (see bench/README.md for what each means).
The exit status is non-zero when anything failed; the JSON line is printed anyway.

    python bench/exchange.py                      # 500 orders, 16 in flight
    python bench/exchange.py --orders 40 --concurrency 4 --max-seconds 60 --json-only
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import logging
import math
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

#: The issuing authorities and the hosting providers of the ``perci-sim init`` setup
#: (its host-Member-State authorities, Europol, etc. take no part in the exchange).
AUTHORITIES = ("de-bka", "fr-ocrim", "es-cgi")
HSPS = ("hsp-alpha", "hsp-beta", "hsp-gamma")

#: The dataclass a client process writes as its result (``WorkerResult`` here).
_Result = TypeVar("_Result")

#: Bounds of the steps outside the exchange itself (seconds).
HEALTH_TIMEOUT_S = 30.0
WARM_UP_TIMEOUT_S = 30.0
WORKER_GRACE_S = 30.0
STOP_TIMEOUT_S = 10.0
VERIFY_TIMEOUT_S = 120.0

_quiet = False


def say(message: str) -> None:
    """Progress and human-readable lines: stderr, unless ``--json-only``."""
    if not _quiet:
        print(message, file=sys.stderr, flush=True)


def percentiles(samples: Sequence[float]) -> dict[str, float | None]:
    """p50 and p99 (nearest rank) of ``samples`` in seconds, as milliseconds."""
    if not samples:
        return {"p50": None, "p99": None}
    ordered = sorted(samples)

    def rank(p: float) -> float:
        index = max(0, math.ceil(p / 100 * len(ordered)) - 1)
        return round(ordered[index] * 1000, 2)

    return {"p50": rank(50), "p99": rank(99)}


# ----------------------------------------------------------------------- worker


@dataclass(slots=True)
class WorkerResult:
    """What the client process measured; written as JSON to ``--result``."""

    completed: int = 0
    failed: int = 0
    wall_s: float = 0.0
    submit_s: list[float] = field(default_factory=list)
    submit_to_delivery_s: list[float] = field(default_factory=list)
    submit_to_annex_ii_s: list[float] = field(default_factory=list)
    cpu_s: float = 0.0
    errors: list[str] = field(default_factory=list)

    def error(self, message: str) -> None:
        if message not in self.errors and len(self.errors) < 10:
            self.errors.append(message)


class Exchange:
    """The client side of the benchmark: three authorities, three platforms, one loop.

    bench/throughput.py runs several client processes: each follows only ``hsps``
    (a feed is followed by one process), may answer through another broker replica
    (``platform_url``), tags its orders' references and URLs (``tag``: unique across
    processes and runs) and starts its feeds after the log's ``after`` seq (a later
    run does not replay the orders of an earlier one).
    """

    def __init__(
        self,
        home: Path,
        url: str,
        result: WorkerResult,
        *,
        hsps: Sequence[str] = HSPS,
        platform_url: str | None = None,
        tag: str = "",
        after: int = 0,
    ) -> None:
        from authority_client import AuthorityClient
        from perci_sim.bootstrap import credentials_path
        from platform_client import PlatformClient

        self.result = result
        self.tag, self.after = tag, after
        self.authorities = {
            a: AuthorityClient.from_credentials(credentials_path(home, a), broker_url=url)
            for a in AUTHORITIES
        }
        self.platforms = {
            h: PlatformClient.from_credentials(
                credentials_path(home, h), broker_url=platform_url or url
            )
            for h in hsps
        }
        #: Order ``index`` goes over pair ``index % len(pairs)``: all 9 pairs evenly, or
        #: the pairs of this process's HSPs.
        every_pair = [(a, h) for h in HSPS for a in AUTHORITIES]
        self.pairs = [(a, h) for a, h in every_pair if h in self.platforms]
        self.feed_live = {h: asyncio.Event() for h in self.platforms}
        self._delivered: dict[str, asyncio.Future[float]] = {}
        self._answered: dict[str, asyncio.Future[float]] = {}
        self._handlers: set[asyncio.Task[None]] = set()

    @staticmethod
    def _future(table: dict[str, asyncio.Future[float]], order_id: str) -> asyncio.Future[float]:
        # The feed may announce an order before its POST has returned: whichever side
        # comes first creates the future.
        if order_id not in table:
            table[order_id] = asyncio.get_running_loop().create_future()
        return table[order_id]

    async def close(self) -> None:
        for task in self._handlers:
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        for answered in self._answered.values():  # answers nobody waited for any more
            if answered.done() and not answered.cancelled():
                answered.exception()
        for client in (*self.authorities.values(), *self.platforms.values()):
            await client.close()

    async def follow(self, hsp_id: str) -> None:
        """The HSP's feed: time each ``order_delivered``, then answer the order."""
        platform = self.platforms[hsp_id]
        async with aclosing(platform.watch(self.after)) as feed:
            async for event in feed:
                seen = time.monotonic()
                order_id = event.get("order_id")
                if event["kind"] == "advance_information_received":
                    self.feed_live[hsp_id].set()
                elif event["kind"] == "order_delivered" and order_id:
                    delivered = self._future(self._delivered, order_id)
                    if not delivered.done():
                        delivered.set_result(seen)
                    task = asyncio.create_task(self.answer(hsp_id, order_id))
                    self._handlers.add(task)
                    task.add_done_callback(self._handlers.discard)

    async def answer(self, hsp_id: str, order_id: str) -> None:
        """What an HSP does with a delivered order: read, verify, acknowledge, Annex II."""
        platform = self.platforms[hsp_id]
        answered = self._future(self._answered, order_id)
        try:
            view = await platform.get_order(order_id)
            verified = await platform.verify_order(view)
            await platform.acknowledge(order_id, order_sha256=verified.sha256)
            accepted = await platform.send_feedback(order_id, order=verified)
            if accepted.order["state"] != "executed":
                raise RuntimeError(f"order {order_id} is {accepted.order['state']} after Annex II")
        except Exception as exc:
            if not answered.done():
                answered.set_exception(exc)
            return
        if not answered.done():
            answered.set_result(time.monotonic())

    async def warm_up(self) -> None:
        """Advance information from each authority: opens every connection and feed.

        Each HSP's feed is live once it yields the advance information addressed to
        it; the first orders' latency then does not include connection set-up.
        """
        for client in (*self.authorities.values(), *self.platforms.values()):
            await client.participants()
            await client.clock()
        for authority_id, hsp_id in zip(AUTHORITIES, HSPS, strict=True):
            if hsp_id not in self.platforms:
                continue
            await self.authorities[authority_id].send_advance_information(
                hsp_id,
                procedures="Benchmark: orders arrive through perci-sim.",
                deadlines="One hour from receipt (Art. 3(3)).",
                contact_point=f"tco@{authority_id}.example",
            )
        async with asyncio.timeout(WARM_UP_TIMEOUT_S):
            for live in self.feed_live.values():
                await live.wait()

    async def one_order(self, index: int, gate: asyncio.Semaphore, progress: int) -> None:
        """Issue order ``index``, wait for its delivery on the feed and its Annex II."""
        authority_id, hsp_id = self.pairs[index % len(self.pairs)]
        authority = self.authorities[authority_id]
        async with gate:
            try:
                order = await authority.prepare_order(
                    hsp_id=hsp_id,
                    urls=[f"https://{hsp_id}.example/bench/{self.tag}{index}"],
                    reasons=["a"],
                    details="Video calling for attacks (benchmark).",
                    reference=f"BENCH-{self.tag}{index:05d}",
                    emergency_justification="Benchmark: ongoing attack (Art. 3(2)).",
                )
                started = time.monotonic()
                issued = await authority.issue_order(order)
                self.result.submit_s.append(time.monotonic() - started)
                order_id = issued.order["order_id"]
                delivered = await self._future(self._delivered, order_id)
                self.result.submit_to_delivery_s.append(delivered - started)
                answered = await self._future(self._answered, order_id)
                self.result.submit_to_annex_ii_s.append(answered - started)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.result.failed += 1
                self.result.error(f"{type(exc).__name__}: {exc}")
                say(f"  order {index} failed: {type(exc).__name__}: {exc}")
                return
        self.result.completed += 1
        if self.result.completed % progress == 0:
            say(f"  {self.result.completed} orders answered")


async def _unless_a_feed_ends(
    work: asyncio.Future[Any], feeds: Mapping[str, asyncio.Task[None]], within: float
) -> bool:
    """Wait for ``work`` (True when done), at most ``within`` s; raise if a feed ends.

    A feed that ends (refused, broker gone) would leave every order waiting for its
    delivery until the time limit: stop at once instead.
    """
    await asyncio.wait({work, *feeds.values()}, timeout=within, return_when=asyncio.FIRST_COMPLETED)
    for hsp_id, feed in feeds.items():
        if feed.done():
            error = None if feed.cancelled() else feed.exception()
            raise RuntimeError(f"the feed of {hsp_id} ended: {error!r}")
    return work.done()


async def run_worker(
    home: Path, url: str, orders: int, concurrency: int, deadline: float
) -> WorkerResult:
    """Drive the broker until ``orders`` are answered or the wall-clock ``deadline``."""
    return await drive(Exchange(home, url, WorkerResult()), orders, concurrency, deadline)


#: ``Exchange.one_order`` or a wrapper of it (bench/throughput.py paces its orders).
OrderStep = Callable[[int, asyncio.Semaphore, int], Coroutine[Any, Any, None]]


async def drive(
    exchange: Exchange,
    orders: int,
    concurrency: int,
    deadline: float,
    *,
    before_start: Callable[[], Awaitable[None]] | None = None,
    order: OrderStep | None = None,
) -> WorkerResult:
    """Warm up, then run ``order`` (default ``exchange.one_order``) for ``range(orders)``.

    ``before_start`` runs after the warm-up, right before the clock starts (the start
    barrier of several client processes).
    """
    result = exchange.result
    feeds = {h: asyncio.create_task(exchange.follow(h)) for h in exchange.platforms}
    waiting: list[asyncio.Future[Any]] = []
    started: float | None = None
    try:
        warm_up = asyncio.ensure_future(exchange.warm_up())
        waiting.append(warm_up)
        if not await _unless_a_feed_ends(warm_up, feeds, WARM_UP_TIMEOUT_S):
            raise TimeoutError(f"the feeds were not live within {WARM_UP_TIMEOUT_S:g} s")
        warm_up.result()
        if before_start is not None:
            await before_start()
        say(f"worker: feeds live, issuing {orders} orders, {concurrency} in flight")
        gate = asyncio.Semaphore(concurrency)
        progress = max(1, orders // 10)
        step = order or exchange.one_order
        started = time.monotonic()
        tasks = [asyncio.create_task(step(i, gate, progress)) for i in range(orders)]
        every = asyncio.gather(*tasks)
        waiting += [*tasks, every]
        if not await _unless_a_feed_ends(every, feeds, max(0.0, deadline - time.time())):
            say("worker: wall-time limit reached")
    except Exception as exc:
        result.error(f"{type(exc).__name__}: {exc}")
        say(f"worker: {type(exc).__name__}: {exc}")
    finally:
        if started is not None:
            result.wall_s = time.monotonic() - started
        for future in (*waiting, *feeds.values()):
            future.cancel()
        await asyncio.gather(*waiting, *feeds.values(), return_exceptions=True)
        await exchange.close()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result.cpu_s = round(usage.ru_utime + usage.ru_stime, 2)
    return result


def worker_main(args: argparse.Namespace) -> int:
    result = asyncio.run(
        run_worker(Path(args.home), args.url, args.orders, args.concurrency, args.deadline)
    )
    tmp = Path(args.result).with_suffix(".tmp")
    tmp.write_text(json.dumps(dataclasses.asdict(result)), encoding="utf-8")
    tmp.replace(args.result)
    return 0 if result.failed == 0 and result.completed == args.orders else 1


# ----------------------------------------------------------------- orchestrator


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_healthy(url: str, broker: subprocess.Popen[bytes], deadline: float) -> None:
    while time.time() < deadline:
        if broker.poll() is not None:
            raise RuntimeError(f"the broker exited during start-up (status {broker.returncode})")
        with (
            contextlib.suppress(urllib.error.URLError, OSError),
            urllib.request.urlopen(f"{url}/v1/health", timeout=1.0) as response,
        ):
            if response.status == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"the broker did not answer on {url}/v1/health in time")


def _peak_rss_mb(pid: int) -> float | None:
    """VmHWM (peak resident set) of a live process, in MiB."""
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return None


def _cpu_s(pid: int) -> float | None:
    """User + system CPU seconds a live process has used so far (/proc/<pid>/stat)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)": state is fields[0]
    return round((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), 2)


def _stop(process: subprocess.Popen[bytes], sig: int = signal.SIGINT) -> bool:
    """Signal ``process``, wait boundedly, kill as fallback; True when it stopped by itself."""
    if process.poll() is not None:
        return True
    process.send_signal(sig)
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
        return True
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return False


def _log_errors(log_path: Path) -> list[str]:
    """Error lines of the broker's JSON log."""
    found: list[str] = []
    with contextlib.suppress(OSError), log_path.open(encoding="utf-8", errors="replace") as log:
        for line in log:
            try:
                record = json.loads(line)
            except ValueError:
                if "Traceback" in line:
                    found.append(line.strip())
                continue
            if isinstance(record, dict) and record.get("level") in ("error", "critical"):
                found.append(line.strip())
    return found


def _load_result(path: Path, result_type: type[_Result]) -> _Result | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    names = {f.name for f in dataclasses.fields(result_type)}  # type: ignore[arg-type]
    return result_type(**{k: v for k, v in data.items() if k in names})


def _broker_env() -> dict[str, str]:
    """The environment of the broker and verify-log: the embedded SQLite default.

    No ``PERCI_DATABASE_URL``, ``PERCI_HOME``, ... from outside (``--postgres`` sets its
    own database); JSON logs.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERCI_")}
    env["PERCI_LOG_FORMAT"] = "json"
    return env


def _start_broker(
    home: Path,
    port: int,
    env: dict[str, str],
    profile: str | None,
    speed: float = 1.0,
    *,
    extra: Sequence[str] = (),
    log_name: str = "broker.log",
) -> subprocess.Popen[bytes]:
    """``perci-sim serve`` on 127.0.0.1:``port`` (``extra``: more serve options)."""
    command = [sys.executable]
    if profile:
        command += ["-m", "cProfile", "-o", str(Path(profile).resolve())]
    command += ["-m", "perci_sim", "serve", "--home", str(home)]
    command += ["--host", "127.0.0.1", "--port", str(port), "--speed", f"{speed:g}", *extra]
    with (home / log_name).open("wb") as log:
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)


def run_client_process(
    script: Path,
    options: list[str],
    result_type: type[_Result],
    *,
    home: Path,
    url: str,
    env: dict[str, str],
    deadline: float,
    json_only: bool,
    result_name: str = "worker-result.json",
) -> tuple[_Result | None, list[str]]:
    """Run ``script --worker OPTIONS`` as the client process and read its result file.

    ``result_name`` (in ``home``) tells concurrent client processes' results apart.
    """
    result_path = home / result_name
    command = [sys.executable, str(script.resolve()), "--worker"]
    command += ["--home", str(home), "--url", url, "--result", str(result_path)]
    command += [*options, "--deadline", repr(deadline)]
    if json_only:
        command.append("--json-only")
    problems: list[str] = []
    worker = subprocess.Popen(command, stdout=subprocess.DEVNULL, env=env)
    try:
        worker.wait(timeout=max(0.0, deadline - time.time()) + WORKER_GRACE_S)
    except subprocess.TimeoutExpired:
        problems.append("the client process did not finish in time and was stopped")
        _stop(worker)
    result = _load_result(result_path, result_type)
    if result is None:
        problems.append(f"the client process reported nothing (exit {worker.returncode})")
    return result, problems


def _run_client(
    args: argparse.Namespace, home: Path, url: str, env: dict[str, str], deadline: float
) -> tuple[WorkerResult | None, list[str]]:
    """Run the client process (this script with ``--worker``) and read its result."""
    options = ["--orders", str(args.orders), "--concurrency", str(args.concurrency)]
    return run_client_process(
        Path(__file__),
        options,
        WorkerResult,
        home=home,
        url=url,
        env=env,
        deadline=deadline,
        json_only=args.json_only,
    )


def _verify_log(home: Path, env: dict[str, str]) -> tuple[bool, list[str]]:
    try:
        verify = subprocess.run(
            [sys.executable, "-m", "perci_sim", "verify-log", "--home", str(home)],
            env=env,
            capture_output=True,
            text=True,
            timeout=VERIFY_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return False, [f"verify-log did not finish within {VERIFY_TIMEOUT_S:g} s"]
    say("verify-log: " + " ".join((verify.stdout + verify.stderr).split())[:300])
    if verify.returncode != 0:
        return False, ["perci-sim verify-log did not confirm the log"]
    return True, []


def _summary(figures: dict[str, Any]) -> str:
    def pair(name: str) -> str:
        return f"p50 {figures[name]['p50']} ms, p99 {figures[name]['p99']} ms"

    return (
        f"\n{figures['completed']}/{figures['orders']} orders in {figures['wall_s']} s "
        f"({figures['orders_per_s_end_to_end']} orders/s end to end, "
        f"{figures['concurrency']} in flight)"
        f"\n  POST /v1/orders (SDK issue_order)  {pair('submit_ms')}"
        f"\n  POST -> order_delivered on feed    {pair('submit_to_delivery_ms')}"
        f"\n  POST -> Annex II accepted          {pair('submit_to_annex_ii_ms')}"
        f"\n  CPU: broker {figures['broker_cpu_s']} s, client process {figures['client_cpu_s']} s"
        f"\n  broker peak RSS {figures['broker_peak_rss_mb']} MiB; "
        f"log verified: {figures['log_verified']}"
    )


def orchestrate(args: argparse.Namespace) -> int:
    """Set up, start the broker and the client process, collect and print the figures."""
    from perci_sim.bootstrap import init_home
    from perci_sim.logging import configure_logging

    configure_logging("console", logging.WARNING)  # init_home's own logs: stderr, quiet
    deadline = time.time() + args.max_seconds
    problems: list[str] = []
    figures: dict[str, Any] = {
        "benchmark": "exchange",
        "backend": "postgresql" if args.postgres else "sqlite",
        "orders": args.orders,
        "concurrency": args.concurrency,
        "completed": 0,
        "wall_s": None,
        "orders_per_s_end_to_end": None,
        "submit_to_delivery_ms": percentiles([]),
        "submit_ms": percentiles([]),
        "submit_to_annex_ii_ms": percentiles([]),
        "broker_peak_rss_mb": None,
        "broker_cpu_s": None,
        "client_cpu_s": None,
        "complete": False,
        "log_verified": False,
    }
    home = Path(tempfile.mkdtemp(prefix="perci-bench-"))
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = _broker_env()
    broker: subprocess.Popen[bytes] | None = None
    result: WorkerResult | None = None
    database: str | None = None
    try:
        if args.postgres:
            # A database of its own on that server, dropped at the end.
            database = f"perci_bench_{uuid.uuid4().hex[:12]}"
            asyncio.run(_postgres_admin(args.postgres, f'CREATE DATABASE "{database}"'))
            env["PERCI_DATABASE_URL"] = _on_database(args.postgres, database)
        asyncio.run(init_home(home, broker_url=url, database_url=env.get("PERCI_DATABASE_URL")))
        say(f"setup in {home}; broker on {url} (clock speed 1, log {home / 'broker.log'})")
        broker = _start_broker(home, port, env, args.profile_broker)
        _wait_healthy(url, broker, min(deadline, time.time() + HEALTH_TIMEOUT_S))
        say(f"broker healthy (pid {broker.pid}); starting the client process")
        result, client_problems = _run_client(args, home, url, env, deadline)
        problems += client_problems
        if broker.poll() is not None:
            problems.append(f"the broker exited during the run (status {broker.returncode})")
    except Exception as exc:
        problems.append(f"{type(exc).__name__}: {exc}")
    finally:
        if broker is not None:
            # Read while it runs: /proc/<pid> is gone once it has been reaped.
            figures["broker_peak_rss_mb"] = _peak_rss_mb(broker.pid)
            figures["broker_cpu_s"] = _cpu_s(broker.pid)
            if not _stop(broker):
                problems.append(f"the broker did not stop within {STOP_TIMEOUT_S:g} s of SIGINT")

    if result is not None:
        figures["completed"] = result.completed
        figures["wall_s"] = round(result.wall_s, 3)
        if result.wall_s > 0:
            figures["orders_per_s_end_to_end"] = round(result.completed / result.wall_s, 2)
        figures["submit_to_delivery_ms"] = percentiles(result.submit_to_delivery_s)
        figures["submit_ms"] = percentiles(result.submit_s)
        figures["submit_to_annex_ii_ms"] = percentiles(result.submit_to_annex_ii_s)
        figures["client_cpu_s"] = result.cpu_s
        if result.failed:
            problems.append(f"{result.failed} orders failed")
        problems += result.errors
    figures["complete"] = result is not None and result.completed == args.orders
    if not figures["complete"]:
        problems.append(f"{figures['completed']} of {args.orders} orders answered")

    if (home / "broker-key.jwk.json").exists():
        figures["log_verified"], verify_problems = _verify_log(home, env)
        problems += verify_problems
    if database is not None and not args.keep:
        asyncio.run(_postgres_admin(args.postgres, f'DROP DATABASE IF EXISTS "{database}"'))
    broker_errors = _log_errors(home / "broker.log")
    figures["broker_log_errors"] = len(broker_errors)
    for line in broker_errors[:5]:
        say(f"broker log: {line[:400]}")
    if broker_errors:
        problems.append(f"{len(broker_errors)} error lines in the broker log")
    figures["problems"] = problems

    say(_summary(figures))
    for problem in problems:
        say(f"  ✗ {problem}")
    if problems or args.keep:
        say(f"setup kept in {home}")
    else:
        shutil.rmtree(home, ignore_errors=True)
    print(json.dumps(figures), flush=True)
    return 1 if problems else 0


def _on_database(server: str, database: str) -> str:
    """``server`` (a PostgreSQL URL) on ``database``, with the asyncpg driver."""
    from sqlalchemy.engine import make_url

    return (
        make_url(server)
        .set(drivername="postgresql+asyncpg", database=database)
        .render_as_string(hide_password=False)
    )


async def _postgres_admin(server: str, statement: str) -> None:
    """Run one statement (CREATE/DROP DATABASE) on the server's own database."""
    import asyncpg
    from sqlalchemy.engine import make_url

    conn = await asyncpg.connect(
        make_url(server).set(drivername="postgresql").render_as_string(hide_password=False)
    )
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--orders", type=_positive, default=500, help="orders to exchange")
    parser.add_argument("--concurrency", type=_positive, default=16, help="orders in flight")
    parser.add_argument(
        "--max-seconds", type=float, default=120.0, help="wall-time limit (start-up included)"
    )
    parser.add_argument("--json-only", action="store_true", help="no progress on stderr")
    parser.add_argument("--keep", action="store_true", help="keep the temporary setup")
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="run the broker on PostgreSQL: a fresh database on this server "
        "(e.g. postgresql://127.0.0.1:5432/test), dropped at the end",
    )
    parser.add_argument(
        "--profile-broker",
        metavar="FILE",
        help="run the broker under cProfile and write its stats to FILE (slows it down)",
    )
    worker = parser.add_argument_group("internal (the client process)")
    worker.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    worker.add_argument("--home", help=argparse.SUPPRESS)
    worker.add_argument("--url", help=argparse.SUPPRESS)
    worker.add_argument("--result", help=argparse.SUPPRESS)
    worker.add_argument("--deadline", type=float, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def dispatch(
    args: argparse.Namespace,
    worker: Callable[[argparse.Namespace], int],
    orchestrator: Callable[[argparse.Namespace], int],
) -> int:
    """A benchmark script's main: the client process (``--worker``) or the orchestrator."""
    global _quiet
    _quiet = args.json_only
    return worker(args) if args.worker else orchestrator(args)


def main(argv: Sequence[str] | None = None) -> int:
    return dispatch(parse_args(argv), worker_main, orchestrate)


if __name__ == "__main__":
    sys.exit(main())
