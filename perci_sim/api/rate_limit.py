"""Per-participant rate limiting: a token bucket per caller, refused with 429 + Retry-After.

The caller is the authenticated participant, or the client IP for a request that
carries no valid bearer token (the public routes, and requests refused with
``unauthenticated``).  Each bucket holds ``burst`` tokens and refills at ``rate``
tokens a second; a request takes one token.  An empty bucket answers
``rate_limited`` 429 ``application/problem+json`` with ``Retry-After`` (whole
seconds, at least 1) before the handler runs, so a limited request changes nothing.

Two middlewares share one :class:`RateLimiter` (``create_app`` registers them):

- :func:`participant_limit` runs *after* authentication (innermost): it meters the
  authenticated participant, or the IP on the public routes;
- :func:`unauthenticated_limit` wraps authentication: a request refused with 401
  takes a token from its IP's bucket, and once that bucket is empty the refusal
  becomes a 429, so a flood of bad tokens is answered as a flood.

``rate <= 0`` turns limiting off (no middleware work beyond one attribute read).

Behind a reverse proxy every request comes from the proxy's address: the client's is
read from ``X-Forwarded-For`` when, and only when, the peer is a trusted proxy
(``PERCI_TRUSTED_PROXIES``, addresses or networks).  The header is read from the right,
skipping trusted hops, so a client cannot choose its bucket by sending the header
itself (an untrusted peer's header is ignored).
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Handler

from perci_sim.api.keys import PARTICIPANT
from perci_sim.api.problems import problem_response
from perci_sim.domain.errors import PerciError

__all__ = [
    "DEFAULT_BURST",
    "DEFAULT_RATE",
    "RATE_LIMITER",
    "RateLimiter",
    "client_ip",
    "participant_limit",
    "unauthenticated_limit",
]

#: Requests a second per participant (or IP); generous enough for drills and benches.
DEFAULT_RATE = 200.0
#: Bucket size: requests a participant may send at once after a quiet period.
DEFAULT_BURST = 400
#: Buckets kept at most; the least recently used are dropped (a dropped bucket is full).
_MAX_BUCKETS = 100_000


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Token buckets by caller key, refilled lazily from a monotonic clock."""

    def __init__(
        self,
        rate: float = DEFAULT_RATE,
        burst: int = DEFAULT_BURST,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        max_buckets: int = _MAX_BUCKETS,
        trusted_proxies: Iterable[str] = (),
    ) -> None:
        self._monotonic = monotonic
        self._max_buckets = max_buckets
        #: Peers whose ``X-Forwarded-For`` names the client (``ValueError`` if malformed).
        self.trusted_proxies: tuple[_Network, ...] = tuple(
            ipaddress.ip_network(entry.strip(), strict=False) for entry in trusted_proxies
        )
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self.rate = 0.0
        self.burst = 0
        self.configure(rate, burst)

    def configure(self, rate: float, burst: int) -> None:
        """Set the rate (requests a second, 0 = off) and burst; every bucket starts full."""
        if rate < 0 or burst < 0:
            raise ValueError("the rate limit and burst must not be negative")
        self.rate = float(rate)
        # A burst below one request would refuse everything: at least one.
        self.burst = max(1, int(burst)) if rate > 0 else 0
        self._buckets.clear()

    @property
    def enabled(self) -> bool:
        """False when ``rate`` is 0: every request passes."""
        return self.rate > 0

    def acquire(self, key: str) -> float | None:
        """Take one token for ``key``: None when allowed, else the seconds to wait."""
        if not self.enabled:
            return None
        now = self._monotonic()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = _Bucket(tokens=float(self.burst), updated=now)
            self._buckets[key] = bucket
            if len(self._buckets) > self._max_buckets:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            elapsed = max(0.0, now - bucket.updated)
            bucket.tokens = min(float(self.burst), bucket.tokens + elapsed * self.rate)
            bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return None
        return (1.0 - bucket.tokens) / self.rate

    def retry_after(self, wait: float) -> int:
        """``Retry-After`` in whole seconds (at least 1) for a wait of ``wait`` seconds."""
        return max(1, math.ceil(wait))


#: The application's limiter (``create_app`` sets it).
RATE_LIMITER = web.AppKey("perci_rate_limiter", RateLimiter)


_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _trusted(address: str, networks: tuple[_Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in network for network in networks)


def client_ip(request: web.Request, trusted_proxies: tuple[_Network, ...] = ()) -> str:
    """The client's address: the peer, or behind trusted proxies the first untrusted hop
    of ``X-Forwarded-For`` read from the right (the hops a proxy appended)."""
    peer = request.remote or "unknown"
    if not trusted_proxies or not _trusted(peer, trusted_proxies):
        return peer
    hops = [hop.strip() for hop in request.headers.getall("X-Forwarded-For", [])]
    addresses = [a.strip() for hop in hops for a in hop.split(",") if a.strip()]
    for address in reversed(addresses):
        if not _trusted(address, trusted_proxies):
            return address
    return addresses[0] if addresses else peer


def _client_ip(request: web.Request) -> str:
    return client_ip(request, request.app[RATE_LIMITER].trusted_proxies)


def _limited(limiter: RateLimiter, wait: float, who: str) -> web.Response:
    seconds = limiter.retry_after(wait)
    return problem_response(
        status=429,
        code="rate_limited",
        title="Too many requests",
        detail=(
            f"{who} exceeded {limiter.rate:g} requests a second (burst {limiter.burst}); "
            f"retry after {seconds} s"
        ),
        extensions={"retry_after": seconds},
        headers={"Retry-After": str(seconds)},
    )


@web.middleware
async def participant_limit(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Meter the authenticated participant (or the IP on public routes) before the handler."""
    limiter = request.app[RATE_LIMITER]
    if not limiter.enabled:
        return await handler(request)
    participant = request.get(PARTICIPANT)
    if participant is not None:
        key, who = f"participant:{participant.id}", f"participant {participant.id!r}"
    else:
        key, who = f"ip:{_client_ip(request)}", "this client"
    wait = limiter.acquire(key)
    if wait is not None:
        return _limited(limiter, wait, who)
    return await handler(request)


@web.middleware
async def unauthenticated_limit(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Charge a request refused with 401 to its IP; an empty bucket turns it into a 429."""
    try:
        return await handler(request)
    except PerciError as exc:
        limiter = request.app[RATE_LIMITER]
        if exc.http_status != 401 or not limiter.enabled:
            raise
        wait = limiter.acquire(f"ip:{_client_ip(request)}")
        if wait is None:
            raise
        return _limited(limiter, wait, "this client")
