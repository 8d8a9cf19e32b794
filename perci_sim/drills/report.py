"""The after-action report of a drill: ``report.json`` and a self-contained ``report.html``.

Figures come from the broker's event log alone (read whole by the facilitator,
or the events every party of the scenario may read, merged by ``seq``:
:mod:`perci_sim.drills.events`), plus the runner's journal for what the log
cannot hold (the injects as played, orders and referrals the broker refused).
The HTML page is :mod:`perci_sim.drills.report_html`.
Counting rules (docs/DRILLS.md):

* an order is *received* by an HSP when ``order_delivered`` is logged; its time
  to removal is ``feedback_received.data.measure_at`` − the first delivery's
  ``received_at`` (docs/EVENTS.md);
* *executed within one hour* / *executed late*: ``feedback_received.data.on_time``
  (the broker's R8 verdict, which counts from the fresh hour after Annex III);
* *Annex III by reason*: each reason of each ``impossibility_received``;
* *overdue at the end*: orders whose last state in the log is ``overdue``;
* acknowledgement time: first ``acknowledgement_received`` − first delivery;
* clarification response time: ``clarification_received`` − the Annex III before it;
* a referral is *received* by an HSP when ``referral_received`` is logged (its
  document's ``recipient``); *removed* / *not removed*: the outcome of its
  ``referral_outcome_received``; *unanswered*: no outcome at the end; time to
  outcome: the outcome's ``measure_at`` (removed) or ``received_at`` (not removed)
  − the referral's ``received_at``;
* scrutiny decisions: ``scrutiny_decision_received`` by outcome, per deciding
  authority; reinstatements: ``reinstatement_received``, per HSP.
"""

from __future__ import annotations

import base64
import json
import math
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from perci_schemas.client_views import EventView, format_time, parse_time

if TYPE_CHECKING:
    from perci_sim.drills.scenario import Scenario

__all__ = [
    "SEED_STABLE",
    "OrderFacts",
    "ReferralFacts",
    "build_report",
    "order_facts",
    "percentile",
    "referral_facts",
    "write_report",
]

#: Figures that are identical for the same scenario and seed (docs/DRILLS.md). Times
#: (medians, percentiles) are stable only within the jitter of the wall clock.
SEED_STABLE: tuple[str, ...] = (
    "orders_received",
    "executed_within_1h",
    "executed_late",
    "withdrawn",
    "annex_iii_by_reason",
    "overdue_at_end",
    "never_acknowledged",
    "orders_issued",
    "orders_refused",
    "clarifications_asked",
    "referrals_received",
    "referrals_removed",
    "referrals_not_removed",
    "referrals_unanswered",
    "referrals_sent",
    "referrals_refused",
    "scrutiny_decisions",
    "reinstated",
    "feedback_undue_delay",
)

_OPEN = frozenset(
    {"delivered", "acknowledged", "overdue", "suspended_force_majeure", "clarification_requested"}
)


@dataclass(slots=True)
class OrderFacts:
    """What the log says about one order."""

    order_id: str
    authority_id: str
    hsp_id: str
    reference: str
    emergency: bool
    delivered_at: datetime | None = None
    acknowledged_at: datetime | None = None
    measure_at: datetime | None = None
    on_time: bool | None = None
    state: str = "delivered"
    withdrawn: bool = False
    deadlines_missed: int = 0
    deadline_at: datetime | None = None
    annex_iii: list[tuple[datetime, list[str]]] = field(default_factory=list)
    clarifications: list[datetime] = field(default_factory=list)
    scrutiny: list[tuple[str, str]] = field(default_factory=list)  # (authority, outcome)
    reinstated_at: datetime | None = None
    feedback_at: datetime | None = None
    undue_feedback: bool = False  # Art. 3(6): breach_3_6 recorded by the broker

    @property
    def time_to_removal_min(self) -> float | None:
        """Minutes from the first delivery to the measure, if executed."""
        if self.measure_at is None or self.delivered_at is None:
            return None
        return (self.measure_at - self.delivered_at).total_seconds() / 60.0

    @property
    def ack_min(self) -> float | None:
        """Minutes from the first delivery to the first acknowledgement."""
        if self.acknowledged_at is None or self.delivered_at is None:
            return None
        return (self.acknowledged_at - self.delivered_at).total_seconds() / 60.0


