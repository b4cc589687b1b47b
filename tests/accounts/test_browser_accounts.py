"""In Chromium: sign in with the keyboard only, set up two-factor, use the account and
organisation settings pages; axe-core finds no serious or critical problems on any of
them. Screenshots go to test-artifacts/ for a human look."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.accounts.otp_helpers import code_for
from tests.conftest import PASSWORD, People
from tests.support.browser import describe, run_axe, save_screenshot, serious

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

if False:  # pragma: no cover - typing only
    from playwright.sync_api import Browser, Page



@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    yield tab
    context.close()


def check_page(page: Page, name: str) -> None:
    """No serious/critical axe violations, no CSP breakage, and a screenshot."""
    found = serious(run_axe(page))
    save_screenshot(page, f"accounts-{name}")
    assert not found, f"{name}:\n{describe(found)}"


def wait_for_focus(page: Page, element_id: str) -> None:
    """The page moves focus on arrival; wait for it (fails after the usual timeout)."""
    page.wait_for_function(
        "id => document.activeElement && document.activeElement.id === id", arg=element_id)


def focused(page: Page) -> dict[str, Any]:
    result: dict[str, Any] = page.evaluate(
        "() => ({id: document.activeElement.id, tag: document.activeElement.tagName,"
        " text: (document.activeElement.textContent || '').trim()})")
    return result


def press_and_wait(page: Page, key: str = "Enter", selector: str | None = None) -> None:
    with page.expect_navigation():
        if selector:
            page.press(selector, key)
        else:
            page.keyboard.press(key)


def tab_to(page: Page, text: str, limit: int = 40) -> None:
    for _ in range(limit):
        page.keyboard.press("Tab")
        if focused(page)["text"].startswith(text):
            return
    raise AssertionError(f"could not reach {text!r} with the Tab key")


def test_keyboard_sign_in_two_factor_and_settings(people: People, live_server: Any,
                                                  page: Page) -> None:
    csp_errors: list[str] = []
    page.on("console", lambda m: csp_errors.append(m.text)
            if "Content Security Policy" in m.text else None)
    base = live_server.url

    # Sign in with the keyboard only: the email field has focus on arrival
    page.goto(f"{base}/login/?next=/account/")
    wait_for_focus(page, "id_email")
    check_page(page, "01-login")
    page.keyboard.type("alice@acme.test")
    page.keyboard.press("Tab")
    assert focused(page)["id"] == "id_password"
    page.keyboard.type("not the password")
    press_and_wait(page)
    assert "The email address or password is not correct." in page.content()
    check_page(page, "02-login-error")
    page.keyboard.press("Tab")  # from the (refilled) email field to the password
    assert focused(page)["id"] == "id_password"
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/account/")
    check_page(page, "03-account")

    # Set up two-factor from the account page, still by keyboard
    tab_to(page, "Set up two-factor sign-in")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/mfa/setup/")
    assert page.locator("img.qr").evaluate("img => img.naturalWidth") > 0
    check_page(page, "04-mfa-setup")
    device = TOTPDevice.objects.get(user=people.alice)
    page.focus("#id_token")
    page.keyboard.type(code_for(device))
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/account/")
    assert "Two-factor sign-in is on" in page.content()
    check_page(page, "05-account-mfa-on")

    # Organisation settings: members, invitations, keys; a new key's one-time secret
    page.goto(f"{base}/o/acme/settings/")
    check_page(page, "06-org-settings")
    page.fill("#id_name", "LMS sync")
    press_and_wait(page, selector="#id_name")
    secret = page.locator("#new-secret").inner_text()
    assert secret.startswith("cw_")
    check_page(page, "07-org-settings-new-key")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{base}/o/acme/settings/")
    check_page(page, "07b-org-settings-phone")
    page.set_viewport_size({"width": 1280, "height": 900})

    # Sign out, sign in again: now the code is asked for
    tab_to(page, "Sign out")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/login/")
    wait_for_focus(page, "id_email")
    page.keyboard.type("alice@acme.test")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/mfa/verify/**")
    wait_for_focus(page, "id_token")
    check_page(page, "08-mfa-verify")
    page.keyboard.type(code_for(device))
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/o/acme/")  # "/" sends her to her organisation
    assert not csp_errors, csp_errors


def test_signed_out_pages(people: People, live_server: Any, page: Page) -> None:
    from coursewright.audit.actor import Actor
    from coursewright.orgs.actions import create_invitation

    base = live_server.url
    page.goto(f"{base}/password-reset/")
    check_page(page, "09-password-reset")

    _, token = create_invitation(people.acme, email="carol@example.test", role="author",
                                 actor=Actor.person(people.alice))
    page.goto(f"{base}/invite/{token}/")
    check_page(page, "10-invitation-signup")
    page.fill("#id_password1", "short")
    page.fill("#id_password2", "short")
    press_and_wait(page, selector="#id_password2")
    check_page(page, "11-invitation-signup-errors")

    page.goto(f"{base}/invite/not-a-token/")
    check_page(page, "12-invitation-invalid")
