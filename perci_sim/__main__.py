"""``perci-sim``: run the broker and administer a setup.

Subcommands: ``init DIR``, ``serve``, ``db upgrade|current``,
``participants list|add|rotate-key|revoke-key``, ``verify-log``, ``report``,
``drill SCENARIO``.  Errors print one line on stderr and exit non-zero.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from perci_sim import bootstrap
from perci_sim.domain.errors import PerciError
from perci_sim.logging import configure_logging
from perci_sim.settings import Settings
from perci_sim.storage.db import Database, open_database
from perci_sim.storage.schema import SchemaOutOfDate, require_head

__all__ = ["main"]

PROG = "perci-sim"


class CliError(Exception):
    """A failure to report as one line."""


def _settings(args: argparse.Namespace) -> Settings:
    settings = Settings.from_env()
    overrides: dict[str, object] = {}
    if getattr(args, "home", None):
        overrides["home"] = Path(args.home)
    if getattr(args, "database_url", None):
        overrides["database_url"] = args.database_url
    if getattr(args, "host", None):
        overrides["host"] = args.host
    if getattr(args, "port", None) is not None:
        overrides["port"] = args.port
    if getattr(args, "rate_limit", None) is not None:
        if args.rate_limit < 0:
            raise CliError("--rate-limit must not be negative")
        overrides["rate_limit"] = args.rate_limit
    if getattr(args, "rate_burst", None) is not None:
        if args.rate_burst < 0:
            raise CliError("--rate-burst must not be negative")
        overrides["rate_burst"] = args.rate_burst
    if getattr(args, "speed", None) is not None:
        if args.speed <= 0:
            raise CliError("--speed must be positive")
        overrides["clock_speed"] = args.speed
    if getattr(args, "clock_epoch", None):
        try:
            epoch = datetime.fromisoformat(args.clock_epoch)
        except ValueError:
            raise CliError("--clock-epoch must be an ISO 8601 instant") from None
        if epoch.tzinfo is None:
            raise CliError("--clock-epoch must name its UTC offset")
        overrides["clock_epoch"] = epoch
    return replace(settings, **overrides)  # type: ignore[arg-type]


def _add_home(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--home", help="setup folder (default: $PERCI_HOME or ./perci-home)")
    parser.add_argument("--database-url", help="SQLAlchemy URL (default: SQLite in the home)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``perci-sim``."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="perci-sim broker: a removal-order exchange for Regulation (EU) 2021/784.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    init = sub.add_parser("init", help="create a setup: broker key, database, demo participants")
    init.add_argument("dir", help="folder to create the setup in")
    init.add_argument("--database-url", help="SQLAlchemy URL (default: SQLite in DIR)")
    init.add_argument("--broker-url", help="broker address written into the credentials")

    serve = sub.add_parser("serve", help="run the broker (SQLite in ./perci-home by default)")
    _add_home(serve)
    serve.add_argument("--host", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 8700)")
    serve.add_argument("--speed", type=float, help="clock speed: simulated s per wall s")
    serve.add_argument(
        "--clock-epoch",
        help="wall instant (ISO 8601) a scaled clock is anchored at: replicas with the same "
        "epoch and speed agree on the time ($PERCI_CLOCK_EPOCH)",
    )
    serve.add_argument(
        "--rate-limit",
        type=float,
        help="requests a second per participant (or IP), 0 = off (default 200, $PERCI_RATE_LIMIT)",
    )
    serve.add_argument(
        "--rate-burst",
        type=int,
        help="requests a participant may send at once (default 400, $PERCI_RATE_BURST)",
    )

    db = sub.add_parser("db", help="the database schema: Alembic migrations")
    dsub = db.add_subparsers(dest="action", required=True)
    dup = dsub.add_parser("upgrade", help="apply the migrations up to the current revision")
    _add_home(dup)
    dcur = dsub.add_parser("current", help="show the database's revision and the expected one")
    _add_home(dcur)

    participants = sub.add_parser("participants", help="administer participants and keys")
    psub = participants.add_subparsers(dest="action", required=True)
    plist = psub.add_parser("list", help="list participants and their keys")
    _add_home(plist)
    plist.add_argument("--json", action="store_true", help="machine-readable output")
    padd = psub.add_parser("add", help="register a participant with a new key and token")
    _add_home(padd)
    padd.add_argument("--id", required=True)
    padd.add_argument("--role", required=True, choices=["authority", "hsp", "facilitator"])
    padd.add_argument("--name", required=True)
    padd.add_argument("--member-state", required=True, help="two-letter EU code, e.g. DE")
    padd.add_argument("--languages", default="en", help="comma-separated ISO 639-1 codes")
    padd.add_argument("--contact-point", default="")
    padd.add_argument("--alg", choices=["EdDSA", "ES256"], default="EdDSA")
    padd.add_argument("--webhook-url")
    padd.add_argument("--broker-url", help="broker address written into the credentials")
    prot = psub.add_parser("rotate-key", help="new key for a participant; old keys revoked")
    _add_home(prot)
    prot.add_argument("participant_id")
    prot.add_argument("--alg", choices=["EdDSA", "ES256"], default="EdDSA")
    prev = psub.add_parser("revoke-key", help="revoke a key: its new signatures are refused")
    _add_home(prev)
    prev.add_argument("kid")

    verify = sub.add_parser("verify-log", help="check the hash chain and every signature")
    _add_home(verify)

    report = sub.add_parser(
        "report", help="TCO Art. 7, 8 and 21 transparency figures of a period, from the log"
    )
    _add_home(report)
    report.add_argument(
        "--from", dest="period_from", required=True, help="first day (YYYY-MM-DD, UTC)"
    )
    report.add_argument(
        "--to",
        dest="period_to",
        required=True,
        help="last day included (YYYY-MM-DD), or an exclusive ISO 8601 date-time",
    )
    report.add_argument("--format", choices=["json", "html", "md"], default="json")
    report.add_argument("--out", help="file to write (default: standard output)")

    drill = sub.add_parser(
        "drill", help="run a drill scenario against a broker and write an after-action report"
    )
    drill.add_argument("scenario", help="scenario file (YAML; see docs/DRILLS.md)")
    drill.add_argument("--speed", type=float, help="clock speed (default: the scenario's)")
    drill.add_argument("--seed", type=int, help="random seed (default: the scenario's)")
    drill.add_argument("--report", required=True, help="folder for report.json and report.html")
    drill.add_argument("--broker", help="join a running broker at this URL instead of starting one")
    drill.add_argument("--home", help="with --broker: the setup holding the parties' credentials")
    return parser


def _cmd_drill(args: argparse.Namespace, console: Console) -> int:
    from perci_sim.drills.runner import run_drill
    from perci_sim.drills.scenario import ScenarioError, load_scenario

    if args.speed is not None and args.speed <= 0:
        raise CliError("--speed must be positive")
    if args.broker and not args.home:
        raise CliError("--broker needs --home: the setup holding the parties' credentials")
    try:
        scenario = load_scenario(args.scenario)
    except ScenarioError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1
    result = run_drill(
        scenario,
        report_dir=Path(args.report),
        speed=args.speed,
        seed=args.seed,
        broker_url=args.broker,
        home=Path(args.home) if args.home else None,
    )
    return 0 if result.ok else 1


async def _open(settings: Settings) -> Database:
    """The setup's database, at the revision this code expects."""
    if not bootstrap.is_initialised(settings.home):
        raise CliError(f"{settings.home} holds no setup: run '{PROG} init {settings.home}' first")
    db = await open_database(settings.resolved_database_url, create=False)
    try:
        await require_head(db.engine)
    except BaseException:
        await db.close()
        raise
    return db


