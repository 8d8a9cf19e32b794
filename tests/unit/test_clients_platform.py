"""The platform SDK, its daemon and ``perci-platform`` against a fake broker over HTTP."""

from __future__ import annotations

import asyncio
import inspect
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pytest_aiohttp import AiohttpServer
from test_clients_support import FakeBroker, problem, start_broker, wait_for

import platform_client
from perci_schemas import jws, keys, validation
from platform_client import (
    ForceMajeure,
    InsufficientInformation,
    OrderInvalid,
    PlatformClient,
    PlatformClientError,
    ProblemError,
    Removal,
    VerifiedOrder,
    run_daemon,
)
from platform_client._cli import main

#: Received by the broker at 10:00:00.123 UTC, recorded with a +01:00 offset: a
#: client that re-formats the time instead of copying it breaks R9.
RECORDED = "2026-11-25T11:00:00.123+01:00"


@pytest.fixture
async def broker(aiohttp_server: AiohttpServer) -> FakeBroker:
    fake = await start_broker(aiohttp_server)
    fake.clock_now = datetime(2026, 11, 25, 10, 20, tzinfo=UTC)
    return fake


@pytest.fixture
def credentials(broker: FakeBroker, tmp_path: Path) -> Path:
    return broker.credentials(broker.hsp, tmp_path, authorised_person="Dana Duty")


def client_for(credentials: Path) -> PlatformClient:
    return PlatformClient.from_credentials(credentials, feed_backoff=(0.01, 0.05))


def stored_order(broker: FakeBroker, **members: Any) -> dict[str, Any]:
    order = broker.create_order(**members)
    order["received_at"] = order["clock_started_at"] = RECORDED
    return order


def test_exported_members() -> None:
    """__all__ lists exactly the public names, and every error derives from the root."""
    public = {
        name
        for name, value in vars(platform_client).items()
        if not name.startswith("_") and not inspect.ismodule(value) and name != "annotations"
    }
    assert set(platform_client.__all__) == public
    assert issubclass(OrderInvalid, PlatformClientError)
    assert issubclass(ProblemError, PlatformClientError)


class TestVerifyOrder:
    async def test_verifies_with_the_issuers_directory_key(
        self, broker: FakeBroker, credentials: Path
    ) -> None:
        """A genuine order verifies; its URLs and hash are exposed."""
        view = stored_order(broker)
        async with client_for(credentials) as client:
            order = await client.verify_order(await client.get_order(view["order_id"]))
        assert order.kid == "de-bka#1"
        assert order.urls == ["https://video.example.com/watch?v=x7Tq9"]
        assert order.sha256 == jws.document_hash(view["document"])
        assert order.authority["name"] == "Bundeskriminalamt"

    async def test_order_signed_with_another_key_is_invalid(
        self, broker: FakeBroker, credentials: Path
    ) -> None:
        """A signature by a key not registered for de-bka#1 raises OrderInvalid."""
        view = stored_order(broker, key=keys.generate())
        async with client_for(credentials) as client:
            with pytest.raises(OrderInvalid, match="does not verify"):
                await client.verify_order(view)  # type: ignore[arg-type]

    async def test_order_for_another_hsp_is_invalid(
        self, broker: FakeBroker, credentials: Path
    ) -> None:
        """The document's addressee must be us."""
        view = stored_order(broker)
        view["document"] = broker.create_order(hsp_id="hsp-beta")["document"]
        async with client_for(credentials) as client:
            with pytest.raises(OrderInvalid, match="hsp-beta"):
                await client.verify_order(view)  # type: ignore[arg-type]


