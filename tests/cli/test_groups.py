"""Groups from the shell: given at creation, changed like scopes, listed, and explained."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from gateway_auth.cli.main import main
from tests.support.credentials import PASSWORD


@pytest.fixture
def environ(tmp_path: Path) -> dict[str, str]:
    return {"GATEWAY_AUTH_DATA_DIR": str(tmp_path / "data"), "GATEWAY_AUTH_BCRYPT_ROUNDS": "4"}


def test_groups_are_given_changed_listed_and_explained(
    environ: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
    create = ["clients", "create", "--password-stdin", "--email", "ada@example.com"]
    assert main([*create, "--group", "ops", "--group", "dev"], environ) == 0
    created = json.loads(capsys.readouterr().out)

    assert main(["clients", "update", "ada@example.com", "--add-group", "sre"], environ) == 0
    added = json.loads(capsys.readouterr().out)
    assert main(["clients", "update", "ada@example.com", "--remove-group", "ops"], environ) == 0
    removed = json.loads(capsys.readouterr().out)
    assert main(["clients", "list"], environ) == 0
    table = capsys.readouterr().out.splitlines()
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "rules:\n  - name: on-call\n    subject: {groups: [sre]}\n    policy: authenticated\n"
        "default_policy: deny\n"
    )
    explain = ["rules", "explain", "https://ops.example.com/", "--file", str(rules)]
    assert main([*explain, "--client", "ada@example.com"], environ) == 0
    explained = capsys.readouterr().out
    both = main(
        ["clients", "update", "ada@example.com", "--set-groups", "a", "--add-group", "b"], environ
    )

    assert created["groups"] == ["ops", "dev"]
    assert added["groups"] == ["ops", "dev", "sre"]
    assert removed["groups"] == ["dev", "sre"]
    assert table[0].split()[3:5] == ["SCOPES", "GROUPS"]
    assert table[1].split()[3:5] == ["-", "dev,sre"]
    assert "groups dev, sre" in explained
    assert "rule 'on-call' decides: authenticated" in explained
    assert both == 2  # called wrongly
    assert "--set-groups replaces every group" in capsys.readouterr().err


def test_a_bad_group_is_explained_in_one_sentence(
    environ: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))

    status = main(
        ["clients", "create", "--password-stdin", "--email", "a@example.com", "--group", "a,b"],
        environ,
    )

    assert status == 1
    assert capsys.readouterr().err.splitlines() == [
        "gateway-auth: groups must be 1-64 letters, digits or _ . : / - each"
    ]
