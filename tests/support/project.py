"""Where the project's own files are, for the tests that read or run them."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DOCS = ROOT / "docs"
EXAMPLES = ROOT / "examples"
COMPANY_RULES = DEPLOY / "rules" / "company.yaml"  # the shipped example rules file
