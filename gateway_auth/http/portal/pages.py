"""Rendering the portal's pages: Jinja2 templates that escape everything by default, one inline
style sheet and one inline script (the passkey ceremony, on the pages that offer passkeys)
allowed by their hashes, and a form token in every page.

The Content-Security-Policy allows nothing but that style sheet and script, the logo, and forms
posting back to gateway-auth (or to an allowed return domain, which a sign-in redirects to).
The script fetches nothing: the options travel in the page and the answer in a form post.
"""

from __future__ import annotations

import base64
import hashlib
import json
from contextvars import ContextVar
from dataclasses import dataclass
from gettext import NullTranslations
from importlib.resources import files
from typing import Any
from urllib.parse import urlencode, urlsplit

from aiohttp import hdrs, web
from jinja2 import (
    BaseLoader,
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    PackageLoader,
    PrefixLoader,
    StrictUndefined,
    select_autoescape,
)
from markupsafe import Markup

from gateway_auth.config.parsing import logo_type
from gateway_auth.config.settings import Settings
from gateway_auth.http.csrf import FormTokens
from gateway_auth.i18n import LANGUAGES, N_, negotiate, supported, translations
from gateway_auth.logging import REQUEST_ID

HTML = "text/html"
# Every link on a page is same-origin or a return URL: tell neither where the user came from,
# but keep Origin on our own form posts (under "no-referrer" browsers send "Origin: null").
REFERRER_POLICY = "same-origin"
LANGUAGE_COOKIE_SECONDS = 365 * 24 * 3600  # a choice of language is kept a year
_LANGUAGE: ContextVar[str] = ContextVar("page_language", default="en")


def _gettext(message: str) -> str:
    """The message in the language of the page being rendered."""
    return translations(_LANGUAGE.get()).gettext(message)


def _ngettext(one: str, many: str, n: int) -> str:
    return translations(_LANGUAGE.get()).ngettext(one, many, n)


@dataclass(frozen=True, slots=True)
class Brand:
    """What makes the pages a team's own: its name and optional logo (a URL or a data URI)."""

    name: str
    logo: str | None


