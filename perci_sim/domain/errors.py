"""Errors of the exchange's rules.

Every error carries a stable ``code`` and an ``http_status`` hint (as h11's
``ProtocolError`` does) so the API layer can map it to an RFC 9457 problem
without the domain knowing anything about HTTP.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

__all__ = [
    "AdvanceInformationMissing",
    "IllegalTransition",
    "LanguageNotDesignated",
    "MeasureTimeInvalid",
    "PerciError",
    "ReceiptTimeMismatch",
]


class PerciError(Exception):
    """Root of every error the broker reports to a party."""

    code = "perci_error"
    http_status = 400
    title = "Request refused"

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extensions = extensions


class IllegalTransition(PerciError):
    """The order's state does not allow this message now."""

    code = "illegal_transition"
    http_status = 409
    title = "Not allowed in the order's current state"

    def __init__(self, state: str, trigger: str) -> None:
        super().__init__(f"an order in state {state!r} does not accept {trigger!r}")
        self.state = state
        self.trigger = trigger


class AdvanceInformationMissing(PerciError):
    """TCO Art. 3(2): the first order of an authority to an HSP needs 12 h notice."""

    code = "advance_information_missing"
    http_status = 409
    title = "Advance information required (TCO Art. 3(2))"

    def __init__(self, detail: str, not_before: datetime | None) -> None:
        extensions: dict[str, Any] = {}
        if not_before is not None:
            extensions["not_before"] = not_before.isoformat(timespec="milliseconds")
        super().__init__(detail, **extensions)
        self.not_before = not_before


class LanguageNotDesignated(PerciError):
    """TCO Art. 15(2), Annex I: orders come in a language the HSP designated."""

    code = "language_not_designated"
    http_status = 422
    title = "Language not designated by the addressee (TCO Art. 15(2))"

    def __init__(self, language: str, designated: tuple[str, ...]) -> None:
        super().__init__(
            f"the addressee designated {', '.join(designated)} for orders; got {language!r}",
            designated=list(designated),
        )


class ReceiptTimeMismatch(PerciError):
    """R9: Annex II/III must state the receipt time the broker recorded."""

    code = "receipt_time_mismatch"
    http_status = 422
    title = "Receipt time differs from the broker's record (TCO Art. 3(5))"

    def __init__(self, stated: str, recorded: datetime) -> None:
        super().__init__(
            f"section_a.order_received_at is {stated!r} but the broker recorded "
            f"{recorded.isoformat(timespec='milliseconds')}",
            recorded_received_at=recorded.isoformat(timespec="milliseconds"),
        )


class MeasureTimeInvalid(PerciError):
    """Annex II's time of the measure must lie between receipt and sending."""

    code = "measure_time_invalid"
    http_status = 422
    title = "Impossible time of the measure (Annex II, Section B)"
