"""The broker clocks: ScaledClock runs fast, and a drill facilitator can skip it forward."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from perci_sim.clock import ScaledClock, SystemClock

START = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def test_scaled_clock_starts_at_start_and_runs_forward() -> None:
    """Simulated time starts at ``start`` (to the ms) and never runs backwards."""
    clock = ScaledClock(start=START, speed=3600)
    first = clock.now()
    assert START <= first < START + timedelta(minutes=10)
    assert first.microsecond % 1000 == 0
    assert clock.now() >= first
    assert clock.skipped == timedelta(0)


def test_advance_moves_the_clock_forward_by_the_offset() -> None:
    """``advance(by)`` adds ``by`` to simulated time and keeps the speed."""
    clock = ScaledClock(start=START, speed=1.0)
    before = clock.now()
    after = clock.advance(timedelta(hours=2))
    assert timedelta(hours=2) <= after - before < timedelta(hours=2, seconds=1)
    assert clock.now() >= after
    assert clock.speed == 1.0
    assert clock.skipped == timedelta(hours=2)
    clock.advance(timedelta(minutes=30))
    assert clock.skipped == timedelta(hours=2, minutes=30)


@pytest.mark.parametrize("by", [timedelta(0), timedelta(seconds=-1), timedelta(hours=-3)])
def test_advance_never_goes_backwards(by: timedelta) -> None:
    """A zero or negative skip is refused and the clock is unchanged."""
    clock = ScaledClock(start=START, speed=1.0)
    with pytest.raises(ValueError, match="forward"):
        clock.advance(by)
    assert clock.skipped == timedelta(0)


def test_advance_to_lands_on_the_instant() -> None:
    """``advance_to(at)`` makes ``now()`` read ``at`` (to the ms), then runs on from there."""
    clock = ScaledClock(start=START, speed=1.0)
    target = START + timedelta(hours=5, microseconds=123_456)
    after = clock.advance_to(target)
    assert target.replace(microsecond=123_000) <= after < target + timedelta(seconds=1)
    assert clock.now() >= after


def test_advance_to_refuses_the_past_and_now_and_naive_times() -> None:
    """Only a later instant is accepted; the clock is unchanged otherwise."""
    clock = ScaledClock(start=START, speed=1.0)
    with pytest.raises(ValueError, match="later than now"):
        clock.advance_to(START - timedelta(minutes=1))
    with pytest.raises(ValueError, match="later than now"):
        clock.advance_to(START)
    with pytest.raises(ValueError, match="naive"):
        clock.advance_to(datetime(2030, 1, 1))
    assert clock.skipped == timedelta(0)


def test_wall_seconds_until_follows_a_skip() -> None:
    """After a skip, an instant inside the skipped window is due now (0 wall seconds)."""
    clock = ScaledClock(start=START, speed=60.0)
    deadline = START + timedelta(hours=1)
    assert 59.0 < clock.wall_seconds_until(deadline) <= 60.0
    clock.advance(timedelta(minutes=90))
    assert clock.wall_seconds_until(deadline) == 0.0
    later = clock.now() + timedelta(minutes=60)
    assert 59.0 < clock.wall_seconds_until(later) <= 60.0


def test_concurrent_advances_are_not_lost() -> None:
    """Advances from several threads add up: the offset is updated under a lock."""
    clock = ScaledClock(start=START, speed=1.0)

    def skip() -> None:
        for _ in range(500):
            clock.advance(timedelta(milliseconds=1))

    threads = [threading.Thread(target=skip) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert clock.skipped == timedelta(seconds=2)


def test_speed_must_be_positive() -> None:
    """A scaled clock refuses a zero or negative speed."""
    with pytest.raises(ValueError, match="positive"):
        ScaledClock(start=START, speed=0)


def test_system_clock_cannot_be_advanced() -> None:
    """Production time has no skip: only the drill clock does."""
    assert not hasattr(SystemClock(), "advance")
    assert SystemClock().now().tzinfo is UTC


def test_replicas_with_one_epoch_agree_on_the_scaled_time() -> None:
    """`serve --clock-epoch`: two processes started apart read the same simulated time."""
    epoch = datetime.now(UTC) - timedelta(seconds=2)
    first = ScaledClock.from_epoch(epoch, speed=1200)
    time.sleep(0.05)
    second = ScaledClock.from_epoch(epoch, speed=1200)
    assert abs((first.now() - second.now()).total_seconds()) < 1.0  # 1 ms wall at 1200x
    assert first.now() - epoch > timedelta(seconds=2 * 1200 - 5)
    with pytest.raises(ValueError, match="naive"):
        ScaledClock.from_epoch(datetime(2026, 1, 1), speed=2)


def test_settings_read_the_replica_variables() -> None:
    """PERCI_CLOCK_EPOCH and PERCI_BROKER_KEY_FILE (a mounted secret) from the environment."""
    from pathlib import Path

    from perci_sim.settings import Settings

    settings = Settings.from_env(
        {"PERCI_CLOCK_EPOCH": "2026-01-01T00:00:00+00:00", "PERCI_BROKER_KEY_FILE": "/run/k.jwk"}
    )
    assert settings.clock_epoch == datetime(2026, 1, 1, tzinfo=UTC)
    assert settings.broker_key_path == Path("/run/k.jwk")
    assert Settings.from_env({}).broker_key_path == Path("perci-home/broker-key.jwk.json")
    with pytest.raises(ValueError, match="UTC offset"):
        Settings.from_env({"PERCI_CLOCK_EPOCH": "2026-01-01T00:00:00"})
