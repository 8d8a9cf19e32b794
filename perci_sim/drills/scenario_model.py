"""The drill scenario model: frozen dataclasses for parties, behaviour profiles,
injects and the scenario, with the derived schedules (order and referral keys,
offsets, pairs, offline windows).  Parsed from YAML by :mod:`perci_sim.drills.scenario`."""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass, field
from typing import Final

__all__ = [
    "ANNEX_III_REASONS",
    "EUROPOL",
    "HOUR_MIN",
    "OWN_SCRUTINY_S",
    "SKIP_IDLE_THRESHOLD_S",
    "Authority",
    "Delay",
    "Hsp",
    "Inject",
    "Profile",
    "ReferralProfile",
    "Scenario",
    "referral_key",
    "referral_plan",
]

#: Annex III B(1) reasons a simulated HSP can give.
ANNEX_III_REASONS: Final = ("insufficient_information", "manifest_errors", "force_majeure")
#: The one hour of Art. 3(3), in minutes.
HOUR_MIN: Final = 60.0
#: The id (and role) of Europol in a drill: a referral sender the runner registers itself.
EUROPOL: Final = "europol"
#: ``skip_idle``: the clock jumps only when the next inject is further away than this.
SKIP_IDLE_THRESHOLD_S: Final = 1800.0
#: TCO Art. 4(3): the host authority scrutinises of its own initiative within 72 hours.
OWN_SCRUTINY_S: Final = 72 * 3600.0

_Z95: Final = 1.6448536269514722  # standard normal 95th percentile


@dataclass(frozen=True, slots=True, kw_only=True)
class Delay:
    """A random delay in simulated minutes.

    ``kind`` is ``fixed`` (``a``), ``uniform`` (``a``..``b``), ``triangular``
    (``a``..``b``, mode ``c``) or ``lognormal`` (median ``a``, 95th percentile ``b``).
    """

    kind: str
    a: float
    b: float = 0.0
    c: float = 0.0

    def draw(self, rng: random.Random) -> float:
        """One value in minutes (never negative)."""
        if self.kind == "fixed":
            return self.a
        if self.kind == "uniform":
            return rng.uniform(self.a, self.b)
        if self.kind == "triangular":
            return rng.triangular(self.a, self.b, self.c)
        sigma = math.log(self.b / self.a) / _Z95
        return max(0.0, rng.lognormvariate(math.log(self.a), sigma))


@dataclass(frozen=True, slots=True, kw_only=True)
class Profile:
    """How a simulated HSP behaves (all delays in simulated minutes)."""

    time_to_removal: Delay = Delay(kind="triangular", a=5.0, b=50.0, c=15.0)
    late: float = 0.0
    late_delay: Delay = Delay(kind="uniform", a=70.0, b=150.0)
    missing: float = 0.0
    ack_share: float = 1.0
    ack_delay: Delay = Delay(kind="uniform", a=0.5, b=5.0)
    annex_iii_share: float = 0.0
    annex_iii_reasons: tuple[tuple[str, float], ...] = (("insufficient_information", 1.0),)
    annex_iii_delay: Delay = Delay(kind="uniform", a=5.0, b=20.0)
    grounds_ceased_after: Delay = Delay(kind="uniform", a=10.0, b=40.0)
    reinstate_delay: Delay = Delay(kind="uniform", a=5.0, b=30.0)
    #: Share of Annex II answers sent long after the removal (Art. 3(6): "without undue
    #: delay"), and how long after it (minutes; kept past the broker's undue delay).
    feedback_late: float = 0.0
    feedback_delay: Delay = Delay(kind="uniform", a=70.0, b=180.0)


