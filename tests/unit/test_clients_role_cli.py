"""The credentials' role chooses each CLI's client and subcommands.

``perci-authority`` serves authorities, courts (Art. 9) and Europol (Art. 14);
``perci-platform`` serves HSPs and content providers (Art. 4(4), 10, 11).  A
subcommand of another role is refused in one line, exit 1, before any request.
The last tests drive both CLIs in-process against a real broker.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import structlog

from authority_client import AuthorityClient, CourtClient
from authority_client._cli import ROLE_COMMANDS as AUTHORITY_ROLES
from authority_client._cli import build_parser as authority_parser
from authority_client._cli import main as authority_main
from perci_schemas import keys
from perci_schemas.client_cli import open_client, require_command_for_role, roles_epilog
from perci_schemas.client_errors import InputError
from perci_schemas.credentials import Credentials
from platform_client import ContentProviderClient, PlatformClient
from platform_client._cli import ROLE_COMMANDS as PLATFORM_ROLES
from platform_client._cli import build_parser as platform_parser
from platform_client._cli import main as platform_main

#: A broker URL nothing listens on: a refused command must never get that far.
NOWHERE = "http://127.0.0.1:9"


def _subcommands(parser: argparse.ArgumentParser) -> set[str]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return set(action.choices)
    raise AssertionError("no subcommands")


def _credentials(participant_id: str, role: str, name: str = "") -> Credentials:
    key = keys.generate()
    return Credentials(
        broker_url=NOWHERE,
        participant_id=participant_id,
        role=role,
        token="t",
        kid=f"{participant_id}#1",
        key=key,
        name=name,
    )


def _write(tmp_path: Path, participant_id: str, role: str, broker_url: str = NOWHERE) -> Path:
    key = keys.generate()
    path = tmp_path / f"{participant_id}.json"
    data = {
        "broker_url": broker_url,
        "participant_id": participant_id,
        "role": role,
        "token": "t",
        "kid": f"{participant_id}#1",
        "private_jwk": key.to_jwk(),
    }
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


class TestRoleTables:
    def test_every_command_belongs_to_a_role_and_exists(self) -> None:
        for parser, table in (
            (authority_parser(), AUTHORITY_ROLES),
            (platform_parser(), PLATFORM_ROLES),
        ):
            commands = _subcommands(parser)
            granted = set().union(*table.values())
            assert granted == commands

    def test_authority_runs_everything_and_the_court_its_four_procedures(self) -> None:
        assert set(AUTHORITY_ROLES) == {"authority", "court", "europol"}
        assert AUTHORITY_ROLES["authority"] == _subcommands(authority_parser())
        assert AUTHORITY_ROLES["court"] == {
            "status",
            "history",
            "lifecycle",
            "watch",
            "annul",
            "appeal-notice",
            "extend-preservation",
        }
        europol = AUTHORITY_ROLES["europol"]
        assert {"refer", "hold", "lift-hold", "ack-threat", "status"} <= europol
        assert not {"issue", "withdraw", "annul", "scrutiny-decision"} & europol

    def test_content_provider_reads_requests_scrutiny_and_complains(self) -> None:
        assert set(PLATFORM_ROLES) == {"hsp", "content_provider"}
        assert PLATFORM_ROLES["content_provider"] == {
            "show",
            "history",
            "lifecycle",
            "watch",
            "request-scrutiny",
            "complain",
        }
        hsp = PLATFORM_ROLES["hsp"]
        assert "complain" not in hsp
        assert {"inbox", "feedback", "reinstate", "request-scrutiny", "history"} <= hsp

    def test_help_lists_the_commands_of_each_role(self, capsys: pytest.CaptureFixture[str]) -> None:
        assert authority_main(["--help"]) == 0
        out = capsys.readouterr().out
        assert "court: annul, appeal-notice, extend-preservation, history" in out
        assert platform_main(["--help"]) == 0
        out = capsys.readouterr().out
        assert "content_provider: complain, history, lifecycle, request-scrutiny" in out
        assert roles_epilog({"x": frozenset({"b", "a"})}).endswith("  x: a, b")


class TestRoleCheck:
    def test_command_of_another_role_names_who_may_run_it(self) -> None:
        court = _credentials("de-court", "court")
        with pytest.raises(InputError) as info:
            require_command_for_role("perci-authority", "issue", court, AUTHORITY_ROLES)
        message = str(info.value)
        assert message.startswith("issue is for role authority; 'de-court' is a court")
        assert "annul" in message
        with pytest.raises(InputError, match="annul is for role authority or court"):
            require_command_for_role(
                "perci-authority", "annul", _credentials("europol", "europol"), AUTHORITY_ROLES
            )
        require_command_for_role("perci-authority", "annul", court, AUTHORITY_ROLES)

    def test_role_the_cli_does_not_serve(self) -> None:
        with pytest.raises(InputError) as info:
            require_command_for_role(
                "perci-platform",
                "inbox",
                _credentials("de-bka", "authority"),
                PLATFORM_ROLES,
                elsewhere={"authority": "perci-authority"},
            )
        assert str(info.value) == (
            "credentials of 'de-bka' are for role 'authority'; perci-platform takes "
            "credentials of role hsp or content_provider; use perci-authority"
        )

    def test_open_client_checks_the_class_roles(self) -> None:
        court = open_client(CourtClient, _credentials("de-court", "court"), "http://b.example/")
        assert (court.participant_id, court.broker_url) == ("de-court", "http://b.example")
        provider = open_client(ContentProviderClient, _credentials("cp-demo", "content_provider"))
        assert provider.broker_url == NOWHERE
        assert isinstance(open_client(AuthorityClient, _credentials("europol", "europol")), object)
        for cls in (AuthorityClient, PlatformClient, ContentProviderClient):
            with pytest.raises(InputError, match="for role 'court'"):
                open_client(cls, _credentials("de-court", "court"))

    @pytest.mark.parametrize(
        ("main", "role", "argv", "expected"),
        [
            (authority_main, "court", ["issue", "--hsp", "h"], "issue is for role authority"),
            (authority_main, "court", ["list"], "list is for role authority"),
            (authority_main, "europol", ["clarify", "o", "t"], "clarify is for role authority"),
            (authority_main, "hsp", ["status", "o"], "use perci-platform"),
            (platform_main, "content_provider", ["inbox"], "inbox is for role hsp"),
            (platform_main, "content_provider", ["reinstate", "o"], "reinstate is for role hsp"),
            (platform_main, "hsp", ["complain", "o", "--text", "x"], "role content_provider"),
            (platform_main, "court", ["show", "o"], "use perci-authority"),
        ],
    )
    def test_refused_in_one_line_before_any_request(
        self,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        main: Any,
        role: str,
        argv: list[str],
        expected: str,
    ) -> None:
        creds = _write(tmp_path, "someone", role)
        assert main(["--credentials", str(creds), *argv]) == 1
        out = capsys.readouterr()
        assert out.out == ""
        lines = out.err.splitlines()
        assert len(lines) == 1, out.err
        assert expected in lines[0]
        assert "unavailable" not in lines[0]  # refused before the (absent) broker is asked


class TestUsage:
    def test_annul_options(self) -> None:
        args = authority_parser().parse_args(
            ["annul", "o-1", "--judgment", "VG 1/26", "--target", "decision"]
        )
        assert (args.court, args.judgment, args.target) == (None, "VG 1/26", "decision")
        assert authority_parser().parse_args(["annul", "o-1", "--judgment", "J"]).target == "order"

    def test_authority_annulment_must_name_the_court(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        creds = _write(tmp_path, "de-bka", "authority")
        assert authority_main(["--credentials", str(creds), "annul", "o-1", "--judgment", "J"]) == 2
        assert "give --court NAME" in capsys.readouterr().err

    @pytest.mark.parametrize(
        "argv",
        [
            ["request-scrutiny", "o-1"],
            ["request-scrutiny", "o-1", "because", "--reason", "because"],
        ],
    )
    def test_scrutiny_request_needs_exactly_one_reasons(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
    ) -> None:
        creds = _write(tmp_path, "cp-demo", "content_provider")
        assert platform_main(["--credentials", str(creds), *argv]) == 2
        assert "request-scrutiny: give" in capsys.readouterr().err

    def test_platform_options(self) -> None:
        parser = platform_parser()
        assert parser.parse_args(["feedback", "o", "--reinstatable"]).reinstatable is True
        assert parser.parse_args(["feedback", "o"]).reinstatable is False
        assert parser.parse_args(["complain", "o", "--grounds", "g"]).text == "g"
        assert parser.parse_args(["request-scrutiny", "o", "--reason", "r"]).reason_option == "r"
        assert parser.parse_args(["reinstate", "o", "--explanation", "e"]).explanation == "e"


class TestAgainstTheBroker:
    """Both CLIs in-process against the real broker (``tests/conftest.py``)."""

    @staticmethod
    def _creds(b: Any, tmp_path: Path, participant_id: str) -> str:
        party = b.parties[participant_id]
        path = tmp_path / f"{participant_id}.json"
        data = {
            "broker_url": str(b.server.make_url("")).rstrip("/"),
            "participant_id": party.id,
            "role": party.role,
            "name": party.name,
            "member_state": party.member_state,
            "token": party.token,
            "kid": party.kid,
            "private_jwk": party.key.to_jwk(),
        }
        path.write_text(json.dumps(data), encoding="utf-8")
        return str(path)

    async def test_content_provider_and_court(
        self, broker: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        b = await broker()
        # The broker logs to stdout; only the CLIs' output is of interest here.
        structlog.configure(logger_factory=structlog.ReturnLoggerFactory())
        order_id = (await b.issue("de-bka", "hsp-alpha"))["order_id"]
        capsys.readouterr()
        hsp, cp, court = (self._creds(b, tmp_path, p) for p in ("hsp-alpha", "cp-demo", "de-court"))

        async def run(main: Any, creds: str, *argv: str) -> Any:
            code = await asyncio.to_thread(main, ["--credentials", creds, *argv, "--json"])
            out = capsys.readouterr()
            assert code == 0, out.err
            return json.loads(out.out)

        fed = await run(platform_main, hsp, "feedback", order_id, "--reinstatable")
        assert fed["order"]["state"] == "executed"
        # Not informed yet: the content provider cannot see the order.
        code = await asyncio.to_thread(platform_main, ["--credentials", cp, "show", order_id])
        assert code == 1
        assert "not_found" in capsys.readouterr().err
        await run(platform_main, hsp, "inform-provider", order_id, "cp-demo", "Removed.")
        # Informed without a copy: the order itself stays with the HSP (Art. 11(2)).
        assert await asyncio.to_thread(platform_main, ["--credentials", cp, "show", order_id]) == 1
        assert "Art. 11(2)" in capsys.readouterr().err
        await run(platform_main, hsp, "inform-provider", order_id, "cp-demo", "Copy.", "--copy")

        shown = await run(platform_main, cp, "show", order_id)
        assert shown["signed_by"] == b.parties["de-bka"].kid
        assert shown["document"]["section_a"]["addressee"]["hsp_id"] == "hsp-alpha"
        complaint = await run(platform_main, cp, "complain", order_id, "--text", "Satire.")
        assert complaint["receipt"]["message_type"] == "complaint"
        request = await run(platform_main, cp, "request-scrutiny", order_id, "Reporting.")
        assert request["receipt"]["message_type"] == "scrutiny_request"
        history = await run(platform_main, hsp, "history", order_id)
        assert "complaint_received" in [e["kind"] for e in history]

        annulled = await run(authority_main, court, "annul", order_id, "--judgment", "6 K 1/26")
        assert annulled["order"]["state"] == "no_legal_effect"
        events = await run(authority_main, court, "history", order_id)
        annulment = next(e for e in events if e["kind"] == "court_annulment_received")
        assert annulment["data"]["court"] == b.parties["de-court"].name
        assert annulment["actor"] == "de-court"
        lifecycle = await run(platform_main, cp, "lifecycle", order_id)
        assert lifecycle["lifecycle"]["legal_effect_cause"] == "court_annulment"
