"""Storage contracts, run against in-memory and file SQLite and PostgreSQL: registry and
log chain, timer claims.  PostgreSQL needs ``PERCI_TEST_DATABASE_URL`` (else it skips)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import DURABLE, opened_database
from sqlmodel import select

from perci_schemas.keys import generate
from perci_sim.domain.errors import PerciError
from perci_sim.services.fire_timers import claim_timer
from perci_sim.storage import registry
from perci_sim.storage.db import Database
from perci_sim.storage.log import GENESIS_HASH, append_event, verify_log
from perci_sim.storage.models import Event, ItemUrl, Timer

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


@pytest.fixture(params=["memory", *DURABLE])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """A fresh database of each kind."""
    async with opened_database(request.param, tmp_path) as database:
        yield database


async def _hsp(db: Database, hsp_id: str = "hsp-x", **kwargs: object) -> None:
    params: dict[str, object] = {
        "id": hsp_id,
        "role": "hsp",
        "name": "X",
        "member_state": "IE",
        "languages": ["en"],
        "contact_point": "tco@x.example",
        "token": f"token-{hsp_id}",
        "now": NOW,
    }
    params.update(kwargs)
    await registry.add_participant(db, **params)  # type: ignore[arg-type]


class TestRegistry:
    async def test_participants_keys_and_tokens(self, db: Database) -> None:
        """Tokens are stored hashed; kids count up; rotation revokes the old key."""
        await _hsp(db)
        first = generate("EdDSA")
        assert (
            await registry.add_key(db, participant_id="hsp-x", public_key=first.public, now=NOW)
            == "hsp-x#1"
        )
        later = NOW + timedelta(hours=1)
        kid = await registry.rotate_key(
            db, participant_id="hsp-x", public_key=generate("ES256").public, now=later
        )
        assert kid == "hsp-x#2"
        info = await registry.participant_by_token(db, "token-hsp-x")
        assert info is not None
        assert [(k.kid, k.status, k.revoked_at) for k in info.keys] == [
            ("hsp-x#1", "revoked", later),
            ("hsp-x#2", "active", None),
        ]
        assert await registry.participant_by_token(db, "wrong") is None
        async with db.read() as session:
            stored = (await session.exec(select(registry.Participant))).one()  # type: ignore[attr-defined]
        assert stored.token_sha256 == registry.token_hash("token-hsp-x")
        assert "token-hsp-x" not in stored.model_dump_json()
        updated = await registry.set_webhook(db, "hsp-x", "https://hooks.example/x")
        assert updated.webhook_url == "https://hooks.example/x"
        assert [p.id for p in await registry.list_participants(db)] == ["hsp-x"]

    async def test_host_language_and_duplicates(self, db: Database) -> None:
        """R5/Art. 15(2): an HSP designates a host-MS language (the legal rep's MS if any)."""
        with pytest.raises(registry.HostLanguageMissing):
            await _hsp(db, "hsp-y", member_state="NL", languages=["en"])
        with pytest.raises(registry.HostLanguageMissing):
            await _hsp(db, "hsp-y", legal_representative_member_state="DE", languages=["en"])
        await _hsp(db, "hsp-y", member_state="NL", legal_representative_member_state="IE")
        with pytest.raises(registry.ParticipantExists):
            await _hsp(db, "hsp-y", token="another")
        with pytest.raises(PerciError):
            await _hsp(db, "Bad_Id")
        with pytest.raises(registry.KeyNotFound):
            await registry.revoke_key(db, kid="hsp-y#7", now=NOW)


class TestChain:
    async def test_concurrent_appends_never_fork(self, db: Database) -> None:
        """Serialized writers: seq is gapless and each prev_hash names its predecessor."""

        async def append(n: int) -> None:
            async with db.write() as session:
                await append_event(
                    session, kind="deadline_warning", actor="broker", received_at=NOW,
                    data={"n": n},
                )  # fmt: skip
                await asyncio.sleep(0)
                await append_event(
                    session, kind="deadline_warning", actor="broker", received_at=NOW
                )

        await asyncio.gather(*(append(n) for n in range(20)))
        async with db.read() as session:
            events = list((await session.exec(select(Event).order_by(Event.seq))).all())  # type: ignore[arg-type]
        assert [e.seq for e in events] == list(range(1, 41))
        assert events[0].prev_hash == GENESIS_HASH
        assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(events))
        report = await verify_log(db, broker_public_keys={})
        assert report.ok, report.problems
        assert report.events == 40

    async def test_failed_transaction_appends_nothing(self, db: Database) -> None:
        """An error inside the unit of work rolls the events and timers back."""

        async def failing() -> None:
            async with db.write() as session:
                await append_event(
                    session, kind="deadline_warning", actor="broker", received_at=NOW
                )
                session.add(
                    Timer(order_id="o", clock_round=1, kind="deadline", minutes=60, due_at=NOW)
                )
                raise RuntimeError("boom")

        with pytest.raises(RuntimeError, match="boom"):
            await failing()
        async with db.read() as session:
            assert (await session.exec(select(Event))).all() == []
            assert (await session.exec(select(Timer))).all() == []

    async def test_times_come_back_aware_utc(self, db: Database) -> None:
        """Instants are stored in UTC and read back aware (R24)."""
        from zoneinfo import ZoneInfo

        local = datetime(2026, 3, 29, 3, 30, tzinfo=ZoneInfo("Europe/Berlin"))
        async with db.write() as session:
            await append_event(session, kind="deadline_warning", actor="broker", received_at=local)
        async with db.read() as session:
            event = (await session.exec(select(Event))).one()
        assert event.received_at == local
        assert event.received_at.utcoffset() == timedelta(0)


class TestTimerClaim:
    async def test_a_timer_is_claimed_once(self, db: Database) -> None:
        """The conditional UPDATE lets exactly one claimer win; cancelled timers never fire."""
        async with db.write() as session:
            open_timer = Timer(order_id="o", clock_round=1, kind="deadline", minutes=60, due_at=NOW)
            cancelled = Timer(
                order_id="o", clock_round=1, kind="warning", minutes=45, due_at=NOW, cancelled=True
            )
            session.add(open_timer)
            session.add(cancelled)
        assert open_timer.id is not None
        assert cancelled.id is not None
        outcomes = []
        for _ in range(2):
            async with db.write() as session:
                outcomes.append(await claim_timer(session, open_timer.id, NOW))
                outcomes.append(await claim_timer(session, cancelled.id, NOW))
        assert outcomes == [True, False, False, False]


class TestUrlIndex:
    async def test_an_8_kb_url_is_indexed_and_found(self, db: Database) -> None:
        """The schema allows 8 kB URLs: more than a PostgreSQL B-tree entry holds."""
        import secrets

        key = "https://x.example/" + secrets.token_hex(4000)
        async with db.write() as session:
            session.add(
                ItemUrl(url_key=key, url=key, item_kind="order", item_id="o", authority_id="a",
                        origin="DE", received_at=NOW)
            )  # fmt: skip
        async with db.read() as session:
            found = (await session.exec(select(ItemUrl).where(ItemUrl.url_key == key))).one()
        assert found.item_id == "o"
