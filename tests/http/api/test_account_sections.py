"""The account page for people: three sections with their own URLs, a guest's "save your
account", "delete my account" with confirmation, and the look an operator can give it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from gateway_auth.http.appkeys import SERVICES
from gateway_auth.http.portal.pages import brand_style
from tests.support.browser import Browser, admin
from tests.support.clock import FakeClock
from tests.support.credentials import PASSWORD

Make = Callable[..., Awaitable[Browser]]


async def test_each_section_has_its_url_and_only_its_own_forms(browser: Browser) -> None:
    await browser.register()
    await browser.signed_in_by_form()

    profile = await browser.page("/")
    security = await browser.page("/account/security")
    sessions = await browser.page("/account/sessions")

    assert [page.status for page in (profile, security, sessions)] == [200, 200, 200]
    assert 'action="/account/profile"' in profile.text
    assert 'action="/account/password"' not in profile.text
    assert 'action="/account/password"' in security.text
    assert 'action="/account/email"' in security.text
    assert 'action="/account/sessions/end-others"' not in security.text
    assert "This browser" in sessions.text
    for page, current in ((profile, "/"), (security, "/account/security")):
        assert f'<a href="{current}" aria-current="page">' in page.text
        assert page.text.count('aria-current="page"') == 1


async def test_a_guest_sees_save_your_account_and_no_password_forms(make_browser: Make) -> None:
    browser = await make_browser(GUESTS="true")
    started = await browser.request("POST", "/guests", json={"cookies": True})
    guest_id = started.json()["client"]["id"]

    profile = await browser.page("/")
    security = await browser.page("/account/security")
    mismatch = await browser.submit(
        profile,
        "/account/save",
        {"email": "ada@example.com", "password": PASSWORD, "passwordConfirmation": "x"},
    )
    saved = await browser.submit(
        profile,
        "/account/save",
        {"email": "ada@example.com", "password": PASSWORD, "passwordConfirmation": PASSWORD},
    )
    after = await browser.page(saved.headers["Location"])
    me = (await browser.request("GET", "/me")).json()

    assert "Save your account" in profile.text
    assert 'action="/account/save"' in profile.text
    assert "guest-" not in profile.text  # the placeholder address means nothing to a person
    assert "Kept until" in profile.text
    assert 'action="/account/email"' not in security.text  # no password to confirm it with
    assert 'action="/account/password"' not in security.text
    assert "Save your account</a> with an email address and a password first" in security.text
    assert mismatch.status == 422
    assert "The two passwords do not match." in mismatch.text
    assert (saved.status, saved.headers["Location"]) == (303, "/?done=saved")
    assert "Your account is saved: sign in with this email and password." in after.text
    assert (me["id"], me["kind"], me["email"]) == (guest_id, "user", "ada@example.com")
    assert "Save your account" not in after.text
    assert (await Browser(browser.http).login("ada@example.com")).status == 200


async def test_deleting_the_account_asks_then_signs_out_everywhere(browser: Browser) -> None:
    await browser.register()
    elsewhere = await Browser(browser.http).logged_in()
    await browser.signed_in_by_form()
    page = await browser.page("/account/delete")

    unticked = await browser.submit(page, "/account/delete", {})
    deleted = await browser.submit(page, "/account/delete", {"understood": "on"})
    signed_out = await browser.page(deleted.headers["Location"])

    assert page.status == 200
    assert "cannot be undone" in page.text
    assert 'name="understood"' in page.text
    assert unticked.status == 422
    assert "Tick the box" in unticked.text
    assert deleted.status == 303
    assert deleted.headers["Location"] == "/login?notice=account_deleted"
    assert any(m.value == "" for m in deleted.set_cookies)  # the cookies are cleared
    assert "Your account is deleted" in signed_out.text
    assert (await elsewhere.request("GET", "/verify")).status == 401
    assert (await browser.login()).status == 401
    pending = await browser.http.app[SERVICES].store.pending_events(10)
    assert [p.event.to_json()["type"] for p in pending] == ["client-data-deletion-request"]


async def test_an_old_sign_in_proves_itself_again_before_deleting(
    browser: Browser, clock: FakeClock
) -> None:
    await browser.register()
    await browser.signed_in_by_form()
    page = await browser.page("/account/delete")
    clock.advance(minutes=11)  # past ELEVATION_TTL: the sign-in no longer proves much
    await browser.request("POST", "/refresh")

    later = await browser.page("/account/delete")
    refused = await browser.submit(page, "/account/delete", {"understood": "on"})
    elevate = await browser.page("/elevate?rd=%2Faccount%2Fdelete")
    confirmed = await browser.submit(
        elevate, "/elevate", {"password": PASSWORD, "rd": "/account/delete"}
    )
    deleted = await browser.submit(
        await browser.page("/account/delete"), "/account/delete", {"understood": "on"}
    )

    assert (later.status, later.headers["Location"]) == (303, "/elevate?rd=%2Faccount%2Fdelete")
    assert (refused.status, refused.headers["Location"]) == (
        303,
        "/elevate?rd=%2Faccount%2Fdelete",
    )
    assert (confirmed.status, confirmed.headers["Location"]) == (303, "/account/delete")
    assert deleted.headers["Location"] == "/login?notice=account_deleted"


async def test_a_guest_ticks_the_box_and_the_last_admin_is_kept(make_browser: Make) -> None:
    browser = await make_browser(GUESTS="true")
    await browser.request("POST", "/guests", json={"cookies": True})
    page = await browser.page("/account/delete")
    ticked = await browser.submit(page, "/account/delete", {"understood": "on"})

    root = await admin(browser.http, Browser(browser.http))
    kept = await root.submit(
        await root.page("/account/delete"), "/account/delete", {"understood": "on"}
    )

    assert "Deleting this guest account cannot be undone" in page.text
    assert ticked.status == 303
    assert kept.status == 409
    assert "last active client holding the admin scope" in kept.text
    assert (await root.request("GET", "/verify")).status == 200


async def test_a_brand_colour_and_a_dark_theme_are_in_the_one_allowed_style_sheet(
    make_browser: Make,
) -> None:
    browser = await make_browser(BRAND_COLOR="#FFC20E")

    page = await browser.page("/login")

    assert "@media (prefers-color-scheme:dark)" in page.text
    assert "--accent:#ffc20e;--accent-hover:#ffc20e;--on-accent:#111111" in page.text
    assert "--on-accent:#ffffff" in brand_style("#0b3d91")  # white on dark blue reads better
    assert "style-src 'sha256-" in page.headers["Content-Security-Policy"]  # still hashed


async def test_a_templates_directory_overrides_a_page_and_can_extend_ours(
    make_browser: Make, tmp_path: Path
) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "login.html").write_text(
        '{% extends "gateway-auth/login.html" %}'
        "{% block footer %}Acme staff only · {{ brand.name }}{% endblock %}"
    )
    browser = await make_browser(TEMPLATES_DIR=str(templates), APP_NAME="Acme <SSO>")

    page = await browser.page("/login")
    register = await browser.page("/register")

    assert "Acme staff only · Acme &lt;SSO&gt;" in page.text  # still escaped
    assert 'action="/login"' in page.text  # the page it extends
    assert "Acme staff only" not in register.text  # the others are ours
