"""The authority SDK and ``perci-authority`` against a fake broker over real HTTP."""

from __future__ import annotations

import asyncio
import inspect
import json
import socket
import uuid
from pathlib import Path
from typing import Any

import pytest
from pytest_aiohttp import AiohttpServer
from test_clients_support import FakeBroker, problem, start_broker

import authority_client
from authority_client import (
    AuthorityClient,
    AuthorityClientError,
    BrokerUnavailable,
    ProblemError,
    ReceiptInvalid,
)
from authority_client._cli import main
from perci_schemas import jws, keys, validation
from perci_schemas.credentials import load_credentials


@pytest.fixture
async def broker(aiohttp_server: AiohttpServer) -> FakeBroker:
    return await start_broker(aiohttp_server)


@pytest.fixture
def credentials(broker: FakeBroker, tmp_path: Path) -> Path:
    return broker.credentials(
        broker.authority, tmp_path, telephone="+4961155", contact_email="tco@bka.example.com"
    )


async def _order(client: AuthorityClient, **overrides: str) -> dict[str, Any]:
    return await client.prepare_order(
        hsp_id="hsp-alpha",
        urls=["https://video.example.com/watch?v=x7Tq9"],
        reasons=["a", "d"],
        details="Glorifies the attack of 3 November and gives bomb-making instructions.",
        **overrides,
    )


def test_exported_members() -> None:
    """__all__ lists exactly the public names, and every error derives from the root."""
    public = {
        name
        for name, value in vars(authority_client).items()
        if not name.startswith("_") and not inspect.ismodule(value) and name != "annotations"
    }
    assert set(authority_client.__all__) == public
    for error in (ProblemError, ReceiptInvalid, BrokerUnavailable):
        assert issubclass(error, AuthorityClientError)


class TestIssueOrder:
    async def test_signed_order_verifies_with_the_credentials_key(
        self, broker: FakeBroker, credentials: Path
    ) -> None:
        """The JWS the broker receives is a removal order signed by the credentials' key."""
        async with AuthorityClient.from_credentials(credentials) as client:
            issued = await client.issue_order(await _order(client))
        ((path, token),) = broker.received
        assert path == "/v1/orders"
        assert jws.peek_header(token)["typ"] == "perci.removal-order+jws"
        public = keys.load_private(load_credentials(credentials).key.to_jwk()).public
        signed = jws.verify(token, expected_type="removal_order", resolve_key=lambda _: public)
        assert signed.kid == "de-bka#1"
        assert signed.payload == issued.document
        assert signed.payload["sender"] == "de-bka"
        assert uuid.UUID(signed.payload["message_id"]).version == 4
        assert issued.receipt.document_sha256 == jws.document_hash(token)
        assert issued.order["order_id"] == issued.receipt.order_id

    async def test_built_order_is_complete_and_consistent(
        self, broker: FakeBroker, credentials: Path
    ) -> None:
        """Sections A-G come from the credentials and the directory; D matches A (R10)."""
        async with AuthorityClient.from_credentials(credentials) as client:
            issued = await client.issue_order(await _order(client, reference="BKA-1"))
        order = issued.document
        validation.validate("removal_order", order)
        assert set(order) >= {f"section_{s}" for s in "abcdefg"}
        section_a = order["section_a"]
        assert section_a["issuing_member_state"] == "DE"
        assert section_a["hsp_member_state"] == "IE"
        assert section_a["addressee"] == {"hsp_id": "hsp-alpha", "name": "HSP Alpha Ltd"}
        assert section_a["reference_number"] == "BKA-1"
        assert order["section_d"] == {
            "host_member_state_differs": True,
            "copy_sent_to_host_authority": True,
        }
        assert order["language"] == "en"  # the HSP's first designated language
        assert order["emergency"] == {"is_emergency": False}
        assert order["section_e"]["telephone"] == "+4961155"
        assert order["section_f"]["feedback_contact"]["email"] == "tco@bka.example.com"
        assert order["section_b"]["reasons"] == ["a", "d"]

    async def test_same_member_state_is_not_cross_border(
        self, broker: FakeBroker, credentials: Path
    ) -> None:
        """An HSP established in the issuing MS gets section D all false."""
        broker.add("hsp-de", "hsp", "Hoster GmbH", "DE", ["de"])
        async with AuthorityClient.from_credentials(credentials) as client:
            order = await client.prepare_order(
                hsp_id="hsp-de", urls=["https://x.example/1"], reasons=["e"], details="Threat."
            )
        assert order["section_d"] == {
            "host_member_state_differs": False,
            "copy_sent_to_host_authority": False,
        }
        assert order["language"] == "de"

    async def test_receipt_with_wrong_hash_is_refused(
        self, broker: FakeBroker, credentials: Path
    ) -> None:
        """A receipt for another document raises ReceiptInvalid."""
        broker.receipt_hash = "0" * 64
        async with AuthorityClient.from_credentials(credentials) as client:
            with pytest.raises(ReceiptInvalid, match="document_sha256"):
                await client.issue_order(await _order(client))

    async def test_receipt_signed_by_another_key_is_refused(
        self, broker: FakeBroker, credentials: Path
    ) -> None:
        """A receipt that does not verify with the published broker key raises ReceiptInvalid."""
        broker.receipt_key = keys.generate()
        async with AuthorityClient.from_credentials(credentials) as client:
            with pytest.raises(ReceiptInvalid, match="does not verify"):
                await client.issue_order(await _order(client))

    async def test_problem_becomes_problem_error(
        self, broker: FakeBroker, credentials: Path
    ) -> None:
        """problem+json keeps its code, status, detail and extension members."""
        broker.forced[("POST", "/v1/orders")] = problem(
            409,
            "advance_information_missing",
            "no advance information reached hsp-alpha 12 h before",
            not_before="2026-11-25T22:00:00.000+00:00",
        )
        async with AuthorityClient.from_credentials(credentials) as client:
            with pytest.raises(ProblemError) as info:
                await client.issue_order(await _order(client))
        assert info.value.status == 409
        assert info.value.code == "advance_information_missing"
        assert info.value.body["not_before"] == "2026-11-25T22:00:00.000+00:00"

    async def test_schema_violation_lists_the_fields(
        self, broker: FakeBroker, credentials: Path
    ) -> None:
        """The broker's field errors reach the caller."""
        async with AuthorityClient.from_credentials(credentials) as client:
            order = await _order(client)
            order["section_a"]["issuing_member_state"] = "XX"
            with pytest.raises(ProblemError) as info:
                await client.issue_order(order)
        assert info.value.code == "schema_violation"
        assert any(e["field"] == "/section_a/issuing_member_state" for e in info.value.errors)