def _payload(document: str | None) -> dict[str, Any]:
    if not document:
        return {}
    try:
        part = document.split(".")[1]
        data = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (IndexError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def order_facts(events: Iterable[Mapping[str, Any]]) -> dict[str, OrderFacts]:
    """Fold the log into one :class:`OrderFacts` per order, in log order."""
    orders: dict[str, OrderFacts] = {}
    for event in sorted(events, key=lambda e: int(e["seq"])):
        order_id, kind, data = event.get("order_id"), event["kind"], event.get("data") or {}
        if not order_id:
            continue
        at = parse_time(event["received_at"])
        if kind == "order_received":
            payload = _payload(event.get("document"))
            section_a = payload.get("section_a") or {}
            emergency = data.get("emergency")
            orders[order_id] = OrderFacts(
                order_id=order_id,
                authority_id=str(event["actor"]),
                hsp_id=str((section_a.get("addressee") or {}).get("hsp_id", "?")),
                reference=str(data.get("reference_number") or section_a.get("reference_number")),
                emergency=bool(emergency.get("is_emergency"))
                if isinstance(emergency, dict)
                else bool(emergency),
            )
        facts = orders.get(order_id)
        if facts is None:
            continue
        if isinstance(data.get("state"), str):
            facts.state = data["state"]
        if isinstance(data.get("deadline_at"), str):
            facts.deadline_at = parse_time(data["deadline_at"])
        if kind == "order_delivered" and facts.delivered_at is None:
            facts.delivered_at = parse_time(data.get("received_at") or event["received_at"])
        elif kind == "acknowledgement_received" and facts.acknowledged_at is None:
            facts.acknowledged_at = at
        elif kind == "feedback_received":
            facts.measure_at = parse_time(data["measure_at"])
            facts.on_time = bool(data.get("on_time"))
            facts.feedback_at = at
            facts.undue_feedback = data.get("breach_3_6") is True
        elif kind == "impossibility_received":
            facts.annex_iii.append((at, [str(r) for r in data.get("reasons") or ()]))
        elif kind == "clarification_received":
            facts.clarifications.append(at)
        elif kind == "withdrawal_received":
            facts.withdrawn = True
        elif kind == "deadline_missed":
            facts.deadlines_missed += 1
        elif kind == "scrutiny_decision_received":
            facts.scrutiny.append((str(event["actor"]), str(data.get("outcome"))))
        elif kind == "reinstatement_received" and facts.reinstated_at is None:
            facts.reinstated_at = at
    return orders


@dataclass(slots=True)
class ReferralFacts:
    """What the log says about one referral (R20: voluntary, no deadline)."""

    referral_id: str
    sender_id: str
    hsp_id: str
    reference: str
    received_at: datetime
    outcome: str | None = None
    answered_at: datetime | None = None
    measure_at: datetime | None = None
    reason: str | None = None

    @property
    def time_to_outcome_min(self) -> float | None:
        """Minutes from the referral to its outcome (``measure_at`` when removed)."""
        done = self.measure_at or self.answered_at
        if done is None:
            return None
        return (done - self.received_at).total_seconds() / 60.0


def referral_facts(events: Iterable[Mapping[str, Any]]) -> dict[str, ReferralFacts]:
    """Fold the log into one :class:`ReferralFacts` per referral, in log order."""
    referrals: dict[str, ReferralFacts] = {}
    for event in sorted(events, key=lambda e: int(e["seq"])):
        kind, data = event["kind"], event.get("data") or {}
        referral_id = data.get("referral_id")
        if not isinstance(referral_id, str):
            continue
        if kind == "referral_received":
            payload = _payload(event.get("document"))
            referrals[referral_id] = ReferralFacts(
                referral_id=referral_id,
                sender_id=str(event["actor"]),
                hsp_id=str(payload.get("recipient", "?")),
                reference=str(data.get("reference_number", "")),
                received_at=parse_time(event["received_at"]),
            )
        elif kind == "referral_outcome_received" and referral_id in referrals:
            facts = referrals[referral_id]
            facts.outcome = str(data.get("outcome"))
            facts.answered_at = parse_time(event["received_at"])
            measure = data.get("measure_at")
            facts.measure_at = parse_time(measure) if isinstance(measure, str) else None
            facts.reason = data.get("reason")
    return referrals


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile ``p`` (0–100) of ``values``; ``None`` when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100.0 * len(ordered)))
    return ordered[rank - 1]


