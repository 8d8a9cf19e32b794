"""The message types of the exchange and their JWS ``typ`` values."""

from __future__ import annotations

__all__ = ["MESSAGE_TYPES", "PARTY_MESSAGE_TYPES", "typ_for"]

#: Documents a party (authority or hosting provider) signs.
PARTY_MESSAGE_TYPES: tuple[str, ...] = (
    "removal_order",  # Annex I, Art. 3(4)
    "advance_information",  # Art. 3(2)
    "acknowledgement",  # acknowledgement of receipt by the HSP
    "feedback",  # Annex II, Art. 3(6)
    "impossibility",  # Annex III, Art. 3(7)/(8)
    "grounds_ceased",  # Art. 3(7): the force majeure has ended
    "clarification",  # Art. 3(8): the authority's answer to an Annex III
    "withdrawal",  # the issuing authority withdraws its order
)

#: Documents the broker signs.
BROKER_MESSAGE_TYPES: tuple[str, ...] = ("receipt", "event")

MESSAGE_TYPES: tuple[str, ...] = PARTY_MESSAGE_TYPES + BROKER_MESSAGE_TYPES


def typ_for(message_type: str) -> str:
    """Return the JWS ``typ`` header value for ``message_type``.

    RFC 7515 §4.1.9: a media type without the ``application/`` prefix.
    """
    return f"perci.{message_type.replace('_', '-')}+jws"
