"""What the broker answers, as the client SDKs see it (docs/API.md "Views").

The typed views of orders, events and participants, the verified receipt and
the other values built from broker answers, the broker's clock reading, and
the broker's time format.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypedDict

__all__ = [
    "CLOCK_MAX_AGE",
    "Accepted",
    "BrokerClock",
    "ContactPoint",
    "EventPage",
    "EventView",
    "OrderView",
    "ParticipantKey",
    "ParticipantView",
    "Receipt",
    "contact_email",
    "describe_contact",
    "format_time",
    "parse_time",
]


class OrderView(TypedDict):
    """The broker's view of an order (docs/API.md "Views")."""

    order_id: str
    reference_number: str
    authority_id: str
    hsp_id: str
    state: str
    language: str
    emergency: bool
    flags: list[str]
    received_at: str
    clock_started_at: str
    deadline_at: str | None
    measure_at: str | None
    suspended_reason: str | None
    created_at: str
    updated_at: str
    document: str


class EventView(TypedDict):
    """One entry of the broker's hash-chained event log."""

    seq: int
    event_id: str
    order_id: str | None
    kind: str
    actor: str
    received_at: str
    document: str | None
    document_sha256: str | None
    data: dict[str, Any]
    prev_hash: str
    hash: str


class ParticipantKey(TypedDict):
    """A key registered for a participant."""

    kid: str
    alg: str
    jwk: dict[str, Any]
    status: str
    created_at: str
    revoked_at: str | None


#: An Art. 15(1)/12(2) contact point: free text (often an e-mail address) or
#: a contact object ``{name?, email, telephone?}``.
ContactPoint = str | dict[str, Any]


class ParticipantView(TypedDict):
    """A directory entry: an authority, an HSP or a facilitator, with its keys."""

    id: str
    role: str
    name: str
    member_state: str
    legal_representative_member_state: str | None
    languages: list[str]
    contact_point: ContactPoint
    webhook_url: str | None
    keys: list[ParticipantKey]


def contact_email(contact_point: ContactPoint | None) -> str | None:
    """Return the e-mail address of a contact point, if it has one."""
    if isinstance(contact_point, dict):
        email = contact_point.get("email")
        return email if isinstance(email, str) else None
    return contact_point if contact_point and "@" in contact_point else None


def describe_contact(contact_point: ContactPoint | None) -> str:
    """Return a contact point as one line of text."""
    if isinstance(contact_point, dict):
        return ", ".join(str(v) for v in contact_point.values() if v)
    return contact_point or ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Receipt:
    """A verified broker receipt: proof of sending and of the broker's time."""

    token: str
    kid: str
    event_id: str
    seq: int
    order_id: str | None
    message_type: str
    message_id: str
    sender: str
    document_sha256: str
    received_at: str
    event_hash: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Accepted:
    """The broker accepted a document about an order: the order now, and the receipt."""

    order: OrderView
    receipt: Receipt


@dataclass(frozen=True, slots=True, kw_only=True)
class EventPage:
    """One page of the poll feed (``GET /v1/events``)."""

    events: list[EventView]
    last_seq: int


#: Wall seconds after which a clock reading is refreshed (see ``BrokerClient.broker_now``).
CLOCK_MAX_AGE = 10.0


@dataclass(frozen=True, slots=True, kw_only=True)
class BrokerClock:
    """The broker's time as read from ``GET /v1/clock`` (scaled in drills)."""

    now: datetime
    speed: float
    observed_monotonic: float = field(default_factory=time.monotonic)

    def estimate(self) -> datetime:
        """Estimate the broker's time now from this reading and the elapsed local time."""
        elapsed = time.monotonic() - self.observed_monotonic
        return self.now + timedelta(seconds=elapsed * self.speed)


def format_time(moment: datetime) -> str:
    """Format an aware datetime as the broker does: UTC, milliseconds, ``+00:00``."""
    if moment.tzinfo is None:
        raise ValueError("naive datetimes are ambiguous: pass an aware datetime")
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def parse_time(text: str) -> datetime:
    """Parse an RFC 3339 date-time; a missing offset is refused."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"date-time {text!r} has no offset")
    return moment
