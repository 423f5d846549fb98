"""The check every HTTP test's answers go through (tests/conformance.py) catches what it should."""

from __future__ import annotations

import json

from tests.support.conformance import problems

JSON = "application/json; charset=utf-8"
PROBLEM = "application/problem+json"
STATS = {"clients": {"user": 1, "service": 0, "guest": 0}, "suspended": 0,
         "activeSessions": 1, "outboxBacklog": 0}  # fmt: skip


def test_a_documented_answer_passes() -> None:
    assert problems("", "GET", "/admin/stats", 200, JSON, json.dumps(STATS)) == []
    assert problems("/auth", "GET", "/auth/admin/stats?x=1", 200, JSON, json.dumps(STATS)) == []
    assert problems("", "POST", "/verify/any/path", 401, PROBLEM, "") == []


def test_an_undocumented_status_field_or_path_fails() -> None:
    extra = json.dumps({**STATS, "secret": 1})
    missing = json.dumps({k: v for k, v in STATS.items() if k != "suspended"})

    assert problems("", "GET", "/admin/stats", 418, JSON, "{}") == [
        "GET /admin/stats answered 418, which the document does not list"
    ]
    assert "secret" in problems("", "GET", "/admin/stats", 200, JSON, extra)[0]
    assert "suspended" in problems("", "GET", "/admin/stats", 200, JSON, missing)[0]
    assert problems("", "GET", "/admin/nothing-here", 200, JSON, "{}") == [
        "/admin/nothing-here is not in the document"
    ]
    assert problems("", "GET", "/admin/stats", 200, "text/xml", "<x/>") == []  # not JSON
    assert problems("", "GET", "/admin/stats", 200, PROBLEM, "{}") == [
        "GET /admin/stats 200: application/problem+json is not documented"
    ]
