"""The broker's tables (SQLModel over SQLAlchemy).

The ``event`` table is the legal record: append-only, hash-chained, one row per
accepted document or broker decision (R1).  ``removal_order`` is a projection of
the events, updated in the same transaction; ``timer`` is the deadline wheel
(DESIGN "Time": the database row is the timer).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Dialect, Index, UniqueConstraint
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

__all__ = [
    "Delivery",
    "Event",
    "Order",
    "Participant",
    "ParticipantKey",
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
    __table_args__ = (Index("ix_timer_open_due", "fired_at", "due_at"),)

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