class TestOtherDocuments:
    async def test_advance_information_clarify_withdraw(
        self, broker: FakeBroker, credentials: Path
    ) -> None:
        """Each document is signed with its own typ and answered with a verified receipt."""
        async with AuthorityClient.from_credentials(credentials) as client:
            receipt = await client.send_advance_information(
                "hsp-alpha", "Orders via perci-sim.", "One hour.", "tco@bka.example.com"
            )
            assert receipt.order_id is None
            issued = await client.issue_order(await _order(client))
            order_id = issued.order["order_id"]
            clarified = await client.clarify(
                order_id, "The video is at 00:35.", [{"url": "https://video.example.com/v/2"}]
            )
            withdrawn = await client.withdraw(order_id, "Duplicate of another order.")
            history = await client.history(order_id)
        assert clarified.receipt.message_type == "clarification"
        assert withdrawn.order["state"] == "withdrawn"
        assert [e["kind"] for e in history][-2:] == [
            "clarification_received",
            "withdrawal_received",
        ]
        typs = [jws.peek_header(token)["typ"] for _, token in broker.received]
        assert typs == [
            "perci.advance-information+jws",
            "perci.removal-order+jws",
            "perci.clarification+jws",
            "perci.withdrawal+jws",
        ]

    async def test_unreachable_broker_is_broker_unavailable(self, credentials: Path) -> None:
        """A refused connection becomes BrokerUnavailable, chained to the aiohttp error."""
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        client = AuthorityClient.from_credentials(
            credentials, broker_url=f"http://127.0.0.1:{port}", retries=0
        )
        async with client:
            with pytest.raises(BrokerUnavailable) as info:
                await client.list_orders()
        assert info.value.__cause__ is not None


