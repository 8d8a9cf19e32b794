"""Refusals the use cases raise besides the domain's rule errors."""

from __future__ import annotations

from perci_sim.domain.errors import PerciError

__all__ = ["DuplicateMessage", "Forbidden", "NotFound", "UnknownAddressee", "WrongOrder"]


class Forbidden(PerciError):
    """The participant's role may not do this."""

    code = "forbidden"
    http_status = 403
    title = "Not allowed for this participant"


class NotFound(PerciError):
    """No such resource, or the participant is not a party to it (never say which)."""

    code = "not_found"
    http_status = 404
    title = "Not found"


class DuplicateMessage(PerciError):
    """The sender already used this ``message_id`` for a different document."""

    code = "duplicate_message"
    http_status = 409
    title = "message_id already used for another document"

    def __init__(self, message_id: str, original_seq: int | None) -> None:
        super().__init__(
            f"message_id {message_id!r} was already used for a different document; "
            "a retry must resend the same document",
            message_id=message_id,
            original_seq=original_seq,
        )


class WrongOrder(PerciError):
    """The document names another order (or order document) than the request's."""

    code = "wrong_order"
    http_status = 422
    title = "Document is about another order"


class UnknownAddressee(PerciError):
    """The order's addressee is not a registered hosting service provider."""

    code = "unknown_addressee"
    http_status = 422
    title = "Unknown addressee"
