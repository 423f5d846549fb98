"""``GET /login``: the sign-in page browsers are sent to; a plain form, no script."""

from __future__ import annotations

import base64
import hashlib
import html
from functools import cache
from importlib.resources import files
from string import Template

from aiohttp import web

from gateway_auth.http.appkeys import SETTINGS
from gateway_auth.http.callers import return_domains
from gateway_auth.redirects import safe_return_url


@cache
def _page() -> tuple[Template, str, str]:
    web_dir = files("gateway_auth") / "web"
    style = (web_dir / "login.css").read_text().strip()
    style_hash = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    csp = (
        f"default-src 'none'; style-src 'sha256-{style_hash}'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    )
    return Template((web_dir / "login.html").read_text()), style, csp


async def login_page(request: web.Request) -> web.Response:
    """The sign-in form; ``rd`` is carried through only if it is a safe return URL."""
    settings = request.app[SETTINGS]
    template, style, csp = _page()
    return_to = safe_return_url(request.query.get("rd"), return_domains(request))
    error = request.query.get("error") == "invalid"
    text = template.substitute(
        style=style,
        action=html.escape(f"{settings.base_path}/login"),
        rd=html.escape(return_to),
        error='<p class="error" role="alert">Invalid email or password.</p>' if error else "",
    )
    response = web.Response(text=text, content_type="text/html", charset="utf-8")
    response.headers["Content-Security-Policy"] = csp
    return response
