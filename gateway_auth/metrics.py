"""Prometheus metrics in a private registry: one per application, so that several apps in one
process (tests, the CLI) never collide, and nothing but these series is exported.

Every label has a fixed, small set of values: route templates (never paths with ids), status
codes, a short list of methods and outcomes. No id, email or token ever becomes a label.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

VERIFY_OUTCOMES = (
    "allow",
    "unauthenticated",
    "expired",
    "revoked",
    "suspended",
    "unverified",
    "enrol",
    "second_factor",
    "forbidden_scope",
    "reauthenticate",
    "stale",
    "bypass",
    "denied",
    "ambiguous",
)
LOGIN_OUTCOMES = (
    "success",
    "unknown_email",
    "bad_password",
    "suspended",
    "throttled",
)
RATE_LIMITS = ("source", "account", "device", "session")
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# The *_created series double every counter's output and no alert here needs them.
disable_created_metrics()  # type: ignore[no-untyped-call]


class Metrics:
    """The series gateway-auth exports, and cheap ways to move them on hot paths."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        self.requests = RequestSeries()
        registry.register(self.requests)
        verify = PlainCounters(
            "gateway_auth_verify_decisions",
            "/verify answers by outcome.",
            "outcome",
            VERIFY_OUTCOMES,
        )
        registry.register(verify)
        self.verify_decisions = verify.counters
        self.access_decisions = PairCounts(
            "gateway_auth_access_decisions",
            "/verify answers decided by the access rules, by rule name ((default): no rule "
            "matched; (ambiguous): the original request could not be read) and outcome.",
            ("rule", "outcome"),
        )
        registry.register(self.access_decisions)
        self.access_rules = Gauge(
            "gateway_auth_access_rules_in_force",
            "Access rules in force from RULES_FILE.",
            registry=registry,
        )
        self.access_rules_invalid = Gauge(
            "gateway_auth_access_rules_file_invalid",
            "1 while RULES_FILE has changed into a file that does not load (the rules loaded "
            "before stay in force).",
            registry=registry,
        )
        self.access_reloads = ReadCounters(
            "gateway_auth_access_rules_reloads",
            "Reloads of RULES_FILE (on SIGHUP or a change), by result: ok or invalid.",
            "result",
        )
        registry.register(self.access_reloads)
        logins = Counter(
            "gateway_auth_logins",
            "Password logins by outcome (the reason is never shown to the caller).",
            ["outcome"],
            registry=registry,
        )
        self.logins = {outcome: logins.labels(outcome) for outcome in LOGIN_OUTCOMES}
        limited = Counter(
            "gateway_auth_rate_limited",
            "Password attempts refused by regulation, by the limit that refused them: source "
            "(RATE_LIMIT_PER_IP), account (an untrusted client on a locked account), device or "
            "session (password confirmations).",
            ["limit"],
            registry=registry,
        )
        self.rate_limited = {name: limited.labels(name) for name in RATE_LIMITS}
        self.refresh_reuse = Counter(
            "gateway_auth_refresh_token_reuse_detected",
            "Rotated refresh tokens presented again (the session is revoked).",
            registry=registry,
        )
        self.hash_rejections = Counter(
            "gateway_auth_password_hash_rejections",
            "Requests answered 503 because the password-hashing queue was full.",
            registry=registry,
        )
        self.hash_queue = Gauge(
            "gateway_auth_password_hash_queue_depth",
            "Password hashes running or waiting.",
            registry=registry,
        )
        self.mirror_entries = Gauge(
            "gateway_auth_revocation_mirror_entries",
            "Entries in this instance's revocation mirror.",
            ["kind"],
            registry=registry,
        )
        self.mirror_age = Gauge(
            "gateway_auth_revocation_mirror_age_seconds",
            "Seconds since the mirror was last known complete (-1: never).",
            registry=registry,
        )
        self.token_cache_entries = Gauge(
            "gateway_auth_verify_token_cache_entries",
            "Verified access tokens /verify holds in this process (at most TOKEN_CACHE_SIZE).",
            registry=registry,
        )
        self.token_decodes = ReadCounter(
            "gateway_auth_verify_token_decodes",
            "Access tokens /verify checked by their signature: the token cache's misses, bad "
            "tokens included.",
        )
        registry.register(self.token_decodes)
        self.outbox_backlog = Gauge(
            "gateway_auth_outbox_backlog",
            "Deletion events written and not yet published (read at each scrape).",
            registry=registry,
        )
        self.events_published = Counter(
            "gateway_auth_events_published",
            "Deletion events published to Redis.",
            registry=registry,
        )
        self.events_failed = Counter(
            "gateway_auth_events_failed",
            "Attempts to publish deletion events that failed (they are retried).",
            registry=registry,
        )
        # The built-in mail sender (SMTP_URL or MAIL_DIR), by what became of each attempt.
        self.mails = Counter(
            "gateway_auth_mails",
            "Mails the built-in sender handled: sent; deferred (the server unavailable or "
            "answering 4xx: tried again); refused (5xx: dropped); expired (the link lapsed "
            "before it could go: dropped).",
            ["outcome"],
            registry=registry,
        )

    def watch(
        self,
        *,
        hash_queue: Callable[[], float],
        suspended: Callable[[], float],
        revoked: Callable[[], float],
        mirror_age: Callable[[], float],
        token_cache: Callable[[], float],
        token_decodes: Callable[[], float],
    ) -> None:
        """Gauges and counters read at scrape time from the objects that know the value."""
        self.hash_queue.set_function(hash_queue)
        self.token_cache_entries.set_function(token_cache)
        self.token_decodes.read = token_decodes
        self.mirror_entries.labels("suspended").set_function(suspended)
        self.mirror_entries.labels("revoked").set_function(revoked)
        self.mirror_age.set_function(mirror_age)

    def render(self) -> bytes:
        """The exposition text of every series."""
        return generate_latest(self.registry)


