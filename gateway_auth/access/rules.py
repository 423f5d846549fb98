"""Access rules: who may reach which host, path and method, decided in ``/verify``.

An ordered list, first match wins, then the default policy (Authelia's ``access_control`` is
the model). A rule matches a request by host, path, method and the original client's network,
and may name who it is about (the subject: client kinds, ids, scopes); its policy is
``bypass``, ``deny``, ``authenticated`` or a set of required scopes. Compiled once from the
rules file (``access_file.py``); the rules that can match a (host, method, path) are kept in a
bounded cache, so a request usually costs one lookup and one look at the first of them.
Nothing here does I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

from gateway_auth.access.paths import fold, lookalike, upstream_host, upstream_path
from gateway_auth.access.regexes import Pattern, compile_regex
from gateway_auth.addresses import IPNetwork, ip_address
from gateway_auth.tokens import AccessClaims

Policy = Literal["bypass", "deny", "authenticated", "scopes"]
PathKind = Literal["prefix", "exact", "glob", "regex"]
DEFAULT = "(default)"  # the rule label of the default policy (no rule name has parentheses)
AMBIGUOUS = "(ambiguous)"  # ... and of a request whose path or host cannot be known
CACHE_SIZE = 10_000
CACHED_PATH_LENGTH = 512  # longer paths are decided afresh each time
_NONE: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Selection:
    """What the deciding rule asks of the request: its name (a metric label) and policy."""

    rule: str
    policy: Policy
    scopes: frozenset[str] = _NONE
    two_factor: bool = False  # and only for a session proved with a second factor (``mfa``)


@dataclass(frozen=True, slots=True)
class PathPattern:
    """One path a rule names: a prefix (segment by segment), an exact path, a glob (``*``
    within a segment, ``**`` across them) or a regular expression (the whole path, RE2).

    A trailing slash does not tell paths apart, except for a prefix: ``exact: /admin`` is
    ``/admin/`` too, as most upstreams (Express, Spring before 6, many routers) serve both.
    """

    kind: PathKind
    text: str
    regex: Pattern | None = None

    @classmethod
    def compile(cls, kind: PathKind, text: str, *, case_sensitive: bool) -> PathPattern:
        """The pattern as the rules file writes it (ValueError for a bad regular expression)."""
        if kind == "regex":
            return cls(kind, text, compile_regex(text, case_sensitive=case_sensitive))
        folded = text if case_sensitive else fold(text)
        if kind == "glob":
            return cls(kind, folded, compile_regex(glob_regex(folded)))
        if kind == "prefix":
            folded = folded.rstrip("/") or "/"
        return cls(kind, _untrailed(folded))

    def matches(self, path: str) -> bool:
        """Whether the normalised ``path`` is one this pattern names."""
        text = self.text
        if self.kind == "prefix":
            # A prefix names itself and what is below it: /billing is /billing, /billing/ and
            # /billing/x, never /billingx.
            return text in ("/", path) or path.startswith(text + "/")
        if self.regex is None:
            return _untrailed(path) == text
        if self.regex.fullmatch(path) is not None:
            return True
        untrailed = _untrailed(path)
        return untrailed != path and self.regex.fullmatch(untrailed) is not None


def _untrailed(path: str) -> str:
    return path[:-1] if len(path) > 1 and path[-1] == "/" else path


def glob_regex(glob: str) -> str:
    """A glob as a regular expression: ``**`` any characters, ``*`` any but ``/``, ``?`` one
    character but ``/``; everything else literal."""
    parts = re.split(r"(\*\*|\*|\?)", glob)
    wildcards = {"**": ".*", "*": "[^/]*", "?": "[^/]"}
    return "".join(wildcards.get(part, re.escape(part)) for part in parts)


@dataclass(frozen=True, slots=True)
class Subject:
    """Who a rule is about: each list given must hold (a kind of them, an id of them, a scope
    of them, a group of them)."""

    kinds: frozenset[str] = _NONE
    clients: frozenset[str] = _NONE
    scopes: frozenset[str] = _NONE
    groups: frozenset[str] = _NONE

    def matches(self, claims: AccessClaims) -> bool:
        """Whether the signed-in client is one this rule is about (on every /verify: no words)."""
        return (
            (not self.kinds or claims.kind in self.kinds)
            and (not self.clients or claims.client_id in self.clients)
            and (not self.scopes or not self.scopes.isdisjoint(claims.scopes))
            and (not self.groups or not self.groups.isdisjoint(claims.groups))
        )

    def misses(self, claims: AccessClaims) -> Iterator[str]:
        """Each list the client falls outside of, in words (for ``rules explain``)."""
        if self.kinds and claims.kind not in self.kinds:
            yield f"kind {claims.kind} is not {_either(self.kinds)}"
        if self.clients and claims.client_id not in self.clients:
            yield f"client {claims.client_id} is not {_either(self.clients)}"
        if self.scopes and self.scopes.isdisjoint(claims.scopes):
            yield f"scopes ({_held(claims.scopes)}) hold none of {_either(self.scopes)}"
        if self.groups and self.groups.isdisjoint(claims.groups):
            yield f"groups ({_held(claims.groups)}) hold none of {_either(self.groups)}"


@dataclass(frozen=True, slots=True)
class Rule:
    """One compiled rule; an empty condition matches everything."""

    name: str
    line: int
    selection: Selection
    hosts: frozenset[str] = _NONE  # exact names
    domains: tuple[str, ...] = ()  # "*.example.com" as ".example.com": any subdomain
    paths: tuple[PathPattern, ...] = ()
    methods: frozenset[str] = _NONE
    networks: tuple[IPNetwork, ...] = ()
    subject: Subject | None = None

    def matches_request(self, host: str, method: str, path: str) -> bool:
        """Host, method and path: the conditions one cached list of candidates shares."""
        return (
            (not (self.hosts or self.domains) or self.matches_host(host))
            and (not self.methods or method in self.methods)
            and (not self.paths or any(pattern.matches(path) for pattern in self.paths))
        )

    def matches_host(self, host: str) -> bool:
        """The host is one named, or below a ``*.`` domain named."""
        return host in self.hosts or any(host.endswith(domain) for domain in self.domains)

    def matches_network(self, address: str | None) -> bool:
        """The original client's address is in one of the networks (no networks: any)."""
        if not self.networks:
            return True
        ip = ip_address(address)
        return ip is not None and any(ip in network for network in self.networks)


