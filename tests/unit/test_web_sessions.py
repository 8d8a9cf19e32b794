"""Dashboard session cookies and CSRF tokens (perci_sim/web/sessions.py)."""

from __future__ import annotations

import pytest

from perci_sim.web.sessions import SessionCodec

SECRET = b"s" * 32


class Wall:
    """A settable wall clock."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class TestSessionCodec:
    def test_a_cookie_opens_to_its_session_until_it_expires(self) -> None:
        """The cookie names the participant; after its lifetime it opens to nothing."""
        wall = Wall()
        codec = SessionCodec(SECRET, ttl_s=60, wall=wall)
        cookie, issued = codec.issue("de-bka", "ab" * 32)
        opened = codec.open(cookie)
        assert opened is not None
        assert opened.participant_id == "de-bka"
        assert opened.csrf_token == issued.csrf_token
        wall.now += 61
        assert codec.open(cookie) is None

    @pytest.mark.parametrize(
        "tamper",
        [
            lambda c: c[:-2] + ("AA" if not c.endswith("AA") else "BB"),  # the MAC
            lambda c: "e30" + c[3:],  # the body
            lambda c: c.replace(".", ""),
            lambda _c: "",
            lambda c: c + "." + c,
        ],
    )
    def test_a_tampered_cookie_opens_to_nothing(self, tamper: object) -> None:
        codec = SessionCodec(SECRET)
        cookie, _ = codec.issue("de-bka", "ab" * 32)
        assert callable(tamper)
        assert codec.open(tamper(cookie)) is None

    def test_another_brokers_cookie_is_refused(self) -> None:
        """A cookie is only good with the secret (the broker key) that signed it."""
        cookie, _ = SessionCodec(SECRET).issue("de-bka", "ab" * 32)
        assert SessionCodec(b"t" * 32).open(cookie) is None

    def test_logout_revokes_only_that_session(self) -> None:
        codec = SessionCodec(SECRET)
        first, session = codec.issue("de-bka", "ab" * 32)
        second, _ = codec.issue("de-bka", "ab" * 32)
        codec.revoke(session)
        assert codec.open(first) is None
        assert codec.open(second) is not None

    def test_csrf_tokens_differ_per_session_and_compare_exactly(self) -> None:
        codec = SessionCodec(SECRET)
        _, one = codec.issue("de-bka", "ab" * 32)
        _, two = codec.issue("de-bka", "ab" * 32)
        assert one.csrf_token != two.csrf_token
        assert codec.check_csrf(one.csrf_token, one.csrf_token)
        assert not codec.check_csrf(one.csrf_token, two.csrf_token)
        assert not codec.check_csrf(one.csrf_token, None)
        assert not codec.check_csrf(one.csrf_token, "")

    def test_the_token_binding_changes_with_the_token(self) -> None:
        codec = SessionCodec(SECRET)
        assert codec.token_binding("a" * 64) != codec.token_binding("b" * 64)

    def test_a_short_secret_is_refused(self) -> None:
        with pytest.raises(ValueError, match="32 bytes"):
            SessionCodec(b"short")
