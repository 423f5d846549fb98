"""How sessions read on the account page: device names and times in words."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gateway_auth.http.portal.display import device_name
from gateway_auth.i18n import ago, day
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
    assert ago(NOW - delta, NOW, "en") == shown


def test_times_in_words_in_other_languages() -> None:
    hours = NOW - timedelta(hours=3)

    assert ago(hours, NOW, "de") == "vor 3 Stunden"
    assert ago(hours, NOW, "fr") == "il y a 3 heures"
    assert ago(hours, NOW, "es") == "hace 3 horas"
    assert ago(hours, NOW, "pt-BR") == "há 3 horas"


def test_old_times_are_dates_as_each_language_writes_them() -> None:
    long_ago = NOW.replace(year=NOW.year - 1, month=11, day=30)

    assert ago(long_ago, NOW, "en") == day(long_ago, "en") == f"Nov 30, {long_ago.year}"
    assert day(long_ago, "de") == f"30.11.{long_ago.year}"
    assert day(long_ago, "fr") == f"30 nov. {long_ago.year}"
    assert day(long_ago, "pt-BR") == f"30 de nov. de {long_ago.year}"
