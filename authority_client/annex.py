"""Build a complete Annex I removal order (TCO Art. 3(4)) from directory entries.

The builder is pure: it takes the issuing authority's and the addressee's
directory entries (``GET /v1/participants``), the issuing time and the
case-specific facts, and returns the unsigned order document.  Members the
directory does not hold (telephone, postal address, redress body, ...) come
from the authority's credentials ``profile`` when present; otherwise sensible
defaults are used and members with no value are left out.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from perci_schemas.client_support import ParticipantView, contact_email, format_time

__all__ = ["LEGAL_BASIS", "REASONS", "build_removal_order"]

#: Art. 3(4)(d): the reference to the Regulation.
LEGAL_BASIS = "Regulation (EU) 2021/784"

#: Annex I section B: the types of terrorist content of Art. 2(7)(a)-(e).
REASONS: Mapping[str, str] = {
    "a": "incites the commission of terrorist offences",
    "b": "solicits a person or group to commit or contribute to terrorist offences",
    "c": "solicits a person or group to participate in the activities of a terrorist group",
    "d": "provides instruction on the making or use of weapons or hazardous substances",
    "e": "constitutes a threat to commit a terrorist offence",
}

_REGULATION_URL = "https://eur-lex.europa.eu/eli/reg/2021/784/oj"


def host_member_state(hsp: ParticipantView) -> str:
    """Return the HSP's main-establishment MS, or its legal representative's (Art. 17).

    A legal representative exists only for an HSP without an EU establishment,
    so when the directory names one, that is the MS that has jurisdiction.
    """
    return hsp.get("legal_representative_member_state") or hsp["member_state"]


def build_removal_order(
    *,
    authority: ParticipantView,
    hsp: ParticipantView,
    urls: Sequence[str],
    reasons: Sequence[str],
    details: str,
    issued_at: datetime,
    reference: str | None = None,
    language: str | None = None,
    emergency_justification: str | None = None,
    profile: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Return an Annex I order (without the common members the SDK fills on signing).

    Args:
        authority: the issuing authority's directory entry (section A, E, F).
        hsp: the addressee's directory entry (section A, D; default language).
        urls: the exact URLs of the content (section B, Art. 3(4)(c)).
        reasons: Art. 2(7) letters ``a``-``e`` (section B, Art. 3(4)(b)).
        details: the detailed reasons (section B).
        issued_at: time and date of issuing (section A, Art. 3(4)(e)).
        reference: the reference number; generated when omitted.
        language: ISO 639-1 code; the HSP's first designated language by default.
        emergency_justification: set to issue without advance information (Art. 3(2)).
        profile: optional authority details (``contact_email``, ``telephone``,
            ``address``, ``representative_name``, ``representative_post``,
            ``authority_type``, ``competent_body``, ``national_provision_url``,
            ``appeal_duration``).
    """
    if not urls:
        raise ValueError("an order names at least one URL (Art. 3(4)(c))")
    unknown = sorted(set(reasons) - set(REASONS))
    if not reasons or unknown:
        raise ValueError(f"reasons are Art. 2(7) letters a-e, got {list(reasons)!r}")
    profile = profile or {}
    issuing_ms = authority["member_state"]
    host_ms = host_member_state(hsp)
    if reference is None:
        reference = f"{issuing_ms}-{issued_at:%Y%m%d}-{uuid.uuid4().hex[:8].upper()}"
    email = profile.get("contact_email") or contact_email(authority["contact_point"])
    telephone = profile.get("telephone")
    differs = host_ms != issuing_ms
    return {
        "language": language or (hsp["languages"] or ["en"])[0],
        "legal_basis": LEGAL_BASIS,
        "emergency": _compact(
            {
                "is_emergency": emergency_justification is not None,
                "justification": emergency_justification,
            }
        ),
        "section_a": {
            "issuing_member_state": issuing_ms,
            "addressee": {"hsp_id": hsp["id"], "name": hsp["name"]},
            # Art. 3(5), 15(1): the order goes to the addressee's contact point.
            "contact_point": hsp["contact_point"] or hsp["name"],
            "hsp_member_state": host_ms,
            "issued_at": format_time(issued_at),
            "reference_number": reference,
        },
        "section_b": {
            "content": [{"url": url} for url in urls],
            "reasons": sorted(set(reasons)),
            "reasons_details": details,
        },
        "section_c": {"nondisclosure": False},
        # TCO Art. 4(1), R10: the broker copies a cross-border order to the host-MS
        # authority in the same transaction, so the copy is sent exactly when they differ.
        "section_d": {"host_member_state_differs": differs, "copy_sent_to_host_authority": differs},
        "section_e": _compact(
            {
                "authority_type": profile.get("authority_type", "law_enforcement"),
                "authority_name": authority["name"],
                "representative_name": profile.get("representative_name", authority["name"]),
                "representative_post": profile.get("representative_post", "Issuing officer"),
                "file_number": reference,
                "address": profile.get("address", f"{authority['name']}, {issuing_ms}"),
                "telephone": telephone,
                "email": email,
                "date": issued_at.date().isoformat(),
                # Annex I footnote: no hand signature over an authenticated channel.
                "signature": {"channel_authenticated": True},
            }
        ),
        "section_f": {
            "feedback_contact": _compact(
                {"name": authority["name"], "email": email, "telephone": telephone}
            )
        },
        "section_g": {
            "competent_body": profile.get(
                "competent_body", f"the competent court of {issuing_ms} (Art. 9(2))"
            ),
            "appeal_deadline": {
                "duration": profile.get("appeal_duration", "P1M"),
                "starts_from": "receipt of the removal order",
            },
            "national_provision_url": profile.get("national_provision_url", _REGULATION_URL),
        },
    }


def _compact(members: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in members.items() if v is not None}
