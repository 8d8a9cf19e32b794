"""The order state machine: the transition table, exhaustively and as properties."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from perci_sim.domain.errors import IllegalTransition
from perci_sim.domain.states import (
    CLOCK_RUNNING,
    OPEN_STATES,
    TERMINAL_STATES,
    TRANSITIONS,
    OrderState,
    Trigger,
    next_state,
)

S, T = OrderState, Trigger

# The whole table, written out independently of states.py: (from, trigger) -> to.
EXPECTED: dict[tuple[OrderState, Trigger], OrderState] = {
    (S.DELIVERED, T.ACKNOWLEDGEMENT): S.ACKNOWLEDGED,
    (S.DELIVERED, T.DEADLINE_MISSED): S.OVERDUE,
    (S.DELIVERED, T.FEEDBACK_ON_TIME): S.EXECUTED,
    (S.DELIVERED, T.FEEDBACK_LATE): S.EXECUTED_LATE,
    (S.DELIVERED, T.IMPOSSIBILITY_FORCE_MAJEURE): S.SUSPENDED_FORCE_MAJEURE,
    (S.DELIVERED, T.IMPOSSIBILITY_NEEDS_CLARIFICATION): S.CLARIFICATION_REQUESTED,
    (S.DELIVERED, T.WITHDRAWAL): S.WITHDRAWN,
    (S.ACKNOWLEDGED, T.DEADLINE_MISSED): S.OVERDUE,
    (S.ACKNOWLEDGED, T.FEEDBACK_ON_TIME): S.EXECUTED,
    (S.ACKNOWLEDGED, T.FEEDBACK_LATE): S.EXECUTED_LATE,
    (S.ACKNOWLEDGED, T.IMPOSSIBILITY_FORCE_MAJEURE): S.SUSPENDED_FORCE_MAJEURE,
    (S.ACKNOWLEDGED, T.IMPOSSIBILITY_NEEDS_CLARIFICATION): S.CLARIFICATION_REQUESTED,
    (S.ACKNOWLEDGED, T.WITHDRAWAL): S.WITHDRAWN,
    (S.OVERDUE, T.ACKNOWLEDGEMENT): S.OVERDUE,
    (S.OVERDUE, T.FEEDBACK_ON_TIME): S.EXECUTED,
    (S.OVERDUE, T.FEEDBACK_LATE): S.EXECUTED_LATE,
    (S.OVERDUE, T.IMPOSSIBILITY_FORCE_MAJEURE): S.SUSPENDED_FORCE_MAJEURE,
    (S.OVERDUE, T.IMPOSSIBILITY_NEEDS_CLARIFICATION): S.CLARIFICATION_REQUESTED,
    (S.OVERDUE, T.WITHDRAWAL): S.WITHDRAWN,
    (S.SUSPENDED_FORCE_MAJEURE, T.GROUNDS_CEASED): S.DELIVERED,
    (S.SUSPENDED_FORCE_MAJEURE, T.FEEDBACK_ON_TIME): S.EXECUTED,
    (S.SUSPENDED_FORCE_MAJEURE, T.WITHDRAWAL): S.WITHDRAWN,
    (S.CLARIFICATION_REQUESTED, T.CLARIFICATION): S.DELIVERED,
    (S.CLARIFICATION_REQUESTED, T.FEEDBACK_ON_TIME): S.EXECUTED,
    (S.CLARIFICATION_REQUESTED, T.WITHDRAWAL): S.WITHDRAWN,
    # Issue 3: Art. 4(6) infringement decisions and Art. 9 annulments end the legal
    # effect of any order that still has one; Art. 4(7) reinstatement follows.
    **{
        (state, trigger): S.NO_LEGAL_EFFECT
        for state in (
            S.DELIVERED,
            S.ACKNOWLEDGED,
            S.OVERDUE,
            S.SUSPENDED_FORCE_MAJEURE,
            S.CLARIFICATION_REQUESTED,
            S.EXECUTED,
            S.EXECUTED_LATE,
        )
        for trigger in (T.INFRINGEMENT_DECISION, T.COURT_ANNULMENT)
    },
    (S.NO_LEGAL_EFFECT, T.REINSTATEMENT): S.REINSTATED,
}

ALL_PAIRS = [(s, t) for s in S for t in T]


@pytest.mark.parametrize(("state", "trigger"), ALL_PAIRS)
def test_every_pair_matches_the_expected_table(state: OrderState, trigger: Trigger) -> None:
    """Each (state, trigger) is either the expected transition or refused."""
    expected = EXPECTED.get((state, trigger))
    if expected is None:
        with pytest.raises(IllegalTransition) as info:
            next_state(state, trigger)
        assert info.value.http_status == 409
        assert info.value.state == state.value
    else:
        assert next_state(state, trigger).to is expected


def test_only_a_fresh_hour_after_grounds_ceased_or_clarification() -> None:
    """TCO Art. 3(7) and 3(8) are the only transitions that restart the clock."""
    restarting = {
        (s, t) for s, row in TRANSITIONS.items() for t, tr in row.items() if tr.restarts_clock
    }
    assert restarting == {
        (S.SUSPENDED_FORCE_MAJEURE, T.GROUNDS_CEASED),
        (S.CLARIFICATION_REQUESTED, T.CLARIFICATION),
    }


def test_every_transition_cites_an_article() -> None:
    """Each row names the TCO article that allows it."""
    for row in TRANSITIONS.values():
        for transition in row.values():
            assert transition.article.startswith(("Art. 3(", "Art. 4(", "Art. 9"))


def test_terminal_states_accept_only_the_lifecycle_triggers() -> None:
    """Closed orders accept only what ends their legal effect (Art. 4(6), 9) or the
    reinstatement that follows (Art. 4(7)); withdrawn and reinstated accept nothing."""
    assert {
        S.EXECUTED,
        S.EXECUTED_LATE,
        S.WITHDRAWN,
        S.NO_LEGAL_EFFECT,
        S.REINSTATED,
    } == TERMINAL_STATES
    lifecycle = {T.INFRINGEMENT_DECISION, T.COURT_ANNULMENT, T.REINSTATEMENT}
    for state in TERMINAL_STATES:
        assert set(TRANSITIONS[state]) <= lifecycle
    assert TRANSITIONS[S.WITHDRAWN] == TRANSITIONS[S.REINSTATED] == {}


def test_clock_runs_only_while_delivered_or_acknowledged() -> None:
    """R6/R7: the clock is suspended in both Annex III states."""
    assert {S.DELIVERED, S.ACKNOWLEDGED} == CLOCK_RUNNING
    assert CLOCK_RUNNING < OPEN_STATES


@given(st.lists(st.sampled_from(list(T)), max_size=30))
def test_any_sequence_of_triggers_stays_in_the_table(triggers: list[Trigger]) -> None:
    """Whatever arrives, the order only ever takes states of the table, a
    terminal state is left only by the lifecycle triggers, and the one-hour path
    never reopens once it is closed."""
    lifecycle = {T.INFRINGEMENT_DECISION, T.COURT_ANNULMENT, T.REINSTATEMENT}
    state = S.DELIVERED
    for trigger in triggers:
        try:
            transition = next_state(state, trigger)
        except IllegalTransition:
            continue
        if state in TERMINAL_STATES:
            assert trigger in lifecycle
            assert transition.to in TERMINAL_STATES
        state = transition.to
        assert state in TRANSITIONS


@given(st.lists(st.sampled_from(list(T)), max_size=30))
def test_deadline_missed_only_while_the_clock_runs(triggers: list[Trigger]) -> None:
    """R8: a breach of Art. 3(3) can only happen while the one-hour clock runs."""
    state = S.DELIVERED
    for trigger in triggers:
        if trigger is T.DEADLINE_MISSED:
            if state in CLOCK_RUNNING:
                assert next_state(state, trigger).to is S.OVERDUE
            else:
                with pytest.raises(IllegalTransition):
                    next_state(state, trigger)
        with contextlib.suppress(IllegalTransition):
            state = next_state(state, trigger).to
