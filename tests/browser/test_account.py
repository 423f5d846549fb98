"""The account in Chromium through every gateway: its three sections, a guest saving its
account, deleting an account, and the dark theme; axe-core and 375 px on each page."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.support.chromium import (
    Site,
    accessibility_violations,
    check_page,
    sign_in,
    upstream_saw,
)
from tests.support.credentials import PASSWORD


def test_the_account_has_three_sections_a_person_moves_between(page: Page, site: Site) -> None:
    email = site.account(firstName="Mary", lastName="Jackson")
    page.goto(f"{site.url}/auth/login")
    sign_in(page, email)
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()

    page.get_by_role("link", name="Sign-in and security").click()
    expect(page).to_have_url(f"{site.url}/auth/account/security")
    expect(page.get_by_role("heading", name="Sign-in and security", level=1)).to_be_visible()
    expect(page.get_by_role("button", name="Change password")).to_be_visible()
    check_page(page, site, "account-security")

    page.get_by_role("link", name="Sessions").click()
    expect(page).to_have_url(f"{site.url}/auth/account/sessions")
    expect(page.get_by_text("This browser")).to_be_visible()
    check_page(page, site, "account-sessions")

    page.get_by_role("link", name="Profile").click()
    expect(page).to_have_url(f"{site.url}/auth/")
    expect(page.get_by_role("link", name="Profile")).to_have_attribute("aria-current", "page")
    expect(page.get_by_text("Account type")).to_have_count(0)


def test_the_pages_follow_a_dark_preference_and_stay_readable(page: Page, site: Site) -> None:
    email = site.account(firstName="Dorothy", lastName="Vaughan")
    page.emulate_media(color_scheme="dark")
    page.goto(f"{site.url}/auth/login")
    sign_in(page, email)
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()

    background = page.evaluate("getComputedStyle(document.body).backgroundColor")

    assert background == "rgb(15, 17, 21)"
    check_page(page, site, "home-dark")  # axe-core checks the contrast of the dark colours
    page.get_by_role("link", name="Sign-in and security").click()
    assert accessibility_violations(page) == []


def test_a_guest_saves_its_account_from_the_profile(page: Page, site: Site) -> None:
    email = f"saved-{site.kind}@example.com"
    page.goto(f"{site.url}/app")
    page.get_by_role("button", name="Continue as a guest").click()
    expect(page).to_have_url(f"{site.url}/app")
    guest_id = page.evaluate(
        "async (url) => (await (await fetch(url)).json()).id", f"{site.url}/auth/me"
    )

    page.goto(f"{site.url}/auth/")
    expect(page.get_by_role("heading", name="Save your account")).to_be_visible()
    expect(page.get_by_role("button", name="Change password")).to_have_count(0)
    check_page(page, site, "guest-home")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat the password").fill(PASSWORD)
    page.get_by_role("button", name="Save my account").click()

    expect(page.get_by_role("status")).to_have_text(
        "Your account is saved: sign in with this email and password."
    )
    expect(page.get_by_text(email).first).to_be_visible()
    expect(page.get_by_role("heading", name="Verify your email address")).to_be_visible()
    page.goto(f"{site.url}/app")  # the app sees the same id, now a user's
    seen = upstream_saw(page)["headers"]
    assert (seen["x-auth-user-id"], seen["x-auth-kind"]) == ([guest_id], ["user"])
    assert site.json_login(email, PASSWORD) == 200


def test_deleting_the_account_asks_first_and_signs_out(page: Page, site: Site) -> None:
    email = site.account(firstName="Annie", lastName="Easley")
    page.goto(f"{site.url}/auth/login")
    sign_in(page, email)

    page.get_by_role("link", name="Delete my account").click()
    expect(page.get_by_role("heading", name="Delete your account")).to_be_visible()
    check_page(page, site, "delete-account")
    page.get_by_label("Yes, delete my account for good").check()
    page.get_by_role("button", name="Delete my account").click()

    expect(page).to_have_url(f"{site.url}/auth/login?notice=account_deleted")
    expect(page.get_by_role("status")).to_contain_text("Your account is deleted")
    assert site.json_login(email, PASSWORD) == 401
    page.goto(f"{site.url}/app")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
