"""The token bucket behind the per-participant rate limit, and where its settings come from."""

from __future__ import annotations

from unittest import mock

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from multidict import CIMultiDict

from perci_sim.__main__ import _settings, build_parser
from perci_sim.api.rate_limit import DEFAULT_BURST, DEFAULT_RATE, RateLimiter, client_ip
from perci_sim.settings import Settings


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_refusal_then_refill() -> None:
    """``burst`` requests at once, then a wait of 1/rate per request."""
    clock = FakeMonotonic()
    limiter = RateLimiter(rate=2.0, burst=3, monotonic=clock)
    assert [limiter.acquire("p") for _ in range(3)] == [None, None, None]
    wait = limiter.acquire("p")
    assert wait == pytest.approx(0.5)
    assert limiter.retry_after(wait) == 1  # whole seconds, at least 1
    clock.now += 0.5
    assert limiter.acquire("p") is None
    assert limiter.acquire("p") is not None
    clock.now += 60  # a long quiet period refills to the burst, not beyond
    assert [limiter.acquire("p") for _ in range(4)] == [None, None, None, pytest.approx(0.5)]


def test_buckets_are_per_key() -> None:
    clock = FakeMonotonic()
    limiter = RateLimiter(rate=1.0, burst=1, monotonic=clock)
    assert limiter.acquire("participant:a") is None
    assert limiter.acquire("participant:a") is not None
    assert limiter.acquire("participant:b") is None
    assert limiter.acquire("ip:127.0.0.1") is None


def test_retry_after_rounds_up() -> None:
    limiter = RateLimiter(rate=0.25, burst=1)
    assert limiter.retry_after(0.0001) == 1
    assert limiter.retry_after(3.2) == 4


def test_zero_rate_is_off_and_negative_is_refused() -> None:
    limiter = RateLimiter(rate=0, burst=0)
    assert not limiter.enabled
    assert all(limiter.acquire("p") is None for _ in range(10_000))
    with pytest.raises(ValueError, match="negative"):
        RateLimiter(rate=-1, burst=1)


def test_bucket_table_is_bounded() -> None:
    """A flood of distinct keys (e.g. spoofed IPs) cannot grow memory without bound."""
    limiter = RateLimiter(rate=1.0, burst=1, max_buckets=100)
    for i in range(1000):
        limiter.acquire(f"ip:{i}")
    assert len(limiter._buckets) == 100


def test_settings_defaults_env_and_cli() -> None:
    assert (Settings().rate_limit, Settings().rate_burst) == (DEFAULT_RATE, DEFAULT_BURST)
    env = Settings.from_env({"PERCI_RATE_LIMIT": "0", "PERCI_RATE_BURST": "7"})
    assert (env.rate_limit, env.rate_burst) == (0.0, 7)
    args = build_parser().parse_args(["serve", "--rate-limit", "50", "--rate-burst", "80"])
    settings = _settings(args)
    assert (settings.rate_limit, settings.rate_burst) == (50.0, 80)


def _request(peer: str, *forwarded: str) -> web.Request:
    headers = CIMultiDict(("X-Forwarded-For", value) for value in forwarded)
    transport = mock.Mock()
    transport.get_extra_info.side_effect = lambda name, default=None: (
        (peer, 1234) if name == "peername" else default
    )
    return make_mocked_request("GET", "/v1/clock", headers=headers, transport=transport)


PROXIES = RateLimiter(trusted_proxies=["10.0.0.0/8", "127.0.0.1"]).trusted_proxies


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        # No trusted proxy configured or an untrusted peer: the header is ignored.
        ("203.0.113.9", ("198.51.100.1",), "203.0.113.9"),
        # Behind the proxy: the client it saw.
        ("10.0.0.5", ("198.51.100.1",), "198.51.100.1"),
        # A client that sends the header itself cannot choose its bucket: the proxy
        # appended the address it saw, read from the right.
        ("10.0.0.5", ("1.2.3.4, 198.51.100.1",), "198.51.100.1"),
        # Two trusted hops (nginx behind a load balancer), header lines repeated.
        ("127.0.0.1", ("198.51.100.7", "10.1.2.3"), "198.51.100.7"),
        # Only trusted hops: the leftmost.
        ("10.0.0.5", ("10.0.0.9",), "10.0.0.9"),
        # No header: the peer.
        ("10.0.0.5", (), "10.0.0.5"),
    ],
)
def test_client_ip_reads_forwarded_for_only_from_trusted_proxies(
    peer: str, forwarded: tuple[str, ...], expected: str
) -> None:
    assert client_ip(_request(peer, *forwarded), PROXIES) == expected


def test_client_ip_without_trusted_proxies_is_the_peer() -> None:
    assert client_ip(_request("10.0.0.5", "198.51.100.1")) == "10.0.0.5"


def test_trusted_proxies_come_from_the_environment() -> None:
    settings = Settings.from_env({"PERCI_TRUSTED_PROXIES": " 10.0.0.0/8, ::1 ,"})
    assert settings.trusted_proxies == ("10.0.0.0/8", "::1")
    with pytest.raises(ValueError, match="PERCI_TRUSTED_PROXIES: 'nginx' is not an IP"):
        Settings.from_env({"PERCI_TRUSTED_PROXIES": "nginx"})