async def _cmd_db(args: argparse.Namespace, console: Console) -> int:
    from perci_sim.storage.schema import current_revision, head_revision, upgrade

    settings = _settings(args)
    if not settings.database_url and not bootstrap.is_initialised(settings.home):
        raise CliError(
            f"{settings.home} holds no setup: pass --database-url or run '{PROG} init' first"
        )
    db = await open_database(settings.resolved_database_url, create=False)
    try:
        if args.action == "upgrade":
            before, after = await upgrade(db.engine)
            if before == after:
                console.print(f"database already at revision {after}", highlight=False)
            else:
                console.print(
                    f"database upgraded from revision {before or 'none'} to {after}",
                    highlight=False,
                )
            return 0
        current, head = await current_revision(db.engine), head_revision()
        state = "(head)" if current == head else f"(expected {head}: run `{PROG} db upgrade`)"
        print(f"{current or 'none'} {state}")
        return 0 if current == head else 1
    finally:
        await db.close()


async def _cmd_init(args: argparse.Namespace, console: Console) -> int:
    home = Path(args.dir)
    settings = Settings.from_env()
    broker_url = args.broker_url or settings.public_url
    try:
        paths = await bootstrap.init_home(
            home, broker_url=broker_url, database_url=args.database_url
        )
    except FileExistsError as exc:
        raise CliError(str(exc)) from exc
    console.print(f"Initialised perci-sim setup in [bold]{home}[/bold]")
    table = Table("participant", "credentials file")
    for path in paths:
        table.add_row(path.stem, str(path))
    console.print(table)
    console.print(f"Start the broker with: {PROG} serve --home {home}")
    return 0


