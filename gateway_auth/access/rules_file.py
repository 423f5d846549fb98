"""The rules file (``RULES_FILE``): YAML in, compiled ``AccessRules`` out, or every problem with
its line and rule.

The shape is declared once, as pydantic models; a problem pydantic finds is reported at the
line of the YAML node it is about (PyYAML's node marks), so an operator reads
``rules.yaml:14: rule 3 (billing): scopes[0]: ...`` rather than a path into a data structure.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    model_validator,
)

from gateway_auth.access.paths import upstream_path
from gateway_auth.access.regexes import compile_regex
from gateway_auth.access.rules import (
    DEFAULT,
    AccessRules,
    PathKind,
    PathPattern,
    Rule,
    Selection,
    Subject,
)
from gateway_auth.addresses import ip_network
from gateway_auth.config.yaml_file import (
    Lines,
    Loc,
    Scope,
    YamlFileError,
    by_line,
    field_path,
    message,
    read_document,
    read_file,
    validated,
)
from gateway_auth.models import ClientKind

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_LABEL = r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?"
_HOSTNAME = re.compile(rf"{_LABEL}(\.{_LABEL})*")
_METHOD = re.compile(r"[A-Z]{1,32}")


class RulesFileError(YamlFileError):
    """A rules file that cannot be used: every problem, each with its line."""


def _name(value: str) -> str:
    if not _NAME.fullmatch(value):
        raise ValueError("1-64 letters, digits or _ . -, starting with a letter or digit")
    return value


def _host(value: str) -> str:
    host = value.lower().rstrip(".")
    bare = host.removeprefix("*.")
    if ":" in bare.strip("[]") and not bare.startswith("["):
        raise ValueError(f"{value!r}: write a host without its port (rules match every port)")
    if bare.startswith("[") and bare.endswith("]"):
        _address(bare[1:-1], value)
    elif not _HOSTNAME.fullmatch(bare) or (host.startswith("*.") and "." not in bare):
        raise ValueError(
            f"{value!r}: a host name (app.example.com), *. and a domain (*.example.com: "
            "every name below it), or an IP address; international names in their xn-- form"
        )
    return host


def _address(text: str, value: str) -> None:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        raise ValueError(f"{value!r}: not an IPv6 address") from None


def _method(value: str) -> str:
    method = value.upper()
    if not _METHOD.fullmatch(method):
        raise ValueError(f"{value!r}: an HTTP method such as GET or DELETE")
    return method


def _network(value: str) -> str:
    try:
        ipaddress.ip_network(value)
    except ValueError:
        try:
            loose = ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise ValueError(f"{value!r}: a network such as 10.0.0.0/8 or 2001:db8::/32") from None
        raise ValueError(f"{value!r} has host bits set: did you mean {loose}?") from None
    return value


def _path(value: str) -> str:
    resolved = upstream_path(value)
    if not value.startswith("/") or resolved is None or resolved.rstrip("/") != value.rstrip("/"):
        raise ValueError(
            f"{value!r}: a path as the upstream resolves it (starting with /, no . or .. "
            "segments, no // or ;, characters as they are rather than percent-encoded)"
        )
    return value


def _path_spec(value: object) -> tuple[PathKind, str]:
    """A path as the file writes it: a prefix as a plain string, or one of ``exact:``,
    ``glob:`` and ``regex:``."""
    if isinstance(value, str):
        return "prefix", _path(value)
    if not (isinstance(value, dict) and len(value) == 1):
        raise ValueError("a path prefix (/billing), or one of exact:, glob: or regex: and a path")
    ((kind, text),) = value.items()
    if not isinstance(text, str):
        raise ValueError(f"{kind}: the path as a string")  # noqa: TRY004 - pydantic wants ValueError
    if kind == "exact":
        return "exact", _path(text)
    if kind == "glob":
        if not text.startswith("/"):
            raise ValueError(f"{text!r}: a glob starting with /")
        return "glob", text
    if kind == "regex":
        try:
            compile_regex(text)
        except ValueError as exc:
            raise ValueError(
                f"{text!r}: not a regular expression RE2 can run ({exc}; RE2 has no "
                "lookarounds or backreferences, and runs in linear time)"
            ) from None
        return "regex", text
    raise ValueError(f"{kind!r}: a path is a prefix, or exact:, glob: or regex:")


Name = Annotated[str, AfterValidator(_name)]
Host = Annotated[str, AfterValidator(_host)]
Method = Annotated[str, AfterValidator(_method)]
Network = Annotated[str, AfterValidator(_network)]
PathSpec = Annotated[tuple[str, str], BeforeValidator(_path_spec)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class SubjectSpec(_Model):
    """Who a rule is about (any of each list given; every list given must hold)."""

    kinds: list[ClientKind] = Field(default_factory=list)
    clients: list[str] = Field(default_factory=list)
    scopes: list[Scope] = Field(default_factory=list)
    groups: list[Scope] = Field(default_factory=list)  # named as scopes are

    @model_validator(mode="after")
    def _something(self) -> SubjectSpec:
        if not (self.kinds or self.clients or self.scopes or self.groups):
            raise ValueError("name kinds, clients, scopes or groups")
        return self


class RuleSpec(_Model):
    """One rule as written."""

    name: Name
    hosts: list[Host] = Field(default_factory=list)
    paths: list[PathSpec] = Field(default_factory=list)
    methods: list[Method] = Field(default_factory=list)
    networks: list[Network] = Field(default_factory=list)
    subject: SubjectSpec | None = None
    policy: Literal["bypass", "deny", "authenticated", "two_factor"] | None = None
    scopes: list[Scope] | None = None
    two_factor: bool = False  # beside scopes: and a session proved with a second factor

    @model_validator(mode="after")
    def _one_policy(self) -> RuleSpec:
        if (self.policy is None) == (self.scopes is None):
            raise ValueError(
                "give either policy (bypass, deny, authenticated or two_factor) or scopes (the"
                " scopes a client must hold), and not both"
            )
        if self.scopes == []:
            raise ValueError("scopes: name at least one (or use policy: authenticated)")
        if self.two_factor and self.policy is not None:
            raise ValueError("two_factor: true goes beside scopes; else use policy: two_factor")
        return self


class RulesSpec(_Model):
    """The whole file."""

    default_policy: Literal["bypass", "deny", "authenticated", "two_factor"]
    case_sensitive: bool = True
    refuse_lookalike_paths: bool = False
    rules: list[RuleSpec] = Field(default_factory=list)


def load_rules(path: Path) -> AccessRules:
    """The rules file at ``path``, compiled; RulesFileError listing every problem."""
    return parse_rules(read_rules_file(path), str(path))


def read_rules_file(path: Path) -> bytes:
    """The file's bytes; RulesFileError when it cannot be read."""
    return read_file(path, RulesFileError)


