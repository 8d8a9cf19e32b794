"""Plain inputs of the report computation: event records, participants, the period.

These are deliberately not the SQLModel rows: :mod:`perci_sim.reports.figures`
is pure and is tested with hand-built records (plain dicts work too, see
:meth:`EventRecord.from_mapping`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

__all__ = ["EventRecord", "ParticipantRef", "Period", "parse_instant"]


def parse_instant(value: datetime | str) -> datetime:
    """An aware UTC instant from a datetime or an ISO 8601 string (naive means UTC)."""
    at = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    if at.tzinfo is None or at.utcoffset() is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class EventRecord:
    """One row of the ``event`` table, reduced to what the reports read (docs/EVENTS.md)."""

    kind: str
    received_at: datetime
    actor: str = "broker"
    order_id: str | None = None
    authority_id: str | None = None
    hsp_id: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    seq: int = 0

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> EventRecord:
        """Build a record from a dict (``received_at`` as datetime or ISO string)."""
        data = raw.get("data")
        return cls(
            kind=str(raw["kind"]),
            received_at=parse_instant(raw["received_at"]),
            actor=str(raw.get("actor") or "broker"),
            order_id=raw.get("order_id"),
            authority_id=raw.get("authority_id"),
            hsp_id=raw.get("hsp_id"),
            data=dict(data) if isinstance(data, Mapping) else {},
            seq=int(raw.get("seq") or 0),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ParticipantRef:
    """A registered participant as the reports name it."""

    id: str
    role: str
    name: str = ""
    member_state: str | None = None


@dataclass(frozen=True, slots=True)
class Period:
    """A reporting period ``[start, end)`` in UTC, by the events' ``received_at``."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        for at in (self.start, self.end):
            if at.tzinfo is None or at.utcoffset() is None:
                raise ValueError("a report period needs aware instants")
        if self.end <= self.start:
            raise ValueError("the end of the report period must be after its start")

    def __contains__(self, at: object) -> bool:
        return isinstance(at, datetime) and self.start <= at < self.end

    @property
    def report_year(self) -> int:
        """The calendar year (UTC) of the period's last instant: the year reported on."""
        return (self.end - timedelta(milliseconds=1)).astimezone(UTC).year

    @property
    def art_7_due(self) -> date:
        """Art. 7(2): HSP reports are published before 1 March of the following year (R23)."""
        return date(self.report_year + 1, 3, 1)

    @property
    def art_21_due(self) -> date:
        """Art. 21(1): Member States report to the Commission by 31 March each year (R23)."""
        return date(self.report_year + 1, 3, 31)

    @classmethod
    def parse(cls, start: str, end: str) -> Period:
        """Parse CLI bounds: ``--from`` is inclusive; ``--to`` as a DATE is the last day
        included (the period ends at the next midnight UTC), as a date-time it is exclusive.
        """
        return cls(_bound(start, inclusive_day=False), _bound(end, inclusive_day=True))


def _bound(text: str, *, inclusive_day: bool) -> datetime:
    text = text.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            at = datetime.combine(day, time(), tzinfo=UTC)
            return at + timedelta(days=1) if inclusive_day else at
        return parse_instant(text)
    except ValueError:
        raise ValueError(f"not a date or ISO 8601 date-time: {text!r}") from None
