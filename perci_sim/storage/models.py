"""The broker's tables (SQLModel over SQLAlchemy).

The ``event`` table is the legal record: append-only, hash-chained, one row per
accepted document or broker decision (R1).  ``removal_order`` is a projection of
the events, updated in the same transaction; ``timer`` is the deadline wheel
(DESIGN "Time": the database row is the timer).
"""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import chain
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Dialect,
    Index,
    UniqueConstraint,
    event,
    insert,
    text,
    update,
)
from sqlalchemy.orm import Session, UOWTransaction
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

__all__ = [
    "DashboardLogout",
    "DeconflictionHold",
    "Delivery",
    "Event",
    "EventAudience",
    "ItemEvent",
    "ItemUrl",
    "Obligation",
    "Order",
    "OrderLifecycle",
    "Participant",
    "ParticipantKey",
    "Referral",
    "RegistryVersion",
    "ThreatDelivery",
    "ThreatReport",
    "Timer",
    "UTCDateTime",
]


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC instant on every backend (R24).

    SQLite has no time zone type: SQLAlchemy stores the wall-clock fields and
    returns naive datetimes.  Every value is therefore converted to UTC before
    it is stored (so stored strings sort in time order) and comes back aware.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("the broker stores aware datetimes only")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _utc_column(*, nullable: bool = False, index: bool = False) -> Any:
    # SQLModel rejects naive datetimes: every time is aware UTC.
    return Field(
        default=None if nullable else ...,
        sa_column=Column(UTCDateTime(), nullable=nullable, index=index),
    )


class Participant(SQLModel, table=True):
    """A registered authority, hosting provider or facilitator."""

    __tablename__ = "participant"

    id: str = Field(primary_key=True, max_length=63)
    role: str = Field(index=True, max_length=16)  # authority | hsp | facilitator
    name: str
    member_state: str = Field(max_length=2)
    # TCO Art. 17: a non-EU HSP's legal representative's Member State.
    legal_representative_member_state: str | None = Field(default=None, max_length=2)
    # TCO Art. 15(2): languages designated for orders.
    languages: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    contact_point: str = ""
    webhook_url: str | None = None
    token_sha256: str = Field(unique=True, index=True, max_length=64)
    created_at: datetime = _utc_column()


class ParticipantKey(SQLModel, table=True):
    """A participant's signing key. Revoked keys stay to verify older documents."""

    __tablename__ = "participant_key"

    kid: str = Field(primary_key=True, max_length=100)
    participant_id: str = Field(foreign_key="participant.id", index=True)
    alg: str = Field(max_length=10)
    public_jwk: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    status: str = Field(default="active", max_length=10)  # active | revoked
    created_at: datetime = _utc_column()
    revoked_at: datetime | None = _utc_column(nullable=True)


class RegistryVersion(SQLModel, table=True):
    """One row (id 1): a counter bumped in the transaction of every registry change.

    Participants and keys are cached by the broker (storage/registry.py); each request
    reads this counter once and drops the cache when it moved, so a key revoked by the
    admin CLI in another process is refused from the next request on.  The bump is the
    ``before_flush`` hook below: any ORM change to ``participant`` or
    ``participant_key`` bumps it, whoever makes it.
    """

    __tablename__ = "registry_version"

    id: int = Field(default=1, primary_key=True)
    version: int = 0


