"""The order lifecycle: every state, every transition, and the article allowing it.

Theory of operation (after h11's ``_state.py``): all state logic lives in this
file, as data.  An order is created in ``DELIVERED`` because the broker makes
it available at the HSP's contact point in the same transaction that records it
(TCO Art. 3(5), R3): that instant is the receipt that starts the one-hour clock.
Every later change is a :class:`Trigger` fed to :func:`next_state`; a trigger
that is not in the table for the current state is an :class:`IllegalTransition`.
This module does no I/O and never reads a clock: time-dependent choices (was the
measure on time?) are made by the caller with :mod:`perci_sim.domain.deadlines`
and arrive here as distinct triggers.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from perci_sim.domain.errors import IllegalTransition

__all__ = [
    "CLOCK_RUNNING",
    "OPEN_STATES",
    "TERMINAL_STATES",
    "TRANSITIONS",
    "OrderState",
    "Transition",
    "Trigger",
    "next_state",
]


class OrderState(StrEnum):
    """Where an order stands."""

    DELIVERED = "delivered"
    ACKNOWLEDGED = "acknowledged"
    SUSPENDED_FORCE_MAJEURE = "suspended_force_majeure"
    CLARIFICATION_REQUESTED = "clarification_requested"
    OVERDUE = "overdue"
    EXECUTED = "executed"
    EXECUTED_LATE = "executed_late"
    WITHDRAWN = "withdrawn"
    #: TCO Art. 4(6)/Art. 9: an infringement decision or a court annulment ended its effect.
    NO_LEGAL_EFFECT = "no_legal_effect"
    #: TCO Art. 4(7): the HSP reinstated the content after the order lost its effect.
    REINSTATED = "reinstated"


class Trigger(StrEnum):
    """What can happen to an order."""

    ACKNOWLEDGEMENT = "acknowledgement"
    FEEDBACK_ON_TIME = "feedback_on_time"
    FEEDBACK_LATE = "feedback_late"
    IMPOSSIBILITY_FORCE_MAJEURE = "impossibility_force_majeure"
    IMPOSSIBILITY_NEEDS_CLARIFICATION = "impossibility_needs_clarification"
    GROUNDS_CEASED = "grounds_ceased"
    CLARIFICATION = "clarification"
    WITHDRAWAL = "withdrawal"
    DEADLINE_MISSED = "deadline_missed"
    INFRINGEMENT_DECISION = "infringement_decision"
    COURT_ANNULMENT = "court_annulment"
    REINSTATEMENT = "reinstatement"


@dataclass(frozen=True, slots=True)
class Transition:
    """The state an order moves to, the article allowing it, and whether a fresh hour starts."""

    to: OrderState
    article: str
    restarts_clock: bool = False


S = OrderState
T = Trigger

#: Orders whose one-hour clock is running (TCO Art. 3(3)).
CLOCK_RUNNING: frozenset[OrderState] = frozenset({S.DELIVERED, S.ACKNOWLEDGED})
#: Orders still awaiting an outcome.
OPEN_STATES: frozenset[OrderState] = frozenset(
    {S.DELIVERED, S.ACKNOWLEDGED, S.SUSPENDED_FORCE_MAJEURE, S.CLARIFICATION_REQUESTED, S.OVERDUE}
)
TERMINAL_STATES: frozenset[OrderState] = frozenset(S) - OPEN_STATES


#: TCO Art. 4(6), Art. 9: what ends an order's legal effect, from any state that has one.
_LEGAL_EFFECT_ENDS: dict[Trigger, Transition] = {
    T.INFRINGEMENT_DECISION: Transition(S.NO_LEGAL_EFFECT, "Art. 4(6)"),
    T.COURT_ANNULMENT: Transition(S.NO_LEGAL_EFFECT, "Art. 9"),
}


def _answers(*, on_time: OrderState, late: OrderState) -> dict[Trigger, Transition]:
    return {
        T.FEEDBACK_ON_TIME: Transition(on_time, "Art. 3(3), 3(6)"),
        T.FEEDBACK_LATE: Transition(late, "Art. 3(3), 3(6)"),
        # TCO Art. 3(7): force majeure suspends the clock until the grounds cease.
        T.IMPOSSIBILITY_FORCE_MAJEURE: Transition(S.SUSPENDED_FORCE_MAJEURE, "Art. 3(7)"),
        # TCO Art. 3(8): manifest errors or insufficient information suspend the
        # clock until the HSP receives the clarification.
        T.IMPOSSIBILITY_NEEDS_CLARIFICATION: Transition(S.CLARIFICATION_REQUESTED, "Art. 3(8)"),
        T.WITHDRAWAL: Transition(S.WITHDRAWN, "Art. 3(1)"),
        **_LEGAL_EFFECT_ENDS,
    }


TRANSITIONS: dict[OrderState, dict[Trigger, Transition]] = {
    S.DELIVERED: {
        T.ACKNOWLEDGEMENT: Transition(S.ACKNOWLEDGED, "Art. 3(5)"),
        T.DEADLINE_MISSED: Transition(S.OVERDUE, "Art. 3(3)"),
        **_answers(on_time=S.EXECUTED, late=S.EXECUTED_LATE),
    },
    S.ACKNOWLEDGED: {
        T.DEADLINE_MISSED: Transition(S.OVERDUE, "Art. 3(3)"),
        **_answers(on_time=S.EXECUTED, late=S.EXECUTED_LATE),
    },
    S.OVERDUE: {
        # A late acknowledgement is recorded but changes nothing.
        T.ACKNOWLEDGEMENT: Transition(S.OVERDUE, "Art. 3(5)"),
        **_answers(on_time=S.EXECUTED, late=S.EXECUTED_LATE),
    },
    S.SUSPENDED_FORCE_MAJEURE: {
        # TCO Art. 3(7): "the deadline shall start to run as soon as the grounds
        # ... have ceased to exist": a fresh hour.
        T.GROUNDS_CEASED: Transition(S.DELIVERED, "Art. 3(7)", restarts_clock=True),
        # Content removed while the clock was suspended: no deadline to miss.
        T.FEEDBACK_ON_TIME: Transition(S.EXECUTED, "Art. 3(6)"),
        T.WITHDRAWAL: Transition(S.WITHDRAWN, "Art. 3(1)"),
        **_LEGAL_EFFECT_ENDS,
    },
    S.CLARIFICATION_REQUESTED: {
        # TCO Art. 3(8): fresh hour once the clarification is received.
        T.CLARIFICATION: Transition(S.DELIVERED, "Art. 3(8)", restarts_clock=True),
        T.FEEDBACK_ON_TIME: Transition(S.EXECUTED, "Art. 3(6)"),
        T.WITHDRAWAL: Transition(S.WITHDRAWN, "Art. 3(1)"),
        **_LEGAL_EFFECT_ENDS,
    },
    # An executed order keeps its legal effect until an Art. 4 infringement decision
    # or an Art. 9 annulment ends it.
    S.EXECUTED: dict(_LEGAL_EFFECT_ENDS),
    S.EXECUTED_LATE: dict(_LEGAL_EFFECT_ENDS),
    S.WITHDRAWN: {},
    # TCO Art. 4(7): the HSP reinstates the content "immediately".
    S.NO_LEGAL_EFFECT: {T.REINSTATEMENT: Transition(S.REINSTATED, "Art. 4(7)")},
    S.REINSTATED: {},
}


def next_state(state: OrderState, trigger: Trigger) -> Transition:
    """Return the transition ``trigger`` causes from ``state``.

    Raises:
        IllegalTransition: the table has no such transition.
    """
    try:
        return TRANSITIONS[state][trigger]
    except KeyError:
        raise IllegalTransition(state.value, trigger.value) from None
