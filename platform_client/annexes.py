"""Build Annex II (feedback) and Annex III (impossibility) forms for a verified order.

Pure functions: they take the broker's view of the order, the Annex I payload
(empty when it did not verify), the issuer's name, the HSP's own directory
entry and the times to state, and return the unsigned document.  Section A's
``order_received_at`` is always the broker's ``received_at`` string for the
order, copied verbatim (TCO R9: the HSP may not restate, or backdate, the time
of receipt).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from perci_schemas.client_support import (
    OrderView,
    ParticipantView,
    contact_email,
    describe_contact,
    format_time,
)

__all__ = [
    "CLARIFICATION_REASONS",
    "IMPOSSIBILITY_REASONS",
    "MEASURES",
    "build_feedback",
    "build_impossibility",
]

#: Annex II section B: the measures an HSP can report (Art. 3(3)).
MEASURES: tuple[str, ...] = ("removed", "disabled_all_ms")

#: Annex III section B(1): why an order cannot be executed in time.
IMPOSSIBILITY_REASONS: tuple[str, ...] = (
    "force_majeure",  # Art. 3(7): the clock waits for grounds_ceased
    "manifest_errors",  # Art. 3(8): the clock waits for a clarification
    "insufficient_information",  # Art. 3(8)
)

#: The Annex III reasons that need B(3), the clarification required.
CLARIFICATION_REASONS = frozenset({"manifest_errors", "insufficient_information"})


def build_feedback(
    view: OrderView,
    document: Mapping[str, Any],
    *,
    issuer: str,
    hsp: ParticipantView,
    measure: str,
    measure_at: datetime,
    today: datetime,
    addressee_file_reference: str | None = None,
    profile: Mapping[str, Any] | None = None,
    reinstatable: bool | None = None,
) -> dict[str, Any]:
    """Return an Annex II form (Art. 3(6)) reporting ``measure`` taken at ``measure_at``.

    ``issuer`` names the issuing authority when the order's section E does not.
    ``reinstatable`` (extension, TCO Art. 4(2), R14): the removed content of a
    cross-border order is kept restorable while Art. 4 scrutiny is possible.
    """
    if measure not in MEASURES:
        raise ValueError(f"measure must be one of {MEASURES}, got {measure!r}")
    signatory = _signatory(hsp, profile or {})
    section_b: dict[str, Any] = {"measure": measure, "measure_at": format_time(measure_at)}
    if reinstatable is not None:
        section_b["reinstatable"] = reinstatable
    return {
        "order_id": view["order_id"],
        "section_a": _section_a(view, document, issuer, hsp, addressee_file_reference),
        "section_b": section_b,
        "section_c": {
            **signatory,
            "member_state": hsp.get("legal_representative_member_state") or hsp["member_state"],
            "date": today.date().isoformat(),
        },
    }


def build_impossibility(
    view: OrderView,
    document: Mapping[str, Any],
    *,
    issuer: str,
    hsp: ParticipantView,
    reasons: Sequence[str],
    further_information: str,
    signed_at: datetime,
    clarification_required: str | None = None,
    addressee_file_reference: str | None = None,
    profile: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Return an Annex III form (Art. 3(7)/(8)) giving ``reasons`` for not executing."""
    unknown = sorted(set(reasons) - set(IMPOSSIBILITY_REASONS))
    if not reasons or unknown:
        raise ValueError(f"reasons must be among {IMPOSSIBILITY_REASONS}, got {list(reasons)!r}")
    if CLARIFICATION_REASONS & set(reasons) and not clarification_required:
        raise ValueError("manifest errors or insufficient information need clarification_required")
    section_b: dict[str, Any] = {
        "reasons": list(dict.fromkeys(reasons)),
        "further_information": further_information,
    }
    if clarification_required:
        section_b["clarification_required"] = clarification_required
    return {
        "order_id": view["order_id"],
        "section_a": _section_a(view, document, issuer, hsp, addressee_file_reference),
        "section_b": section_b,
        "section_c": {**_signatory(hsp, profile or {}), "signed_at": format_time(signed_at)},
    }


def _section_a(
    view: OrderView,
    document: Mapping[str, Any],
    issuer: str,
    hsp: ParticipantView,
    addressee_file_reference: str | None,
) -> dict[str, Any]:
    addressee = document.get("section_a", {}).get("addressee", {}).get("name")
    section = {
        "addressee": addressee or hsp["name"],
        "issuing_authority": document.get("section_e", {}).get("authority_name") or issuer,
        "issuing_file_reference": view["reference_number"],
        # R9: exactly the broker's record, never a locally formatted time.
        "order_received_at": view["received_at"],
    }
    if addressee_file_reference:
        section["addressee_file_reference"] = addressee_file_reference
    return section


def _signatory(hsp: ParticipantView, profile: Mapping[str, Any]) -> dict[str, Any]:
    # Section C names the HSP *or* its legal representative; the directory holds
    # no representative's name, so the HSP signs (``legal_representative_name``
    # in the profile switches to the representative).
    representative = profile.get("legal_representative_name")
    email = (
        profile.get("contact_email")
        or contact_email(hsp["contact_point"])
        or describe_contact(hsp["contact_point"])  # the broker will say if it is no e-mail
    )
    return {
        **(
            {"legal_representative_name": representative}
            if representative
            else {"hsp_name": hsp["name"]}
        ),
        "authorised_person": profile.get("authorised_person", f"{hsp['name']} TCO contact point"),
        "contact_email": email,
    }
