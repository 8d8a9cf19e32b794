"""The transparency figures of TCO Art. 7, Art. 8 and Art. 21 (R23), computed from the log.

PURE: no I/O, no clock.  :func:`compute_report` takes event records (the ``event``
table read through docs/EVENTS.md), the registered participants (for names and
the authorities' Member States) and a :class:`~perci_sim.reports.records.Period`,
and returns the report as a JSON-ready dict.  Event kinds that do not occur
(for instance issue-3 kinds not yet implemented) simply count 0.

Counting rules (docs/REPORTS.md states them for readers of the report):

* **Events of the period** are those with ``period.start <= received_at < period.end``.
  Earlier events of the same orders are *context* only (e.g. the first delivery of
  an order executed in the period); events at or after ``period.end`` are ignored,
  so every "status" is the status at the end of the period.
* **Activity figures** count events of the period: Annex II received, Annex III
  received, breaches, complaints, reinstatements, decisions.
* **Art. 8(1)(a) cohort figures** (issued, cross-border, scrutinised, removed, not
  removed) concern the orders *issued* in the period (``order_received``), with
  their status at the end of the period.
* **Time to removal** of an order = ``feedback_received.data.measure_at`` − the
  ``received_at`` of its *first* ``order_delivered`` (R3; falls back to
  ``order_received``).  It includes any Art. 3(7)/(8) suspension.  Counted for each
  Annex II received in the period.  Percentiles use the nearest-rank method:
  the ``ceil(q·n)``-th smallest value.
* **Not executed under Art. 3(7)/(8)**: an order for which the HSP sent at least one
  Annex III in the period and for which no Annex II was received before the end of
  the period.  Its grounds are the Annex III B(1) reason codes of those notices,
  each counted once per order; its end status is ``withdrawn``
  (``withdrawal_received``), ``no_legal_effect`` (``legal_effect_ended``) or
  ``open``.
* **Items removed or disabled**: one item per order with an Annex II (the event data
  carries the measure per order, not per URL).
* **HSP breaches**: ``deadline_missed`` (``breach_3_3``), ``feedback_received`` with
  ``breach_3_6``, and ``obligation_missed`` owed by the HSP: ``data.owed_by`` when
  present, else a breach code or article that Art. 18(1) makes an HSP obligation
  (3(3), 3(6), 4(2), 4(7), 5(1)-(3), 5(5), 5(6), 6, 7, 10, 11, 14(5), 15(1), 17).
  Other ``obligation_missed`` events are listed under the authority concerned.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from perci_sim.reports.records import EventRecord, ParticipantRef, Period, parse_instant

__all__ = [
    "ANNEX_III_REASONS",
    "BUCKETS",
    "MEASURES",
    "REPORT_SCHEMA",
    "compute_report",
    "distribution",
    "is_hsp_breach",
]

#: Version tag of the JSON layout (bump on any incompatible change of keys).
REPORT_SCHEMA = "perci-sim/transparency-report/1"
#: Annex II Section B measures.
MEASURES: tuple[str, ...] = ("removed", "disabled_all_ms")
#: Annex III Section B(1) reason codes.
ANNEX_III_REASONS: tuple[str, ...] = (
    "force_majeure",
    "manifest_errors",
    "insufficient_information",
)
#: Histogram of the time to removal: (key, label, inclusive upper bound in seconds).
BUCKETS: tuple[tuple[str, str, float | None], ...] = (
    ("le_15m", "<= 15 min", 15 * 60.0),
    ("15_30m", "15-30 min", 30 * 60.0),
    ("30_45m", "30-45 min", 45 * 60.0),
    ("45_60m", "45-60 min", 60 * 60.0),
    ("gt_60m", "> 60 min", None),
)
#: Art. 18(1): the HSP obligations whose breach is penalised, as (article, paragraph);
#: ``None`` means the whole article.
_HSP_OBLIGATIONS: frozenset[tuple[str, str | None]] = frozenset(
    {
        ("3", "3"),
        ("3", "6"),
        ("4", "2"),
        ("4", "7"),
        ("5", "1"),
        ("5", "2"),
        ("5", "3"),
        ("5", "5"),
        ("5", "6"),
        ("6", None),
        ("7", None),
        ("10", None),
        ("11", None),
        ("14", "5"),
        ("15", "1"),
        ("17", None),
    }
)
_BREACH_CODE = re.compile(r"^breach_(\d+)(?:_(\d+))?")
_ARTICLE = re.compile(r"Art\.?\s*(\d+)(?:\s*\((\d+)\))?")
_COMPLAINT_OUTCOMES: tuple[str, ...] = ("upheld", "rejected")
_SCRUTINY_OUTCOMES: tuple[str, ...] = ("infringement", "no_infringement")

PENALTY_NOTE = (
    "Art. 18 penalties are imposed outside the exchange: the broker records none, "
    "so the figure is 0."
)


def _hsp_obligation(article: str, paragraph: str | None) -> bool:
    return (article, None) in _HSP_OBLIGATIONS or (
        paragraph is not None and (article, paragraph) in _HSP_OBLIGATIONS
    )


def is_hsp_breach(code: str, article: str = "") -> bool:
    """Whether a missed obligation is an HSP obligation of Art. 18(1).

    Read from a ``breach_<article>[_<paragraph>]`` code (``breach_4_7``), else from the
    event's ``article`` (``"Art. 5(5)"``, ``"Art. 10"``).
    """
    for match in (_BREACH_CODE.match(code), _ARTICLE.search(article)):
        if match is not None:
            return _hsp_obligation(match.group(1), match.group(2))
    return False


def distribution(seconds: Sequence[float]) -> dict[str, Any]:
    """Count, min, nearest-rank p50/p90/p95, max (seconds) and the histogram of ``BUCKETS``."""
    values = sorted(seconds)
    n = len(values)

    def rank(q: float) -> float | None:
        return values[max(1, math.ceil(q * n)) - 1] if n else None

    counts = dict.fromkeys((key for key, _, _ in BUCKETS), 0)
    for value in values:
        for key, _, upper in BUCKETS:
            if upper is None or value <= upper:
                counts[key] += 1
                break
    return {
        "count": n,
        "min_s": values[0] if n else None,
        "p50_s": rank(0.50),
        "p90_s": rank(0.90),
        "p95_s": rank(0.95),
        "max_s": values[-1] if n else None,
        "buckets": [
            {"key": key, "label": label, "upper_s": upper, "count": counts[key]}
            for key, label, upper in BUCKETS
        ],
    }


def _outcomes(counter: Counter[str], known: Sequence[str]) -> dict[str, int]:
    """``known`` keys always present (0 when absent), then any other outcome seen."""
    result = {key: counter.get(key, 0) for key in known}
    for key in sorted(counter):
        if key not in result:
            result[key] = counter[key]
    return result


# --- per-order context --------------------------------------------------------------------------


@dataclass(slots=True)
class _Order:
    """What the log says about one order up to the end of the period."""

    authority_id: str | None = None
    hsp_id: str | None = None
    issued_at: datetime | None = None
    delivered_at: datetime | None = None
    cross_border: bool = False
    scrutinised: bool = False
    hsp_requested_scrutiny: bool = False
    executed: bool = False
    withdrawn: bool = False
    no_legal_effect: bool = False
    # Annex III reasons of notices received in the period.
    period_annex_iii: set[str] = field(default_factory=set)
    had_period_annex_iii: bool = False

    @property
    def start_of_clock(self) -> datetime | None:
        """R3: the first delivery (the same transaction as the receipt of the order)."""
        return self.delivered_at or self.issued_at


def _orders(events: Sequence[EventRecord], period: Period) -> dict[str, _Order]:
    orders: dict[str, _Order] = {}
    for ev in events:
        if ev.order_id is None:
            continue
        o = orders.setdefault(ev.order_id, _Order())
        o.hsp_id = o.hsp_id or ev.hsp_id
        o.authority_id = o.authority_id or ev.authority_id
        kind = ev.kind
        if kind == "order_received":
            o.issued_at = o.issued_at or ev.received_at
            o.authority_id = ev.authority_id or ev.actor
        elif kind == "order_delivered":
            o.delivered_at = o.delivered_at or ev.received_at
        elif kind == "host_copy_delivered":
            o.cross_border = True
        elif kind == "scrutiny_decision_received":
            o.scrutinised = True
        elif kind == "scrutiny_request_received":
            if ev.data.get("requester_role") == "hsp":
                o.hsp_requested_scrutiny = True
        elif kind == "feedback_received":
            o.executed = True
        elif kind == "withdrawal_received":
            o.withdrawn = True
        elif kind == "legal_effect_ended":
            o.no_legal_effect = True
        elif kind == "impossibility_received" and ev.received_at in period:
            o.had_period_annex_iii = True
            o.period_annex_iii.update(str(r) for r in ev.data.get("reasons") or ())
    return orders


# --- tallies ------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Hsp:
    orders_received: int = 0
    measures: Counter[str] = field(default_factory=Counter)
    on_time: int = 0
    late: int = 0
    annex_iii_notices: int = 0
    annex_iii_reasons: Counter[str] = field(default_factory=Counter)
    exposure_decisions: int = 0
    exposure_reports: int = 0
    complaints_received: int = 0
    complaint_outcomes: Counter[str] = field(default_factory=Counter)
    scrutiny_requests: int = 0
    scrutiny_outcomes: Counter[str] = field(default_factory=Counter)
    review_requests: int = 0
    review_outcomes: Counter[str] = field(default_factory=Counter)
    reinstated_after_review: set[str] = field(default_factory=set)
    reinstated_after_complaint: set[str] = field(default_factory=set)
    reinstatement_causes: Counter[str] = field(default_factory=Counter)
    breach_3_3: int = 0
    breach_3_6: int = 0
    other_breaches: Counter[str] = field(default_factory=Counter)
    ttr: list[float] = field(default_factory=list)


@dataclass(slots=True)
class _Authority:
    issued: int = 0
    cross_border: int = 0
    scrutinised: int = 0
    removed: int = 0
    withdrawals: int = 0
    scrutiny_on_its_orders: Counter[str] = field(default_factory=Counter)
    scrutiny_taken: Counter[str] = field(default_factory=Counter)
    art_5_4: int = 0
    art_5_4_implemented: int = 0
    art_5_6: int = 0
    review_decisions: Counter[str] = field(default_factory=Counter)
    appeals: Counter[str] = field(default_factory=Counter)
    annulments: Counter[str] = field(default_factory=Counter)
    legal_effect_ended: Counter[str] = field(default_factory=Counter)
    complaints_received: int = 0
    complaint_outcomes: Counter[str] = field(default_factory=Counter)
    obligations_missed: Counter[str] = field(default_factory=Counter)
    ttr: list[float] = field(default_factory=list)


class _Tally:
    """Mutable counters per HSP and per authority while the events are read."""

    def __init__(self, participants: Mapping[str, ParticipantRef]) -> None:
        self.participants = participants
        self.hsps: dict[str, _Hsp] = {}
        self.authorities: dict[str, _Authority] = {}

    def hsp(self, hsp_id: str | None) -> _Hsp | None:
        if not hsp_id:
            return None
        return self.hsps.setdefault(hsp_id, _Hsp())

    def authority(self, authority_id: str | None) -> _Authority | None:
        if not authority_id:
            return None
        return self.authorities.setdefault(authority_id, _Authority())

    def decider(self, ev: EventRecord) -> str | None:
        """The authority that took a decision: its actor if an authority, else ``authority_id``."""
        ref = self.participants.get(ev.actor)
        if ref is not None and ref.role == "authority":
            return ev.actor
        return ev.authority_id


def _ttr_seconds(ev: EventRecord, order: _Order | None) -> float | None:
    raw = ev.data.get("measure_at")
    start = order.start_of_clock if order else None
    if raw is None or start is None:
        return None
    return round((parse_instant(str(raw)) - start).total_seconds(), 3)


def _count(ev: EventRecord, order: _Order | None, tally: _Tally, seen: set[str]) -> None:
    """Add one event of the period to the tallies."""
    kind, data = ev.kind, ev.data
    hsp_id = ev.hsp_id or (order.hsp_id if order else None)
    issuer = tally.authority(order.authority_id if order else None)
    hsp = tally.hsp(hsp_id)
    if kind == "order_delivered" and hsp is not None and ev.order_id not in seen:
        if order is not None and order.delivered_at == ev.received_at:
            seen.add(str(ev.order_id))
            hsp.orders_received += 1
    elif kind == "feedback_received":
        seconds = _ttr_seconds(ev, order)
        if hsp is not None:
            hsp.measures[str(data.get("measure") or "unspecified")] += 1
            if data.get("on_time", True):
                hsp.on_time += 1
            else:
                hsp.late += 1
            if data.get("breach_3_6") or data.get("breach") == "breach_3_6":
                hsp.breach_3_6 += 1
            if seconds is not None:
                hsp.ttr.append(seconds)
        if issuer is not None and seconds is not None:
            issuer.ttr.append(seconds)
    elif kind == "impossibility_received" and hsp is not None:
        hsp.annex_iii_notices += 1
        hsp.annex_iii_reasons.update(str(r) for r in data.get("reasons") or ())
    elif kind == "deadline_missed" and hsp is not None:
        hsp.breach_3_3 += 1
    elif kind == "obligation_missed":
        _count_obligation(ev, hsp, issuer, tally)
    elif kind == "withdrawal_received" and issuer is not None:
        issuer.withdrawals += 1
    elif kind == "exposure_decision_received":
        decider = tally.authority(tally.decider(ev))
        target = tally.hsp(str(data.get("hsp_id") or "") or ev.hsp_id)
        if target is not None:
            target.exposure_decisions += 1
        if decider is not None:
            if "5(6)" in str(data.get("article") or ""):
                decider.art_5_6 += 1
            else:
                decider.art_5_4 += 1
    elif kind == "exposure_report_received" and hsp is not None:
        hsp.exposure_reports += 1
    elif kind == "complaint_received":
        if hsp is not None:
            hsp.complaints_received += 1
        if issuer is not None:
            issuer.complaints_received += 1
    elif kind == "complaint_outcome_received":
        outcome = str(data.get("outcome") or "unspecified")
        if hsp is not None:
            hsp.complaint_outcomes[outcome] += 1
            if data.get("reinstated") and ev.order_id:
                hsp.reinstated_after_complaint.add(ev.order_id)
        if issuer is not None:
            issuer.complaint_outcomes[outcome] += 1
    elif kind == "reinstatement_received" and hsp is not None and ev.order_id:
        cause = str(data.get("cause") or "unspecified")
        hsp.reinstatement_causes[cause] += 1
        if cause == "complaint":
            hsp.reinstated_after_complaint.add(ev.order_id)
        else:
            hsp.reinstated_after_review.add(ev.order_id)
    elif kind == "scrutiny_request_received":
        if hsp is not None and data.get("requester_role") == "hsp":
            hsp.scrutiny_requests += 1
    elif kind == "scrutiny_decision_received":
        outcome = str(data.get("outcome") or "unspecified")
        decider = tally.authority(tally.decider(ev))
        if decider is not None:
            decider.scrutiny_taken[outcome] += 1
        if issuer is not None:
            issuer.scrutiny_on_its_orders[outcome] += 1
        if (
            hsp is not None
            and order is not None
            and order.hsp_requested_scrutiny
            and data.get("initiative") == "request"
        ):
            hsp.scrutiny_outcomes[outcome] += 1
    elif kind == "review_request_received" and hsp is not None:
        hsp.review_requests += 1
    elif kind == "review_decision_received":
        outcome = str(data.get("outcome") or "unspecified")
        decider = tally.authority(tally.decider(ev))
        if decider is not None:
            decider.review_decisions[outcome] += 1
        target = tally.hsp(str(data.get("hsp_id") or "") or ev.hsp_id)
        if target is not None:
            target.review_outcomes[outcome] += 1
    elif kind == "appeal_notice_received" and issuer is not None:
        issuer.appeals[str(data.get("kind") or "unspecified")] += 1
    elif kind == "court_annulment_received" and issuer is not None:
        issuer.annulments[str(data.get("target") or "order")] += 1
    elif kind == "legal_effect_ended" and issuer is not None:
        issuer.legal_effect_ended[str(data.get("cause") or "unspecified")] += 1


def _count_obligation(
    ev: EventRecord, hsp: _Hsp | None, issuer: _Authority | None, tally: _Tally
) -> None:
    """An ``obligation_missed``: an HSP breach (Art. 18(1)) or an authority's missed duty.

    The owner is ``data.owed_by`` when the event names it (a participant id, or
    ``hsp`` / ``…authority``), else it is read from the breach code or the article.
    """
    data = ev.data
    code = str(data.get("breach") or data.get("obligation") or "unspecified")
    article = str(data.get("article") or data.get("breach_article") or "")
    owed_by = str(data.get("owed_by") or "")
    ref = tally.participants.get(owed_by)
    if ref is not None:
        by_hsp = ref.role == "hsp"
        if by_hsp:
            hsp = tally.hsp(owed_by)
        else:
            issuer = tally.authority(owed_by)
    elif owed_by == "hsp":
        by_hsp = True
    elif owed_by.endswith("authority"):
        by_hsp = False
    else:
        by_hsp = is_hsp_breach(code, article)
    if by_hsp and hsp is not None:
        if code == "breach_3_3":
            hsp.breach_3_3 += 1
        elif code == "breach_3_6":
            hsp.breach_3_6 += 1
        else:
            hsp.other_breaches[code] += 1
        return
    concerned = issuer if ref is not None else (tally.authority(ev.authority_id) or issuer)
    if concerned is not None:
        concerned.obligations_missed[code] += 1


def _implemented_exposures(events: Sequence[EventRecord], period: Period, tally: _Tally) -> None:
    """Art. 8(1)(b): a 5(4) decision is implemented once its HSP sent an exposure report."""
    reports: dict[str, list[datetime]] = {}
    for ev in events:
        if ev.kind == "exposure_report_received":
            hsp_id = ev.hsp_id or ev.actor
            reports.setdefault(hsp_id, []).append(ev.received_at)
    for ev in events:
        if ev.kind != "exposure_decision_received" or ev.received_at not in period:
            continue
        if "5(6)" in str(ev.data.get("article") or ""):
            continue
        target = str(ev.data.get("hsp_id") or "") or ev.hsp_id
        decider = tally.authority(tally.decider(ev))
        if (
            decider is not None
            and target
            and any(at > ev.received_at for at in reports.get(target, []))
        ):
            decider.art_5_4_implemented += 1


def _not_executed(orders: Mapping[str, _Order], hsp_id: str) -> dict[str, Any]:
    """Art. 7(3)(c): orders not executed under Art. 3(7)/(8) and their grounds."""
    chosen = [
        o
        for o in orders.values()
        if o.hsp_id == hsp_id and o.had_period_annex_iii and not o.executed
    ]
    grounds: Counter[str] = Counter()
    for o in chosen:
        grounds.update(o.period_annex_iii)
    return {
        "orders": len(chosen),
        "grounds": _outcomes(grounds, ANNEX_III_REASONS),
        "status_at_period_end": {
            "withdrawn": sum(1 for o in chosen if o.withdrawn),
            "no_legal_effect": sum(1 for o in chosen if o.no_legal_effect and not o.withdrawn),
            "open": sum(1 for o in chosen if not o.withdrawn and not o.no_legal_effect),
        },
    }


def _ref(participants: Mapping[str, ParticipantRef], pid: str) -> ParticipantRef:
    return participants.get(pid) or ParticipantRef(id=pid, role="unknown")


def _hsp_json(
    hsp_id: str, t: _Hsp, orders: Mapping[str, _Order], period: Period, ref: ParticipantRef
) -> dict[str, Any]:
    executed = t.on_time + t.late
    return {
        "id": hsp_id,
        "name": ref.name,
        "member_state": ref.member_state,
        "art_7_due_date": period.art_7_due.isoformat(),
        "report_required": bool(t.orders_received or t.exposure_decisions or executed),
        "orders_received": t.orders_received,
        "art_7_3_c": {
            "removal_orders": {
                "items_removed_or_disabled": executed,
                "by_measure": _outcomes(t.measures, MEASURES),
            },
            "specific_measures": {
                "exposure_decisions_received": t.exposure_decisions,
                "exposure_reports_sent": t.exposure_reports,
                "items_removed_or_disabled": None,
            },
            "not_executed": _not_executed(orders, hsp_id),
            "annex_iii_notices": {
                "count": t.annex_iii_notices,
                "reasons": _outcomes(t.annex_iii_reasons, ANNEX_III_REASONS),
            },
        },
        "art_7_3_d_complaints": {
            "received": t.complaints_received,
            "outcomes": _outcomes(t.complaint_outcomes, _COMPLAINT_OUTCOMES),
        },
        "art_7_3_e_review_proceedings": {
            "scrutiny_requests": t.scrutiny_requests,
            "scrutiny_outcomes": _outcomes(t.scrutiny_outcomes, _SCRUTINY_OUTCOMES),
            "art_5_7_review_requests": t.review_requests,
            "art_5_7_review_outcomes": _outcomes(t.review_outcomes, ()),
        },
        "art_7_3_f_reinstated_after_review": len(t.reinstated_after_review),
        "art_7_3_g_reinstated_after_complaint": len(t.reinstated_after_complaint),
        "reinstatements_by_cause": _outcomes(t.reinstatement_causes, ()),
        "execution": {"executed": executed, "on_time": t.on_time, "late": t.late},
        "breaches": {
            "breach_3_3": t.breach_3_3,
            "breach_3_6": t.breach_3_6,
            "other": _outcomes(t.other_breaches, ()),
            "total": t.breach_3_3 + t.breach_3_6 + sum(t.other_breaches.values()),
        },
        "time_to_removal": distribution(t.ttr),
    }


def _cohort(orders: Mapping[str, _Order], period: Period, tally: _Tally) -> None:
    """Art. 8(1)(a): the orders issued in the period, with their status at its end."""
    for o in orders.values():
        if o.issued_at is None or o.issued_at not in period:
            continue
        a = tally.authority(o.authority_id)
        if a is None:
            continue
        a.issued += 1
        a.cross_border += o.cross_border
        a.scrutinised += o.scrutinised
        a.removed += o.executed


def _authority_json(authority_id: str, t: _Authority, ref: ParticipantRef) -> dict[str, Any]:
    return {
        "id": authority_id,
        "name": ref.name,
        "member_state": ref.member_state,
        "art_8_1_a": {
            "orders_issued": t.issued,
            "cross_border": t.cross_border,
            "scrutinised": t.scrutinised,
            "removed": t.removed,
            "not_removed": t.issued - t.removed,
        },
        "art_8_1_b": {
            "art_5_4_decisions": t.art_5_4,
            "art_5_4_implemented": t.art_5_4_implemented,
            "art_5_6_decisions": t.art_5_6,
            "art_5_7_decisions": sum(t.review_decisions.values()),
            "art_5_7_outcomes": _outcomes(t.review_decisions, ()),
        },
        "art_8_1_c": {
            "scrutiny_decisions_on_its_orders": _outcomes(
                t.scrutiny_on_its_orders, _SCRUTINY_OUTCOMES
            ),
            "scrutiny_decisions_taken": _outcomes(t.scrutiny_taken, _SCRUTINY_OUTCOMES),
            "appeal_notices": _outcomes(t.appeals, ("appeal_lodged", "confirmed")),
            "court_annulments": _outcomes(t.annulments, ("order", "decision")),
            "legal_effect_ended": _outcomes(
                t.legal_effect_ended, ("infringement_decision", "court_annulment")
            ),
        },
        "art_8_1_d": {"penalty_decisions": 0, "note": PENALTY_NOTE},
        "withdrawals": t.withdrawals,
        "complaints_about_its_orders": {
            "received": t.complaints_received,
            "outcomes": _outcomes(t.complaint_outcomes, _COMPLAINT_OUTCOMES),
        },
        "obligations_missed": _outcomes(t.obligations_missed, ()),
        "time_to_removal": distribution(t.ttr),
    }


def _member_states(
    tally: _Tally, participants: Mapping[str, ParticipantRef], period: Period
) -> list[dict[str, Any]]:
    """Art. 21: the authorities' figures summed per Member State of the authority."""
    by_ms: dict[str, list[str]] = {}
    for aid in tally.authorities:
        ms = _ref(participants, aid).member_state or "unknown"
        by_ms.setdefault(ms, []).append(aid)
    result: list[dict[str, Any]] = []
    for ms in sorted(by_ms):
        members = [tally.authorities[aid] for aid in sorted(by_ms[ms])]
        issued = sum(a.issued for a in members)
        removed = sum(a.removed for a in members)
        outcomes: Counter[str] = Counter()
        for a in members:
            outcomes.update(a.complaint_outcomes)
        result.append(
            {
                "member_state": ms,
                "authorities": sorted(by_ms[ms]),
                "art_21_due_date": period.art_21_due.isoformat(),
                "orders_issued": issued,
                "cross_border": sum(a.cross_border for a in members),
                "scrutinised": sum(a.scrutinised for a in members),
                "removed": removed,
                "not_removed": issued - removed,
                "speed_of_removal": distribution([s for a in members for s in a.ttr]),
                "complaints": {
                    "received": sum(a.complaints_received for a in members),
                    "outcomes": _outcomes(outcomes, _COMPLAINT_OUTCOMES),
                },
                "reviews": {
                    "scrutiny_decisions_taken": sum(
                        sum(a.scrutiny_taken.values()) for a in members
                    ),
                    "art_5_7_review_decisions": sum(
                        sum(a.review_decisions.values()) for a in members
                    ),
                    "appeals_lodged": sum(a.appeals.get("appeal_lodged", 0) for a in members),
                    "court_annulments": sum(sum(a.annulments.values()) for a in members),
                },
                "preserved_data_access_requests": None,
                "penalty_decisions": 0,
            }
        )
    return result


