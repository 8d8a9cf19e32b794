"""TCO Art. 14: deconfliction, duplicate detection and imminent-threat routing, as pure rules.

Art. 14(1) asks competent authorities to coordinate with each other and, where
appropriate, with Europol "to avoid duplication … and avoid interference with
investigations".  PERCI does this by flagging content another Member State
already asked for, by recording law-enforcement requests to keep content online,
and by detecting duplicate orders (TCO.md §3).  The broker asks this module:

* :func:`url_key`: under which key two URLs count as "the same content" (R19);
* :func:`is_active_order` / :func:`is_active_referral`: whether an earlier item
  still counts as active (R19: open order, or referral without outcome within
  :data:`REFERRAL_ACTIVE_WINDOW`);
* :func:`counts_as_duplicate`: whether an earlier order of the same HSP makes a
  new one a duplicate (open or executed: the content was, or is being, removed);
* :func:`origin_of`: the issuing Member State, with Europol as its own origin;
* :func:`route_imminent_threat`: who receives an Art. 14(5) report (R21).

Nothing here does I/O or reads a clock: callers pass ``now``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from perci_sim.domain.errors import PerciError

__all__ = [
    "DUPLICATE_EXCLUDED_STATES",
    "EUROPOL_ORIGIN",
    "REFERRAL_ACTIVE_WINDOW",
    "DeconflictionHoldActive",
    "HeldUrl",
    "RecipientReason",
    "RoutedRecipient",
    "ThreatAddressee",
    "counts_as_duplicate",
    "is_active_order",
    "is_active_referral",
    "origin_of",
    "route_imminent_threat",
    "url_key",
]

#: A referral without outcome stays "active" for deconfliction this long (R19).  Referrals
#: are voluntary (R20): an HSP that never answers must not block coordination forever.
REFERRAL_ACTIVE_WINDOW = timedelta(days=30)

#: Europol is no Member State: its items are always "from another origin" than a Member
#: State's, so Europol and the authorities see each other's items (Art. 14(1)).
EUROPOL_ORIGIN = "EU"

#: Order states in which an earlier order no longer makes a new one a duplicate: withdrawn,
#: or without legal effect after an Art. 4 infringement decision or a court annulment.
#: Kept as text so that states added by later modules need no import here.
DUPLICATE_EXCLUDED_STATES: frozenset[str] = frozenset(
    {"withdrawn", "no_legal_effect", "reinstated", "annulled"}
)

_DEFAULT_PORTS = {"http": 80, "https": 443}
# RFC 3986 §2.3: unreserved characters.
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")


def _normalise_escapes(text: str) -> str:
    """RFC 3986 §6.2.2.1-2: upper-case escapes; decode those of unreserved characters."""

    def fix(match: re.Match[str]) -> str:
        char = chr(int(match.group(1), 16))
        return char if char in _UNRESERVED else f"%{match.group(1).upper()}"

    return _ESCAPE.sub(fix, text)


def url_key(url: str) -> str:
    """Return the key under which ``url`` is matched against other items (R19).

    Two URLs name the same content when their keys are equal.  The key folds what
    RFC 3986 §6 says does not change the resource, and what never does on the web:

    * scheme and host are case-insensitive; ``http`` and ``https`` are folded
      together (the same content on the same host: a deconfliction match is a
      prompt to coordinate, so a false match costs less than a missed one);
    * a default port (80, 443) is dropped, and so is any user information;
    * the fragment (``#...``) never reaches the server and is dropped;
    * percent-encodings are normalised (unreserved characters decoded, the rest
      upper-case), an empty path is ``/`` and a trailing slash is dropped;
    * the query is kept as written: it often selects the content (``?v=...``).

    A value that is not an absolute http(s) URL is returned stripped, unchanged
    otherwise, so that it can still match itself.
    """
    text = url.strip()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return text
    scheme = parts.scheme.lower()
    host = parts.hostname
    if scheme not in _DEFAULT_PORTS or not host:
        return text
    host = host.rstrip(".")
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        host = f"{host}:{port}"
    path = _normalise_escapes(parts.path).rstrip("/") or "/"
    query = _normalise_escapes(parts.query)
    return urlunsplit(("https", host, path, query, ""))


def origin_of(role: str, member_state: str) -> str:
    """The origin of an item for deconfliction: the issuer's Member State, or Europol."""
    return EUROPOL_ORIGIN if role == "europol" else member_state


def is_active_order(state: str, open_states: Iterable[str]) -> bool:
    """R19: an order is active while it is open (awaiting execution or an answer)."""
    return state in set(open_states)


def is_active_referral(*, received_at: datetime, has_outcome: bool, now: datetime) -> bool:
    """R19: a referral is active until the HSP answers, within the window."""
    return not has_outcome and now - received_at < REFERRAL_ACTIVE_WINDOW


def counts_as_duplicate(state: str) -> bool:
    """An earlier order of the same HSP for the URL, open or executed, makes a duplicate.

    Only orders that were withdrawn or lost their legal effect do not count.
    """
    return state not in DUPLICATE_EXCLUDED_STATES


class RecipientReason(StrEnum):
    """Why a participant receives an Art. 14(5) report."""

    #: The HSP named the recipient's Member State as concerned.
    NAMED_MEMBER_STATE = "named_member_state"
    #: No Member State named: the HSP's own (host) Member State's contact point.
    HOST_MEMBER_STATE = "host_member_state"
    #: No Member State named (Art. 14(5)), or a named one has no reachable authority.
    EUROPOL = "europol"


@dataclass(frozen=True, slots=True)
class ThreatAddressee:
    """A participant that can receive an imminent-threat report."""

    participant_id: str
    role: str  # "authority" or "europol"
    member_state: str


@dataclass(frozen=True, slots=True)
class RoutedRecipient:
    """One recipient of an Art. 14(5) report, and why."""

    participant_id: str
    member_state: str
    reason: RecipientReason


def route_imminent_threat(
    *,
    named_member_states: Sequence[str],
    host_member_state: str,
    addressees: Iterable[ThreatAddressee],
) -> tuple[list[RoutedRecipient], list[str]]:
    """R21, TCO Art. 14(5): who receives an imminent-threat report.

    The authorities of the named Member States receive it.  When the HSP names
    none, "the Member State concerned" is unknown: the report goes to the
    authorities (Art. 12(2) contact points) of the HSP's own Member State and to
    Europol.  A named Member State without any registered authority cannot be
    reached through the exchange: Europol receives the report instead, so it is
    never lost.  Returns the recipients (sorted, each once) and the named Member
    States that had no authority.
    """
    candidates = list(addressees)
    authorities = [a for a in candidates if a.role == "authority"]
    europol = [a for a in candidates if a.role == "europol"]
    chosen: dict[str, RoutedRecipient] = {}
    unreachable: list[str] = []
    named = sorted(set(named_member_states))
    if named:
        for state in named:
            found = [a for a in authorities if a.member_state == state]
            if not found:
                unreachable.append(state)
            for a in found:
                chosen.setdefault(
                    a.participant_id,
                    RoutedRecipient(
                        a.participant_id, a.member_state, RecipientReason.NAMED_MEMBER_STATE
                    ),
                )
    else:
        for a in authorities:
            if a.member_state == host_member_state:
                chosen.setdefault(
                    a.participant_id,
                    RoutedRecipient(
                        a.participant_id, a.member_state, RecipientReason.HOST_MEMBER_STATE
                    ),
                )
    if not named or unreachable:
        for e in europol:
            chosen.setdefault(
                e.participant_id,
                RoutedRecipient(e.participant_id, EUROPOL_ORIGIN, RecipientReason.EUROPOL),
            )
    recipients = sorted(chosen.values(), key=lambda r: (r.member_state, r.participant_id))
    return recipients, unreachable


@dataclass(frozen=True, slots=True)
class HeldUrl:
    """A URL of a new item that another issuer holds: where, and whom to contact."""

    field: str  # JSON pointer of the URL in the refused document
    url: str
    holder_id: str
    holder_name: str
    holder_member_state: str
    contact_point: str


class DeconflictionHoldActive(PerciError):
    """R19, TCO Art. 14(1): a URL is under another issuer's deconfliction hold.

    The problem names, per URL, whom to contact, and nothing of the investigation
    (no reason, no reference, no hold id).
    """

    code = "deconfliction_hold"
    http_status = 409
    title = "URL under a deconfliction hold (TCO Art. 14(1))"

    def __init__(self, held: Sequence[HeldUrl]) -> None:
        holds: list[dict[str, Any]] = [
            {
                "field": h.field,
                "url": h.url,
                "contact": {
                    "authority_id": h.holder_id,
                    "name": h.holder_name,
                    "member_state": h.holder_member_state,
                    "contact_point": h.contact_point,
                },
            }
            for h in held
        ]
        errors = [
            {
                "field": h.field,
                "message": (
                    f"under a deconfliction hold: contact {h.holder_name} "
                    f"({h.holder_member_state}) at {h.contact_point}"
                ),
            }
            for h in held
        ]
        super().__init__(
            f"{len(held)} URL(s) of this document are under a deconfliction hold of another "
            "authority (TCO Art. 14(1)); contact it before issuing an order or a referral",
            holds=holds,
            errors=errors,
        )
        self.held = tuple(held)