@dataclass(frozen=True, slots=True)
class PortalUrls:
    """Where the portal's pages and forms live, under BASE_PATH."""

    base: str

    @property
    def home(self) -> str:
        """The signed-in home, where a sign-in without a return URL lands."""
        return f"{self.base}/"

    @property
    def login(self) -> str:
        """The sign-in page and form."""
        return f"{self.base}/login"

    @property
    def crossing_authorize(self) -> str:
        """Where another domain's portal asks whether this browser is signed in here: under
        ``/refresh``, so that the refresh cookie (``Path=<BASE_PATH>/refresh``) proves it."""
        return f"{self.base}/refresh/sso"

    @property
    def crossing_callback(self) -> str:
        """Where the answer comes back to the domain that asked."""
        return f"{self.base}/sso/callback"

    @property
    def second_factor(self) -> str:
        """The sign-in's second step: a code from the authenticator app or a recovery code."""
        return f"{self.base}/login/second-factor"

    @property
    def passkey_sign_in(self) -> str:
        """Where the sign-in page's passkey form posts."""
        return f"{self.base}/login/passkey"

    @property
    def passkeys(self) -> str:
        """Start adding a passkey (after the password)."""
        return f"{self.base}/account/two-factor/passkeys"

    @property
    def passkey_confirm(self) -> str:
        """Keep the passkey the browser just made."""
        return f"{self.base}/account/two-factor/passkeys/confirm"

    def passkey_rename(self, credential_id: str) -> str:
        """Rename one passkey."""
        return f"{self.base}/account/two-factor/passkeys/{credential_id}/rename"

    def passkey_remove(self, credential_id: str) -> str:
        """Remove one passkey."""
        return f"{self.base}/account/two-factor/passkeys/{credential_id}/remove"

    @property
    def two_factor(self) -> str:
        """The account's two-step sign-in page."""
        return f"{self.base}/account/two-factor"

    @property
    def totp(self) -> str:
        """Start setting up an authenticator app."""
        return f"{self.base}/account/two-factor/totp"

    @property
    def totp_confirm(self) -> str:
        """Confirm the authenticator app with its first code."""
        return f"{self.base}/account/two-factor/totp/confirm"

    @property
    def totp_remove(self) -> str:
        """Remove the authenticator app."""
        return f"{self.base}/account/two-factor/totp/remove"

    @property
    def recovery_codes(self) -> str:
        """Replace the recovery codes."""
        return f"{self.base}/account/two-factor/recovery-codes"

    @property
    def register(self) -> str:
        """The registration page and form."""
        return f"{self.base}/register"

    @property
    def logout(self) -> str:
        """The sign-out confirmation and form."""
        return f"{self.base}/logout"

    @property
    def verify(self) -> str:
        """The forward-auth endpoint gateways call."""
        return f"{self.base}/verify"

    @property
    def refresh(self) -> str:
        """The hop that renews an expired access cookie and sends the browser back."""
        return f"{self.base}/refresh"

    @property
    def security(self) -> str:
        """The account's sign-in and security section: address, password, second factors."""
        return f"{self.base}/account/security"

    @property
    def sessions(self) -> str:
        """The account's sessions section: where it is signed in."""
        return f"{self.base}/account/sessions"

    @property
    def delete_account(self) -> str:
        """The page that asks before the account is deleted, and its form's action."""
        return f"{self.base}/account/delete"

    @property
    def save_guest(self) -> str:
        """The guest's "save your account" form's action."""
        return f"{self.base}/account/save"

    @property
    def profile(self) -> str:
        """The name form's action."""
        return f"{self.base}/account/profile"

    @property
    def email(self) -> str:
        """The email form's action."""
        return f"{self.base}/account/email"

    @property
    def password(self) -> str:
        """The password form's action."""
        return f"{self.base}/account/password"

    @property
    def elevate(self) -> str:
        """The re-authentication page and form (step-up)."""
        return f"{self.base}/elevate"

    @property
    def guests(self) -> str:
        """The "continue as a guest" form's action."""
        return f"{self.base}/guests"

    @property
    def password_reset(self) -> str:
        """The "forgot your password" page and form."""
        return f"{self.base}/password-reset"

    @property
    def password_reset_confirm(self) -> str:
        """Where a reset link leads: the new-password form."""
        return f"{self.base}/password-reset/confirm"

    @property
    def email_verification_confirm(self) -> str:
        """Where a verification link leads: the confirm button."""
        return f"{self.base}/email-verification/confirm"

    @property
    def resend_verification(self) -> str:
        """The account page's "send the link again" form's action."""
        return f"{self.base}/account/email-verification"

    @property
    def end_others(self) -> str:
        """The "sign out everywhere else" form's action."""
        return f"{self.base}/account/sessions/end-others"

    def end_session(self, session_id: str) -> str:
        """The "sign out this one" form's action for one session."""
        return f"{self.base}/account/sessions/{session_id}/end"

    def provider_start(self, provider_id: str, return_to: str = "") -> str:
        """ "Sign in with …": off to that identity provider, and back to ``return_to``."""
        return self.with_return(f"{self.base}/providers/{provider_id}/start", return_to)

    def provider_link(self, provider_id: str) -> str:
        """Link an account at that identity provider (the page adds its form token)."""
        return f"{self.base}/providers/{provider_id}/link"

    @property
    def confirm_link(self) -> str:
        """The page that asks before a waiting identity is linked to the proved account."""
        return f"{self.base}/account/identities/link"

    @property
    def unlink_identity(self) -> str:
        """Unlink one identity."""
        return f"{self.base}/account/identities/unlink"

    def login_saying(self, notice: str, return_to: str | None = None) -> str:
        """The sign-in page showing one of its fixed notices (``signed_out``, ...)."""
        query = {"rd": return_to} if return_to else {}
        return f"{self.login}?{urlencode({**query, 'notice': notice})}"

    @staticmethod
    def with_return(path: str, return_to: str | None) -> str:
        """``path?rd=...`` when there is somewhere to return to."""
        return f"{path}?{urlencode({'rd': return_to})}" if return_to else path


def link_action(provider_id: str) -> str:
    """What the token in a "Link …" URL is good for: that provider's link, nothing else."""
    return f"link:{provider_id}"


