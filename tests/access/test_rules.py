"""Access rules compiled from a rules file: what each condition matches, first match wins, the
default, and every problem of a bad file reported with its line and rule."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from gateway_auth.access.rules import AccessRules, Asked, Selection
from gateway_auth.access.rules_file import RulesFileError, load_rules, parse_rules
from gateway_auth.tokens import AccessClaims
from tests.support.project import COMPANY_RULES

RULES = """
default_policy: authenticated
rules:
  - name: health
    paths: [/health, {exact: /ready}]
    methods: [get, head]
    policy: bypass
  - name: reports
    hosts: [app.example.com]
    paths: [{glob: "/reports/*/summary.pdf"}, {glob: "/exports/**.csv"}]
    scopes: [reports]
  - name: api-v
    hosts: ["*.example.com"]
    paths: [{regex: "/api/v[0-9]+/admin(/.*)?"}]
    scopes: [admin, ops]
  - name: office-deletes
    paths: [/api/admin]
    methods: [DELETE]
    networks: [10.20.0.0/16, "2001:db8:20::/48"]
    scopes: [admin]
  - name: no-deletes-elsewhere
    paths: [/api/admin]
    methods: [DELETE]
    policy: deny
  - name: services-only
    hosts: [internal.example.com]
    subject: {kinds: [service]}
    policy: authenticated
  - name: internal
    hosts: [internal.example.com]
    policy: deny
