"""The token bucket behind the per-participant rate limit, and where its settings come from."""

from __future__ import annotations

import pytest

from perci_sim.__main__ import _settings, build_parser
from perci_sim.api.rate_limit import DEFAULT_BURST, DEFAULT_RATE, RateLimiter
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
