"""How sessions read on the account page: device names and times in words."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gateway_auth.http.portal.display import ago, day, device_name
from tests.support.clock import present

NOW = present()


@pytest.mark.parametrize(
    ("user_agent", "shown"),
    [
        (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/156.0.0.0 Safari/537.36",
            "Chrome 156 on Linux",
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
            "Mobile Safari 17 on iPhone",
        ),
        ("curl/8.5.0", "curl 8"),
        ("", "Unknown device"),
        ("x" * 100, "x" * 60 + "…"),
    ],
)
def test_device_names(user_agent: str, shown: str) -> None:
    assert device_name(user_agent) == shown


@pytest.mark.parametrize(
    ("delta", "shown"),
    [
        (timedelta(seconds=5), "just now"),
        (timedelta(seconds=-30), "just now"),  # another instance's clock a little ahead
        (timedelta(minutes=1), "1 minute ago"),
        (timedelta(minutes=59), "59 minutes ago"),
        (timedelta(hours=2), "2 hours ago"),
        (timedelta(days=3), "3 days ago"),
    ],
)
def test_times_in_words(delta: timedelta, shown: str) -> None:
    assert ago(NOW - delta, NOW) == shown


def test_old_times_are_dates() -> None:
    long_ago = NOW - timedelta(days=45)

    assert ago(long_ago, NOW) == f"on {day(long_ago)}"
    assert day(long_ago) == f"{long_ago.day} {long_ago:%b} {long_ago.year}"