"""


def claims(kind: str = "user", scopes: tuple[str, ...] = (), client: str = "c1") -> AccessClaims:
    return AccessClaims(client, "s1", "t1", kind, scopes, "ada@example.com", 0)  # type: ignore[arg-type]


def decide(
    rules: AccessRules,
    url: str,
    method: str = "GET",
    address: str | None = None,
    who: AccessClaims | None = None,
) -> Selection | None:
    host, _, path = url.partition("/")
    found = rules.candidates(host, method, "/" + path.partition("?")[0])
    return None if found is None else found.select(address, who)


@pytest.fixture
def rules() -> AccessRules:
    return parse_rules(RULES, "rules.yaml")


def rule_of(selection: Selection | None) -> str | None:
    return None if selection is None else selection.rule


@pytest.mark.parametrize(
    ("url", "method", "rule"),
    [
        ("app.example.com/health", "GET", "health"),
        ("app.example.com/health/deep", "HEAD", "health"),  # a prefix covers what is below
        ("app.example.com/healthz", "GET", "(default)"),  # ...but not a longer name
        ("app.example.com/health", "POST", "(default)"),  # not a method named
        ("app.example.com/ready", "GET", "health"),
        ("app.example.com/ready/x", "GET", "(default)"),  # exact is exact
        ("app.example.com/reports/2026/summary.pdf", "GET", "reports"),
        ("app.example.com/reports/2026/11/summary.pdf", "GET", "(default)"),  # * stays in a segment
        ("app.example.com/exports/a/b/c.csv", "GET", "reports"),  # ** crosses them
        ("other.example.com/reports/2026/summary.pdf", "GET", "(default)"),
        ("APP.example.com:8443/reports/2026/summary.pdf", "GET", "reports"),  # no port, no case
        ("api.example.com/api/v2/admin/users", "GET", "api-v"),
        ("deep.api.example.com/api/v2/admin", "GET", "api-v"),  # *. is every name below
        ("example.com/api/v2/admin", "GET", "(default)"),  # ...not the domain itself
        ("api.example.com/x/api/v2/admin", "GET", "(default)"),  # a regex matches whole paths
        # A trailing slash names the same page to most upstreams: exact, glob and regex too.
        ("app.example.com/ready/", "GET", "health"),
        ("app.example.com/ready;x/", "GET", "health"),
        ("app.example.com/reports/2026/summary.pdf/", "GET", "reports"),
        ("api.example.com/api/v2/admin/", "GET", "api-v"),
        ("api.example.com/api/v2/admin//", "GET", "api-v"),
    ],
)
def test_each_condition_matches_what_it_names(
    rules: AccessRules, url: str, method: str, rule: str
) -> None:
    assert rule_of(decide(rules, url, method)) == rule


def test_a_network_condition_reads_the_original_clients_address(rules: AccessRules) -> None:
    url = "api.example.com/api/admin/users/7"
    assert rule_of(decide(rules, url, "DELETE", "10.20.3.4")) == "office-deletes"
    assert rule_of(decide(rules, url, "DELETE", "2001:db8:20::9")) == "office-deletes"
    assert rule_of(decide(rules, url, "DELETE", "10.21.0.1")) == "no-deletes-elsewhere"
    assert rule_of(decide(rules, url, "DELETE", None)) == "no-deletes-elsewhere"
    assert rule_of(decide(rules, url, "GET", "10.21.0.1")) == "(default)"
    # The same address however a proxy wrote it: mapped into IPv6 (a dual-stack listener),
    # with a port, in brackets.
    assert rule_of(decide(rules, url, "DELETE", "::ffff:10.20.3.4")) == "office-deletes"
    assert rule_of(decide(rules, url, "DELETE", "10.20.3.4:51234")) == "office-deletes"
    assert rule_of(decide(rules, url, "DELETE", "[2001:db8:20::9]:443")) == "office-deletes"
    assert rule_of(decide(rules, url, "DELETE", "10.20.3.4.5")) == "no-deletes-elsewhere"


def test_a_rule_about_who_asks_needs_someone_signed_in(rules: AccessRules) -> None:
    url = "internal.example.com/x"
    anonymous = decide(rules, url)
    assert anonymous == Selection("services-only", "authenticated")  # sign in first
    assert rule_of(decide(rules, url, who=claims("service"))) == "services-only"
    assert rule_of(decide(rules, url, who=claims("user"))) == "internal"


def test_policies_and_scopes_are_as_written(rules: AccessRules) -> None:
    assert decide(rules, "a.example.com/health") == Selection("health", "bypass")
    assert decide(rules, "api.example.com/api/v1/admin") == Selection(
        "api-v", "scopes", frozenset({"admin", "ops"})
    )
    assert decide(rules, "x.example.com/anything") == Selection("(default)", "authenticated")


def test_ambiguous_paths_match_no_rule(rules: AccessRules) -> None:
    assert decide(rules, "app.example.com/reports%2F2026/summary.pdf") is None
    assert rules.candidates("app.example.com", "GET", "/x%00") is None


def test_paths_can_be_compared_without_case() -> None:
    text = "default_policy: deny\ncase_sensitive: false\nrules:\n"
    text += "  - {name: admin, paths: [/Admin], scopes: [admin]}\n"
    insensitive = parse_rules(text, "rules.yaml")
    assert rule_of(decide(insensitive, "a/ADMIN/users")) == "admin"
    sensitive = parse_rules(text.replace("false", "true"), "rules.yaml")
    assert rule_of(decide(sensitive, "a/ADMIN/users")) == "(default)"
    assert rule_of(decide(sensitive, "a/Admin/users")) == "admin"
    # Letters whose upper case is ASCII: the dotless i and the long s.
    assert rule_of(decide(insensitive, "a/adm%C4%B1n")) == "admin"
    text += "  - {name: secret, paths: [{regex: '/se[c]ret/.*'}], policy: deny}\n"
    assert rule_of(decide(parse_rules(text, "r.yaml"), "a/%C5%BFECRET/x")) == "secret"


def test_patterns_take_time_in_proportion_to_the_path_alone() -> None:
    """RE2: Python's re would backtrack for hours on these (several ** and a nested +)."""
    text = "default_policy: deny\nrules:\n"
    text += "  - {name: pdf, paths: [{glob: '/**/a/**/a/**/a/**/c'}], policy: bypass}\n"
    text += "  - {name: nested, paths: [{regex: '/(a+)+c'}], policy: bypass}\n"
    rules = parse_rules(text, "r.yaml")
    assert rule_of(decide(rules, "h/" + "a/" * 20_000 + "x")) == "(default)"
    assert rule_of(decide(rules, "h/" + "a" * 50_000)) == "(default)"
    assert rule_of(decide(rules, "h/" + "a/" * 20_000 + "c")) == "pdf"


def test_the_decisions_cache_stays_within_its_size(rules: AccessRules) -> None:
    rules.cache_size = 50
    for n in range(500):
        decide(rules, f"app.example.com/page/{n}")
    assert len(rules._cache) <= 50
    assert rule_of(decide(rules, "app.example.com/health")) == "health"


