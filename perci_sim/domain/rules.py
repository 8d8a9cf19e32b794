"""TCO rules checked when a document arrives, as pure functions.

Each function takes what the broker recorded and the document as plain data
and either returns a verdict or raises a :class:`PerciError` subclass.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from perci_sim.domain.errors import (
    AdvanceInformationMissing,
    LanguageNotDesignated,
    MeasureTimeInvalid,
    ReceiptTimeMismatch,
)
from perci_sim.domain.states import Trigger

__all__ = [
    "ADVANCE_NOTICE",
    "art_3_4_gaps",
    "check_advance_information",
    "check_language",
    "check_measure_time",
    "check_receipt_time",
    "impossibility_trigger",
    "parse_instant",
]

#: TCO Art. 3(2): advance information at least 12 hours before the first order.
ADVANCE_NOTICE = timedelta(hours=12)


def parse_instant(value: str) -> datetime:
    """Parse an RFC 3339 date-time that must carry an offset."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"{value!r} has no UTC offset")
    return parsed


def _get(document: Mapping[str, Any], *path: str) -> Any:
    node: Any = document
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return node


def _blank(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


#: Art. 3(4) elements, each with the Annex I members that carry it.
_ART_3_4: tuple[tuple[str, str, tuple[tuple[str, ...], ...]], ...] = (
    (
        "art_3_4_a",
        "identification of the issuing authority (Section E)",
        (("section_e", "authority_name"), ("section_e", "authority_type")),
    ),
    (
        "art_3_4_b",
        "statement of reasons and Art. 2(7) type (Section B)",
        (("section_b", "reasons"), ("section_b", "reasons_details")),
    ),
    ("art_3_4_c", "exact URL of the content (Section B)", (("section_b", "content"),)),
    ("art_3_4_d", "reference to Regulation (EU) 2021/784", (("legal_basis",),)),
    (
        "art_3_4_e",
        "date and time stamp of issuing (Section A)",
        (("section_a", "issued_at"),),
    ),
    (
        "art_3_4_f",
        "information about redress and its deadline (Section G)",
        (
            ("section_g", "competent_body"),
            ("section_g", "appeal_deadline"),
        ),
    ),
)


def art_3_4_gaps(order: Mapping[str, Any]) -> list[str]:
    """R2: list the Art. 3(4)(a)–(f) elements the order lacks, as flag strings.

    The order is still accepted and delivered; the HSP may answer with an
    Annex III for manifest errors or insufficient information (Art. 3(8)).
    """
    flags = []
    for code, label, paths in _ART_3_4:
        missing = [".".join(p) for p in paths if _blank(_get(order, *p))]
        if code == "art_3_4_c" and not missing:
            # Art. 3(4)(c): *exact* URL: every content item needs one.
            items = _get(order, "section_b", "content")
            missing = [
                f"section_b.content[{i}].url"
                for i, item in enumerate(items if isinstance(items, list) else [])
                if not isinstance(item, Mapping) or _blank(item.get("url"))
            ]
        if missing:
            flags.append(f"{code}: missing {label}: {', '.join(missing)}")
    return flags


def check_language(language: str, designated: Sequence[str]) -> None:
    """R5: refuse an order in a language the HSP did not designate (Art. 15(2))."""
    if language not in designated:
        raise LanguageNotDesignated(language, tuple(designated))


def check_advance_information(
    *,
    is_first_order: bool,
    advance_received_at: datetime | None,
    now: datetime,
    emergency: bool,
    justification: str | None,
) -> None:
    """R4: the first order of an authority to an HSP needs 12 h advance information.

    TCO Art. 3(2): the rule "shall not apply in duly justified cases of
    emergency": an emergency flag with a non-empty justification lifts it.
    """
    if not is_first_order:
        return
    if emergency and justification and justification.strip():
        return
    if advance_received_at is None:
        raise AdvanceInformationMissing(
            "this is the first order of this authority to this HSP: send advance "
            "information (Art. 3(2)) at least 12 hours before it, or flag the order "
            "as an emergency with a justification",
            not_before=None,
        )
    not_before = advance_received_at + ADVANCE_NOTICE
    if now < not_before:
        raise AdvanceInformationMissing(
            "advance information reached the HSP at "
            f"{advance_received_at.isoformat(timespec='milliseconds')}; the first order "
            f"can be issued from {not_before.isoformat(timespec='milliseconds')}",
            not_before=not_before,
        )


def check_receipt_time(stated: str, recorded: datetime) -> None:
    """R9: the Annex II/III receipt time must be the broker's record (ms precision)."""
    try:
        instant = parse_instant(stated)
    except ValueError as exc:
        raise ReceiptTimeMismatch(stated, recorded) from exc
    if abs(instant - recorded) >= timedelta(milliseconds=1):
        raise ReceiptTimeMismatch(stated, recorded)


def check_measure_time(
    measure_at: datetime, *, order_received_at: datetime, feedback_received_at: datetime
) -> None:
    """Annex II: the measure happened after receipt of the order and before the feedback."""
    if measure_at < order_received_at:
        raise MeasureTimeInvalid(
            "section_b.measure_at is before the order was received "
            f"({order_received_at.isoformat(timespec='milliseconds')})"
        )
    if measure_at > feedback_received_at:
        raise MeasureTimeInvalid("section_b.measure_at is later than the feedback's receipt")


def impossibility_trigger(reasons: Sequence[str]) -> Trigger:
    """Map Annex III Section B(1) reasons to the trigger they cause.

    When errors or insufficient information are among the reasons, the order
    needs the authority's clarification before anything can run again (Art.
    3(8)); force majeure alone waits for the HSP's grounds-ceased notice (3(7)).
    """
    if {"manifest_errors", "insufficient_information"} & set(reasons):
        return Trigger.IMPOSSIBILITY_NEEDS_CLARIFICATION
    return Trigger.IMPOSSIBILITY_FORCE_MAJEURE
