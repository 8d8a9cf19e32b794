"""The broker's participant/key cache stays correct across processes.

The cache (storage/registry.py) is validated against ``registry_version``, a single-row
counter bumped in the transaction of every registry change (storage/models.py).  Here
"another process" is a second :class:`Database` opened on the same SQLite file, as the
admin CLI (``perci-sim participants revoke-key``) does.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import event
from sqlmodel import select

from perci_schemas.keys import generate
from perci_sim.storage import registry
from perci_sim.storage.db import Database, open_database
from perci_sim.storage.models import Delivery, RegistryVersion


@asynccontextmanager
async def _admin(b: Any) -> AsyncIterator[Database]:
    """A second Database on the broker's file: what the admin CLI opens."""
    other = await open_database(b.settings.resolved_database_url)
    try:
        yield other
    finally:
        await other.close()


@contextmanager
def _statements(db: Database) -> Iterator[Counter[str]]:
    """Count the SQL statements ``db`` runs, by table read or written."""
    seen: Counter[str] = Counter()

    def count(*args: Any) -> None:
        statement = str(args[2])
        match = re.search(r"\b(?:FROM|INTO|UPDATE)\s+(\w+)", statement)
        seen[match.group(1) if match else statement.split()[0]] += 1

    engine = db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


def _problem(reply: Any, status: int, code: str) -> None:
    assert reply.status == status, reply.body
    assert reply.body["type"].endswith("/" + code), reply.body


async def _version(db: Database) -> int:
    async with db.read() as session:
        return (await session.exec(select(RegistryVersion.version))).first() or 0


class TestAcrossProcesses:
    async def test_key_revoked_in_another_process_is_refused_on_the_next_request(
        self, broker: Any
    ) -> None:
        """revoke_key on a separate Database: the running broker refuses the key at once."""
        b = await broker()
        first = await b.issue()  # the cache now holds de-bka#1 as active
        await b.issue()
        async with _admin(b) as admin:
            await registry.revoke_key(admin, kid="de-bka#1", now=b.clock.advance(seconds=1))
        refused = await b.post_document(
            "/v1/orders", party="de-bka", document=b.removal_order("de-bka", "hsp-alpha")
        )
        _problem(refused, 422, "revoked_key")
        refused = await b.post_document(
            f"/v1/orders/{first['order_id']}/withdrawal",
            party="de-bka",
            document=b.withdrawal(first),
        )
        _problem(refused, 422, "revoked_key")

    async def test_key_rotated_in_another_process(self, broker: Any) -> None:
        """rotate_key elsewhere: the old key is refused, the new one accepted, next request."""
        b = await broker()
        await b.issue()
        new_key = generate("EdDSA")
        async with _admin(b) as admin:
            new_kid = await registry.rotate_key(
                admin, participant_id="de-bka", public_key=new_key.public, now=b.clock.now()
            )
        _problem(
            await b.post_document(
                "/v1/orders", party="de-bka", document=b.removal_order("de-bka", "hsp-alpha")
            ),
            422,
            "revoked_key",
        )
        party = b.parties["de-bka"]
        party.key, party.kid = new_key, new_kid
        await b.issue()

    async def test_participant_added_in_another_process_can_authenticate(self, broker: Any) -> None:
        """A participant registered by the CLI is known from the next request on."""
        b = await broker()
        assert (await b.get("/v1/participants/me", party="de-bka")).status == 200
        async with _admin(b) as admin:
            await registry.add_participant(
                admin,
                id="pl-abw",
                role="authority",
                name="ABW",
                member_state="PL",
                languages=["pl", "en"],
                contact_point="tco@pl-abw.example",
                token="tok-pl-abw",
                now=b.clock.now(),
            )
        reply = await b.call(
            "GET", "/v1/participants/me", headers={"Authorization": "Bearer tok-pl-abw"}
        )
        assert reply.status == 200, reply.body
        assert reply.body["id"] == "pl-abw"

    async def test_webhook_set_in_another_process_is_used(self, broker: Any) -> None:
        """set_webhook bumps the version too: the next order is queued for that URL."""
        b = await broker()
        await b.issue()
        async with _admin(b) as admin:
            await registry.set_webhook(admin, "hsp-alpha", "https://alpha.example/hook")
        await b.issue()
        me = (await b.get("/v1/participants/me", party="hsp-alpha")).body
        assert me["webhook_url"] == "https://alpha.example/hook"
        async with b.db.read() as session:
            rows = (await session.exec(select(Delivery))).all()
        assert rows
        assert {r.url for r in rows} == {"https://alpha.example/hook"}


class TestCost:
    async def test_a_request_reads_the_version_once_and_no_registry_row(self, broker: Any) -> None:
        """Warm cache: one single-row version read per request; no participant or key row."""
        b = await broker()
        order = await b.issue()
        with _statements(b.db) as seen:
            await b.issue()
            await b.order(order["order_id"], party="hsp-alpha")
        assert seen["registry_version"] == 2
        assert seen["participant"] == 0
        assert seen["participant_key"] == 0


class TestVersion:
    async def test_every_registry_change_bumps_the_version(self, broker: Any) -> None:
        """add participant, add/rotate/revoke key, set webhook: each moves the counter."""
        b = await broker(start=False)
        async with _admin(b) as db:
            seen = [await _version(db)]
            await registry.add_participant(
                db,
                id="hsp-delta",
                role="hsp",
                name="Delta",
                member_state="IE",
                languages=["en"],
                contact_point="tco@delta.example",
                token="tok-delta",
                now=b.clock.now(),
            )
            seen.append(await _version(db))
            kid = await registry.add_key(
                db,
                participant_id="hsp-delta",
                public_key=generate("EdDSA").public,
                now=b.clock.now(),
            )
            seen.append(await _version(db))
            await registry.rotate_key(
                db,
                participant_id="hsp-delta",
                public_key=generate("ES256").public,
                now=b.clock.now(),
            )
            seen.append(await _version(db))
            await registry.set_webhook(db, "hsp-delta", "https://delta.example/hook")
            seen.append(await _version(db))
            await registry.revoke_key(db, kid="hsp-delta#2", now=b.clock.now())
            seen.append(await _version(db))
            # Revoking a revoked key changes nothing: no bump needed, none made.
            await registry.revoke_key(db, kid=kid, now=b.clock.now() + timedelta(seconds=1))
            seen.append(await _version(db))
        assert seen == sorted(seen)
        assert len(set(seen[:-1])) == len(seen) - 1
        assert seen[-1] == seen[-2]

    async def test_scope_does_not_leak_into_spawned_tasks(self, broker: Any) -> None:
        """A request's validated snapshot serves that request only, not tasks it starts."""
        b = await broker(start=False)
        async with _admin(b) as db, _admin(b) as admin:
            async with registry.registry_scope(db):
                before = await registry.get_key(db, "de-bka#1")
                await registry.revoke_key(admin, kid="de-bka#1", now=b.clock.now())
                in_scope = await registry.get_key(db, "de-bka#1")
                spawned = await asyncio.create_task(registry.get_key(db, "de-bka#1"))
            after = await registry.get_key(db, "de-bka#1")
        assert before is not None
        assert before.status == "active"
        # The request validated before the revocation committed: it is ordered before it.
        assert in_scope is not None
        assert in_scope.status == "active"
        assert spawned is not None
        assert spawned.status == "revoked"
        assert after is not None
        assert after.status == "revoked"
