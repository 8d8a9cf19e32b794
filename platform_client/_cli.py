"""``perci-platform``: receive and answer removal orders from the command line.

Exit codes: 0 ok, 1 error (one line on stderr), 2 usage error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Sequence
from datetime import datetime

import structlog

from perci_schemas.client_cli import (
    UsageError,
    add_watch_arguments,
    cli_main,
    common_options,
    print_accepted,
    print_json,
    print_record,
    print_table,
    watch_and_print,
)
from perci_schemas.client_support import InputError, OrderView, parse_time
from platform_client import _cooperation_cli, _lifecycle_cli
from platform_client.annexes import CLARIFICATION_REASONS, IMPOSSIBILITY_REASONS, MEASURES
from platform_client.client import PlatformClient, VerifiedOrder
from platform_client.daemon import run_daemon
from platform_client.handler import load_handler

PROG = "perci-platform"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default: ``sys.argv[1:]``) and return the exit code."""
    return cli_main(PROG, build_parser(), argv, _run)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``perci-platform``."""
    common = common_options()
    parser = argparse.ArgumentParser(
        prog=PROG,
        parents=[common],
        description="Hosting-provider client for the perci-sim removal-order exchange.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("inbox", parents=[common], help="list open orders addressed to us")
    for name, text in (("show", "verify and show one order"), ("ack", "acknowledge an order")):
        sub.add_parser(name, parents=[common], help=text).add_argument("order_id")

    feedback = sub.add_parser("feedback", parents=[common], help="send Annex II (Art. 3(6))")
    feedback.add_argument("order_id")
    feedback.add_argument("--measure", choices=MEASURES, default="removed")
    feedback.add_argument(
        "--measure-at", type=_aware_time, metavar="ISO", help="default: broker time now"
    )

    impossible = sub.add_parser(
        "impossibility", parents=[common], help="send Annex III (Art. 3(7)/(8))"
    )
    impossible.add_argument("order_id")
    impossible.add_argument(
        "--reason", action="append", required=True, choices=IMPOSSIBILITY_REASONS
    )
    impossible.add_argument("--info", required=True, help="further information (B(2))")
    impossible.add_argument("--clarification-required", help="needed for errors/insufficient")

    ceased = sub.add_parser(
        "grounds-ceased", parents=[common], help="report the force majeure ended (Art. 3(7))"
    )
    ceased.add_argument("order_id")
    ceased.add_argument("explanation")

    webhook = sub.add_parser("webhook", parents=[common], help="set or clear the webhook URL")
    target = webhook.add_mutually_exclusive_group(required=True)
    target.add_argument("url", nargs="?")
    target.add_argument("--clear", action="store_true")

    watch = sub.add_parser("watch", parents=[common], help="print events live until Ctrl-C")
    add_watch_arguments(watch)

    run = sub.add_parser("run", parents=[common], help="answer orders through a handler")
    run.add_argument("--handler", required=True, metavar="MODULE:FUNCTION")
    run.add_argument("--max-orders", type=int, metavar="N", help="exit after N handled")
    run.add_argument("--poll-interval", type=float, default=5.0, metavar="SECONDS")
    # TCO Art. 14: referral outcomes, imminent-threat reports.
    _cooperation_cli.add_parsers(sub, common)
    # Issue 3: the order lifecycle (Art. 3(9), 4, 5, 6, 9, 10, 11).
    _lifecycle_cli.add_parsers(sub, common)
    return parser


async def _run(args: argparse.Namespace) -> int:
    _check(args)
    async with PlatformClient.from_credentials(args.credentials, broker_url=args.broker) as c:
        command = args.command
        if command == "inbox":
            _print_orders(await c.inbox(), as_json=args.json)
        elif command == "show":
            _print_order(await c.verify_order(await c.get_order(args.order_id)), args.json)
        elif command == "ack":
            print_accepted("acknowledgement", await c.acknowledge(args.order_id), as_json=args.json)
        elif command == "feedback":
            accepted = await c.send_feedback(args.order_id, args.measure, args.measure_at)
            print_accepted("feedback (Annex II)", accepted, as_json=args.json)
        elif command == "impossibility":
            accepted = await c.send_impossibility(
                args.order_id, args.reason, args.info, args.clarification_required
            )
            print_accepted("impossibility (Annex III)", accepted, as_json=args.json)
        elif command == "grounds-ceased":
            accepted = await c.send_grounds_ceased(args.order_id, args.explanation)
            print_accepted("grounds ceased", accepted, as_json=args.json)
        elif command == "webhook":
            me = await c.set_webhook(None if args.clear else args.url)
            if args.json:
                print_json(me)
            else:
                print(f"webhook: {me.get('webhook_url') or '(none)'}")
        elif command == "watch":
            return await watch_and_print(c, args)
        elif command == "run":
            return await _run_daemon(c, args)
        elif command in _cooperation_cli.COMMANDS:
            return await _cooperation_cli.run(c, args)
        elif command in _lifecycle_cli.COMMANDS:
            return await _lifecycle_cli.run(c, args)
    return 0


def _check(args: argparse.Namespace) -> None:
    if args.command == "impossibility":
        needs = sorted(CLARIFICATION_REASONS & set(args.reason))
        if needs and not args.clarification_required:
            raise UsageError(f"--reason {needs[0]} needs --clarification-required TEXT")
    if args.command == "run" and args.max_orders is not None and args.max_orders < 1:
        raise UsageError("--max-orders must be at least 1")


async def _run_daemon(client: PlatformClient, args: argparse.Namespace) -> int:
    try:
        handler = load_handler(args.handler)
    except (ImportError, ValueError) as exc:
        raise InputError(f"cannot load handler {args.handler!r}: {exc}") from exc
    # Logs go to stderr so that stdout stays free for the summary.
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    stop = asyncio.Event()
    # SIGTERM stops the daemon cleanly; not available on Windows or off the main thread.
    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    handled = await run_daemon(
        client,
        handler,
        stop_event=stop,
        max_orders=args.max_orders,
        poll_interval=args.poll_interval,
    )
    if args.json:
        print_json({"handled": handled})
    else:
        print(f"handled {handled} order round(s)")
    return 0


def _print_orders(orders: Sequence[OrderView], *, as_json: bool) -> None:
    if as_json:
        print_json(orders)
        return
    print_table(
        "inbox",
        ("order_id", "reference", "authority", "state", "language", "received_at", "deadline_at"),
        [
            (
                o["order_id"],
                o["reference_number"],
                o["authority_id"],
                o["state"],
                o["language"],
                o["received_at"],
                o.get("deadline_at"),
            )
            for o in orders
        ],
    )


def _print_order(order: VerifiedOrder, as_json: bool) -> None:
    if as_json:
        print_json({"view": order.view, "document": order.document, "signed_by": order.kid})
        return
    view, doc = order.view, order.document
    section_b = doc.get("section_b", {})
    print_record(
        f"order {order.order_id}",
        {
            "reference": order.reference_number,
            "authority": f"{order.authority['name']} ({view['authority_id']})",
            "signature": f"verified ({order.kid})",
            "state": view["state"],
            "received_at": view["received_at"],
            "deadline_at": view.get("deadline_at"),
            "language": view["language"],
            "emergency": view["emergency"],
            "urls": "\n".join(order.urls),
            "reasons": ", ".join(section_b.get("reasons", [])),
            "details": section_b.get("reasons_details"),
            "flags": ", ".join(view.get("flags") or []),
        },
    )


def _aware_time(text: str) -> datetime:
    try:
        return parse_time(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from exc
