"""A drill facilitator's client: read the whole exchange, skip quiet periods.

A participant of role ``facilitator`` (``perci-sim init`` and the drill runner
register one) reads every order and every event of its broker through the
ordinary read routes (:class:`~perci_schemas.client_support.BrokerClient`), and
may fast-forward a drill broker's clock (``POST /v1/clock/advance``, docs/API.md
"Drills").  It writes nothing else: the broker refuses it on every document route.

::

    async with FacilitatorClient.from_credentials("home/credentials/facilitator.json") as f:
        skip = await f.advance_clock(by=timedelta(hours=2))
        print(skip["from"], "->", skip["to"])
        for event in await f.all_events():
            ...
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, ClassVar, TypedDict, cast

from perci_schemas.client_support import (
    BrokerClient,
    BrokerClock,
    BrokerUnavailableBase,
    ClientError,
    ErrorTypes,
    EventView,
    OrderView,
    ProblemBase,
    ReceiptInvalidBase,
    format_time,
    parse_time,
)

__all__ = [
    "BrokerUnavailable",
    "ClockAdvance",
    "FacilitatorClient",
    "FacilitatorClientError",
    "ProblemError",
    "ReceiptInvalid",
]

_PAGE = 1000


class FacilitatorClientError(ClientError):
    """Root of every error the facilitator client raises."""


class ProblemError(ProblemBase, FacilitatorClientError):
    """The broker answered with an ``application/problem+json`` error."""


class ReceiptInvalid(ReceiptInvalidBase, FacilitatorClientError):
    """A broker-signed document did not verify."""


class BrokerUnavailable(BrokerUnavailableBase, FacilitatorClientError):
    """The broker could not be reached."""


#: The answer to ``POST /v1/clock/advance``: the broker's time before (``from``) and
#: after (``to`` = ``now``) the skip, and the ``clock_advanced`` event recorded.
ClockAdvance = TypedDict(
    "ClockAdvance",
    {
        "now": str,
        "speed": float,
        "from": str,
        "to": str,
        "skipped_seconds": float,
        "event": EventView,
    },
)


class FacilitatorClient(BrokerClient):
    """The broker API of a drill facilitator: every read, and the clock skip."""

    role: ClassVar[str] = "facilitator"
    errors: ClassVar[ErrorTypes] = ErrorTypes(ProblemError, ReceiptInvalid, BrokerUnavailable)

    async def advance_clock(
        self, to: datetime | None = None, by: timedelta | float | None = None
    ) -> ClockAdvance:
        """Skip the drill broker's clock forward to ``to`` or by ``by`` (seconds or timedelta).

        Every deadline inside the skipped window fires at once; the skip is a
        ``clock_advanced`` event every participant sees.  This client's clock
        reading is replaced by the broker's new time.

        Raises:
            ValueError: neither or both of ``to`` and ``by`` were given.
            ProblemError: ``forbidden`` (403, not a facilitator), ``clock_not_adjustable``
                (409, the broker runs on real time), ``clock_not_forward`` (422, not later
                than the broker's now) or ``schema_violation`` (422).
        """
        if (to is None) == (by is None):
            raise ValueError("give exactly one of 'to' and 'by'")
        payload: dict[str, Any]
        if to is not None:
            payload = {"to": format_time(to)}
        else:
            seconds = by.total_seconds() if isinstance(by, timedelta) else float(by or 0)
            payload = {"by_seconds": seconds}
        body = cast(ClockAdvance, await self._request("POST", "/v1/clock/advance", payload=payload))
        self._clock = BrokerClock(now=parse_time(body["now"]), speed=float(body["speed"]))
        return body

    async def report_inject(self, offset_s: float, kind: str, text: str) -> dict[str, Any]:
        """Tell the broker which drill inject was just played (the dashboard's timeline).

        Raises:
            ProblemError: ``forbidden`` (403, not a facilitator) or ``schema_violation``.
        """
        payload = {"offset_s": offset_s, "kind": kind[:40], "text": text[:500]}
        body = await self._request("POST", "/v1/drill/injects", payload=payload)
        return cast(dict[str, Any], body["inject"])

    async def all_orders(self, state: str | None = None) -> list[OrderView]:
        """Every order of the exchange (optionally in one ``state``), newest first."""
        found: list[OrderView] = []
        while True:
            page = await self.list_orders(state, limit=_PAGE, offset=len(found))
            found.extend(page)
            if len(page) < _PAGE:
                return found

    async def all_events(self, after: int = 0, *, kind: str | None = None) -> list[EventView]:
        """Every event of the log after ``after`` (optionally of one ``kind``), in log order."""
        found: list[EventView] = []
        cursor = after
        while True:
            page = await self.events(cursor, limit=_PAGE)
            found.extend(e for e in page.events if kind is None or e["kind"] == kind)
            if len(page.events) < _PAGE:
                return found
            cursor = page.last_seq
