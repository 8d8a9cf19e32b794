"""The hash-chained, append-only event log (TCO Art. 3(5), R1) and its verifier.

Chain rule.  Each event's ``hash`` is::

    hash = SHA-256( ascii(prev_hash) || JCS(record) )

where ``JCS`` is RFC 8785 canonical JSON, ``prev_hash`` is the previous
event's hash (64 zeros for the first event) and ``record`` is the object with
exactly these members (see :func:`hashed_record`)::

    seq, event_id, order_id, kind, actor, authority_id, hsp_id,
    received_at (UTC, ISO 8601 with milliseconds, "+00:00"), sent_at,
    message_id, document_sha256, payload_sha256, data

The document itself is covered through ``document_sha256`` (the verifier
recomputes it from the stored JWS); the broker's receipt is not hashed,
because it names the event's hash.

Appends must run inside :meth:`Database.write`, which serializes writers so
the chain never forks; :func:`append_event` reads the tail in the same
transaction.
"""

from __future__ import annotations

import functools
import hashlib
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ScalarSelect, Table
from sqlalchemy import event as sa_event
from sqlalchemy import select as sa_select
from sqlalchemy.orm import Session
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from perci_schemas import jws
from perci_schemas.keys import PublicKey, load_public
from perci_sim.crypto.canonical import canonical_json
from perci_sim.storage.db import Database, defer_insert, detached_row, flush_deferred
from perci_sim.storage.models import Event, ParticipantKey

__all__ = [
    "DOCUMENT_KINDS",
    "GENESIS_HASH",
    "LogReport",
    "append_event",
    "chain_hash",
    "flush_events",
    "hashed_record",
    "iso_ms",
    "remember_tail",
    "tail_subqueries",
    "verify_log",
]

GENESIS_HASH = "0" * 64

#: Event kinds that record a party's signed document, and the document's type.
DOCUMENT_KINDS: dict[str, str] = {
    "advance_information_received": "advance_information",
    "order_received": "removal_order",
    "acknowledgement_received": "acknowledgement",
    "feedback_received": "feedback",
    "impossibility_received": "impossibility",
    "grounds_ceased_received": "grounds_ceased",
    "clarification_received": "clarification",
    "withdrawal_received": "withdrawal",
    # TCO Art. 14: cooperation.
    "referral_received": "referral",
    "referral_outcome_received": "referral_outcome",
    "deconfliction_hold_received": "deconfliction_hold",
    "hold_lifted_received": "hold_lifted",
    "imminent_threat_report_received": "imminent_threat_report",
    "imminent_threat_acknowledgement_received": "imminent_threat_acknowledgement",
    # The order lifecycle (issue 3).
    "scrutiny_request_received": "scrutiny_request",
    "scrutiny_prenotice_received": "scrutiny_prenotice",
    "scrutiny_decision_received": "scrutiny_decision",
    "reinstatement_received": "reinstatement",
    "appeal_notice_received": "appeal_notice",
    "finality_notice_received": "finality_notice",
    "preservation_extension_received": "preservation_extension",
    "content_purged_received": "content_purged",
    "content_provider_information_received": "content_provider_information",
    "nondisclosure_extension_received": "nondisclosure_extension",
    "complaint_received": "complaint",
    "complaint_outcome_received": "complaint_outcome",
    "court_annulment_received": "court_annulment",
    "exposure_decision_received": "exposure_decision",
    "exposure_report_received": "exposure_report",
    "review_request_received": "review_request",
    "review_decision_received": "review_decision",
}

_VERIFY_BATCH = 1000


def iso_ms(at: datetime) -> str:
    """Render an instant as UTC ISO 8601 with milliseconds (R1, R24)."""
    return _iso_ms(at)


@functools.lru_cache(maxsize=256)
def _iso_ms(at: datetime) -> str:
    # Cached: a batch renders its one instant many times (hash, receipt, views).  Equal
    # instants render alike whatever their offset, so they may share an entry.
    return at.astimezone(UTC).isoformat(timespec="milliseconds")


def hashed_record(event: Event) -> dict[str, Any]:
    """Return the members of ``event`` that its hash covers."""
    return {
        "seq": event.seq,
        "event_id": event.event_id,
        "order_id": event.order_id,
        "kind": event.kind,
        "actor": event.actor,
        "authority_id": event.authority_id,
        "hsp_id": event.hsp_id,
        "received_at": iso_ms(event.received_at),
        "sent_at": event.sent_at,
        "message_id": event.message_id,
        "document_sha256": event.document_sha256,
        "payload_sha256": event.payload_sha256,
        "data": event.data,
    }


