"""The pure TCO Art. 14 rules: URL matching, activity, duplicates, Art. 14(5) routing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from perci_sim.domain.deconfliction import (
    REFERRAL_ACTIVE_WINDOW,
    DeconflictionHoldActive,
    HeldUrl,
    RecipientReason,
    ThreatAddressee,
    counts_as_duplicate,
    is_active_order,
    is_active_referral,
    origin_of,
    route_imminent_threat,
    url_key,
)
from perci_sim.domain.states import OPEN_STATES

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
BASE = "https://example.com/v/1"


@pytest.mark.parametrize(
    "variant",
    [
        "https://example.com/v/1",
        "HTTPS://EXAMPLE.COM/v/1",  # scheme and host are case-insensitive
        "https://example.com:443/v/1",  # default port
        "http://example.com:80/v/1",  # http and https folded; default port
        "https://example.com/v/1/",  # trailing slash
        "https://example.com/v/1#t=30",  # fragment
        "https://user:pw@example.com/v/1",  # user information
        "https://example.com./v/1",  # trailing dot of the FQDN
        "https://example.com/%76/1",  # %76 is "v", an unreserved character
        "  https://example.com/v/1  ",
    ],
)
def test_same_content_same_key(variant: str) -> None:
    """R19: what does not change the resource does not change the key."""
    assert url_key(variant) == url_key(BASE) == BASE


@pytest.mark.parametrize(
    "other",
    [
        "https://example.com/V/1",  # the path is case-sensitive
        "https://example.com:8443/v/1",  # another port
        "https://example.com/v/1?lang=de",  # the query selects content
        "https://www.example.com/v/1",  # another host
        "https://example.com/v%2F1",  # an encoded slash is not a slash
        "https://example.com/v/12",
    ],
)
def test_other_content_other_key(other: str) -> None:
    """What may change the resource keeps keys apart."""
    assert url_key(other) != url_key(BASE)


def test_escapes_are_upper_cased_and_root_path_is_slash() -> None:
    assert (
        url_key("https://example.com/a%2fb?q=%e2%82%ac") == "https://example.com/a%2Fb?q=%E2%82%AC"
    )
    assert (
        url_key("https://example.com") == url_key("https://example.com/") == "https://example.com/"
    )
    assert url_key("https://[2001:db8::1]:443/x/") == "https://[2001:db8::1]/x"


@pytest.mark.parametrize("odd", ["ftp://example.com/x", "not a url", "https://example.com:99999/x"])
def test_non_http_values_match_only_themselves(odd: str) -> None:
    assert url_key(odd) == odd.strip()


def test_active_items() -> None:
    """R19: open orders are active; a referral until its outcome, within the window."""
    open_states = {s.value for s in OPEN_STATES}
    assert is_active_order("delivered", open_states)
    assert is_active_order("overdue", open_states)
    assert not is_active_order("executed", open_states)
    assert not is_active_order("withdrawn", open_states)
    assert is_active_referral(received_at=NOW, has_outcome=False, now=NOW + timedelta(days=29))
    assert not is_active_referral(received_at=NOW, has_outcome=True, now=NOW)
    assert not is_active_referral(
        received_at=NOW, has_outcome=False, now=NOW + REFERRAL_ACTIVE_WINDOW
    )


def test_duplicates_count_open_and_executed_orders() -> None:
    for state in ("delivered", "acknowledged", "overdue", "executed", "executed_late"):
        assert counts_as_duplicate(state)
    for state in ("withdrawn", "no_legal_effect", "reinstated"):
        assert not counts_as_duplicate(state)


def test_origin_is_the_member_state_or_europol() -> None:
    assert origin_of("authority", "DE") == "DE"
    assert origin_of("europol", "NL") == "EU"


ADDRESSEES = [
    ThreatAddressee("de-bka", "authority", "DE"),
    ThreatAddressee("de-lka", "authority", "DE"),
    ThreatAddressee("fr-ocrim", "authority", "FR"),
    ThreatAddressee("ie-cnam", "authority", "IE"),
    ThreatAddressee("europol", "europol", "NL"),
]


def test_threat_goes_to_every_authority_of_the_named_states_only() -> None:
    """R21: the named Member States' authorities; Europol only when needed."""
    recipients, unreachable = route_imminent_threat(
        named_member_states=["FR", "DE", "DE"], host_member_state="IE", addressees=ADDRESSEES
    )
    assert [(r.participant_id, r.reason) for r in recipients] == [
        ("de-bka", RecipientReason.NAMED_MEMBER_STATE),
        ("de-lka", RecipientReason.NAMED_MEMBER_STATE),
        ("fr-ocrim", RecipientReason.NAMED_MEMBER_STATE),
    ]
    assert unreachable == []


def test_threat_without_named_state_goes_to_host_state_and_europol() -> None:
    """Art. 14(5): the HSP's own Member State's contact point AND Europol."""
    recipients, _ = route_imminent_threat(
        named_member_states=[], host_member_state="IE", addressees=ADDRESSEES
    )
    assert [(r.participant_id, r.reason) for r in recipients] == [
        ("europol", RecipientReason.EUROPOL),
        ("ie-cnam", RecipientReason.HOST_MEMBER_STATE),
    ]


def test_unreachable_named_state_falls_back_to_europol() -> None:
    recipients, unreachable = route_imminent_threat(
        named_member_states=["IT"], host_member_state="IE", addressees=ADDRESSEES
    )
    assert [r.participant_id for r in recipients] == ["europol"]
    assert unreachable == ["IT"]


def test_hold_problem_names_whom_to_contact_per_url() -> None:
    """The 409 carries, per URL, the holder's contact, and nothing else of the hold."""
    error = DeconflictionHoldActive(
        [HeldUrl("/content/0/url", BASE, "fr-ocrim", "OCRIM", "FR", "dec@ocrim.example")]
    )
    assert (error.code, error.http_status) == ("deconfliction_hold", 409)
    assert error.extensions["errors"] == [
        {
            "field": "/content/0/url",
            "message": "under a deconfliction hold: contact OCRIM (FR) at dec@ocrim.example",
        }
    ]
    assert error.extensions["holds"][0]["contact"]["authority_id"] == "fr-ocrim"
