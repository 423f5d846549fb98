"""The dependency rules of docs/DESIGN.md ("Layout"), read from every module's imports.

Each module's imports are found by walking its syntax tree (``import`` and ``from … import``
anywhere in the file, under ``TYPE_CHECKING`` too), so a rule cannot be broken by an import
hidden in a function.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "gateway_auth"
# The ground floor: value types and plain helpers every wing may use.
GROUND = frozenset(
    {
        "gateway_auth",
        "gateway_auth.addresses",
        "gateway_auth.clock",
        "gateway_auth.emails",
        "gateway_auth.errors",
        "gateway_auth.i18n",
        "gateway_auth.logging",
        "gateway_auth.metrics",
        "gateway_auth.models",
        "gateway_auth.tokens",
        "gateway_auth.validation",
    }
)
# Wings that know nothing of HTTP or the command line.
PLAIN_WINGS = (
    "access", "signin", "factors", "accounts", "revocation", "providers", "crossing", "config",
    "stores", "mail",
)  # fmt: skip
WEB = ("aiohttp", "multidict", "yarl", "httptools", "jinja2", "click")
MAX_LINES = 500
LONG_ALLOWED = frozenset({"gateway_auth.http.verify.fastpath"})  # the fast listener
MAX_TOP_LEVEL = 20


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    """Every module of the package by dotted name."""
    return {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


@cache
def sources() -> dict[str, str]:
    """Every module's text by dotted name."""
    return {name: path.read_text() for name, path in modules().items()}


def imports(module: str, source: str) -> frozenset[str]:
    """Every module ``module`` imports (for ``from x import y``: ``x.y`` when that is a module
    of ours, else ``x``)."""
    found: set[str] = set()
    is_package = modules()[module].name == "__init__.py"
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                anchor = parts[: len(parts) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            found.add(base)
            found.update(
                f"{base}.{alias.name}"
                for alias in node.names
                if f"{base}.{alias.name}" in modules()
            )
    return frozenset(found)


def _ours(names: frozenset[str]) -> frozenset[str]:
    return frozenset(n for n in names if n == "gateway_auth" or n.startswith("gateway_auth."))


def _in(module: str, *wings: str) -> bool:
    return any(
        module == f"gateway_auth.{w}" or module.startswith(f"gateway_auth.{w}.") for w in wings
    )


def _third_party_root(name: str) -> str:
    return name.split(".", maxsplit=1)[0]


def broken_rules(texts: dict[str, str]) -> Iterator[str]:
    """Every import that breaks a rule, as ``module imports other (rule)``."""
    for module, text in texts.items():
        for other in sorted(imports(module, text)):
            ours = other == "gateway_auth" or other.startswith("gateway_auth.")
            if (
                ours
                and _in(other, "cli")
                and not _in(module, "cli")
                and module != "gateway_auth.__main__"
            ):
                yield f"{module} imports {other} (nothing imports cli/)"
            if module in GROUND or _in(module, *PLAIN_WINGS):
                if _third_party_root(other) in WEB:
                    yield f"{module} imports {other} (no HTTP or CLI library below http/ and cli/)"
                if ours and _in(other, "http", "cli"):
                    yield f"{module} imports {other} (no http/ or cli/ below them)"
            if (
                _in(module, "stores")
                and ours
                and not (other in GROUND or _in(other, "config", "stores"))
            ):
                yield f"{module} imports {other} (stores import the ground floor and config/)"
            if _in(module, "access", "http") and ours and _in(other, "stores"):
                yield f"{module} imports {other} (access/ and http/ import no store)"
            if module in GROUND and ours and not (other in GROUND or _in(other, "config")):
                yield f"{module} imports {other} (the ground floor imports nothing above it)"
            if _in(module, "config") and ours and not (other in GROUND or _in(other, "config")):
                yield f"{module} imports {other} (config/ imports the ground floor only)"
            if (
                _in(module, "signin", "factors", "accounts", "revocation", "providers", "crossing")
                and ours
                and _in(other, "access")
            ):
                yield f"{module} imports {other} (the services do not reach into the decision)"


def cycles() -> list[list[str]]:
    """The import cycles among our modules (Tarjan's strongly connected components)."""
    graph = {m: sorted(_ours(imports(m, t)) & modules().keys() - {m}) for m, t in sources().items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_every_import_keeps_to_the_layers() -> None:
    assert list(broken_rules(sources())) == []


def test_no_import_cycle() -> None:
    assert cycles() == []


def test_no_production_module_is_over_500_lines_but_the_fast_listener() -> None:
    long = {
        name: lines
        for name, path in modules().items()
        if (lines := len(path.read_text().splitlines())) > MAX_LINES and name not in LONG_ALLOWED
    }
    assert long == {}


def test_at_most_20_modules_at_the_top_of_the_package() -> None:
    top = sorted(path.name for path in PACKAGE.glob("*.py"))
    assert len(top) <= MAX_TOP_LEVEL, top


def test_verify_lives_in_two_packages_with_no_file_name_twice() -> None:
    verify = [
        path
        for name, path in modules().items()
        if _in(name, "access") or name.startswith("gateway_auth.http.verify")
    ]
    names = [path.name for path in verify if path.name != "__init__.py"]
    assert len(names) == len(set(names)), sorted(names)
    loose = [
        name
        for name in modules()
        if ("verify" in name.rpartition(".")[2] or "access" in name.rpartition(".")[2])
        and not (_in(name, "access") or name.startswith("gateway_auth.http.verify"))
    ]
    assert loose == []


@pytest.mark.parametrize(
    ("module", "line", "rule"),
    [
        ("gateway_auth.access.rules", "from aiohttp import web", "no HTTP or CLI library"),
        ("gateway_auth.stores.base", "from gateway_auth.signin import sessions", "stores import"),
        ("gateway_auth.access.decision", "import gateway_auth.stores.base", "import no store"),
        ("gateway_auth.http.app", "from gateway_auth.cli import main", "nothing imports cli/"),
        ("gateway_auth.http.me", "from gateway_auth.stores.base import Store", "import no store"),
        ("gateway_auth.models", "from gateway_auth.http import cookies", "no http/ or cli/"),
        ("gateway_auth.config.settings", "from gateway_auth.signin import oauth", "config/"),
    ],
)
def test_one_forbidden_import_more_is_caught(module: str, line: str, rule: str) -> None:
    texts = {**sources(), module: f"{line}\n{sources()[module]}"}

    broken = [problem for problem in broken_rules(texts) if problem.startswith(f"{module} ")]

    assert any(rule in problem for problem in broken), broken


def test_no_test_module_imports_another() -> None:
    tests = PACKAGE.parent / "tests"
    found = []
    for path in sorted(tests.rglob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                last = node.module.rpartition(".")[2]
                if node.module.startswith("tests.") and last.startswith("test_"):
                    found.append(f"{path.relative_to(tests)} imports {node.module}")
    assert found == []