class TestAnswers:
    async def test_acknowledgement_names_the_order_hash(
        self, broker: FakeBroker, credentials: Path
    ) -> None:
        """order_sha256 is the hash of the order JWS as received."""
        view = stored_order(broker)
        async with client_for(credentials) as client:
            accepted = await client.acknowledge(view["order_id"])
        (ack,) = broker.received_documents("acknowledgement")
        assert ack["order_sha256"] == jws.document_hash(view["document"])
        assert accepted.order["state"] == "acknowledged"

    async def test_feedback_copies_the_recorded_receipt_time(
        self, broker: FakeBroker, credentials: Path
    ) -> None:
        """Annex II section A order_received_at is the OrderView string exactly (R9)."""
        view = stored_order(broker)
        measure_at = datetime(2026, 11, 25, 10, 12, tzinfo=UTC)
        async with client_for(credentials) as client:
            accepted = await client.send_feedback(view["order_id"], "disabled_all_ms", measure_at)
        (feedback,) = broker.received_documents("feedback")
        validation.validate("feedback", feedback)
        assert feedback["section_a"]["order_received_at"] == RECORDED
        assert feedback["section_a"]["issuing_file_reference"] == view["reference_number"]
        assert feedback["section_b"] == {
            "measure": "disabled_all_ms",
            "measure_at": "2026-11-25T10:12:00.000+00:00",
        }
        assert feedback["section_c"]["member_state"] == "IE"
        assert feedback["section_c"]["authorised_person"] == "Dana Duty"
        assert feedback["section_c"]["date"] == "2026-11-25"
        assert accepted.order["state"] == "executed"
        assert accepted.receipt.message_type == "feedback"

    async def test_impossibility_needs_and_carries_the_clarification(
        self, broker: FakeBroker, credentials: Path
    ) -> None:
        """Annex III for insufficient information is valid and suspends the order."""
        view = stored_order(broker)
        async with client_for(credentials) as client:
            with pytest.raises(ValueError, match="clarification_required"):
                await client.send_impossibility(view["order_id"], ["manifest_errors"], "Typo.")
            accepted = await client.send_impossibility(
                view["order_id"],
                ["insufficient_information"],
                "The URL points to a channel of 4,000 videos.",
                "Which video, and from which minute?",
            )
        (notice,) = broker.received_documents("impossibility")
        assert notice["section_a"]["order_received_at"] == RECORDED
        assert notice["section_b"]["clarification_required"].startswith("Which video")
        assert accepted.order["state"] == "clarification_requested"

    async def test_receipt_with_wrong_hash_is_refused(
        self, broker: FakeBroker, credentials: Path
    ) -> None:
        """The platform SDK verifies receipts like the authority SDK."""
        view = stored_order(broker)
        broker.receipt_hash = "f" * 64
        async with client_for(credentials) as client:
            with pytest.raises(platform_client.ReceiptInvalid):
                await client.acknowledge(view["order_id"])

    async def test_webhook_and_grounds_ceased(self, broker: FakeBroker, credentials: Path) -> None:
        """The webhook URL is set; grounds ceased restarts a suspended order's clock."""
        view = stored_order(broker)
        async with client_for(credentials) as client:
            me = await client.set_webhook("https://tco.hsp-alpha.example.com/hook")
            await client.send_impossibility(
                view["order_id"], ["force_majeure"], "Data centre fire."
            )
            accepted = await client.send_grounds_ceased(view["order_id"], "Power is back.")
        assert me["webhook_url"] == "https://tco.hsp-alpha.example.com/hook"
        assert accepted.order["state"] == "delivered"
        validation.validate("grounds_ceased", broker.received_documents("grounds_ceased")[0])


class Recorder:
    """A handler that records its calls and follows a script of outcomes."""

    def __init__(self, *outcomes: BaseException | Removal | None) -> None:
        self.outcomes = list(outcomes)
        self.calls: list[VerifiedOrder] = []

    async def __call__(self, order: VerifiedOrder) -> Removal | None:
        self.calls.append(order)
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


class TestDaemon:
    async def test_handles_an_open_order_and_sends_feedback(
        self, broker: FakeBroker, credentials: Path
    ) -> None:
        """An order already in the inbox is verified, acknowledged, handled and answered."""
        view = stored_order(broker)
        handler = Recorder()
        async with client_for(credentials) as client:
            handled = await asyncio.wait_for(run_daemon(client, handler, max_orders=1), 5)
        assert handled == 1
        assert [o.order_id for o in handler.calls] == [view["order_id"]]
        (feedback,) = broker.received_documents("feedback")
        assert feedback["section_a"]["order_received_at"] == RECORDED
        assert len(broker.received_documents("acknowledgement")) == 1
        assert broker.orders[view["order_id"]]["state"] == "executed"

    async def test_force_majeure_becomes_annex_iii(
        self, broker: FakeBroker, credentials: Path
    ) -> None:
        """A handler raising ForceMajeure makes the daemon send Annex III, not Annex II."""
        view = stored_order(broker)
        handler = Recorder(ForceMajeure("Storage cluster offline."))
        async with client_for(credentials) as client:
            await asyncio.wait_for(run_daemon(client, handler, max_orders=1), 5)
        (notice,) = broker.received_documents("impossibility")
        assert notice["section_b"] == {
            "reasons": ["force_majeure"],
            "further_information": "Storage cluster offline.",
        }
        assert broker.received_documents("feedback") == []
        assert broker.orders[view["order_id"]]["state"] == "suspended_force_majeure"

    async def test_order_pushed_on_the_feed_and_clarification_round(
        self, broker: FakeBroker, credentials: Path
    ) -> None:
        """A new order arrives on the feed; after the clarification the handler runs again."""
        handler = Recorder(InsufficientInformation("Which video?", "Give the minute."), Removal())
        stop = asyncio.Event()
        async with client_for(credentials) as client:
            daemon = asyncio.create_task(run_daemon(client, handler, stop_event=stop))
            await wait_for(lambda: broker.feed_connections == 1)
            view = broker.create_order()
            await wait_for(lambda: len(broker.received_documents("impossibility")) == 1)
            clarification = {
                "message_type": "clarification",
                "message_id": "5d3f7d0e-1111-4222-8333-944455556666",
                "sender": "de-bka",
                "sent_at": broker.now(),
                "order_id": view["order_id"],
                "clarification": "Minute 00:35.",
                "amended_content": [{"url": "https://video.example.com/watch?v=x7Tq9&t=35"}],
            }
            token = jws.sign(
                clarification,
                key=broker.authority.key,
                kid="de-bka#1",
                message_type="clarification",
            )
            broker.clock_now = datetime(2026, 11, 25, 10, 40, tzinfo=UTC)
            broker._event("clarification_received", "de-bka", view["order_id"], token)
            broker._transition(broker.orders[view["order_id"]], "clarification", {}, broker.now())
            await wait_for(lambda: len(broker.received_documents("feedback")) == 1)
            stop.set()
            handled = await asyncio.wait_for(daemon, 5)
        assert handled == 2
        assert len(handler.calls) == 2
        assert handler.calls[0].clarification is None
        assert handler.calls[1].urls == ["https://video.example.com/watch?v=x7Tq9&t=35"]
        assert len(broker.received_documents("acknowledgement")) == 1

    async def test_falls_back_to_polling_the_inbox(
        self, broker: FakeBroker, credentials: Path
    ) -> None:
        """With the feed down, orders are still found by polling the inbox."""
        broker.feed_up = False
        handler = Recorder()
        async with client_for(credentials) as client:
            daemon = asyncio.create_task(
                run_daemon(client, handler, max_orders=1, poll_interval=0.02, feed_failures=1)
            )
            await asyncio.sleep(0.1)
            view = broker.create_order()
            assert await asyncio.wait_for(daemon, 5) == 1
        assert handler.calls[0].order_id == view["order_id"]

    async def test_a_bad_handler_outcome_does_not_stop_the_daemon(
        self, broker: FakeBroker, credentials: Path
    ) -> None:
        """An unknown measure is logged and nothing is sent; the next order is still handled."""
        stored_order(broker)
        stored_order(broker)
        handler = Recorder(Removal(measure="deleted_forever"), Removal())
        async with client_for(credentials) as client:
            handled = await asyncio.wait_for(run_daemon(client, handler, max_orders=2), 5)
        assert handled == 2
        assert len(handler.calls) == 2
        assert len(broker.received_documents("feedback")) == 1

    async def test_invalid_order_is_answered_with_manifest_errors(
        self, broker: FakeBroker, credentials: Path
    ) -> None:
        """An order that does not verify is not handled but answered with Annex III."""
        stored_order(broker, key=keys.generate())
        handler = Recorder()
        async with client_for(credentials) as client:
            await asyncio.wait_for(run_daemon(client, handler, max_orders=1), 5)
        assert handler.calls == []
        (notice,) = broker.received_documents("impossibility")
        assert notice["section_b"]["reasons"] == ["manifest_errors"]