def _stats(values: Sequence[float]) -> dict[str, Any]:
    def r(value: float | None) -> float | None:
        return None if value is None else round(value, 2)

    return {
        "count": len(values),
        "median": r(statistics.median(values)) if values else None,
        "p95": r(percentile(values, 95)),
        "min": r(min(values)) if values else None,
        "max": r(max(values)) if values else None,
    }


def _overdue(order: OrderFacts, ended_at: datetime) -> bool:
    """Open past its deadline at the end (whether or not the broker's timer has fired)."""
    if order.state == "overdue":
        return True
    return (
        order.state in ("delivered", "acknowledged")
        and order.deadline_at is not None
        and order.deadline_at <= ended_at
    )


def _referral_figures(referrals: Sequence[ReferralFacts]) -> dict[str, Any]:
    times = [t for r in referrals if (t := r.time_to_outcome_min) is not None]
    return {
        "referrals_received": len(referrals),
        "referrals_removed": sum(1 for r in referrals if r.outcome == "removed"),
        "referrals_not_removed": sum(1 for r in referrals if r.outcome == "not_removed"),
        "referrals_unanswered": sum(1 for r in referrals if r.outcome is None),
        "referral_time_to_outcome_min": _stats(times),
    }


def _hsp_figures(orders: Sequence[OrderFacts], ended_at: datetime) -> dict[str, Any]:
    removal = [t for o in orders if (t := o.time_to_removal_min) is not None]
    acks = [t for o in orders if (t := o.ack_min) is not None]
    reasons: Counter[str] = Counter(r for o in orders for _, rs in o.annex_iii for r in rs)
    within = sum(1 for o in orders if o.on_time is True)
    late = sum(1 for o in orders if o.on_time is False)
    overdue = sum(1 for o in orders if _overdue(o, ended_at))
    withdrawn = sum(1 for o in orders if o.withdrawn)
    due = len(orders) - withdrawn
    return {
        "orders_received": len(orders),
        "executed_within_1h": within,
        "executed_late": late,
        "withdrawn": withdrawn,
        "annex_iii_by_reason": dict(sorted(reasons.items())),
        "overdue_at_end": overdue,
        "open_at_end": sum(1 for o in orders if o.state in _OPEN and not _overdue(o, ended_at)),
        "deadlines_missed": sum(o.deadlines_missed for o in orders),
        "compliance_1h": round(within / due, 4) if due else None,
        "time_to_removal_min": _stats(removal),
        "acknowledgement_min": _stats(acks),
        "never_acknowledged": sum(1 for o in orders if o.acknowledged_at is None),
        "reinstated": sum(1 for o in orders if o.reinstated_at is not None),
        "feedback_undue_delay": sum(1 for o in orders if o.undue_feedback),
    }


def _authority_figures(
    orders: Sequence[OrderFacts], refused: int, withdraw_failed: int
) -> dict[str, Any]:
    """Orders, withdrawals and clarifications of one issuing authority."""
    asked = 0
    responses: list[float] = []
    for order in orders:
        requests = [
            at
            for at, reasons in order.annex_iii
            if {"insufficient_information", "manifest_errors"} & set(reasons)
        ]
        asked += len(requests)
        for answered in order.clarifications:
            before = [at for at in requests if at <= answered]
            if before:
                responses.append((answered - max(before)).total_seconds() / 60.0)
    return {
        "orders_issued": len(orders),
        "orders_refused": refused,
        "emergency_orders": sum(1 for o in orders if o.emergency),
        "withdrawals": sum(1 for o in orders if o.withdrawn),
        "withdrawals_refused": withdraw_failed,
        "clarifications_asked": asked,
        "clarification_response_min": _stats(responses),
    }


