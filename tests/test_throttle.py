"""FailureThrottle: a sliding window of failures per account, moved by the injected clock."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gateway_auth.errors import TooManyAttempts
from gateway_auth.throttle import FailureThrottle
from tests.support import FakeClock


def test_a_key_is_refused_after_the_limit_until_the_window_frees_it(clock: FakeClock) -> None:
    throttle = FailureThrottle(clock, limit=3, window=timedelta(minutes=10))
    for _ in range(3):
        throttle.check("ada")
        throttle.failed("ada")
        clock.advance(minutes=1)

    with pytest.raises(TooManyAttempts) as caught:
        throttle.check("ada")
    throttle.check("eve")  # other accounts are not affected

    assert caught.value.retry_after == 7 * 60  # failures at 0, 1, 2 min; the first leaves at 10
    clock.advance(minutes=7)
    throttle.check("ada")


def test_success_forgets_earlier_failures(clock: FakeClock) -> None:
    throttle = FailureThrottle(clock, limit=2)
    throttle.failed("ada")
    throttle.succeeded("ada")
    throttle.failed("ada")

    throttle.check("ada")