@dataclass(frozen=True, slots=True)
class Candidates:
    """The rules that can decide requests of one host, method and path, in order."""

    rules: tuple[Rule, ...]
    default: Selection
    needs_address: bool  # some rule here looks at the client's network
    needs_claims: bool  # ... or at who is asking
    # The selection when the first rule decides whoever asks, from wherever (most requests).
    unconditional: Selection | None

    def select(self, address: str | None, claims: AccessClaims | None) -> Selection:
        """The first rule that applies to this client. A rule about who is asking that could
        apply when nobody is signed in asks for a signed-in client: its name, ``authenticated``
        (the token check then refuses, and a browser is sent to sign in)."""
        for rule in self.rules:
            if rule.networks and not rule.matches_network(address):
                continue
            if rule.subject is not None:
                if claims is None:
                    return Selection(rule.name, "authenticated")
                if not rule.subject.matches(claims):
                    continue
            return rule.selection
        return self.default


@dataclass(slots=True)
class AccessRules:
    """A whole rules file, compiled: the rules in order, the default, and the cache."""

    rules: tuple[Rule, ...]
    default: Selection
    case_sensitive: bool = True
    refuse_lookalikes: bool = False  # the rules file's refuse_lookalike_paths
    cache_size: int = CACHE_SIZE
    _cache: dict[tuple[str, str, str], Candidates | None] = field(default_factory=dict)
    # Whether a rule decides by method: then a method-override header (which many frameworks
    # obey) would let a request be decided as one method and run as another.
    names_methods: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        self.names_methods = any(rule.methods for rule in self.rules)

    @property
    def names(self) -> list[str]:
        """Every label a decision can carry."""
        return [*(rule.name for rule in self.rules), DEFAULT, AMBIGUOUS]

    @property
    def ask_two_factor(self) -> bool:
        """Whether a rule (or the default) asks for sessions proved with a second factor."""
        return self.default.two_factor or any(rule.selection.two_factor for rule in self.rules)

    def candidates(self, host: str, method: str, raw_path: str) -> Candidates | None:
        """The rules that can decide this request (its path as sent, without the query:
        queries vary endlessly and rules never read them); None when its path is ambiguous
        (the request is denied)."""
        key = (host, method, raw_path)
        found = self._cache.get(key, False)
        if found is not False:
            return found  # type: ignore[return-value]  # a Candidates or None, as stored
        found = self._candidates(host, method, raw_path)
        if len(raw_path) > CACHED_PATH_LENGTH:
            return found  # rare, and a flood of them would fill the memory
        cache = self._cache
        if len(cache) >= self.cache_size:
            del cache[next(iter(cache))]  # the oldest: any request may fill it with new keys
        cache[key] = found
        return found

    def _candidates(self, host: str, method: str, raw_path: str) -> Candidates | None:
        path = upstream_path(raw_path, case_sensitive=self.case_sensitive)
        if path is None or (self.refuse_lookalikes and lookalike(path)):
            return None
        name = upstream_host(host)
        matching = tuple(rule for rule in self.rules if rule.matches_request(name, method, path))
        first = matching[0] if matching else None
        unconditional = (
            self.default
            if first is None
            else first.selection
            if not first.networks and first.subject is None
            else None
        )
        return Candidates(
            matching,
            self.default,
            needs_address=any(rule.networks for rule in matching),
            needs_claims=any(rule.subject is not None for rule in matching),
            unconditional=unconditional,
        )

    def explain(self, request: Asked, claims: AccessClaims | None) -> Iterator[str]:
        """Why a request is decided as it is, rule by rule (``gateway-auth rules explain``)."""
        path = upstream_path(request.path, case_sensitive=self.case_sensitive)
        if path is None:
            yield f"path {request.path!r} is ambiguous (a . or .. segment, an encoded / or \\,"
            yield "  a control character, an invalid or double encoding): denied"
            yield "  (403 ambiguous-request)"
            return
        if self.refuse_lookalikes and lookalike(path):
            yield f"path {request.path!r} looks like another (a segment ending in a dot or a"
            yield "  space, or a character NFKC normalization changes), and the rules file says"
            yield "  refuse_lookalike_paths: denied (403 ambiguous-request)"
            return
        asked = request._replace(host=upstream_host(request.host), path=path)
        where = f" from {asked.address}" if asked.address else ""
        yield f"request: {asked.method} host {asked.host} path {asked.path}{where}"
        if claims is not None:
            yield (
                f"asked by: {claims.client_id} ({claims.kind}), scopes {_held(claims.scopes)},"
                f" groups {_held(claims.groups)}"
            )
        for rule in self.rules:
            reasons = list(_mismatches(rule, asked, claims))
            if not reasons:
                yield f"line {rule.line}: rule {rule.name!r} decides: {_policy(rule.selection)}"
                return
            if reasons == [_NOBODY]:
                yield (
                    f"line {rule.line}: rule {rule.name!r} is about who asks, and nobody is "
                    "signed in: 401, sign in first"
                )
                return
            yield f"line {rule.line}: rule {rule.name!r} skipped: {'; '.join(reasons)}"
        yield f"no rule matched: default policy {_policy(self.default)}"