def compute_report(
    events: Iterable[EventRecord | Mapping[str, Any]],
    *,
    period: Period,
    participants: Mapping[str, ParticipantRef],
    generated_at: datetime,
) -> dict[str, Any]:
    """The transparency report of ``period`` as a JSON-ready dict (layout: docs/REPORTS.md).

    ``events`` may include context events before the period (earlier events of its
    orders); events at or after ``period.end`` are ignored.
    """
    records = [e if isinstance(e, EventRecord) else EventRecord.from_mapping(e) for e in events]
    indexed = sorted(
        (r for r in records if r.received_at < period.end),
        key=lambda r: (r.received_at, r.seq),
    )
    orders = _orders(indexed, period)
    tally = _Tally(participants)
    seen: set[str] = set()
    for ev in indexed:
        if ev.received_at not in period:
            continue
        order = orders.get(ev.order_id) if ev.order_id else None
        _count(ev, order, tally, seen)
        # Every participant an event of the period names gets a section.
        tally.hsp(ev.hsp_id or (order.hsp_id if order else None))
        tally.authority(order.authority_id if order else ev.authority_id)
    _cohort(orders, period, tally)
    _implemented_exposures(indexed, period, tally)
    return {
        "schema": REPORT_SCHEMA,
        "regulation": "Regulation (EU) 2021/784 (TCO), Art. 7, 8 and 21",
        "period": {
            "from": _iso(period.start),
            "to": _iso(period.end),
            "end_exclusive": True,
            "timezone": "UTC",
            "year": period.report_year,
        },
        "generated_at": _iso(generated_at),
        "due_dates": {
            "art_7_hsp_reports": period.art_7_due.isoformat(),
            "art_21_member_state_reports": period.art_21_due.isoformat(),
        },
        "hsps": [
            _hsp_json(hid, tally.hsps[hid], orders, period, _ref(participants, hid))
            for hid in sorted(tally.hsps)
        ],
        "authorities": [
            _authority_json(aid, tally.authorities[aid], _ref(participants, aid))
            for aid in sorted(tally.authorities)
        ],
        "member_states": _member_states(tally, participants, period),
        "notes": [
            "Computed from the broker's event log only (docs/EVENTS.md); "
            "the counting rules are in docs/REPORTS.md.",
            "Items removed are counted per order: the log records the measure per order.",
            "Time to removal = Annex II measure_at minus the first delivery of the order "
            "(R3), suspensions under Art. 3(7)/(8) included; percentiles by nearest rank.",
            PENALTY_NOTE,
            "Removals under Art. 5 specific measures and access requests to preserved data "
            "are not reported to the broker: those figures are null.",
        ],
    }


def _iso(at: datetime) -> str:
    return parse_instant(at).isoformat(timespec="milliseconds")