class Pages:
    """Renders templates into complete, locked-down HTML responses."""

    def __init__(self, settings: Settings, tokens: FormTokens) -> None:
        ours = PackageLoader("gateway_auth", "web/templates")
        # TEMPLATES_DIR's files replace ours by name; ours stay reachable as "gateway-auth/…",
        # so that an override can extend the page it replaces.
        loaders: list[BaseLoader] = [ours, PrefixLoader({"gateway-auth": ours})]
        if settings.templates_dir is not None:
            loaders.insert(0, FileSystemLoader(settings.templates_dir))
        self._env = Environment(
            loader=ChoiceLoader(loaders),
            autoescape=select_autoescape(default=True, default_for_string=True),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            extensions=["jinja2.ext.i18n"],
            auto_reload=False,  # the templates are the package's: no stat() of each per page
        )
        # Old-style callables: ``_(text)`` is a plain string, escaped like any other value
        # (new-style would mark a translated variable safe), and {% trans %} escapes its
        # variables. The language is the one the page being rendered was asked in.
        self._env.install_gettext_callables(  # type: ignore[attr-defined]
            _gettext, _ngettext, newstyle=False
        )
        # ``_()`` straight to the catalogue: the extension's alias looks ``gettext`` up and
        # calls it through the context again, twice the cost on every word of every page.
        self._env.globals["_"] = _gettext
        style = (files("gateway_auth") / "web" / "portal.css").read_text().strip()
        style += brand_style(settings.brand_color)
        self._css = Markup(style)  # noqa: S704 - our own file, never input
        script = (files("gateway_auth") / "web" / "passkeys.js").read_text()
        self._script = Markup(script)  # noqa: S704 - our own file, never input
        self.tokens = tokens
        name = settings.cookie_name.removeprefix("__Host-").removeprefix("__Secure-")
        self.language_cookie = ("__Host-" if settings.cookie_secure else "") + name + "_lang"
        self._secure = settings.cookie_secure
        self.urls = PortalUrls(settings.base_path)
        self.brand = Brand(settings.app_name, _logo(settings))
        self.csp = _policy(settings, style, script, self.brand.logo)

    def render(
        self,
        request: web.Request,
        template: str,
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
        **context: Any,
    ) -> web.Response:
        """A page in the person's language, with this browser's form token in ``csrf`` (its
        cookie set when new); ``?lang=`` chooses the language and remembers it."""
        nonce, fresh = self.tokens.nonce(request)
        context.setdefault("wide", False)
        language = self.language(request)
        token = _LANGUAGE.set(language)
        try:
            text = self._env.get_template(template).render(
                css=self._css,
                passkey_script=self._script,
                brand=self.brand,
                urls=self.urls,
                csrf=self.tokens.sign(nonce),
                csrf_for=lambda action: self.tokens.sign_for(nonce, action),
                lang=language,
                languages=[
                    (code, name, str(request.rel_url.update_query(lang=code)))
                    for code, name in LANGUAGES.items()
                ],
                **context,
            )
        finally:
            _LANGUAGE.reset(token)
        response = web.Response(
            text=text, status=status, headers=headers, content_type=HTML, charset="utf-8"
        )
        response.headers["Content-Security-Policy"] = self.csp
        response.headers["Referrer-Policy"] = REFERRER_POLICY
        if fresh:
            self.tokens.remember(response, nonce)
        chosen = supported(request.query.get("lang"))
        if chosen is not None and chosen != request.cookies.get(self.language_cookie):
            response.set_cookie(
                self.language_cookie, chosen, path="/", max_age=LANGUAGE_COOKIE_SECONDS,
                secure=self._secure, httponly=True, samesite="Lax",
            )  # fmt: skip
        return response

    def language(self, request: web.Request) -> str:
        """The language of this request's pages: ``?lang=``, else the one chosen before (its
        cookie), else the browser's ``Accept-Language``, else English."""
        return (
            supported(request.query.get("lang"))
            or supported(request.cookies.get(self.language_cookie))
            or negotiate(request.headers.get(hdrs.ACCEPT_LANGUAGE, ""))
        )

    def translation(self, request: web.Request) -> NullTranslations:
        """This request's language, for words put together in Python (with a number in them,
        or of two parts); everything else is translated by the templates."""
        return translations(self.language(request))

    def browser(self, request: web.Request) -> str:
        """What ties a short token to this browser (``FormTokens.binding``); empty when it
        has no form-token cookie yet, which matches no token."""
        nonce, fresh = self.tokens.nonce(request)
        return "" if fresh else self.tokens.binding(nonce)

    def problem_page(self, request: web.Request, problem: web.Response) -> web.Response:
        """The page a person sees instead of a problem+json answer: same status and headers."""
        body = json.loads(problem.text or "{}")
        status = problem.status
        heading, detail = PAGE_WORDS.get(status, (body.get("title"), body.get("detail")))
        tr = self.translation(request)
        kept = ("Allow", "Retry-After", "WWW-Authenticate", hdrs.LOCATION)
        headers = {name: problem.headers[name] for name in kept if name in problem.headers}
        return self.render(
            request,
            "error.html",
            status=status,
            headers=headers,
            title=heading or N_("Error"),
            status_text=str(status),
            heading=heading or N_("Something went wrong"),
            detail=detail or "",
            retry=retry_text(headers.get("Retry-After"), tr),
            next_url=self.urls.login if status == 401 else self.urls.home,
            next_label=N_("Sign in") if status == 401 else N_("Go to your account"),
            request_id=REQUEST_ID.get() if status >= 500 else None,
        )


