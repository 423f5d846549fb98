"""Rules that decide by method, through every real gateway: a request carrying a method-override
header (which Express, Symfony, Laravel and ASP.NET obey) is refused, since the upstream would
run it as another method than the one the rules judged."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.gateways import API_CALL, METHOD_OVERRIDES, Stack, fetch

RULES = """
default_policy: authenticated
rules:
  - {name: no-deletes, paths: [/app/orders], methods: [DELETE], policy: deny}
"""


@pytest.fixture
def stack_settings(tmp_path: Path) -> dict[str, str]:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    return {"RULES_FILE": str(rules), "TRUSTED_PROXIES": "127.0.0.1/32"}


@pytest.fixture(params=["nginx", "caddy", "traefik", "envoy"])
def gateway(request: pytest.FixtureRequest) -> str:
    port: int = request.getfixturevalue(request.param)
    return f"http://127.0.0.1:{port}"


@pytest.mark.parametrize("name", list(METHOD_OVERRIDES))
async def test_a_get_that_names_another_method_is_refused(
    stack: Stack, gateway: str, name: str
) -> None:
    cookie = await stack.login()

    overridden, _, refused = await fetch(
        stack, f"{gateway}/app/orders", Cookie=cookie, **API_CALL, **{name: "DELETE"}
    )
    plain, _, served = await fetch(stack, f"{gateway}/app/orders", Cookie=cookie, **API_CALL)
    async with stack.http.delete(
        f"{gateway}/app/orders", headers={"Cookie": cookie, **API_CALL}
    ) as deleted:
        denied = deleted.status

    assert overridden == 403
    assert "headers" not in refused  # the upstream never saw it
    assert plain == 200
    assert served["method"] == "GET"
    assert denied == 403
