"""``perci-platform``: receive and answer removal orders from the command line.

The credentials' role chooses the client and the subcommands: a hosting service
provider (:class:`PlatformClient`) may run them all except ``complain``; a
content provider (:class:`ContentProviderClient`, TCO Art. 4(4), 10, 11) reads
the orders it was informed of (``show``, ``history``, ``lifecycle``, ``watch``),
requests scrutiny and complains.  Any other subcommand is refused before a
request is made, in one line.

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

from perci_schemas import jws
from perci_schemas.client_cli import (
    RoleCommands,
    UsageError,
    add_watch_arguments,
    cli_main,
    common_options,
    open_client,
    print_accepted,
    print_events,
    print_json,
    print_record,
    print_table,
    require_command_for_role,
    roles_epilog,
    watch_and_print,
)
from perci_schemas.client_support import InputError, OrderView, parse_time
from perci_schemas.credentials import load_credentials
from perci_schemas.keys import load_public
from platform_client import _cooperation_cli, _lifecycle_cli
from platform_client._lifecycle import ContentProviderClient, LifecyclePlatformMethods
from platform_client.annexes import CLARIFICATION_REASONS, IMPOSSIBILITY_REASONS, MEASURES
from platform_client.client import PlatformClient, VerifiedOrder
from platform_client.daemon import run_daemon
from platform_client.errors import OrderInvalid
from platform_client.handler import load_handler

PROG = "perci-platform"

#: What a content provider may run about the orders it was informed of (Art. 4(4), 10, 11).
_CONTENT_PROVIDER = frozenset(
    {"show", "history", "lifecycle", "watch", "request-scrutiny", "complain"}
)
_HSP = frozenset(
    {"inbox", "show", "history", "ack", "feedback", "impossibility", "grounds-ceased"}
    | {"webhook", "watch", "run"}
)

#: Which subcommands each role of credentials may run (the broker's rules, docs/API.md).
ROLE_COMMANDS: RoleCommands = {
    "hsp": _HSP | _cooperation_cli.COMMANDS | (_lifecycle_cli.COMMANDS - {"complain"}),
    "content_provider": _CONTENT_PROVIDER,
}
_ELSEWHERE = {
    "authority": "perci-authority",
    "court": "perci-authority",
    "europol": "perci-authority",
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default: ``sys.argv[1:]``) and return the exit code."""
    return cli_main(PROG, build_parser(), argv, _run)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``perci-platform``."""
    common = common_options()
    parser = argparse.ArgumentParser(
        prog=PROG,
        parents=[common],
        description="Hosting-provider and content-provider client for the perci-sim "
        "removal-order exchange.",
        epilog=roles_epilog(ROLE_COMMANDS),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("inbox", parents=[common], help="list open orders addressed to us")
    for name, text in (
        ("show", "verify and show one order"),
        ("history", "show an order's events (a content provider: those it was shown)"),
        ("ack", "acknowledge an order"),
    ):
        sub.add_parser(name, parents=[common], help=text).add_argument("order_id")

    feedback = sub.add_parser("feedback", parents=[common], help="send Annex II (Art. 3(6))")
    feedback.add_argument("order_id")
    feedback.add_argument("--measure", choices=MEASURES, default="removed")
    feedback.add_argument(
        "--measure-at", type=_aware_time, metavar="ISO", help="default: broker time now"
    )
    feedback.add_argument(
        "--reinstatable",
        action="store_true",
        help="the content is kept restorable (Art. 4(2); cross-border orders)",
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
    credentials = load_credentials(args.credentials)
    require_command_for_role(PROG, args.command, credentials, ROLE_COMMANDS, elsewhere=_ELSEWHERE)
    _check(args)
    if credentials.role == "content_provider":
        async with open_client(ContentProviderClient, credentials, args.broker) as provider:
            if args.command == "show":
                view = await provider.get_order(args.order_id)
                if view.get("document") is None:
                    # TCO Art. 11(2): the copy of the order comes from the HSP, on request.
                    raise InputError(
                        f"{view['hsp_id']} has not given you a copy of order {args.order_id} "
                        "(Art. 11(2)); ask it for one"
                    )
                _print_order(await _verify_as_third_party(provider, view), args.json)
                return 0
            return await _run_shared(provider, args)
    async with open_client(PlatformClient, credentials, args.broker) as c:
        command = args.command
        if command == "inbox":
            _print_orders(await c.inbox(), as_json=args.json)
        elif command == "show":
            _print_order(await c.verify_order(await c.get_order(args.order_id)), args.json)
        elif command == "ack":
            print_accepted("acknowledgement", await c.acknowledge(args.order_id), as_json=args.json)
        elif command == "feedback":
            accepted = await c.send_feedback(
                args.order_id,
                args.measure,
                args.measure_at,
                reinstatable=True if args.reinstatable else None,
            )
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
        elif command == "run":
            return await _run_daemon(c, args)
        elif command in _cooperation_cli.COMMANDS:
            return await _cooperation_cli.run(c, args)
        else:
            return await _run_shared(c, args)
    return 0


async def _run_shared(client: LifecyclePlatformMethods, args: argparse.Namespace) -> int:
    """The subcommands an HSP and a content provider run alike: reads and lifecycle."""
    command = args.command
    if command == "history":
        events = await client.history(args.order_id)
        if args.json:
            print_json(events)
        else:
            print_events(events, title=f"history of {args.order_id}")
    elif command == "watch":
        return await watch_and_print(client, args)
    elif command in _lifecycle_cli.COMMANDS:
        return await _lifecycle_cli.run(client, args)
    else:  # pragma: no cover - every command of ROLE_COMMANDS is dispatched above
        raise UsageError(f"{command} is not available here")
    return 0


async def _verify_as_third_party(client: ContentProviderClient, view: OrderView) -> VerifiedOrder:
    """Verify an order's JWS with its issuer's registered key, as a third party would.

    Unlike :meth:`PlatformClient.verify_order` the addressee is not checked: a
    content provider reads an order addressed to its HSP (TCO Art. 11).
    """
    order_id, issuer, token = view["order_id"], view["authority_id"], view["document"]
    try:
        kid = str(jws.peek_header(token).get("kid"))
        if kid.split("#", 1)[0] != issuer:
            raise OrderInvalid(order_id, f"signed by {kid!r}, not by {issuer!r}")
        authority = await client.participant(issuer)
        entry = next((k for k in authority.get("keys", []) if k.get("kid") == kid), None)
        if entry is None:
            raise OrderInvalid(order_id, f"{kid!r} is not a registered key of {issuer!r}")
        revoked_at = entry.get("revoked_at")
        if entry.get("status") == "revoked" and (
            not revoked_at or parse_time(revoked_at) <= parse_time(view["received_at"])
        ):
            raise OrderInvalid(order_id, f"{kid!r} was revoked before the order was received")
        public = load_public(entry["jwk"])
        signed = jws.verify(token, expected_type="removal_order", resolve_key=lambda _: public)
    except jws.JWSError as exc:
        raise OrderInvalid(order_id, f"removal_order: {exc.message}") from exc
    except (KeyError, TypeError, ValueError) as exc:
        raise OrderInvalid(order_id, f"the issuer's key is unusable ({exc})") from exc
    if signed.payload.get("sender") != issuer:
        raise OrderInvalid(order_id, f"document sender is {signed.payload.get('sender')!r}")
    return VerifiedOrder(
        order_id=order_id,
        view=view,
        document=signed.payload,
        kid=signed.kid,
        sha256=signed.sha256,
        authority=authority,
    )


def _check(args: argparse.Namespace) -> None:
    if args.command == "impossibility":
        needs = sorted(CLARIFICATION_REASONS & set(args.reason))
        if needs and not args.clarification_required:
            raise UsageError(f"--reason {needs[0]} needs --clarification-required TEXT")
    if args.command == "run" and args.max_orders is not None and args.max_orders < 1:
        raise UsageError("--max-orders must be at least 1")
    if args.command == "request-scrutiny":
        _lifecycle_cli.scrutiny_reasons(args)


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
