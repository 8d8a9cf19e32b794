"""The message types of the exchange and their JWS ``typ`` values."""

from __future__ import annotations

__all__ = ["MESSAGE_TYPES", "PARTY_MESSAGE_TYPES", "REFUSAL_HEADER", "typ_for"]

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
    # TCO Art. 14: cooperation (issue 3).
    "referral",  # R20: voluntary consideration against terms of service, no clock
    "referral_outcome",  # the HSP's answer to a referral
    "deconfliction_hold",  # R19: an authority keeps URLs free of new orders/referrals
    "hold_lifted",  # R19: the holder lifts its hold
    "imminent_threat_report",  # R21, Art. 14(5): an HSP reports an imminent threat to life
    "imminent_threat_acknowledgement",  # R21: a recipient confirms it received a report
    # The order lifecycle (issue 3): Art. 3(9), 4, 5, 6, 9, 10, 11.
    "scrutiny_request",  # Art. 4(4): HSP or content provider asks the host authority
    "scrutiny_prenotice",  # Art. 4(5): the host authority warns the issuing one first
    "scrutiny_decision",  # Art. 4(3)/(4)/(6): the host authority decides
    "reinstatement",  # Art. 4(7): the HSP restores the content
    "appeal_notice",  # Art. 3(9): appeal lodged, or order confirmed
    "finality_notice",  # Art. 3(9): issuing authority informs the host authority
    "preservation_extension",  # Art. 6(2): preservation extended with a reason
    "content_purged",  # Art. 6: the HSP deleted the preserved content
    "content_provider_information",  # Art. 11(1)-(2): the HSP informs the content provider
    "nondisclosure_extension",  # Art. 11(3): one extension of at most six weeks
    "complaint",  # Art. 10(1): the content provider complains to the HSP
    "complaint_outcome",  # Art. 10(2): the HSP decides within two weeks
    "court_annulment",  # Art. 9: a court annuls the order or a decision
    "exposure_decision",  # Art. 5(4): the host authority finds the HSP exposed
    "exposure_report",  # Art. 5(5): the exposed HSP reports (3 months, then yearly)
    "review_request",  # Art. 5(7): the HSP asks for a review
    "review_decision",  # Art. 5(7): the authority answers within 3 months
)

#: Documents the broker signs.
BROKER_MESSAGE_TYPES: tuple[str, ...] = (
    "receipt",
    "event",
    "refusal",  # a problem answer, signed (docs/API.md "Signed refusals")
)

MESSAGE_TYPES: tuple[str, ...] = PARTY_MESSAGE_TYPES + BROKER_MESSAGE_TYPES

#: The HTTP header of a problem answer that carries the broker's signed refusal.
REFUSAL_HEADER = "Perci-Refusal"


def typ_for(message_type: str) -> str:
    """Return the JWS ``typ`` header value for ``message_type``.

    RFC 7515 §4.1.9: a media type without the ``application/`` prefix.
    """
    return f"perci.{message_type.replace('_', '-')}+jws"