def _cmd_serve(args: argparse.Namespace, console: Console) -> int:
    from aiohttp import web

    from perci_sim.app import create_app, default_clock

    settings = _settings(args)
    configure_logging(settings.log_format)
    if settings.broker_key_file is None and not bootstrap.is_initialised(settings.home):
        # `perci-sim serve` with no configuration at all just works.  A broker key
        # given as a file (a replica's mounted secret) means a prepared deployment.
        asyncio.run(
            bootstrap.init_home(
                settings.home,
                broker_url=settings.public_url,
                database_url=settings.database_url,
            )
        )
        console.print(
            f"Created a new setup in {settings.home}; credentials in "
            f"{settings.home / 'credentials'}",
            highlight=False,
        )
    else:
        # An unmigrated or outdated database: refuse with one line, before serving.
        asyncio.run(_check_schema(settings))
    app = create_app(settings, clock=default_clock(settings))
    loop = _event_loop()
    console.print(
        f"perci-sim broker on {settings.public_url} (clock speed {settings.clock_speed:g}x, "
        f"event loop {type(loop).__module__.split('.')[0]})",
        highlight=False,
    )
    web.run_app(app, host=settings.host, port=settings.port, print=None, access_log=None, loop=loop)
    return 0


def _event_loop() -> asyncio.AbstractEventLoop:
    """uvloop where it is installed (Linux, macOS: about 12 % less broker CPU per order in
    bench/exchange.py), else asyncio's own; ``PERCI_EVENT_LOOP=asyncio`` chooses asyncio."""
    if os.environ.get("PERCI_EVENT_LOOP", "uvloop") != "asyncio":
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return uvloop.new_event_loop()
    return asyncio.new_event_loop()


async def _check_schema(settings: Settings) -> None:
    db = await _open(settings)
    await db.close()