def build_report(
    scenario: Scenario,
    events: Sequence[EventView] | Sequence[Mapping[str, Any]],
    *,
    journal: Sequence[Mapping[str, Any]],
    t0: datetime,
    ended_at: datetime,
    broker_url: str = "",
    wall_seconds: float | None = None,
    errors: Sequence[str] = (),
    verify_log: Mapping[str, Any] | None = None,
    referrals_refused: Mapping[str, int] | None = None,
    skipped_seconds: float = 0.0,
) -> dict[str, Any]:
    """The figures of a drill (the layout of ``report.json``)."""
    facts = order_facts(events)
    referrals = sorted(
        referral_facts(events).values(), key=lambda r: (r.received_at, r.referral_id)
    )
    refused_referrals = dict(referrals_refused or {})
    orders = sorted(facts.values(), key=lambda o: (o.delivered_at or t0, o.order_id))
    hsp_ids = [h.id for h in scenario.hsps]
    hsp_ids += sorted({o.hsp_id for o in orders} - set(hsp_ids))
    hsp_ids += sorted({r.hsp_id for r in referrals} - set(hsp_ids))
    authority_ids = [a.id for a in scenario.authorities]
    authority_ids += sorted(
        ({r.sender_id for r in referrals} | set(refused_referrals)) - set(authority_ids)
    )
    scrutiny: dict[str, Counter[str]] = {a: Counter() for a in authority_ids}
    for order in orders:
        for by, outcome in order.scrutiny:
            scrutiny.setdefault(by, Counter())[outcome] += 1
    refused = Counter(str(j.get("authority_id")) for j in journal if j.get("kind") == "refused")
    failed = Counter(
        str(j.get("authority_id", "")) for j in journal if j.get("kind") == "withdraw_failed"
    )

    def offset(at: datetime | None) -> float | None:
        return None if at is None else round((at - t0).total_seconds(), 3)

    return {
        "scenario": {
            "name": scenario.name,
            "description": scenario.description,
            "source": scenario.source,
            "seed": scenario.seed,
            "speed": scenario.speed,
            "t0": format_time(t0),
            "ended_at": format_time(ended_at),
            "simulated_seconds": round((ended_at - t0).total_seconds(), 1),
            "wall_seconds": None if wall_seconds is None else round(wall_seconds, 2),
            "skipped_seconds": round(skipped_seconds, 1),
            "broker_url": broker_url,
            "live_parties": [p.id for p in scenario.parties if p.live],
        },
        "seed_stable": list(SEED_STABLE),
        "overall": {
            **_hsp_figures(orders, ended_at),
            **_referral_figures(referrals),
            "orders_refused": sum(refused.values()),
            "referrals_sent": len(referrals),
            "referrals_refused": sum(refused_referrals.values()),
            "scrutiny_decisions": dict(sorted(sum(scrutiny.values(), Counter()).items())),
            "events": len(events),
        },
        "hsps": {
            h: {
                **_hsp_figures([o for o in orders if o.hsp_id == h], ended_at),
                **_referral_figures([r for r in referrals if r.hsp_id == h]),
            }
            for h in hsp_ids
        },
        "authorities": {
            a: {
                **_authority_figures(
                    [o for o in orders if o.authority_id == a], refused[a], failed[a]
                ),
                "referrals_sent": sum(1 for r in referrals if r.sender_id == a),
                "referrals_refused": refused_referrals.get(a, 0),
                "scrutiny_decisions": dict(sorted(scrutiny.get(a, Counter()).items())),
            }
            for a in authority_ids
        },
        "injects": [
            {
                "offset_s": i.at_s,
                "kind": i.kind,
                "text": i.describe(),
                "line": i.line,
            }
            for i in scenario.injects
        ],
        "journal": [dict(j) for j in journal],
        "orders": [
            {
                "order_id": o.order_id,
                "reference": o.reference,
                "authority_id": o.authority_id,
                "hsp_id": o.hsp_id,
                "emergency": o.emergency,
                "state": o.state,
                "delivered_s": offset(o.delivered_at),
                "measure_s": offset(o.measure_at),
                "on_time": o.on_time,
                "time_to_removal_min": None
                if o.time_to_removal_min is None
                else round(o.time_to_removal_min, 3),
                "annex_iii": [r for _, rs in o.annex_iii for r in rs],
                "scrutiny": [outcome for _, outcome in o.scrutiny],
                "reinstated_s": offset(o.reinstated_at),
            }
            for o in orders
        ],
        "referrals": {
            "received_s": [offset(r.received_at) for r in referrals],
            "answered_s": sorted(
                t for r in referrals if (t := offset(r.measure_at or r.answered_at)) is not None
            ),
        },
        "offline": [
            {"hsp": h.id, "from_s": a, "to_s": None if math.isinf(b) else b}
            for h in scenario.hsps
            for a, b in scenario.offline_windows(h.id)
        ],
        "errors": list(errors),
        "verify_log": dict(verify_log) if verify_log is not None else None,
    }


def write_report(directory: Path, report: Mapping[str, Any]) -> None:
    """Write ``report.json`` and ``report.html`` into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "report.json").write_text(
        json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    from perci_sim.drills.report_html import render_html

    (directory / "report.html").write_text(render_html(report), encoding="utf-8")