class PlainCounter:
    """One counter as a plain number (the event loop is one thread): no lock to take."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0

    def inc(self) -> None:
        """Count one."""
        self.value += 1


class ReadCounter(Collector):
    """A counter kept by the object that counts (as a plain number), read at scrape time."""

    def __init__(self, name: str, documentation: str) -> None:
        self._name, self._documentation = name, documentation
        self.read: Callable[[], float] = lambda: 0

    def collect(self) -> Iterator[Metric]:
        """The counter as of now."""
        yield CounterMetricFamily(self._name, self._documentation, value=self.read())


class PairCounts(Collector):
    """A counter family with two labels, as plain numbers read at scrape time; the label
    values come from a bounded set (here: rule names from the rules file, and outcomes)."""

    def __init__(self, name: str, documentation: str, labels: tuple[str, str]) -> None:
        self._name, self._documentation, self._labels = name, documentation, labels
        self.counts: dict[tuple[str, str], int] = {}

    def count(self, first: str, second: str) -> None:
        """Count one."""
        key = (first, second)
        self.counts[key] = self.counts.get(key, 0) + 1

    def collect(self) -> Iterator[Metric]:
        """The family as of now."""
        family = CounterMetricFamily(self._name, self._documentation, labels=list(self._labels))
        for labels, value in list(self.counts.items()):
            family.add_metric(list(labels), value)
        yield family


class ReadCounters(Collector):
    """A labelled counter family kept as a dict by the object that counts, read at scrape."""

    def __init__(self, name: str, documentation: str, label: str) -> None:
        self._name, self._documentation, self._label = name, documentation, label
        self.read: Callable[[], dict[str, int]] = dict

    def collect(self) -> Iterator[Metric]:
        """The family as of now."""
        family = CounterMetricFamily(self._name, self._documentation, labels=[self._label])
        for value, count in self.read().items():
            family.add_metric([value], count)
        yield family


class PlainCounters(Collector):
    """A labelled counter family of plain numbers, read at scrape time: ``/verify`` counts every
    answer, and prometheus-client's counters take a lock each time."""

    def __init__(self, name: str, documentation: str, label: str, values: tuple[str, ...]) -> None:
        self._name, self._documentation, self._label = name, documentation, label
        self.counters = {value: PlainCounter() for value in values}

    def collect(self) -> Iterator[Metric]:
        """The family as of now."""
        family = CounterMetricFamily(self._name, self._documentation, labels=[self._label])
        for value, counter in self.counters.items():
            family.add_metric([value], counter.value)
        yield family


class RequestSeries(Collector):
    """Request counts and latencies, kept as plain numbers and turned into series at scrape.

    prometheus-client's own metrics take a lock on every update (about 3 µs for a counter and a
    histogram); every request passes here, ``/verify`` included, and the event loop is one
    thread, so plain increments are safe and cost a fifth of that.
    """

    def __init__(self) -> None:
        # (route, method, status) -> [count per bucket ..., count above the last, sum]
        self._series: dict[tuple[str, str, int], list[float]] = {}

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one answered request."""
        series = self._series.get((route, method, status))
        if series is None:
            series = self.series(route, method, status)
        series[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        series[-1] += seconds

    def series(self, route: str, method: str, status: int) -> list[float]:
        """The counts of one (route, method, status), created when first needed: the fast
        listener keeps them at hand."""
        method = method if method in METHODS else "other"
        return self._series.setdefault((route, method, status), [0] * len(_SLOTS) + [0.0])

    def collect(self) -> Iterator[Metric]:
        """The series as of now (called by the registry at scrape time)."""
        requests = CounterMetricFamily(
            "gateway_auth_http_requests",
            "HTTP requests answered, by route template, method and status.",
            labels=["route", "method", "status"],
        )
        merged: dict[tuple[str, str], list[float]] = {}
        for (route, method, status), series in list(self._series.items()):
            requests.add_metric([route, method, str(status)], sum(series[:-1]))
            total = merged.setdefault((route, str(status)), [0.0] * len(series))
            for index, value in enumerate(series):
                total[index] += value
        yield requests
        latency = HistogramMetricFamily(
            "gateway_auth_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template and status.",
            labels=["route", "status"],
        )
        for (route, code), totals in merged.items():
            cumulative, buckets = 0.0, []
            for bound, count in zip(_SLOTS, totals[:-1], strict=True):
                cumulative += count
                buckets.append((bound, cumulative))
            latency.add_metric([route, code], buckets, totals[-1])
        yield latency


_SLOTS = (*(str(bound) for bound in LATENCY_BUCKETS), "+Inf")
