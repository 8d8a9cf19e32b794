"""``perci-platform`` subcommands of the order lifecycle (issue 3).

Art. 4(4) scrutiny requests, Art. 4(7) reinstatement, Art. 6 purge, Art. 10-11
information and complaint outcomes, Art. 5 reports and review requests.  A
content provider (:class:`~platform_client.ContentProviderClient`) runs
``lifecycle``, ``request-scrutiny`` and ``complain``; the role table is in
:mod:`platform_client._cli`.
"""

from __future__ import annotations

import argparse
from typing import Any

from perci_schemas.client_cli import UsageError, print_accepted, print_json
from platform_client._lifecycle import LifecyclePlatformMethods

__all__ = ["COMMANDS", "add_parsers", "run", "scrutiny_reasons"]

COMMANDS = frozenset(
    {
        "lifecycle",
        "request-scrutiny",
        "complain",
        "reinstate",
        "purge",
        "inform-provider",
        "complaint-outcome",
        "exposure-report",
        "review-request",
    }
)


def add_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add the lifecycle subcommands to ``sub``."""
    p = sub.add_parser("lifecycle", parents=[common], help="an order's lifecycle and obligations")
    p.add_argument("order_id")
    p = sub.add_parser(
        "request-scrutiny", parents=[common], help="HSP or content provider: Art. 4(4) (48 h)"
    )
    p.add_argument("order_id")
    p.add_argument("reasons", nargs="?", help="the reasoned request (or --reason)")
    p.add_argument("--reason", dest="reason_option", metavar="TEXT", help="the reasoned request")
    p = sub.add_parser(
        "complain", parents=[common], help="content provider: Art. 10(1) complaint to the HSP"
    )
    p.add_argument("order_id")
    p.add_argument("--text", "--grounds", dest="text", required=True, help="the grounds")
    p = sub.add_parser("reinstate", parents=[common], help="Art. 4(7): content restored")
    p.add_argument("order_id")
    p.add_argument("--explanation")
    p = sub.add_parser("purge", parents=[common], help="Art. 6: preserved content deleted")
    p.add_argument("order_id")
    p = sub.add_parser("inform-provider", parents=[common], help="Art. 11: inform the provider")
    p.add_argument("order_id")
    p.add_argument("content_provider")
    p.add_argument("information")
    p.add_argument("--copy", action="store_true", help="a copy of the order is given")
    p = sub.add_parser("complaint-outcome", parents=[common], help="Art. 10(2) outcome")
    p.add_argument("order_id")
    p.add_argument("outcome", choices=("upheld", "rejected"))
    p.add_argument("--reasons")
    p.add_argument("--reinstated", action="store_true")
    p = sub.add_parser("exposure-report", parents=[common], help="Art. 5(5) report")
    p.add_argument("decision_id")
    p.add_argument("measures")
    p = sub.add_parser("review-request", parents=[common], help="Art. 5(7) review request")
    p.add_argument("decision_id")
    p.add_argument("grounds")


async def run(client: LifecyclePlatformMethods, args: argparse.Namespace) -> int:
    """Run one lifecycle subcommand."""
    command = args.command
    if command == "lifecycle":
        print_json(await client.lifecycle(args.order_id))
        return 0
    if command == "exposure-report":
        receipt = await client.exposure_report(args.decision_id, args.measures)
        print_accepted("exposure report", receipt, as_json=args.json)
        return 0
    if command == "review-request":
        receipt = await client.review_request(args.decision_id, args.grounds)
        print_accepted("review request", receipt, as_json=args.json)
        return 0
    if command == "request-scrutiny":
        accepted = await client.request_scrutiny(args.order_id, scrutiny_reasons(args))
    elif command == "complain":
        accepted = await client.complain(args.order_id, args.text)
    elif command == "reinstate":
        accepted = await client.reinstate(args.order_id, args.explanation)
    elif command == "purge":
        accepted = await client.purge_content(args.order_id)
    elif command == "inform-provider":
        accepted = await client.inform_content_provider(
            args.order_id, args.content_provider, args.information, copy=args.copy
        )
    else:
        accepted = await client.complaint_outcome(
            args.order_id,
            upheld=args.outcome == "upheld",
            reinstated=args.reinstated,
            reasons=args.reasons,
        )
    print_accepted(command.replace("-", " "), accepted, as_json=args.json)
    return 0


def scrutiny_reasons(args: argparse.Namespace) -> str:
    """The reasons of ``request-scrutiny``: REASONS or ``--reason TEXT``, exactly one."""
    positional, option = args.reasons, args.reason_option
    if positional is not None and option is not None:
        raise UsageError("request-scrutiny: give REASONS or --reason TEXT, not both")
    reasons = option if option is not None else positional
    if not reasons:
        raise UsageError("request-scrutiny: give the reasons (--reason TEXT)")
    return str(reasons)