class Asked(NamedTuple):
    """A request as ``explain`` is told of it."""

    host: str
    method: str
    path: str
    address: str | None = None


_NOBODY = "nobody is signed in"


def _mismatches(rule: Rule, asked: Asked, claims: AccessClaims | None) -> Iterable[str]:
    host, method, path, address = asked
    if (rule.hosts or rule.domains) and not rule.matches_host(host):
        yield f"host {host} is not {' or '.join(_hosts(rule))}"
    if rule.methods and method not in rule.methods:
        yield f"method {method} is not {' or '.join(sorted(rule.methods))}"
    if rule.paths and not any(pattern.matches(path) for pattern in rule.paths):
        yield f"path {path} is not {' or '.join(f'{p.kind} {p.text}' for p in rule.paths)}"
    if rule.networks and not rule.matches_network(address):
        yield f"client {address or '(unknown)'} is not in {', '.join(map(str, rule.networks))}"
    if rule.subject is not None:
        if claims is None:
            yield _NOBODY
        else:
            yield from (f"the client's {miss}" for miss in rule.subject.misses(claims))


def _either(names: frozenset[str]) -> str:
    return " or ".join(sorted(names))


def _held(names: tuple[str, ...]) -> str:
    return ", ".join(names) or "none"


def _hosts(rule: Rule) -> list[str]:
    return [*sorted(rule.hosts), *(f"*{domain}" for domain in rule.domains)]


def _policy(selection: Selection) -> str:
    said: str = selection.policy
    if selection.policy == "scopes":
        said = f"scopes {', '.join(sorted(selection.scopes))} (every one of them)"
    return f"{said}, with a second factor" if selection.two_factor else said