class Event(SQLModel, table=True):
    """One entry of the hash-chained, append-only log."""

    __tablename__ = "event"
    __table_args__ = (
        UniqueConstraint("actor", "message_id", name="uq_event_actor_message"),
        # R4: "latest advance information of this authority to this HSP".
        Index("ix_event_kind_actor_hsp", "kind", "actor", "hsp_id"),
    )

    seq: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(unique=True, max_length=36)
    order_id: str | None = Field(default=None, index=True, max_length=36)
    kind: str = Field(max_length=40)
    actor: str = Field(max_length=63)  # participant id, or "broker"
    # The parties that may see this event (feed filtering).
    authority_id: str | None = Field(default=None, index=True, max_length=63)
    hsp_id: str | None = Field(default=None, index=True, max_length=63)
    received_at: datetime = _utc_column()
    # R24: the sender's own timestamp with its original offset, verbatim.
    sent_at: str | None = None
    message_id: str | None = Field(default=None, max_length=100)
    document: str | None = None  # compact JWS exactly as received
    document_sha256: str | None = Field(default=None, max_length=64)
    payload_sha256: str | None = Field(default=None, max_length=64)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    receipt: str | None = None  # broker-signed receipt JWS
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class Order(SQLModel, table=True):
    """Projection of an order's events: its current state and clock."""

    __tablename__ = "removal_order"

    order_id: str = Field(primary_key=True, max_length=36)
    reference_number: str = Field(index=True)
    authority_id: str = Field(foreign_key="participant.id", index=True)
    hsp_id: str = Field(foreign_key="participant.id", index=True)
    state: str = Field(index=True, max_length=32)
    language: str = Field(max_length=2)
    emergency: bool = False
    flags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    document: str
    document_sha256: str = Field(max_length=64)
    # R3: available at the HSP's contact point: the one-hour clock starts here.
    received_at: datetime = _utc_column()
    clock_started_at: datetime = _utc_column()
    clock_round: int = 1
    deadline_at: datetime | None = _utc_column(nullable=True, index=True)
    acknowledged_at: datetime | None = _utc_column(nullable=True)
    measure_at: datetime | None = _utc_column(nullable=True)
    suspended_reason: str | None = None
    created_at: datetime = _utc_column()
    updated_at: datetime = _utc_column()
    version: int = 1