def test_long_paths_are_decided_without_filling_the_cache(rules: AccessRules) -> None:
    for n in range(100):
        assert rule_of(decide(rules, f"app.example.com/health/{n}{'x' * 1000}")) == "health"
    assert len(rules._cache) == 0


def test_explain_names_the_deciding_rule_and_why_the_others_were_skipped(
    rules: AccessRules,
) -> None:
    lines = list(
        rules.explain(Asked("api.example.com", "DELETE", "/api//admin;x/x", "10.9.9.9"), None)
    )
    assert lines[0] == "request: DELETE host api.example.com path /api/admin/x from 10.9.9.9"
    assert lines[1] == (
        "line 4: rule 'health' skipped: method DELETE is not GET or HEAD; "
        "path /api/admin/x is not prefix /health or exact /ready"
    )
    assert any(
        "'office-deletes' skipped: client 10.9.9.9 is not in 10.20.0.0/16" in line for line in lines
    )
    assert lines[-1].endswith("rule 'no-deletes-elsewhere' decides: deny")


def test_every_problem_of_a_bad_file_is_reported_with_its_line_and_rule() -> None:
    bad = textwrap.dedent(
        """\
        default_policy: maybe
        rules:
          - name: health
            paths: [/health/../x, {glob: nope}]
            methods: [G-T]
            policy: bypass
            pathz: []
          - name: billing
            hosts: [app.example.com:8443]
            scopes: [bil ling]
          - name: billing
            networks: [10.20.0.1/16]
            policy: deny
          - name: both
            policy: deny
            scopes: [x]
          - name: twice
            policy: bypass
            policy: deny
        """
    )
    with pytest.raises(RulesFileError) as raised:
        parse_rules(bad, "rules.yaml")
    problems = raised.value.problems
    expected = [
        "rules.yaml:1: default_policy: one of 'bypass', 'deny', 'authenticated' or 'two_factor'",
        "rules.yaml:4: rule 1 (health): paths[0]: '/health/../x': a path as the upstream",
        "rules.yaml:4: rule 1 (health): paths[1]: 'nope': a glob starting with /",
        "rules.yaml:5: rule 1 (health): methods[0]: 'G-T': an HTTP method",
        "rules.yaml:7: rule 1 (health): pathz: not a setting a rules file knows",
        "rules.yaml:9: rule 2 (billing): hosts[0]: 'app.example.com:8443': write a host without",
        "rules.yaml:10: rule 2 (billing): scopes[0]: 'bil ling': must be 1-64",
        "rules.yaml:12: rule 3 (billing): networks[0]: '10.20.0.1/16' has host bits set: did "
        "you mean 10.20.0.0/16?",
        "rules.yaml:14: rule 4 (both): give either policy",
        "rules.yaml:19: policy is given twice",
    ]
    assert len(problems) == len(expected), problems
    for problem, start in zip(problems, expected, strict=True):
        assert problem.startswith(start), (problem, start)


def test_a_duplicate_rule_name_is_a_problem_once_the_rest_is_valid() -> None:
    text = (
        "default_policy: deny\nrules:\n  - {name: a, policy: bypass}\n  - {name: a, policy: deny}\n"
    )
    with pytest.raises(RulesFileError) as raised:
        parse_rules(text, "r.yaml")
    assert raised.value.problems == [
        "r.yaml:4: rule 2 (a): name: rule 1 has this name already (names label the metrics)"
    ]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "r.yaml:1: empty: a rules file needs at least default_policy"),
        ("default_policy: [deny\n", "r.yaml:2: not valid YAML"),
        ("rules: []\n", "r.yaml:1: default_policy: required"),
        (
            "default_policy: deny\nrules: {name: a}\n",
            "r.yaml:2: rules: Input should be a valid list",
        ),
        ("default_policy: !deny deny\n", "r.yaml:1: 'deny': cannot be read as !deny"),
        (
            "default_policy: !!python/name:os.system deny\n",
            "r.yaml:1: 'deny': cannot be read as tag:yaml.org,2002:python/name:os.system",
        ),
        ("default_policy: !!timestamp x\n", "r.yaml:1: 'x': cannot be read as"),
        (
            "<<: {default_policy: deny}\n",
            "r.yaml:1: <<: merge keys are not supported: write the keys out",
        ),
        ("{? [a] : b}\n", "r.yaml:1: a list or mapping cannot be a key"),
        ("[" * 5000, "r.yaml: nested too deeply to be a rules file"),
        (
            "a: &a [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\n"
            + "".join(
                f"{n}: &{n} [{', '.join([f'*{p}'] * 10)}]\n"
                for p, n in zip("abcdef", "bcdefg", strict=True)
            ),
            "r.yaml: more than 50000 values once its aliases are expanded",
        ),
        ("#" * (1 << 20) + "\n", "r.yaml: 1048577 bytes: a rules file has at most 1 MiB"),
        (
            "default_policy: deny\nrules:\n  - {name: a, paths: [{regex: '/(?!admin)'}], "
            "policy: bypass}\n",
            "r.yaml:3: rule 1 (a): paths[0]: '/(?!admin)': not a regular expression RE2 can run",
        ),
    ],
)
def test_files_that_are_not_rules_at_all(text: str, problem: str) -> None:
    with pytest.raises(RulesFileError) as raised:
        parse_rules(text, "r.yaml")
    assert raised.value.problems[0].startswith(problem), raised.value.problems


