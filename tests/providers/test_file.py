"""IDENTITY_PROVIDERS_FILE: the presets filled in, every problem reported at its line, and a
reload that keeps the providers in force when the file breaks."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway_auth.providers.control import ProviderControl
from gateway_auth.providers.file import ProvidersFileError, load_providers, parse_providers

GOOD = """\
providers:
  - id: corp
    name: Corp SSO
    type: oidc
    issuer: https://sso.corp.example/realms/main
    client_id: gateway-auth
    client_secret_file: corp.secret
    allowed_email_domains: [Corp.Example]
    groups_to_scopes:
      billing-team: [billing]
      admins: [admin, billing]
    create_accounts: true
  - id: github
    type: github
    client_id: Iv1.abc
    client_secret: gh-secret
    allowed_groups: [acme, acme/platform]
  - id: entra
    type: microsoft
    tenant: organizations
    client_id: 00000000-0000-0000-0000-000000000000
    client_secret: ms-secret
  - id: google
    type: google
    client_id: 1234.apps.googleusercontent.com
    client_secret: g-secret
    email_verified: never
  - id: gitlab
    type: gitlab
    client_id: gl
    client_secret: gl-secret
"""


def test_a_good_file_gives_each_provider_with_its_preset(tmp_path: Path) -> None:
    (tmp_path / "corp.secret").write_text("s3cret\n")
    path = tmp_path / "providers.yaml"
    path.write_text(GOOD)

    corp, github, entra, google, gitlab = load_providers(path)

    assert corp.client_secret == "s3cret"
    assert corp.scopes == ("openid", "email", "profile")
    assert corp.allowed_email_domains == ("corp.example",)
    assert corp.managed_scopes == {"billing", "admin"}
    assert corp.scopes_for(("admins", "staff")) == ("admin", "billing")
    assert corp.line == 2
    assert github.name == "GitHub"
    assert github.issuer is None
    assert github.endpoints is not None
    assert github.endpoints.token == "https://github.com/login/oauth/access_token"
    assert github.scopes == ("read:user", "user:email", "read:org")  # groups need read:org
    assert entra.issuer == "https://login.microsoftonline.com/organizations/v2.0"
    assert entra.issuer_by_tenant
    assert entra.claims.email_verified == "xms_edov"  # never trusted on the email claim alone
    assert google.issuer == "https://accounts.google.com"
    assert google.email_verified == "never"
    assert gitlab.issuer == "https://gitlab.com"
    assert gitlab.claims.groups == "groups_direct"
    assert "s3cret" not in repr(corp)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "providers:\n  - id: Corp\n    type: oidc\n    issuer: https://x.example\n"
            "    client_id: a\n    client_secret: b\n",
            "p.yaml:2: provider 1 (Corp): id: 1-32 lower-case letters",
        ),
        (
            "providers:\n  - id: corp\n    type: oidc\n    client_id: a\n    client_secret: b\n",
            "p.yaml:2: provider 1 (corp): issuer: required for type oidc",
        ),
        (
            "providers:\n  - id: corp\n    type: oidc\n    issuer: http://sso.example\n"
            "    client_id: a\n    client_secret: b\n",
            "p.yaml:4: provider 1 (corp): issuer: 'http://sso.example': an https:// URL",
        ),
        (
            "providers:\n  - id: corp\n    type: okta\n    client_id: a\n    client_secret: b\n",
            "p.yaml:3: provider 1 (corp): type: one of 'oidc', 'github', 'google', 'microsoft' "
            "or 'gitlab'",
        ),
        (
            "providers:\n  - id: gh\n    type: github\n    client_id: a\n",
            "p.yaml:2: provider 1 (gh): give client_secret or client_secret_file",
        ),
        (
            "providers:\n  - id: gh\n    type: github\n    client_id: a\n    client_secret: b\n"
            "    allowed_email_domain: [x.example]\n",
            "p.yaml:6: provider 1 (gh): allowed_email_domain: not a setting a providers file "
            "knows (a typo?)",
        ),
        (
            "providers:\n  - id: gh\n    type: github\n    client_id: a\n    client_secret: b\n"
            "    groups_to_scopes: {devs: ['bad scope']}\n",
            "p.yaml:6: provider 1 (gh): groups_to_scopes.devs[0]:",
        ),
        (
            "providers:\n  - id: ms\n    type: microsoft\n    client_id: a\n    client_secret: b\n",
            "p.yaml:2: provider 1 (ms): tenant: required for microsoft",
        ),
        (
            "providers:\n  - id: gh\n    type: github\n    client_id: a\n    client_secret: b\n"
            "  - id: gh\n    type: github\n    client_id: c\n    client_secret: d\n",
            "p.yaml:6: provider 2 (gh): id: provider 1 has this id already",
        ),
        (
            "providers:\n  - id: corp\n    type: oidc\n    issuer: https://x.example\n"
            "    client_id: a\n    client_secret_file: missing.secret\n",
            "p.yaml:6: provider 1 (corp): client_secret_file: ",
        ),
        ("providers: [\n", "p.yaml:2: not valid YAML"),
        ("", "p.yaml:1: empty: a providers file needs a providers list"),
    ],
)
def test_every_problem_is_reported_at_its_line(tmp_path: Path, text: str, problem: str) -> None:
    with pytest.raises(ProvidersFileError) as raised:
        parse_providers(text, "p.yaml", tmp_path)

    assert any(line.startswith(problem) for line in raised.value.problems), raised.value.problems


def test_a_reload_keeps_the_providers_in_force_when_the_file_breaks(tmp_path: Path) -> None:
    path = tmp_path / "providers.yaml"
    path.write_text("providers:\n  - {id: gh, type: github, client_id: a, client_secret: b}\n")
    control = ProviderControl.load(path, lambda: datetime.now(UTC))
    kept = control.client("gh")

    path.write_text("providers:\n  - {id: gh, type: github}\n")
    assert not control.reload("SIGHUP")
    assert [p.id for p in control.providers] == ["gh"]
    assert control.state()["state"] == "file invalid, previous providers in force"

    path.write_text(
        "providers:\n  - {id: gh, type: github, client_id: a, client_secret: b}\n"
        "  - {id: google, type: google, client_id: c, client_secret: d}\n"
    )
    assert control.reload("SIGHUP")
    assert [p.id for p in control.providers] == ["gh", "google"]
    assert control.client("gh") is kept  # unchanged: what it learnt is kept
    assert control.state()["state"] == "current"