def _hashed_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`hashed_record` of the event ``row`` will hold (the same members, the same values)."""
    return {
        "seq": row["seq"],
        "event_id": row["event_id"],
        "order_id": row["order_id"],
        "kind": row["kind"],
        "actor": row["actor"],
        "authority_id": row["authority_id"],
        "hsp_id": row["hsp_id"],
        "received_at": iso_ms(row["received_at"]),
        "sent_at": row["sent_at"],
        "message_id": row["message_id"],
        "document_sha256": row["document_sha256"],
        "payload_sha256": row["payload_sha256"],
        "data": row["data"],
    }


def chain_hash(prev_hash: str, record: Mapping[str, Any]) -> str:
    """Return SHA-256(ascii(prev_hash) || JCS(record)) as hex."""
    return hashlib.sha256(prev_hash.encode("ascii") + canonical_json(dict(record))).hexdigest()


#: ``session.info`` key of the (seq, hash) this transaction last appended.
_TAIL_KEY = "perci_log_tail"

_EVENT_TABLE: Table = Event.__table__  # type: ignore[attr-defined]
_TAIL = (
    sa_select(_EVENT_TABLE.c.seq, _EVENT_TABLE.c.hash).order_by(_EVENT_TABLE.c.seq.desc()).limit(1)
)


def tail_subqueries() -> tuple[ScalarSelect[Any], ScalarSelect[Any]]:
    """The log's tail ``(seq, hash)`` as two scalar subqueries, to add to another query
    run at the start of a write transaction (see :func:`remember_tail`)."""
    last = _EVENT_TABLE.c.seq.desc()
    return (
        sa_select(_EVENT_TABLE.c.seq).order_by(last).limit(1).scalar_subquery(),
        sa_select(_EVENT_TABLE.c.hash).order_by(last).limit(1).scalar_subquery(),
    )


def remember_tail(session: AsyncSession, seq: int | None, hash: str | None) -> None:
    """Record the tail read by :func:`tail_subqueries` in this write transaction.

    The write lock is held from the transaction's first statement, so the tail read
    in it stays the tail until this transaction appends; an already known tail (this
    transaction appended) is kept.
    """
    if _TAIL_KEY not in session.info:
        session.info[_TAIL_KEY] = (seq, hash or GENESIS_HASH)


async def flush_events(session: AsyncSession) -> None:
    """Write the events appended in this transaction now (they are otherwise written
    before the next statement run through ``session``, or at commit)."""
    await flush_deferred(session)


@sa_event.listens_for(Session, "after_rollback")
def _forget_tail(session: Session) -> None:
    # The tail a rolled-back transaction appended is not the log's.
    session.info.pop(_TAIL_KEY, None)


async def append_event(
    session: AsyncSession,
    *,
    kind: str,
    actor: str,
    received_at: datetime,
    order_id: str | None = None,
    authority_id: str | None = None,
    hsp_id: str | None = None,
    sent_at: str | None = None,
    message_id: str | None = None,
    document: str | None = None,
    document_sha256: str | None = None,
    payload_sha256: str | None = None,
    data: dict[str, Any] | None = None,
    sign_receipt: Callable[[Event], str] | None = None,
) -> Event:
    """Append one event at the tail of the chain (inside a :meth:`Database.write`).

    ``sign_receipt``, for a party's document, is given the sealed event (seq and
    hash set) and returns the broker's receipt to store with it.

    The row is written with the transaction's other appended events in one
    statement: before the next statement run through ``session`` (so every query
    of the transaction sees it), at commit at the latest, or by :func:`flush_events`.
    The returned event is not attached to the session.
    """
    # The tail is read once per transaction: the write lock is held, so the events
    # this transaction appended are the tail after that.
    tail: tuple[int | None, str] | None = session.info.get(_TAIL_KEY)
    if tail is None:
        conn = await session.connection()
        last = (await conn.execute(_TAIL)).first()
        tail = (last[0], last[1]) if last is not None else None
    seq, prev_hash = 1, GENESIS_HASH
    if tail is not None and tail[0] is not None:
        seq, prev_hash = tail[0] + 1, tail[1]
    # The row is written by Core (defer_insert); the returned event is only read, so it
    # is built as a loaded row is, without the model constructor's cost.
    row: dict[str, Any] = {
        "seq": seq,
        "event_id": str(uuid.uuid4()),
        "order_id": order_id,
        "kind": kind,
        "actor": actor,
        "authority_id": authority_id,
        "hsp_id": hsp_id,
        "received_at": received_at.astimezone(UTC),
        "sent_at": sent_at,
        "message_id": message_id,
        "document": document,
        "document_sha256": document_sha256,
        "payload_sha256": payload_sha256,
        "data": dict(data or {}),
        "receipt": None,
        "prev_hash": prev_hash,
        "hash": "",
    }
    row["hash"] = chain_hash(prev_hash, _hashed_row(row))
    event = detached_row(Event, row)
    if sign_receipt is not None:
        row["receipt"] = event.receipt = sign_receipt(event)
    defer_insert(session, _EVENT_TABLE, row)
    session.info[_TAIL_KEY] = (seq, event.hash)
    return event


@dataclass(slots=True, kw_only=True)
class LogReport:
    """What :func:`verify_log` found."""

    events: int = 0
    ok: bool = True
    problems: list[str] = field(default_factory=list)

    def problem(self, seq: int | None, message: str) -> None:
        """Record a problem with event ``seq``."""
        self.ok = False
        self.problems.append(f"event {seq}: {message}")


def _check_document(
    report: LogReport, event: Event, keys: Mapping[str, ParticipantKey], expected_type: str
) -> None:
    """Signature, type, signer and hashes of a stored party document."""
    seq, token = event.seq, event.document or ""
    if jws.document_hash(token) != event.document_sha256:
        report.problem(seq, "document_sha256 does not match the stored document")
    resolved: list[ParticipantKey] = []

    def resolve(kid: str) -> PublicKey:
        row = keys.get(kid)
        if row is None:
            raise jws.JWSError("unknown_key", f"key {kid!r} is not registered")
        resolved.append(row)
        return load_public(dict(row.public_jwk))

    try:
        signed = jws.verify(token, expected_type=expected_type, resolve_key=resolve)
    except jws.JWSError as exc:
        report.problem(seq, f"document does not verify ({exc.reason}): {exc.message}")
        return
    row = resolved[-1]
    # A key revoked later still proves documents it signed before its revocation.
    if row.revoked_at is not None and event.received_at >= row.revoked_at:
        report.problem(seq, f"document signed with {row.kid!r} after its revocation")
    if row.participant_id != event.actor or signed.payload.get("sender") != event.actor:
        report.problem(seq, f"document signer/sender is not the event's actor {event.actor!r}")
    if signed.payload.get("message_id") != event.message_id:
        report.problem(seq, "message_id differs from the document's")
    fingerprint = hashlib.sha256(jws.canonical_json(signed.payload)).hexdigest()
    if fingerprint != event.payload_sha256:
        report.problem(seq, "payload_sha256 does not match the document's payload")


def _check_receipt(
    report: LogReport, event: Event, broker_public_keys: Mapping[str, PublicKey]
) -> None:
    """The receipt is broker-signed and names this event, its hash and its document."""

    def resolve(kid: str) -> PublicKey:
        try:
            return broker_public_keys[kid]
        except KeyError:
            raise jws.JWSError("unknown_key", f"unknown broker key {kid!r}") from None

    try:
        signed = jws.verify(event.receipt or "", expected_type="receipt", resolve_key=resolve)
    except jws.JWSError as exc:
        report.problem(event.seq, f"receipt does not verify ({exc.reason}): {exc.message}")
        return
    payload = signed.payload
    expected = {
        "event_id": event.event_id,
        "seq": event.seq,
        "order_id": event.order_id,
        "message_id": event.message_id,
        "sender": event.actor,
        "document_sha256": event.document_sha256,
        "received_at": iso_ms(event.received_at),
        "event_hash": event.hash,
    }
    for member, value in expected.items():
        if payload.get(member) != value:
            report.problem(event.seq, f"receipt {member} does not match the event")


async def verify_log(db: Database, *, broker_public_keys: Mapping[str, PublicKey]) -> LogReport:
    """Recompute the hash chain and verify every stored document and receipt.

    ``broker_public_keys`` maps the broker's kids to its public keys
    (:attr:`perci_sim.crypto.broker_key.BrokerSigner.public_keys`).
    """
    report = LogReport()
    async with db.read() as session:
        keys = {row.kid: row for row in (await session.exec(select(ParticipantKey))).all()}
    prev_hash, expected_seq, after = GENESIS_HASH, 1, 0
    while True:
        async with db.read() as session:
            batch = (
                await session.exec(
                    select(Event)
                    .where(col(Event.seq) > after)
                    .order_by(col(Event.seq))
                    .limit(_VERIFY_BATCH)
                )
            ).all()
        if not batch:
            break
        for event in batch:
            report.events += 1
            seq = event.seq or 0
            if seq != expected_seq:
                report.problem(seq, f"sequence gap: expected {expected_seq}")
            if event.prev_hash != prev_hash:
                report.problem(seq, "prev_hash does not name the previous event's hash")
            if chain_hash(event.prev_hash, hashed_record(event)) != event.hash:
                report.problem(seq, "hash does not match the event's content")
            expected_type = DOCUMENT_KINDS.get(event.kind)
            if expected_type is not None:
                if not event.document:
                    report.problem(seq, f"{event.kind} without its document")
                else:
                    _check_document(report, event, keys, expected_type)
            elif event.document is not None:
                report.problem(seq, f"{event.kind} carries a document")
            if event.receipt is not None:
                _check_receipt(report, event, broker_public_keys)
            elif expected_type is not None:
                report.problem(seq, "party document without a broker receipt")
            prev_hash, expected_seq, after = event.hash, seq + 1, seq
    return report