async def _cmd_participants(args: argparse.Namespace, console: Console) -> int:
    from perci_sim.clock import SystemClock
    from perci_sim.storage import registry

    settings = _settings(args)
    db = await _open(settings)
    try:
        if args.action == "list":
            infos = await registry.list_participants(db)
            if args.json:
                rows = [
                    {
                        "id": p.id,
                        "role": p.role,
                        "name": p.name,
                        "member_state": p.member_state,
                        "languages": list(p.languages),
                        "keys": [{"kid": k.kid, "alg": k.alg, "status": k.status} for k in p.keys],
                    }
                    for p in infos
                ]
                print(json.dumps(rows, indent=2))
                return 0
            table = Table("id", "role", "name", "MS", "languages", "keys")
            for p in infos:
                table.add_row(
                    p.id,
                    p.role,
                    p.name,
                    p.member_state,
                    ",".join(p.languages),
                    ", ".join(f"{k.kid} ({k.alg}, {k.status})" for k in p.keys),
                )
            console.print(table)
        elif args.action == "add":
            participant = bootstrap.DemoParticipant(
                id=args.id,
                role=args.role,
                name=args.name,
                member_state=args.member_state.upper(),
                languages=tuple(x.strip() for x in args.languages.split(",") if x.strip()),
                contact_point=args.contact_point,
                alg=args.alg,
            )
            path = await bootstrap.add_participant(
                db,
                home=settings.home,
                broker_url=args.broker_url or settings.public_url,
                participant=participant,
                clock=SystemClock(),
                webhook_url=args.webhook_url,
            )
            console.print(f"Registered {args.id}; credentials in {path}", highlight=False)
        elif args.action == "rotate-key":
            kid = await bootstrap.rotate_key(
                db, home=settings.home, participant_id=args.participant_id, alg=args.alg
            )
            console.print(f"New key {kid}; previous keys revoked", highlight=False)
        elif args.action == "revoke-key":
            await registry.revoke_key(db, kid=args.kid, now=SystemClock().now())
            console.print(f"Revoked {args.kid}", highlight=False)
    finally:
        await db.close()
    return 0


async def _cmd_verify_log(args: argparse.Namespace, console: Console) -> int:
    from perci_sim.crypto.broker_key import load_or_create_broker_key
    from perci_sim.storage.log import verify_log

    settings = _settings(args)
    signer = load_or_create_broker_key(settings.broker_key_path)
    db = await _open(settings)
    try:
        report = await verify_log(db, broker_public_keys=signer.public_keys)
    finally:
        await db.close()
    for problem in report.problems:
        console.print(f"[red]✗[/red] {problem}", highlight=False)
    if report.ok:
        console.print(
            f"[green]✓[/green] {report.events} events: hash chain intact, "
            "every signature and receipt verifies",
            highlight=False,
        )
        return 0
    console.print(f"{len(report.problems)} problems in {report.events} events", highlight=False)
    return 1


async def _cmd_report(args: argparse.Namespace, console: Console) -> int:
    from perci_sim.clock import SystemClock
    from perci_sim.reports.load import build_report
    from perci_sim.reports.records import Period
    from perci_sim.reports.render import render

    period = Period.parse(args.period_from, args.period_to)
    settings = _settings(args)
    db = await _open(settings)
    try:
        report = await build_report(db, period, generated_at=SystemClock().now())
    finally:
        await db.close()
    text = render(report, args.format)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        console.print(f"Wrote the {args.format} report to {args.out}", highlight=False)
    else:
        sys.stdout.write(text)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``perci-sim``."""
    args = build_parser().parse_args(argv)
    console = Console()
    if args.command != "serve":
        # Administration prints its own results; library logs only when they matter.
        configure_logging("console", level=logging.WARNING)
    try:
        if args.command == "init":
            return asyncio.run(_cmd_init(args, console))
        if args.command == "serve":
            return _cmd_serve(args, console)
        if args.command == "db":
            return asyncio.run(_cmd_db(args, console))
        if args.command == "participants":
            return asyncio.run(_cmd_participants(args, console))
        if args.command == "verify-log":
            return asyncio.run(_cmd_verify_log(args, console))
        if args.command == "report":
            return asyncio.run(_cmd_report(args, console))
        if args.command == "drill":
            return _cmd_drill(args, console)
    except (CliError, PerciError, SchemaOutOfDate, SQLAlchemyError, ValueError, OSError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 2


if __name__ == "__main__":
    sys.exit(main())
