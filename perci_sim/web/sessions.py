"""Browser sessions of the dashboard: signed cookies, CSRF tokens, logout.

A session is a cookie the broker signs (HMAC-SHA256 with a secret derived from the
broker key, :meth:`BrokerSigner.derive_secret`), not a server-side row: a broker
restart, or another replica sharing the broker key, keeps every session, so a page
left open reconnects its live feed after a restart without signing in again.

The cookie names the participant, a random session id, its expiry and a binding to
the participant's current API token (an HMAC of the token's hash): rotating or
revoking the token ends every session opened with it.  Logout revokes the session
id in this process's memory until it would have expired.

CSRF: a per-session synchronizer token, ``HMAC(secret, "csrf:" + session id)``,
is put in each page and must come back on every state-changing request (a form
field, or the ``X-CSRF-Token`` header of the page's fetch calls).  The sign-in form,
before any session exists, uses a double-submit cookie instead.

NOTE: session expiry is a property of the real world (how long a browser stays
signed in), so it is measured on the wall clock, never on a drill's scaled clock.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "CSRF_HEADER",
    "LOGIN_CSRF_COOKIE",
    "SESSION_COOKIE",
    "SESSION_TTL_S",
    "Session",
    "SessionCodec",
]

SESSION_COOKIE = "perci_session"
LOGIN_CSRF_COOKIE = "perci_login_csrf"
CSRF_HEADER = "X-CSRF-Token"
#: A working day in a crisis room; the page asks to sign in again after it.
SESSION_TTL_S = 12 * 3600
_MAX_COOKIE = 1024


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True, kw_only=True)
class Session:
    """A signed-in browser: who, which session, until when (wall-clock seconds)."""

    participant_id: str
    session_id: str
    expires_at: float
    token_binding: str
    csrf_token: str


class SessionCodec:
    """Issues, reads and revokes session cookies; derives and checks CSRF tokens."""

    def __init__(
        self,
        secret: bytes,
        *,
        ttl_s: float = SESSION_TTL_S,
        wall: Callable[[], float] = time.time,
    ) -> None:
        if len(secret) < 32:
            raise ValueError("a session secret has at least 32 bytes")
        self._secret = secret
        self._ttl_s = ttl_s
        self._wall = wall
        #: Logged-out session ids -> their expiry (forgotten once expired).
        self._revoked: dict[str, float] = {}

    @property
    def ttl_s(self) -> float:
        """How long a session lasts, in seconds."""
        return self._ttl_s

    def _mac(self, purpose: str, text: str) -> str:
        digest = hmac.new(self._secret, f"{purpose}:{text}".encode(), hashlib.sha256).digest()
        return _b64(digest)

    def token_binding(self, token_sha256: str) -> str:
        """The binding of a session to the API token (by its stored hash) it was opened with."""
        return self._mac("token", token_sha256)[:22]

    def issue(self, participant_id: str, token_sha256: str) -> tuple[str, Session]:
        """A fresh session (new id: no fixation) and its cookie value."""
        session_id = secrets.token_urlsafe(18)
        expires_at = float(int(self._wall() + self._ttl_s))
        binding = self.token_binding(token_sha256)
        body = _b64(
            json.dumps(
                {"p": participant_id, "s": session_id, "e": expires_at, "t": binding},
                separators=(",", ":"),
            ).encode()
        )
        session = Session(
            participant_id=participant_id,
            session_id=session_id,
            expires_at=expires_at,
            token_binding=binding,
            csrf_token=self.csrf_for(session_id),
        )
        return f"{body}.{self._mac('session', body)}", session

    def open(self, cookie: str | None) -> Session | None:
        """The session a cookie carries, or None (absent, forged, expired, logged out)."""
        if not cookie or len(cookie) > _MAX_COOKIE or cookie.count(".") != 1:
            return None
        body, mac = cookie.split(".")
        if not hmac.compare_digest(mac, self._mac("session", body)):
            return None
        try:
            data = json.loads(_unb64(body))
            participant_id, session_id = str(data["p"]), str(data["s"])
            expires_at, binding = float(data["e"]), str(data["t"])
        except (ValueError, KeyError, TypeError):
            return None
        if expires_at <= self._wall() or session_id in self._revoked:
            return None
        return Session(
            participant_id=participant_id,
            session_id=session_id,
            expires_at=expires_at,
            token_binding=binding,
            csrf_token=self.csrf_for(session_id),
        )

    def revoke(self, session: Session) -> None:
        """Logout: refuse this session from now on (in this process, until it expires)."""
        now = self._wall()
        self._revoked = {sid: exp for sid, exp in self._revoked.items() if exp > now}
        self._revoked[session.session_id] = session.expires_at

    def csrf_for(self, session_id: str) -> str:
        """The synchronizer token of a session (stateless: derived, not stored)."""
        return self._mac("csrf", session_id)

    @staticmethod
    def check_csrf(expected: str, supplied: str | None) -> bool:
        """True when ``supplied`` equals ``expected`` (constant time)."""
        return bool(supplied) and hmac.compare_digest(expected, supplied or "")

    @staticmethod
    def new_login_csrf() -> str:
        """A random double-submit token for the sign-in form."""
        return secrets.token_urlsafe(24)