@dataclass(frozen=True, slots=True, kw_only=True)
class ReferralProfile:
    """How a simulated HSP answers referrals (R20: voluntary, no deadline).

    ``removed`` and ``missing`` are shares of all referrals received; the rest is
    answered ``not_removed`` with a reason.  ``delay``: simulated minutes from
    receipt to the outcome.
    """

    removed: float = 0.9
    missing: float = 0.0
    delay: Delay = Delay(kind="triangular", a=10.0, b=240.0, c=45.0)


@dataclass(frozen=True, slots=True, kw_only=True)
class Authority:
    """A competent authority of a Member State."""

    id: str
    name: str
    member_state: str
    languages: tuple[str, ...]
    live: bool = False
    clarification_delay: Delay = Delay(kind="uniform", a=5.0, b=20.0)
    line: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Hsp:
    """A hosting service provider and its behaviour."""

    id: str
    name: str
    main_establishment: str
    languages: tuple[str, ...]
    live: bool = False
    channel: str = "feed"
    poll_interval_min: float = 1.0
    profile: Profile = field(default_factory=Profile)
    referrals: ReferralProfile = field(default_factory=ReferralProfile)
    line: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Inject:
    """One entry of the timeline at ``at_s`` simulated seconds after T+0.

    ``kind`` is ``wave``, ``order``, ``referrals``, ``scrutiny``, ``offline``,
    ``online``, ``withdraw``, ``advance_information`` or ``note``; the other
    members apply to some kinds.  A ``scrutiny`` inject's ``at_s`` is its order's
    scheduled offset plus ``after_s`` (the runner counts from the order's receipt).
    """

    kind: str
    at_s: float
    line: int
    note: str = ""
    id: str = ""
    senders: tuple[str, ...] = ()
    recipients: tuple[str, ...] = ()
    orders: int = 0
    over_s: float = 0.0
    emergency: bool = False
    annex_iii: str | None = None
    hsp: str = ""
    for_s: float | None = None
    order: str = ""
    reason: str = ""
    items: int = 0
    by: str = ""
    decision: str = ""
    after_s: float = 0.0

    def describe(self) -> str:
        """One line for the timeline of the report."""
        if self.kind == "wave":
            kind = "emergency orders" if self.emergency else "orders"
            text = (
                f"wave {self.id}: {self.orders} {kind} from {', '.join(self.senders)} "
                f"to {', '.join(self.recipients)}"
            )
        elif self.kind == "order":
            extra = " (emergency)" if self.emergency else ""
            extra += f" (Annex III: {self.annex_iii})" if self.annex_iii else ""
            text = f"order {self.id}: {self.senders[0]} → {self.recipients[0]}{extra}"
        elif self.kind == "referrals":
            text = (
                f"referrals {self.id}: {self.items} items from {', '.join(self.senders)} "
                f"to {', '.join(self.recipients)}"
            )
        elif self.kind == "scrutiny":
            text = (
                f"scrutiny of {self.order} by {self.by}: {self.decision.replace('_', ' ')} "
                f"({self.after_s / 60:g} min after the order)"
            )
        elif self.kind == "offline":
            span = f" for {self.for_s / 60:g} min" if self.for_s is not None else ""
            text = f"{self.hsp} offline{span}"
        elif self.kind == "online":
            text = f"{self.hsp} back online"
        elif self.kind == "withdraw":
            text = f"withdrawal of {self.order}"
        elif self.kind == "advance_information":
            text = f"advance information {self.senders[0]} → {', '.join(self.recipients)}"
        else:
            text = self.note
        if self.note and self.kind != "note":
            text += f" — {self.note}"
        return text


@dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    """A parsed, checked drill scenario."""

    name: str
    description: str
    speed: float
    seed: int
    duration_s: float | None
    advance_information: tuple[tuple[str, str], ...]
    authorities: tuple[Authority, ...]
    hsps: tuple[Hsp, ...]
    injects: tuple[Inject, ...]
    skip_idle: bool = False
    source: str = "<scenario>"

    @property
    def parties(self) -> tuple[Authority | Hsp, ...]:
        """Every party, authorities first."""
        return (*self.authorities, *self.hsps)

    def authority(self, party_id: str) -> Authority:
        """The authority ``party_id``."""
        return next(a for a in self.authorities if a.id == party_id)

    def hsp(self, party_id: str) -> Hsp:
        """The HSP ``party_id``."""
        return next(h for h in self.hsps if h.id == party_id)

    def order_keys(self) -> list[str]:
        """Every order the timeline issues, by key (``ID`` or ``WAVE-NNN``), in timeline order."""
        keys: list[str] = []
        for inject in self.injects:
            if inject.kind == "order":
                keys.append(inject.id)
            elif inject.kind == "wave":
                keys.extend(f"{inject.id}-{i:03d}" for i in range(1, inject.orders + 1))
        return keys

    def order_pairs(self) -> dict[str, tuple[str, str]]:
        """Every order key with its (issuing authority, HSP): waves go round-robin."""
        pairs: dict[str, tuple[str, str]] = {}
        for inject in self.injects:
            if inject.kind == "order":
                pairs[inject.id] = (inject.senders[0], inject.recipients[0])
            elif inject.kind == "wave":
                cycle = list(itertools.product(inject.senders, inject.recipients))
                for n in range(1, inject.orders + 1):
                    pairs[f"{inject.id}-{n:03d}"] = cycle[(n - 1) % len(cycle)]
        return pairs

    def order_offsets(self) -> dict[str, float]:
        """Every order key with its scheduled offset (seconds after T+0)."""
        offsets: dict[str, float] = {}
        for inject in self.injects:
            if inject.kind == "order":
                offsets[inject.id] = inject.at_s
            elif inject.kind == "wave":
                for n in range(1, inject.orders + 1):
                    offsets[f"{inject.id}-{n:03d}"] = (
                        inject.at_s + inject.over_s * (n - 1) / inject.orders
                    )
        return offsets

    def referral_items(self) -> list[tuple[str, float, str, str]]:
        """Every referral the timeline sends: (key, offset s, sender, HSP), in time order."""
        items: list[tuple[str, float, str, str]] = []
        for inject in self.injects:
            if inject.kind == "referrals":
                items.extend(referral_plan(inject))
        return sorted(items, key=lambda item: item[1])

    @property
    def uses_europol(self) -> bool:
        """Whether Europol sends referrals in this scenario (the runner registers it)."""
        return any(EUROPOL in i.senders for i in self.injects if i.kind == "referrals")

    def offline_windows(self, hsp_id: str) -> list[tuple[float, float]]:
        """The ``[start, end)`` offsets (seconds) during which ``hsp_id`` is offline."""
        windows: list[tuple[float, float]] = []
        start: float | None = None
        for inject in self.injects:
            if inject.hsp != hsp_id:
                continue
            if inject.kind == "offline":
                if inject.for_s is not None:
                    windows.append((inject.at_s, inject.at_s + inject.for_s))
                else:
                    start = inject.at_s
            elif inject.kind == "online" and start is not None:
                windows.append((start, inject.at_s))
                start = None
        if start is not None:
            windows.append((start, math.inf))
        return sorted(windows)


def referral_key(inject: Inject, n: int) -> str:
    """The key of the ``n``-th (1-based) item of a referral wave: ``REF-NNN`` (wider if needed)."""
    width = max(3, len(str(inject.items)))
    return f"{inject.id}-{n:0{width}d}"


def referral_plan(inject: Inject) -> list[tuple[str, float, str, str]]:
    """The items of a ``referrals`` inject: (key, offset, sender, HSP), pairs round-robin."""
    cycle = list(itertools.product(inject.senders, inject.recipients))
    return [
        (
            referral_key(inject, n),
            inject.at_s + inject.over_s * (n - 1) / inject.items,
            *cycle[(n - 1) % len(cycle)],
        )
        for n in range(1, inject.items + 1)
    ]
