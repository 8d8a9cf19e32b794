"""What the hot path's shortcuts must not change.

* Log events (and other :func:`defer_insert` rows) are written in one statement per
  table, yet every query of their transaction sees them, and a rollback drops them.
* JSON-Schema validators with their ``$ref`` inlined report exactly the errors of the
  validators that resolve them on every run.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from referencing import Registry
from referencing.jsonschema import DRAFT202012
from sqlmodel import col, select

from perci_schemas import validation
from perci_schemas.messages import PARTY_MESSAGE_TYPES
from perci_sim.storage.db import Database, open_database
from perci_sim.storage.log import append_event, verify_log
from perci_sim.storage.models import Event

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await open_database(f"sqlite+aiosqlite:///{tmp_path / 'perci.db'}")
    yield database
    await database.close()


class TestDeferredEvents:
    async def test_a_query_in_the_transaction_sees_the_events_appended_before_it(
        self, db: Database
    ) -> None:
        async with db.write() as session:
            first = await append_event(
                session, kind="deadline_warning", actor="broker", received_at=NOW
            )
            second = await append_event(
                session, kind="deadline_missed", actor="broker", received_at=NOW
            )
            seen = (await session.exec(select(Event.seq).order_by(col(Event.seq)))).all()
            assert list(seen) == [first.seq, second.seq] == [1, 2]
            third = await append_event(
                session, kind="deadline_warning", actor="broker", received_at=NOW
            )
            assert third.prev_hash == second.hash
            got = await session.get(Event, third.seq)
            assert got is not None
            assert got.hash == third.hash
        report = await verify_log(db, broker_public_keys={})
        assert report.ok, report.problems
        assert report.events == 3

    async def test_a_rolled_back_transaction_writes_nothing_and_the_chain_goes_on(
        self, db: Database
    ) -> None:
        async def failing() -> None:
            async with db.write() as session:
                await append_event(
                    session, kind="deadline_warning", actor="broker", received_at=NOW
                )
                raise RuntimeError("boom")

        with pytest.raises(RuntimeError):
            await failing()
        async with db.write() as session:
            event = await append_event(
                session, kind="deadline_warning", actor="broker", received_at=NOW
            )
        assert event.seq == 1
        async with db.read() as session:
            assert len((await session.exec(select(Event))).all()) == 1


# --- schema validation --------------------------------------------------------------------------


def _reference_errors(name: str, document: Any) -> list[validation.FieldError]:
    """The errors of a validator that resolves every ``$ref`` on each run."""
    schemas = validation._schemas()
    registry: Registry[Any] = (
        Registry()
        .with_resources([(s["$id"], DRAFT202012.create_resource(s)) for s in schemas.values()])
        .crawl()
    )
    validator = Draft202012Validator(
        schemas[name], registry=registry, format_checker=validation._format_checker()
    )
    errors = [fe for e in validator.iter_errors(document) for fe in validation._field_errors(e)]
    return sorted(set(errors))


def _variants(document: dict[str, Any]) -> Iterator[Any]:
    """The document, and copies broken in the ways a sender gets wrong."""
    yield document
    yield {}
    for key in list(document):
        broken = copy.deepcopy(document)
        del broken[key]
        yield broken
        broken = copy.deepcopy(document)
        broken[key] = 12345
        yield broken
        value = document[key]
        if isinstance(value, dict):
            for inner in list(value):
                broken = copy.deepcopy(document)
                broken[key][inner] = [None]
                yield broken
                broken = copy.deepcopy(document)
                broken[key]["unexpected_member"] = "x"
                yield broken
    broken = copy.deepcopy(document)
    broken["sent_at"] = "2026-13-45T99:00:00Z"
    yield broken


@pytest.mark.parametrize("name", PARTY_MESSAGE_TYPES)
def test_inlined_validators_report_the_same_errors(name: str) -> None:
    try:
        example = validation.load_example(name)
    except FileNotFoundError:
        pytest.skip(f"no example for {name}")
    for document in _variants(example):
        try:
            validation.validate(name, document)
        except validation.SchemaViolation as exc:
            got = exc.errors
        else:
            got = []
        assert got == _reference_errors(name, document), document
