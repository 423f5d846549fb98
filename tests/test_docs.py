"""The README as a reader uses it: its contents list every section and each link inside it
lands on a heading; its two Mermaid pictures are docs/flows.md's, word for word."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.support.project import ROOT

README = ROOT / "README.md"
FLOWS = ROOT / "docs" / "flows.md"


def _headings(text: str) -> list[tuple[int, str]]:
    """Every ``##`` and ``###`` heading outside code blocks: (level, title)."""
    outside = re.sub(r"```.*?```", "", text, flags=re.S)
    return [(len(m[1]), m[2]) for m in re.finditer(r"^(#{2,3}) (.+)$", outside, re.M)]


def _slug(title: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation but hyphens dropped, spaces as
    hyphens."""
    words = re.sub(r"[^\w\- ]", "", title.replace("`", "").strip().lower())
    return words.replace(" ", "-")


def _block(path: Path, name: str) -> str:
    match = re.search(
        rf"<!-- {name}:start -->\n(```mermaid\n.*?```)\n<!-- {name}:end -->", path.read_text(), re.S
    )
    assert match, f"{path.name} has no {name} picture"
    return match[1]


def test_the_contents_list_every_section_in_order() -> None:
    text = README.read_text()
    contents = text.split("## Contents", 1)[1].split("\n## ", 1)[0]
    listed = re.findall(r"^( *)- \[(.+?)\]\(#(.+?)\)$", contents, re.M)

    sections = [h for h in _headings(text) if h[1] != "Contents"]
    assert [(len(indent) // 2 + 2, title) for indent, title, _ in listed] == sections
    assert [anchor for _, _, anchor in listed] == [_slug(title) for _, title in sections]


def test_every_link_within_the_readme_lands_on_a_heading() -> None:
    text = README.read_text()
    anchors = {_slug(title) for _, title in _headings(text)}

    links = set(re.findall(r"\]\(#([^)]+)\)", text))

    assert links
    assert links - anchors == set()


@pytest.mark.parametrize("name", ["request-flow", "deployment"])
def test_the_readme_shows_the_pictures_of_docs_flows(name: str) -> None:
    picture = _block(FLOWS, name)

    assert _block(README, name) == picture
    assert ";" not in picture  # Mermaid reads a semicolon as the end of a statement


# The response's own (status, headers), and what every page gets (the table above the pages).
_NOT_VARIABLES = (None, "status", "headers", "title", "wide")


def _rendered() -> dict[str, set[str]]:
    """Each template the portal renders, with the names the code passes it (``render``)."""
    found: dict[str, set[str]] = {}
    for path in (ROOT / "gateway_auth" / "http").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "render"
                and len(node.args) >= 2  # (request, template)
                and isinstance(node.args[1], ast.Constant)
            ):
                names = {kw.arg for kw in node.keywords if kw.arg not in _NOT_VARIABLES}
                found.setdefault(str(node.args[1].value), set()).update(str(n) for n in names)
    return found


def test_docs_templates_names_every_page_and_what_it_receives() -> None:
    doc = (ROOT / "docs" / "templates.md").read_text()
    rows = {m[1]: m[2] for m in re.finditer(r"^\| `([a-z_]+\.html)` \|[^|]*\| (.*) \|$", doc, re.M)}
    ours = {p.name for p in (ROOT / "gateway_auth" / "web" / "templates").glob("*.html")}

    assert set(rows) == ours - {"base.html", "macros.html"}
    for template, names in _rendered().items():
        missing = {name for name in names if f"`{name}`" not in rows[template]}
        assert missing == set(), f"{template}: {sorted(missing)} not in docs/templates.md"