# Words for people where the problem's own are written for programs.
PAGE_WORDS = {
    404: (N_("Page not found"), N_("There is no page at this address.")),
    405: (
        N_("Not possible here"),
        N_("This page cannot be used that way. Go back and try again."),
    ),
}


def retry_text(retry_after: str | None, tr: NullTranslations) -> str | None:
    """``Retry-After`` in words a person reads: the same for every account and every cause."""
    if not retry_after or not retry_after.isdigit():
        return None
    seconds = int(retry_after)
    if seconds < 90:
        return tr.gettext("Please wait a moment, then try again.")
    minutes = -(-seconds // 60)
    text = tr.ngettext(
        "Please wait %(minutes)d minute, then try again.",
        "Please wait %(minutes)d minutes, then try again.",
        minutes,
    )
    return text % {"minutes": minutes}


def field_error(tr: NullTranslations, label: str, problem: str) -> str:
    """A field's problem as a sentence, in the page's language: ``Email must be …``."""
    return tr.gettext("%(field)s %(problem)s.") % {
        "field": tr.gettext(label),
        "problem": tr.gettext(problem),
    }


def not_now(tr: NullTranslations, cause: str, retry_after: int) -> str:
    """``cause`` (a marked message) and how long to wait, in the page's language."""
    return " ".join(filter(None, (tr.gettext(cause), retry_text(str(retry_after), tr))))


def brand_style(color: str | None) -> str:
    """BRAND_COLOR as the style sheet's accent (buttons, the focus ring), with the text on it
    black or white, whichever reads better (WCAG's contrast ratio), in both themes."""
    if color is None:
        return ""
    channels = [int(color[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    on = "#ffffff" if (1.05 / (luminance + 0.05)) >= ((luminance + 0.05) / 0.05) else "#111111"
    rule = f"--accent:{color};--accent-hover:{color};--on-accent:{on}"
    return f":root{{{rule}}}@media (prefers-color-scheme:dark){{:root{{{rule}}}}}"


def _logo(settings: Settings) -> str | None:
    if settings.logo_file is not None:
        data = settings.logo_file.read_bytes()
        return f"data:{logo_type(data)};base64,{base64.b64encode(data).decode()}"
    return settings.logo_url


def _policy(settings: Settings, style: str, script: str, logo: str | None) -> str:
    style_hash, script_hash = (
        base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
        for text in (style, script)
    )
    images = ["'self'"]
    if logo and logo.startswith("data:"):
        images.append("data:")
    elif logo and urlsplit(logo).scheme in ("http", "https"):
        parts = urlsplit(logo)
        images.append(f"{parts.scheme}://{parts.netloc}")
    # A sign-in form redirects to its return URL, and browsers hold redirects after a form
    # submission to form-action too: allow the return domains, any port, their subdomains.
    targets = ["'self'"]
    every = (domain for entry in settings.domains.entries for domain in entry.redirect_domains)
    for domain in dict.fromkeys(every):
        targets += [f"{domain}:*", f"*.{domain}:*"]
    return (
        f"default-src 'none'; style-src 'sha256-{style_hash}'; "
        f"script-src 'sha256-{script_hash}'; img-src {' '.join(images)}; "
        f"form-action {' '.join(targets)}; frame-ancestors 'none'; base-uri 'none'"
    )
