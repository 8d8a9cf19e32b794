"""CLI output for TCO Art. 14 cooperation, shared by ``perci-authority`` and ``perci-platform``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from perci_schemas.client_cli import print_json, print_record, print_table
from perci_schemas.client_cooperation import (
    CooperationAccepted,
    HoldView,
    ReferralView,
    ThreatReportView,
)

__all__ = [
    "print_cooperation_accepted",
    "print_holds",
    "print_referrals",
    "print_threat",
    "print_threats",
]

_ID_MEMBERS = ("referral_id", "hold_id", "report_id")


def print_cooperation_accepted(what: str, accepted: CooperationAccepted, *, as_json: bool) -> None:
    """Report an accepted referral, outcome, hold, lift, report or acknowledgement."""
    if as_json:
        print_json(accepted)
        return
    item, receipt = accepted.item, accepted.receipt
    record: dict[str, Any] = {k: item[k] for k in _ID_MEMBERS if k in item}
    for member in ("state", "outcome", "flags", "urls"):
        if member in item:
            record[member] = _text(item[member])
    if "recipients" in item:
        record["recipients"] = _recipients(item["recipients"])
    record |= {
        "event": f"#{receipt.seq} {receipt.event_id}",
        "received_at": receipt.received_at,
        "receipt": "verified (broker key " + receipt.kid + ")",
    }
    print_record(f"{what} accepted", record)


def print_referrals(referrals: Sequence[ReferralView], *, as_json: bool) -> None:
    """Referrals as a table (R20: voluntary, no deadline)."""
    if as_json:
        print_json(referrals)
        return
    print_table(
        "referrals (voluntary consideration against terms of service)",
        ("referral_id", "from", "hsp", "state", "outcome", "received_at", "urls", "flags"),
        [
            (
                r["referral_id"],
                f"{r['sender_id']} ({r['member_state']})",
                r["hsp_id"],
                r["state"],
                r.get("outcome"),
                r["received_at"],
                _text(r["urls"]),
                _text(r["flags"]),
            )
            for r in referrals
        ],
    )


def print_holds(holds: Sequence[HoldView], *, as_json: bool) -> None:
    """Deconfliction holds as a table."""
    if as_json:
        print_json(holds)
        return
    print_table(
        "deconfliction holds",
        ("hold_id", "state", "placed_at", "lifted_at", "urls"),
        [
            (h["hold_id"], h["state"], h["placed_at"], h.get("lifted_at"), _text(h["urls"]))
            for h in holds
        ],
    )


def print_threats(reports: Sequence[ThreatReportView], *, as_json: bool) -> None:
    """Art. 14(5) reports as a table, with each recipient's delivery state."""
    if as_json:
        print_json(reports)
        return
    print_table(
        "imminent-threat reports (Art. 14(5))",
        ("report_id", "hsp", "member_states", "received_at", "recipients"),
        [
            (
                r["report_id"],
                r["hsp_id"],
                _text(r["member_states"]) or "(none named)",
                r["received_at"],
                _recipients(r["recipients"]),
            )
            for r in reports
        ],
    )


def print_threat(report: ThreatReportView, *, as_json: bool) -> None:
    """One report, one row per recipient."""
    if as_json:
        print_json(report)
        return
    print_table(
        f"report {report['report_id']} by {report['hsp_id']}",
        ("recipient", "member_state", "reason", "delivered_at", "acknowledged_at"),
        [
            (
                r["participant_id"],
                r["member_state"],
                r["reason"],
                r["delivered_at"],
                r.get("acknowledged_at"),
            )
            for r in report["recipients"]
        ],
    )


def _recipients(recipients: Sequence[Mapping[str, Any]]) -> str:
    return ", ".join(
        f"{r['participant_id']} ({'acknowledged' if r.get('acknowledged_at') else 'delivered'})"
        for r in recipients
    )


def _text(value: Any) -> str:
    if isinstance(value, list):
        return "; ".join(str(v) for v in value)
    return "" if value is None else str(value)