class TestCli:
    async def test_issue_from_flags_prints_json(
        self, broker: FakeBroker, credentials: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """`issue --hsp --url --reason --details --json` sends a complete order."""
        code = await asyncio.to_thread(
            main,
            [
                "--credentials",
                str(credentials),
                "issue",
                "--hsp",
                "hsp-alpha",
                "--url",
                "https://video.example.com/watch?v=1",
                "--reason",
                "a",
                "--details",
                "Incites attacks.",
                "--json",
            ],
        )
        out = capsys.readouterr()
        assert code == 0, out.err
        result = json.loads(out.out)
        assert result["order"]["hsp_id"] == "hsp-alpha"
        assert result["receipt"]["seq"] == 1

    async def test_issue_from_yaml_file_and_list(
        self,
        broker: FakeBroker,
        credentials: Path,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """An order file is sent as written; `list` shows it in a table."""
        order_file = tmp_path / "order.yaml"
        order_file.write_text(
            "language: en\n"
            "section_a:\n"
            "  issuing_member_state: DE\n"
            "  reference_number: BKA-YAML-1\n"
            "  addressee: {hsp_id: hsp-alpha}\n"
        )
        env = ["--credentials", str(credentials)]
        assert await asyncio.to_thread(main, [*env, "issue", str(order_file)]) == 0
        assert await asyncio.to_thread(main, [*env, "list"]) == 0
        assert "BKA-YAML-1" in capsys.readouterr().out

    async def test_yaml_dates_are_sent_as_written(
        self,
        broker: FakeBroker,
        credentials: Path,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """Unquoted YAML date-times and dates stay text: no traceback, no reformatting."""
        order_file = tmp_path / "order.yaml"
        order_file.write_text(
            "language: en\n"
            "section_a:\n"
            "  issuing_member_state: DE\n"
            "  reference_number: BKA-YAML-2\n"
            "  addressee: {hsp_id: hsp-alpha}\n"
            "  issued_at: 2026-11-25T10:58:00+01:00\n"
            "section_e: {date: 2026-11-25}\n"
        )
        code = await asyncio.to_thread(
            main, ["--credentials", str(credentials), "issue", str(order_file)]
        )
        assert code == 0, capsys.readouterr().err
        (sent,) = broker.received_documents("removal_order")
        assert sent["section_a"]["issued_at"] == "2026-11-25T10:58:00+01:00"
        assert sent["section_e"]["date"] == "2026-11-25"

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("message_type: feedback\nlanguage: en\n", "'feedback', not a removal order"),
            ("language: en\nsection_b: {content: !!set {a, b}}\n", "/section_b/content: a set"),
            ("language: en\n1: one\n", "member name 1 is not text"),
            ("language: en\nscore: .nan\n", "/score: nan is not a JSON number"),
        ],
    )
    async def test_order_file_that_is_not_an_order_is_one_line(
        self,
        broker: FakeBroker,
        credentials: Path,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        text: str,
        message: str,
    ) -> None:
        """Another document type or YAML that JSON cannot carry: exit 1, one line, nothing sent."""
        order_file = tmp_path / "order.yaml"
        order_file.write_text(text)
        code = await asyncio.to_thread(
            main, ["--credentials", str(credentials), "issue", str(order_file)]
        )
        err = capsys.readouterr().err
        assert code == 1
        assert err.count("\n") == 1
        assert err.startswith(f"perci-authority: error: {order_file}: ")
        assert message in err
        assert broker.received_documents("removal_order") == []

    async def test_problem_is_one_line_and_exit_1(
        self, broker: FakeBroker, credentials: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A problem answer prints `perci-authority: error: ...` once, no traceback."""
        broker.forced[("POST", "/v1/orders/o-1/withdrawal")] = problem(
            409, "illegal_transition", "order o-1 is executed"
        )
        code = await asyncio.to_thread(
            main, ["--credentials", str(credentials), "withdraw", "o-1", "No longer needed."]
        )
        err = capsys.readouterr().err
        assert code == 1
        assert err.count("\n") == 1
        assert err.startswith("perci-authority: error: order o-1 is executed")
        assert "illegal_transition" in err
        assert "Traceback" not in err

    async def test_file_errors_and_usage_errors(
        self, broker: FakeBroker, credentials: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A missing order file exits 1; FILE together with build flags exits 2."""
        env = ["--credentials", str(credentials)]
        assert await asyncio.to_thread(main, [*env, "issue", "/nonexistent/order.yaml"]) == 1
        assert capsys.readouterr().err.startswith("perci-authority: error: ")
        assert await asyncio.to_thread(main, [*env, "issue", "x.yaml", "--hsp", "hsp-alpha"]) == 2
        assert "not both" in capsys.readouterr().err
        assert main(["frobnicate"]) == 2

    def test_missing_credentials_is_one_line(
        self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Without --credentials or $PERCI_CREDENTIALS the CLI says so and exits 1."""
        monkeypatch.delenv("PERCI_CREDENTIALS", raising=False)
        assert main(["list"]) == 1
        assert capsys.readouterr().err == (
            "perci-authority: error: no credentials: pass --credentials PATH or set "
            "PERCI_CREDENTIALS\n"
        )
