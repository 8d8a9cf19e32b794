"""``perci-platform`` subcommands for TCO Art. 14 cooperation.

``referrals``, ``answer-referral``, ``report-threat``, ``threats``, ``threat``.
"""

from __future__ import annotations

import argparse

from perci_schemas.client_cooperation_cli import (
    print_cooperation_accepted,
    print_referrals,
    print_threat,
    print_threats,
)
from platform_client.client import PlatformClient

__all__ = ["COMMANDS", "add_parsers", "run"]

COMMANDS = frozenset({"referrals", "answer-referral", "report-threat", "threats", "threat"})


def add_parsers(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    """Add the cooperation subcommands to ``sub`` (an argparse subparsers action)."""
    referrals = sub.add_parser(
        "referrals", parents=[common], help="list referrals received (voluntary, no deadline)"
    )
    referrals.add_argument("--state", choices=("open", "answered"))
    answer = sub.add_parser("answer-referral", parents=[common], help="answer a referral once")
    answer.add_argument("referral_id")
    answer.add_argument("outcome", choices=("removed", "not_removed"))
    answer.add_argument("--reason", help="required for not_removed")

    report = sub.add_parser(
        "report-threat", parents=[common], help="report an imminent threat to life (Art. 14(5))"
    )
    report.add_argument("--url", action="append", required=True, help="URL (repeatable)")
    report.add_argument("--description", required=True, help="what is threatened, where, when")
    report.add_argument(
        "--member-state",
        action="append",
        default=[],
        help="a Member State concerned (repeatable); none: own Member State and Europol",
    )
    report.add_argument("--reference", help="your case reference")
    sub.add_parser("threats", parents=[common], help="list your Art. 14(5) reports")
    threat = sub.add_parser(
        "threat", parents=[common], help="show a report's per-recipient delivery records"
    )
    threat.add_argument("report_id")


async def run(client: PlatformClient, args: argparse.Namespace) -> int:
    """Run a cooperation subcommand with a :class:`~platform_client.PlatformClient`."""
    command, as_json = args.command, args.json
    if command == "referrals":
        print_referrals(await client.referrals(args.state), as_json=as_json)
    elif command == "answer-referral":
        accepted = await client.answer_referral(args.referral_id, args.outcome, reason=args.reason)
        print_cooperation_accepted("referral outcome", accepted, as_json=as_json)
    elif command == "report-threat":
        accepted = await client.report_imminent_threat(
            args.url,
            args.description,
            [m.upper() for m in args.member_state],
            reference=args.reference,
        )
        print_cooperation_accepted("imminent-threat report", accepted, as_json=as_json)
    elif command == "threats":
        print_threats(await client.imminent_threats(), as_json=as_json)
    elif command == "threat":
        print_threat(await client.get_imminent_threat(args.report_id), as_json=as_json)
    return 0
