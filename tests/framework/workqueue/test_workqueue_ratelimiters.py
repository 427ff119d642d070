"""Rate limiters: exponential sequence and cap, token bucket, max-of, and no state after forget."""

from __future__ import annotations

import pytest

from framework.clock import FakeClock
from framework.workqueue import (
    BucketRateLimiter,
    ItemExponentialFailureRateLimiter,
    MaxOfRateLimiter,
    default_controller_rate_limiter,
)


def test_exponential_doubles_from_the_base_and_caps_at_the_max() -> None:
    limiter = ItemExponentialFailureRateLimiter(0.005, 1000.0)
    delays = [limiter.when("a") for _ in range(20)]
    assert delays[:5] == pytest.approx([0.005, 0.01, 0.02, 0.04, 0.08])
    assert delays[17] == pytest.approx(0.005 * 2**17)  # 655.36 s, the last uncapped step
    assert delays[18:] == [1000.0, 1000.0]
    assert limiter.num_requeues("a") == 20
    assert limiter.when("b") == pytest.approx(0.005)  # per key


def test_exponential_survives_huge_failure_counts_without_overflow() -> None:
    limiter = ItemExponentialFailureRateLimiter(1.0, 60.0)
    for _ in range(5000):
        delay = limiter.when("a")
    assert delay == 60.0
    limiter._failures["a"] = 10**6  # internal: jump straight to an absurd count
    assert limiter.when("a") == 60.0


def test_exponential_with_equal_base_and_max_is_constant() -> None:
    limiter = ItemExponentialFailureRateLimiter(2.0, 2.0)
    assert [limiter.when("a") for _ in range(3)] == [2.0, 2.0, 2.0]


def test_exponential_rejects_nonsense_settings() -> None:
    with pytest.raises(ValueError):
        ItemExponentialFailureRateLimiter(0.0, 1.0)
    with pytest.raises(ValueError):
        ItemExponentialFailureRateLimiter(2.0, 1.0)


def test_forget_removes_all_per_key_state_after_churn() -> None:
    limiter = ItemExponentialFailureRateLimiter()
    combined = default_controller_rate_limiter(FakeClock())
    for key in range(10_000):
        for _ in range(3):
            limiter.when(key)
            combined.when(key)
    assert limiter.tracked_items == 10_000
    for key in range(10_000):
        limiter.forget(key)
        combined.forget(key)
    assert limiter.tracked_items == 0
    assert limiter._failures == {}  # internal: the dict itself holds nothing
    assert all(combined.num_requeues(key) == 0 for key in range(10_000))


def test_bucket_allows_a_burst_then_spaces_by_qps_and_refills_with_time() -> None:
    clock = FakeClock()
    bucket = BucketRateLimiter(qps=10, burst=100, clock=clock)
    assert [bucket.when(n) for n in range(100)] == [0.0] * 100
    assert [bucket.when(n) for n in range(3)] == pytest.approx([0.1, 0.2, 0.3])
    clock.advance(0.3)  # pays back the three reservations; bucket empty
    assert bucket.when("x") == pytest.approx(0.1)
    clock.advance(100)  # refills, but never above the burst
    assert [bucket.when(n) for n in range(100)] == [0.0] * 100
    assert bucket.when("y") == pytest.approx(0.1)
    assert bucket.num_requeues("y") == 0
    bucket.forget("y")


def test_bucket_rejects_nonsense_settings() -> None:
    with pytest.raises(ValueError):
        BucketRateLimiter(qps=0)
    with pytest.raises(ValueError):
        BucketRateLimiter(burst=0)


def test_max_of_takes_the_longest_delay_and_feeds_every_limiter() -> None:
    fast = ItemExponentialFailureRateLimiter(0.001, 1.0)
    slow = ItemExponentialFailureRateLimiter(0.5, 10.0)
    limiter = MaxOfRateLimiter(fast, slow)
    assert [limiter.when("a") for _ in range(3)] == pytest.approx([0.5, 1.0, 2.0])
    assert fast.num_requeues("a") == slow.num_requeues("a") == limiter.num_requeues("a") == 3
    limiter.forget("a")
    assert fast.num_requeues("a") == slow.num_requeues("a") == 0
    with pytest.raises(ValueError):
        MaxOfRateLimiter()


def test_default_controller_limiter_is_exponential_until_the_bucket_runs_dry() -> None:
    clock = FakeClock()
    limiter = default_controller_rate_limiter(clock)
    # 100 distinct keys failing once each: the bucket's burst covers them, 5 ms each.
    assert [limiter.when(key) for key in range(100)] == pytest.approx([0.005] * 100)
    # The 101st failure in the same instant waits for a token: 0.1 s > 5 ms.
    assert limiter.when("one-more") == pytest.approx(0.1)