def parse_rules(data: bytes | str, source: str) -> AccessRules:
    """Rules from YAML ``data`` (``source`` names it in problems)."""
    document = read_document(
        data, source, kind="rules file", needs="at least default_policy", error=RulesFileError
    )
    lines = document.lines
    spec = validated(
        RulesSpec, document, source, RulesFileError,
        lambda error: _problem(error, document.data, lines),
    )  # fmt: skip
    problems = [*document.problems, *_duplicates(spec, lines)]
    if problems:
        raise RulesFileError(by_line(problems, source))
    return _compiled(spec, lines)


def _problem(error: Any, data: Any, lines: Lines) -> tuple[int, str]:
    loc: Loc = tuple(error["loc"])
    line, where = lines.of(loc), ""
    if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
        where = _rule_label(data, loc[1])
        loc = loc[2:]
    field = field_path(loc)
    mapping = "name: ..., policy: ... and the conditions"
    text = message(error, mapping=mapping, file="rules file")
    return line, f"{where}{field + ': ' if field else ''}{text}"


def _rule_label(data: Any, index: int) -> str:
    rules = data.get("rules") if isinstance(data, dict) else None
    rule = rules[index] if isinstance(rules, list) and index < len(rules) else None
    name = rule.get("name") if isinstance(rule, dict) else None
    return f"rule {index + 1}" + (f" ({name})" if isinstance(name, str) else "") + ": "


def _duplicates(spec: RulesSpec, lines: Lines) -> list[tuple[int, str]]:
    seen: dict[str, int] = {}
    problems = []
    for index, rule in enumerate(spec.rules):
        if rule.name in seen:
            problems.append(
                (
                    lines.of(("rules", index, "name")),
                    f"rule {index + 1} ({rule.name}): name: rule {seen[rule.name] + 1} has "
                    "this name already (names label the metrics)",
                )
            )
        seen.setdefault(rule.name, index)
    return problems


def _compiled(spec: RulesSpec, lines: Lines) -> AccessRules:
    case = spec.case_sensitive
    rules = []
    for index, rule in enumerate(spec.rules):
        if rule.policy is None:
            scopes = frozenset(rule.scopes or ())
            selection = Selection(rule.name, "scopes", scopes, two_factor=rule.two_factor)
        elif rule.policy == "two_factor":
            selection = Selection(rule.name, "authenticated", two_factor=True)
        else:
            selection = Selection(rule.name, rule.policy)
        subject = rule.subject
        rules.append(
            Rule(
                name=rule.name,
                line=lines.of(("rules", index)),
                selection=selection,
                hosts=frozenset(h for h in rule.hosts if not h.startswith("*.")),
                domains=tuple(h[1:] for h in rule.hosts if h.startswith("*.")),
                paths=tuple(
                    PathPattern.compile(kind, text, case_sensitive=case)  # type: ignore[arg-type]
                    for kind, text in rule.paths
                ),
                methods=frozenset(rule.methods),
                networks=tuple(ip_network(n) for n in rule.networks),
                subject=None
                if subject is None
                else Subject(
                    frozenset(subject.kinds),
                    frozenset(subject.clients),
                    frozenset(subject.scopes),
                    frozenset(subject.groups),
                ),
            )
        )
    default = spec.default_policy
    selection = (
        Selection(DEFAULT, "authenticated", two_factor=True)
        if default == "two_factor"
        else Selection(DEFAULT, default)
    )
    return AccessRules(tuple(rules), selection, case, spec.refuse_lookalike_paths)