class Timer(SQLModel, table=True):
    """A deadline or warning row: claimed with a conditional update when due."""

    __tablename__ = "timer"
    # Only the open timers, in firing order (due time, then id): a wake-up (and the
    # re-arm at start-up) finds the earliest in one index step however many cancelled or
    # fired timers the years leave behind, and reads the due ones without a sort.  The
    # predicate is the queries' own, as each dialect renders it, so that the planner can
    # prove the index applies (services/fire_timers.py).
    __table_args__ = (
        Index(
            "ix_timer_open",
            "due_at",
            "id",
            sqlite_where=text("fired_at IS NULL AND cancelled IS 0"),
            postgresql_where=text("fired_at IS NULL AND cancelled IS false"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    order_id: str = Field(index=True, max_length=36)
    clock_round: int
    kind: str = Field(max_length=10)  # warning | deadline
    minutes: int
    due_at: datetime = _utc_column()
    fired_at: datetime | None = _utc_column(nullable=True)
    cancelled: bool = False


class Delivery(SQLModel, table=True):
    """A webhook delivery of one event to one HSP, with its retries."""

    __tablename__ = "delivery"
    __table_args__ = (Index("ix_delivery_due", "status", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    event_seq: int = Field(index=True)
    participant_id: str = Field(index=True, max_length=63)
    url: str
    attempts: int = 0
    status: str = Field(default="pending", max_length=10)  # pending | delivered | failed
    next_attempt_at: datetime = _utc_column(index=True)
    last_error: str | None = None
    delivered_at: datetime | None = _utc_column(nullable=True)


# --- TCO Art. 14: cooperation (referrals, deconfliction, imminent threats) -------------------


class Referral(SQLModel, table=True):
    """Projection of a referral (R20): voluntary consideration, never an order or a clock."""

    __tablename__ = "referral"

    referral_id: str = Field(primary_key=True, max_length=36)
    reference_number: str = Field(index=True)
    sender_id: str = Field(foreign_key="participant.id", index=True)  # authority or Europol
    origin: str = Field(max_length=2)  # the sender's Member State, "EU" for Europol
    hsp_id: str = Field(foreign_key="participant.id", index=True)
    state: str = Field(max_length=16)  # open | answered
    urls: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    flags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    document: str
    document_sha256: str = Field(max_length=64)
    received_at: datetime = _utc_column()
    outcome: str | None = Field(default=None, max_length=16)  # removed | not_removed
    outcome_reason: str | None = None
    outcome_at: datetime | None = _utc_column(nullable=True)
    updated_at: datetime = _utc_column()


class DeconflictionHold(SQLModel, table=True):
    """A law-enforcement hold on URLs (R19): new orders and referrals are refused."""

    __tablename__ = "deconfliction_hold"

    hold_id: str = Field(primary_key=True, max_length=36)
    holder_id: str = Field(foreign_key="participant.id", index=True)
    origin: str = Field(max_length=2)
    urls: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    #: Who others are told to contact (never the investigation's details).
    contact_point: str
    document: str
    placed_at: datetime = _utc_column()
    lifted_at: datetime | None = _utc_column(nullable=True)


class ItemUrl(SQLModel, table=True):
    """The URL index: one row per URL of an order, referral or hold, under its match key."""

    __tablename__ = "item_url"
    __table_args__ = (
        Index("ix_item_url_key_kind", "url_key", "item_kind").ddl_if(dialect="sqlite"),
        # PostgreSQL: a B-tree entry holds at most ~2.7 kB and a URL may have 8 kB.
        Index("ix_item_url_key_hash", "url_key", postgresql_using="hash").ddl_if(
            dialect="postgresql"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    url_key: str = Field(max_length=8192)
    url: str
    item_kind: str = Field(max_length=10)  # order | referral | hold
    item_id: str = Field(max_length=36)
    authority_id: str = Field(max_length=63)  # issuer, sender or holder
    origin: str = Field(max_length=2)
    hsp_id: str | None = Field(default=None, max_length=63)
    received_at: datetime = _utc_column()


class ItemEvent(SQLModel, table=True):
    """Links an event to the referral, hold or threat report whose history it belongs to."""

    __tablename__ = "item_event"
    __table_args__ = (Index("ix_item_event_item", "item_id", "event_seq"),)

    id: int | None = Field(default=None, primary_key=True)
    item_kind: str = Field(max_length=10)  # referral | hold | threat
    item_id: str = Field(max_length=36)
    event_seq: int


class ThreatReport(SQLModel, table=True):
    """An HSP's Art. 14(5) imminent-threat report (R21)."""

    __tablename__ = "threat_report"

    report_id: str = Field(primary_key=True, max_length=36)
    hsp_id: str = Field(foreign_key="participant.id", index=True)
    member_states: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    #: Named Member States without a registered authority (Europol received the report).
    unreachable: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    document: str
    document_sha256: str = Field(max_length=64)
    received_at: datetime = _utc_column()


class ThreatDelivery(SQLModel, table=True):
    """One recipient of an imminent-threat report: when it was delivered and acknowledged."""

    __tablename__ = "threat_delivery"
    __table_args__ = (UniqueConstraint("report_id", "recipient_id", name="uq_threat_recipient"),)

    id: int | None = Field(default=None, primary_key=True)
    report_id: str = Field(index=True, max_length=36)
    recipient_id: str = Field(index=True, max_length=63)
    member_state: str = Field(max_length=2)
    reason: str = Field(max_length=20)  # named_member_state | host_member_state | europol
    #: Available on the recipient's feed (the delivery event's received_at).
    delivered_at: datetime = _utc_column()
    delivery_seq: int
    acknowledged_at: datetime | None = _utc_column(nullable=True)
    acknowledgement_seq: int | None = None


# --- issue 3: the order lifecycle (perci_sim/domain/obligations.py) ----------------------------


class EventAudience(SQLModel, table=True):
    """A third party that may see an event besides its authority and HSP.

    TCO Art. 4(1) (host-Member-State authority), 4(6) (Europol, the requesting content
    provider), 11 (the content provider).  The same list is in the event's hashed
    ``data.visible_to``; this table makes it queryable for feeds and access checks.
    """

    __tablename__ = "event_audience"
    __table_args__ = (Index("ix_event_audience_participant", "participant_id", "event_seq"),)

    id: int | None = Field(default=None, primary_key=True)
    event_seq: int = Field(index=True)
    participant_id: str = Field(max_length=63)
    order_id: str | None = Field(default=None, index=True, max_length=36)


class OrderLifecycle(SQLModel, table=True):
    """Projection of an order's life beyond the one-hour path (Art. 3(9), 4, 6, 11)."""

    __tablename__ = "order_lifecycle"

    order_id: str = Field(primary_key=True, max_length=36)
    issuing_member_state: str = Field(max_length=2)
    host_member_state: str = Field(max_length=2)
    # TCO Art. 4(1): the order's copy went to this authority of the host Member State.
    cross_border: bool = False
    host_authority_id: str | None = Field(default=None, max_length=63)
    appeal_duration: str | None = None
    appeal_starts_from: str | None = None
    appeal_lodged: bool = False
    final_at: datetime | None = _utc_column(nullable=True, index=True)
    legal_effect_ended_at: datetime | None = _utc_column(nullable=True)
    legal_effect_cause: str | None = None
    preserve_until: datetime | None = _utc_column(nullable=True)
    purged_at: datetime | None = _utc_column(nullable=True)
    nondisclosure_until: datetime | None = _utc_column(nullable=True)
    nondisclosure_extended: bool = False
    content_provider_id: str | None = Field(default=None, max_length=63)
    informed_at: datetime | None = _utc_column(nullable=True)
    prenotice_at: datetime | None = _utc_column(nullable=True)


class Obligation(SQLModel, table=True):
    """A lifecycle deadline or window; the row is also its timer (DESIGN "Time").

    Claimed on expiry with a conditional UPDATE (``status = 'open'``), in the same
    transaction as the ``obligation_missed`` or window event it causes.
    """

    __tablename__ = "obligation"
    __table_args__ = (Index("ix_obligation_open_due", "status", "due_at"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(index=True, max_length=40)
    article: str = Field(max_length=20)
    order_id: str | None = Field(default=None, index=True, max_length=36)
    hsp_id: str | None = Field(default=None, index=True, max_length=63)
    # The participant who owes it (an authority, the HSP, the content provider).
    owed_by: str = Field(max_length=63)
    # What it is about beyond the order: a scrutiny request's or exposure decision's event id.
    ref: str | None = Field(default=None, index=True, max_length=63)
    opened_at: datetime = _utc_column()
    due_at: datetime = _utc_column()
    status: str = Field(default="open", max_length=10)  # open | met | missed | closed | cancelled
    closed_at: datetime | None = _utc_column(nullable=True)
    breach: str | None = Field(default=None, max_length=40)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class DashboardLogout(SQLModel, table=True):
    """A dashboard session ended by its logout, until the session would have expired.

    Dashboard sessions are signed cookies (web/sessions.py), valid on every replica
    sharing the broker key; the logout must be too, so it is a row, not process memory.
    Not part of the log: a session is access control, not evidence.
    """

    __tablename__ = "dashboard_logout"

    session_id: str = Field(primary_key=True, max_length=32)
    participant_id: str = Field(max_length=63)
    # Wall-clock expiry of the session (never a drill's scaled time): purged after it.
    expires_at: datetime = _utc_column(index=True)


# --- the registry version (see RegistryVersion) ------------------------------------------------

_REGISTRY_ROWS = (Participant, ParticipantKey)


@event.listens_for(Session, "before_flush")
def _bump_registry_version(session: Session, _context: UOWTransaction, _instances: Any) -> None:
    """Bump ``registry_version`` in the flush (so the transaction) that changes the registry."""
    changed = any(
        isinstance(row, _REGISTRY_ROWS) for row in chain(session.new, session.deleted)
    ) or any(isinstance(row, _REGISTRY_ROWS) and session.is_modified(row) for row in session.dirty)
    if not changed:
        return
    table = RegistryVersion.__table__  # type: ignore[attr-defined]
    conn = session.connection()
    bumped = conn.execute(update(table).where(table.c.id == 1).values(version=table.c.version + 1))
    if bumped.rowcount == 0:
        conn.execute(insert(table).values(id=1, version=1))