def cli_handler(order: VerifiedOrder) -> Removal:
    """A synchronous handler for `perci-platform run` (runs in a worker thread)."""
    return Removal(measure="removed", measure_at=datetime(2026, 11, 25, 10, 5, tzinfo=UTC))


class TestCli:
    async def test_run_handles_and_exits(
        self, broker: FakeBroker, credentials: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """`run --handler module:function --max-orders 1` answers one order and exits 0."""
        stored_order(broker)
        argv = ["--credentials", str(credentials), "run", "--max-orders", "1"]
        code = await asyncio.to_thread(
            main, [*argv, "--handler", "test_clients_platform:cli_handler"]
        )
        assert code == 0, capsys.readouterr().err
        (feedback,) = broker.received_documents("feedback")
        assert feedback["section_b"]["measure_at"] == "2026-11-25T10:05:00.000+00:00"

    async def test_problem_is_one_line_and_exit_1(
        self, broker: FakeBroker, credentials: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A problem answer prints `perci-platform: error: ...` once, no traceback."""
        view = stored_order(broker)
        path = f"/v1/orders/{view['order_id']}/feedback"
        broker.forced[("POST", path)] = problem(
            422, "receipt_time_mismatch", "order_received_at is not the broker record"
        )
        code = await asyncio.to_thread(
            main, ["--credentials", str(credentials), "feedback", view["order_id"]]
        )
        err = capsys.readouterr().err
        assert code == 1
        assert err.count("\n") == 1
        assert err.startswith("perci-platform: error: order_received_at is not the broker record")
        assert "Traceback" not in err

    async def test_inbox_show_and_json(
        self, broker: FakeBroker, credentials: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """`inbox --json` lists the order; `show` prints the verified order."""
        view = stored_order(broker)
        env = ["--credentials", str(credentials)]
        assert await asyncio.to_thread(main, [*env, "inbox", "--json"]) == 0
        assert [o["order_id"] for o in json.loads(capsys.readouterr().out)] == [view["order_id"]]
        assert await asyncio.to_thread(main, [*env, "show", view["order_id"]]) == 0
        assert "verified (de-bka#1)" in capsys.readouterr().out

    def test_usage_errors_exit_2(
        self, credentials: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Errors or insufficient information without the clarification is a usage error."""
        argv = ["--credentials", str(credentials), "impossibility", "o-1"]
        assert main([*argv, "--reason", "manifest_errors", "--info", "Typo."]) == 2
        assert "--clarification-required" in capsys.readouterr().err
        assert main([*argv, "--reason", "bogus", "--info", "x"]) == 2
