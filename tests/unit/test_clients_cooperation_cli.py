"""The Art. 14 subcommands of both CLIs parse, and Europol may use the authority SDK."""

from __future__ import annotations

from authority_client import AuthorityClient
from authority_client._cli import build_parser as authority_parser
from platform_client import PlatformClient
from platform_client._cli import build_parser as platform_parser


def test_authority_cli_cooperation_subcommands() -> None:
    parser = authority_parser()
    refer = parser.parse_args(
        ["refer", "--hsp", "hsp-beta", "--url", "https://x.example/1", "--details", "ToS"]
    )
    assert (refer.command, refer.hsp, refer.url) == ("refer", "hsp-beta", ["https://x.example/1"])
    hold = parser.parse_args(["hold", "--url", "https://x.example/1", "--reason", "secret"])
    assert hold.command == "hold"
    assert parser.parse_args(["lift-hold", "h-1"]).hold_id == "h-1"
    assert parser.parse_args(["ack-threat", "r-1", "--note", "ok"]).note == "ok"
    for command in ("referrals", "holds", "threats"):
        assert parser.parse_args([command]).command == command


def test_platform_cli_cooperation_subcommands() -> None:
    parser = platform_parser()
    answer = parser.parse_args(["answer-referral", "ref-1", "not_removed", "--reason", "satire"])
    assert (answer.outcome, answer.reason) == ("not_removed", "satire")
    report = parser.parse_args(
        ["report-threat", "--url", "https://x.example/live", "--description", "attack tonight"]
    )
    assert report.member_state == []  # none named: own Member State and Europol
    named = parser.parse_args(
        ["report-threat", "--url", "u", "--description", "d", "--member-state", "de"]
    )
    assert named.member_state == ["de"]
    assert parser.parse_args(["threat", "r-1"]).report_id == "r-1"


def test_roles_accepted_by_each_sdk() -> None:
    """Europol (Art. 14) uses the authority SDK; the platform SDK stays HSP-only."""
    assert AuthorityClient.accepted_roles() == {"authority", "europol"}
    assert PlatformClient.accepted_roles() == {"hsp"}