def test_an_unreadable_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(RulesFileError) as raised:
        load_rules(tmp_path / "missing.yaml")
    assert raised.value.problems == [
        f"{tmp_path / 'missing.yaml'}: cannot be read (No such file or directory)"
    ]


def test_the_shipped_company_rules_load() -> None:
    rules = load_rules(COMPANY_RULES)
    assert len(rules.rules) >= 5
    assert rules.default.policy == "deny"


LOOKALIKES = [
    "a/billing.",  # IIS and Windows drop a segment's trailing dots and spaces
    "a/billing%20",
    "a/billing.%20./x",
    "a/%EF%BD%82illing",  # a fullwidth b: NFKC makes it /billing
    "a/bi%EF%AC%80",  # not a billing lookalike, but a ligature NFKC changes all the same
    "a/billing%C2%A0",  # a no-break space
    "a/billing::$DATA",  # an NTFS stream: IIS serves the file
    "a/BILLIN~1/x",  # an 8.3 short name
]


@pytest.mark.parametrize("path", LOOKALIKES)
def test_lookalike_paths_are_ambiguous_when_the_file_says_so(path: str) -> None:
    text = "default_policy: authenticated\nrules:\n"
    text += "  - {name: billing, paths: [/billing, /billing/**], scopes: [billing]}\n"
    plain = parse_rules(text, "rules.yaml")
    strict = parse_rules("refuse_lookalike_paths: true\n" + text, "rules.yaml")

    # Without the option they are other paths (right for most upstreams), with it refused.
    assert rule_of(decide(plain, path)) == "(default)"
    assert decide(strict, path) is None
    assert rule_of(decide(strict, "a/billing/x.pdf")) == "billing"
    assert rule_of(decide(strict, "a/.well-known/x")) == "(default)"
    assert rule_of(decide(strict, "a/caf%C3%A9")) == "(default)"  # NFKC leaves it as it is


GROUP_RULES = """
default_policy: deny
rules:
  - name: on-call
    hosts: [ops.example.com]
    subject: {groups: [ops, sre]}
    policy: authenticated
"""


def test_a_subject_can_be_a_group_and_explain_says_whose_groups_fall_short() -> None:
    rules = parse_rules(GROUP_RULES, "rules.yaml")
    sre = AccessClaims("c1", "s1", "t1", "user", (), "ada@example.com", 0, groups=("dev", "sre"))
    dev = AccessClaims("c2", "s2", "t2", "user", ("ops",), "bob@example.com", 0, groups=("dev",))

    explained = list(rules.explain(Asked("ops.example.com", "GET", "/"), dev))

    assert rule_of(decide(rules, "ops.example.com/", who=sre)) == "on-call"
    assert rule_of(decide(rules, "ops.example.com/", who=dev)) == "(default)"  # a scope is no group
    assert explained[1] == "asked by: c2 (user), scopes ops, groups dev"
    assert explained[2] == (
        "line 4: rule 'on-call' skipped: the client's groups (dev) hold none of ops or sre"
    )
    assert explained[3] == "no rule matched: default policy deny"
