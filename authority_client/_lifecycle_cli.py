"""``perci-authority`` subcommands of the order lifecycle (issue 3).

Art. 4 scrutiny (host authority), Art. 3(9) finality, Art. 6(2) preservation,
Art. 11(3) non-disclosure, Art. 5 exposure decisions and reviews, Art. 9
annulments, and an order's lifecycle view.  A court (:class:`CourtClient`) runs
``lifecycle``, ``annul``, ``appeal-notice`` and ``extend-preservation``; the
role table is in :mod:`authority_client._cli`.
"""

from __future__ import annotations

import argparse
from typing import Any

from authority_client._lifecycle import CourtClient, LifecycleAuthorityMethods
from perci_schemas.client_cli import UsageError, print_accepted, print_json, print_record
from perci_schemas.client_support import parse_time

__all__ = ["COMMANDS", "add_parsers", "run"]

COMMANDS = frozenset(
    {
        "lifecycle",
        "scrutiny-prenotice",
        "scrutiny-decision",
        "appeal-notice",
        "finality-notice",
        "extend-preservation",
        "extend-nondisclosure",
        "annul",
        "exposure-decision",
        "review-decision",
    }
)


def add_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add the lifecycle subcommands to ``sub``."""
    p = sub.add_parser("lifecycle", parents=[common], help="an order's lifecycle and obligations")
    p.add_argument("order_id")
    p = sub.add_parser(
        "scrutiny-prenotice", parents=[common], help="host authority: intended infringement (4(5))"
    )
    p.add_argument("order_id")
    p.add_argument("reasons")
    p = sub.add_parser(
        "scrutiny-decision", parents=[common], help="host authority: Art. 4 decision"
    )
    p.add_argument("order_id")
    p.add_argument("outcome", choices=("infringement", "no_infringement"))
    p.add_argument("reasons")
    p.add_argument("--initiative", choices=("own", "request"), default="own")
    p = sub.add_parser(
        "appeal-notice", parents=[common], help="issuing authority or court: 3(9) appeal"
    )
    p.add_argument("order_id")
    p.add_argument("kind", choices=("appeal_lodged", "confirmed"))
    p.add_argument("--details", help="e.g. the court and the case number")
    p = sub.add_parser("finality-notice", parents=[common], help="inform the host authority (3(9))")
    p.add_argument("order_id")
    p.add_argument("--note")
    p = sub.add_parser(
        "extend-preservation", parents=[common], help="authority or court: Art. 6(2) extension"
    )
    p.add_argument("order_id")
    p.add_argument("until", help="RFC 3339 date-time")
    p.add_argument("reason")
    p = sub.add_parser("extend-nondisclosure", parents=[common], help="Art. 11(3) extension")
    p.add_argument("order_id")
    p.add_argument("until", help="RFC 3339 date-time")
    p.add_argument("reason")
    p = sub.add_parser("annul", parents=[common], help="court or authority: Art. 9 annulment")
    p.add_argument("order_id")
    p.add_argument("--judgment", required=True, help="the judgment's reference")
    p.add_argument(
        "--court",
        help="the court that annulled (required for an authority; a court: its own name)",
    )
    p.add_argument(
        "--target",
        choices=("order", "decision"),
        default="order",
        help="the order itself, or an Art. 4/5 decision upholding it (default: order)",
    )
    p = sub.add_parser("exposure-decision", parents=[common], help="Art. 5(4) decision on an HSP")
    p.add_argument("hsp")
    p.add_argument("reasons")
    p = sub.add_parser("review-decision", parents=[common], help="Art. 5(7) review answer")
    p.add_argument("decision_id")
    p.add_argument("outcome", choices=("upheld", "amended", "revoked"))
    p.add_argument("reasons")


async def run(client: LifecycleAuthorityMethods, args: argparse.Namespace) -> int:
    """Run one lifecycle subcommand."""
    command = args.command
    if command == "lifecycle":
        view = await client.lifecycle(args.order_id)
        if args.json:
            print_json(view)
        else:
            print_record(f"lifecycle of {args.order_id}", view.get("lifecycle") or {})
            for row in view["obligations"]:
                print(f"  {row['kind']} ({row['article']}) {row['status']} due {row['due_at']}")
        return 0
    if command == "scrutiny-prenotice":
        accepted = await client.scrutiny_prenotice(args.order_id, args.reasons)
    elif command == "scrutiny-decision":
        accepted = await client.scrutiny_decision(
            args.order_id,
            infringement=args.outcome == "infringement",
            reasons=args.reasons,
            initiative=args.initiative,
        )
    elif command == "appeal-notice":
        accepted = await client.appeal_notice(args.order_id, args.kind, args.details)
    elif command == "finality-notice":
        accepted = await client.finality_notice(args.order_id, args.note)
    elif command == "extend-preservation":
        accepted = await client.extend_preservation(
            args.order_id, parse_time(args.until), args.reason
        )
    elif command == "extend-nondisclosure":
        accepted = await client.extend_nondisclosure(
            args.order_id, parse_time(args.until), args.reason
        )
    elif command == "annul":
        accepted = await client.annul(
            args.order_id,
            court=await _court_name(client, args.court),
            judgment_reference=args.judgment,
            target=args.target,
        )
    elif command == "exposure-decision":
        receipt = await client.exposure_decision(args.hsp, args.reasons)
        print_accepted("exposure decision", receipt, as_json=args.json)
        return 0
    else:
        receipt = await client.review_decision(args.decision_id, args.outcome, args.reasons)
        print_accepted("review decision", receipt, as_json=args.json)
        return 0
    print_accepted(command.replace("-", " "), accepted, as_json=args.json)
    return 0


async def _court_name(client: LifecycleAuthorityMethods, given: str | None) -> str:
    """``--court``, else a court's own directory name; an authority must name the court."""
    if given:
        return given
    if isinstance(client, CourtClient):
        return (await client.me())["name"] or client.participant_id
    raise UsageError("annul: give --court NAME, the court whose judgment you record")
