"""Roster's admin console (/admin) in a real browser: Debian's Chromium, headless, driven by
Playwright pointed at the system binary (nothing downloaded).

Run by tests/e2e.rs with Roster started; besides roster_e2e's variables:
  CHROMIUM       the browser binary (default /usr/bin/chromium)
Screenshots of every console page, at desktop width and at 375 px, go to E2E_ARTIFACTS.
"""

from __future__ import annotations

import os
import re
import struct
import zlib

import httpx
from playwright.sync_api import Page, sync_playwright

from roster_e2e import ARTIFACTS, ROSTER_URL, check, create_user, main, native_login, user_id

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
PASSWORD = "correct horse battery"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 800}


def png(side: int) -> bytes:
    """A plain blue PNG of side x side pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\x00" + b"\x1e\x78\xc8" * side for _ in range(side))
    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def shot(page: Page, name: str) -> None:
    """The page at desktop width and at 375 px (a phone), whole."""
    page.set_viewport_size(DESKTOP)
    page.screenshot(path=os.path.join(ARTIFACTS, f"{name}-desktop.png"), full_page=True)
    page.set_viewport_size(PHONE)
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    check(f"{name}: nothing wider than a 375 px screen", overflow <= 0, f"{overflow}px too wide")
    page.screenshot(path=os.path.join(ARTIFACTS, f"{name}-375.png"), full_page=True)
    page.set_viewport_size(DESKTOP)


def unlabelled_inputs(page: Page) -> list[str]:
    return page.evaluate(
        """() => [...document.querySelectorAll('input, select, textarea')]
            .filter(e => e.type !== 'hidden')
            .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.getAttribute('aria-labelledby'))
            .map(e => e.name || e.id || e.outerHTML)"""
    )


def click(page: Page, name: str) -> None:
    """Clicks the button `name` (a form's) and waits for the page it leads to."""
    with page.expect_navigation():
        page.get_by_role("button", name=re.compile(f"^{re.escape(name)}$")).first.click()


def status_text(page: Page) -> str:
    return page.locator("[role=status]").first.inner_text() if page.locator("[role=status]").count() else ""


def token_works(token: str) -> bool:
    return httpx.get(f"{ROSTER_URL}/v1/me", headers={"authorization": f"Bearer {token}"}).status_code == 200


def page_checks(page: Page, name: str) -> None:
    check(f"{name}: every field has a label", unlabelled_inputs(page) == [], unlabelled_inputs(page))
    check(f"{name}: one main landmark and the navigation", page.locator("main").count() == 1 and page.locator("nav[aria-label]").count() >= 1)
    scripts = page.evaluate(
        """() => [...document.scripts].map(s => ({src: s.getAttribute('src'), defer: s.defer, inline: s.textContent.trim()}))"""
    )
    check(
        f"{name}: the only script is Roster's own, external, same-origin and deferred",
        scripts == [{"src": "/pages/roster.js", "defer": True, "inline": ""}],
        scripts,
    )


def go_to_user(page: Page, login: str, email: str) -> None:
    """Finds a user by the search form and opens their page."""
    page.goto(f"{ROSTER_URL}/admin/users")
    page.fill("#q", login)
    click(page, "Show")
    rows = page.locator("tbody tr")
    check(f"the search for {login} finds one user", rows.count() == 1 and email in rows.first.inner_text(), rows.all_inner_texts())
    with page.expect_navigation():
        rows.first.locator("a").first.click()


def scenario() -> None:
    create_user("root@example.org", "Root Admin", "root", PASSWORD, role="admin")
    create_user("sam@example.org", "Sam Target", "sam", PASSWORD)
    create_user("kim@example.org", "Kim Keys", "kim", PASSWORD)
    create_user("pia@example.org", "Pia Pending", "pia", PASSWORD, role="pending")
    admin_token = native_login("root@example.org", PASSWORD)
    sam_token = native_login("sam@example.org", PASSWORD)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        context = browser.new_context(locale="en-US", viewport=DESKTOP)
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=ROSTER_URL)
        page = context.new_page()

        # Not signed in: the console sends the browser to sign in, and back.
        page.goto(f"{ROSTER_URL}/admin/users")
        check("the console asks to sign in first", "/signin" in page.url, page.url)
        page.fill("input[name=identifier]", "root@example.org")
        page.fill("input[name=password]", PASSWORD)
        click(page, "Sign in")
        check("after signing in, back on the console", page.url.endswith("/admin/users"), page.url)

        page.goto(f"{ROSTER_URL}/admin")
        check("the dashboard counts the users", "All users" in page.inner_text("main"))
        check("the dashboard draws the sign-ups as SVG", page.locator("svg.signups rect").count() == 30)
        check("the dashboard draws the sign-ins as SVG", page.locator("svg.logins rect").count() == 30)
        check(
            "the dashboard counts refused sign-ins and the delivery lag",
            page.locator("#failed-logins").count() == 1 and page.locator("#outbox-lag").count() == 1,
        )
        page_checks(page, "dashboard")
        shot(page, "01-dashboard")

        # Find by search, ban, unban.
        go_to_user(page, "sam", "sam@example.org")
        page_checks(page, "user page")
        shot(page, "03-user")
        page.set_viewport_size({"width": 1024, "height": 640})
        page.screenshot(path=os.path.join(ARTIFACTS, "readme-user.png"))
        page.set_viewport_size(DESKTOP)
        page.fill("#duration", "1d")
        page.fill("#reason", "testing the console")
        click(page, "Ban")
        check("the ban is confirmed on the page", status_text(page) == "The user was banned.", status_text(page))
        check("the banned user's token is refused by the API", not token_works(sam_token))
        r = httpx.post(f"{ROSTER_URL}/v1/auth/login", json={"login": "sam", "password": PASSWORD})
        check("the banned user cannot log in", r.status_code == 403, r.status_code)
        click(page, "Lift the ban")
        check("the ban is lifted", status_text(page) == "The ban was lifted.", status_text(page))
        r = httpx.post(
            f"{ROSTER_URL}/v1/auth/login",
            json={"login": "sam", "password": PASSWORD},
            headers={"user-agent": "E2E phone"},
        )
        check("after the ban is lifted the user logs in again", r.status_code == 200, r.text)
        phone_token = r.json()["access_token"]
        check("the new session's token works", token_works(phone_token))

        # Revoke that session (found by its device): its token fails through the API.
        page.reload()
        sessions = page.locator("#sessions-caption ~ tbody tr", has_text="E2E phone")
        check("the user's new session is listed with its device", sessions.count() == 1, page.locator("#sessions-caption ~ tbody tr").all_inner_texts())
        with page.expect_navigation():
            sessions.first.get_by_role("button").click()
        check("the session is revoked", status_text(page) == "The session was revoked.", status_text(page))
        check("the revoked session's token is refused by the API", not token_works(phone_token))
        check("the session is no longer listed", page.locator("#sessions-caption ~ tbody tr", has_text="E2E phone").count() == 0)

        # Credits and the ledger; a password-reset link, mailed or shown once.
        page.fill("#amount", "25")
        with page.expect_navigation():
            page.locator("form[action$='/credits'] button[value=add]").click()
        check("the credits are added", status_text(page) != "", status_text(page))
        ledger = page.locator("#ledger-caption ~ tbody tr")
        check("the ledger lists the transaction", ledger.count() >= 1 and "+25" in ledger.first.inner_text(), ledger.all_inner_texts())
        # The avatar: replaced with an upload (the API's pipeline), shown, then removed.
        page.set_input_files("#file", files=[{"name": "sam.png", "mimeType": "image/png", "buffer": png(120)}])
        click(page, "Replace the avatar")
        check("the avatar is replaced", status_text(page) == "The avatar was replaced.", status_text(page))
        loaded = page.evaluate("() => { const i = document.querySelector('img.avatar'); return i ? i.complete && i.naturalWidth : 0 }")
        check("the new avatar is shown, served by Roster", loaded and loaded > 0, loaded)
        click(page, "Remove the avatar")
        check("the avatar is removed", status_text(page) == "The avatar was removed." and page.locator("img.avatar").count() == 0, status_text(page))
        click(page, "Send a password-reset link")
        if page.locator("#shown-once").count():
            link = page.locator("#shown-once").inner_text()
            check("without mail the reset link is shown once", "/reset-password?token=" in link, link)
            page_checks(page, "reset link")
            page.goto(link)
            check("the reset link opens the reset page", page.locator("input[type=password]").count() >= 1, page.url)
        else:
            check("the reset link is mailed", status_text(page) == "A password-reset link was mailed to the user.", status_text(page))

        # A group, and the user in it.
        page.goto(f"{ROSTER_URL}/admin/groups")
        page_checks(page, "groups")
        page.fill("#name", "Reviewers")
        click(page, "Create")
        check("the group is created", status_text(page) == "The group was created.", status_text(page))
        page.fill("#login", "sam")
        click(page, "Add")
        members = page.locator("#members-caption ~ tbody tr")
        check("the user is a member", members.count() == 1 and "sam@example.org" in members.first.inner_text(), members.all_inner_texts())
        page_checks(page, "group page")
        shot(page, "05-group")
        page.goto(f"{ROSTER_URL}/admin/groups")
        shot(page, "04-groups")
        page.goto(f"{ROSTER_URL}/admin/permissions")
        page_checks(page, "default permissions")
        shot(page, "06-permissions")

        # Approve the waiting account from the dashboard.
        page.goto(f"{ROSTER_URL}/admin")
        with page.expect_navigation():
            page.get_by_role("button", name="Approve: Pia Pending").click()
        check("the account is approved", status_text(page) == "The account was approved.", status_text(page))
        check("the approved user logs in", token_works(native_login("pia@example.org", PASSWORD)))

        # Users list and audit log.
        page.goto(f"{ROSTER_URL}/admin/users")
        page_checks(page, "users")
        shot(page, "02-users")
        page.goto(f"{ROSTER_URL}/admin/audit?action=user.ban")
        rows = page.locator("tbody tr")
        check("the audit log shows the ban by the administrator", rows.count() == 1 and "testing the console" in rows.first.inner_text(), rows.all_inner_texts())
        page_checks(page, "audit log")
        shot(page, "07-audit")

        # OpenID Connect clients: registered with the secret shown once, a new secret, removed.
        page.goto(f"{ROSTER_URL}/admin/clients")
        page_checks(page, "clients")
        page.fill("#client_id", "e2eclient")
        page.fill("#name", "E2E app")
        page.fill("#redirect_uris", "https://rp.example.org/callback")
        click(page, "Create")
        secret = page.locator("#shown-once").inner_text()
        check("the client's secret is shown once", len(secret) >= 32, secret)
        # The script's copy button, next to the secret.
        copy = page.locator(".copy button")
        check("the script adds a Copy button next to the secret", copy.count() == 1 and copy.inner_text() == "Copy", page.content()[:800])
        copy.click()
        page.wait_for_function("() => document.querySelector('.copy [role=status]').textContent === 'Copied.'")
        copied = page.evaluate("() => navigator.clipboard.readText()")
        check("Copy puts the secret on the clipboard and says so", copied == secret, copied)
        page_checks(page, "client secret shown once")
        shot(page, "12-client-secret")
        page.goto(f"{ROSTER_URL}/admin/clients")
        check("the client is listed", page.locator("tbody tr", has_text="e2eclient").count() == 1)
        shot(page, "09-clients")
        page.goto(f"{ROSTER_URL}/admin/clients/e2eclient")
        check("the secret is not on the client's page", secret not in page.content())
        page_checks(page, "client page")
        shot(page, "10-client")
        click(page, "Replace the secret")
        check("replacing the secret asks first", page.locator("h1").inner_text() == "Are you sure?")
        click(page, "Yes, do it")
        rotated = page.locator("#shown-once").inner_text()
        check("a new secret is shown once", len(rotated) >= 32 and rotated != secret)
        page.goto(f"{ROSTER_URL}/admin/clients/e2eclient")
        click(page, "Remove this client")
        page.fill("#typed", "e2eclient")
        click(page, "Yes, do it")
        check("the client is removed", status_text(page) == "The client was removed with its grants and tokens.", status_text(page))
        r = httpx.get(f"{ROSTER_URL}/v1/clients/e2eclient", headers={"authorization": f"Bearer {admin_token}"})
        check("the removed client is gone from the API", r.status_code == 404, r.status_code)

        # Invitations: one sent is listed as pending, and revoked.
        page.goto(f"{ROSTER_URL}/admin/invitations")
        page.fill("#email", "invitee@example.org")
        page.fill("#expires", "3d")
        click(page, "Create the invitation link")
        check("the invitation link is shown once", "/register?token=" in page.locator("#shown-once").inner_text())
        page.goto(f"{ROSTER_URL}/admin/invitations")
        row = page.locator("#invitations-caption ~ tbody tr", has_text="invitee@example.org")
        check("the invitation is listed as pending", row.count() == 1 and "pending" in row.first.inner_text(), row.all_inner_texts())
        page_checks(page, "invitations")
        shot(page, "11-invitations")
        with page.expect_navigation():
            page.get_by_role("button", name="Revoke: invitee@example.org").click()
        check("the invitation is revoked", status_text(page) == "The invitation was revoked: its link no longer works.", status_text(page))
        check("the revoked invitation is no longer listed", page.locator("#invitations-caption ~ tbody tr", has_text="invitee@example.org").count() == 0)

        # Delete, with the typed confirmation.
        sam = user_id(admin_token, "sam@example.org")
        go_to_user(page, "sam", "sam@example.org")
        click(page, "Delete this user")
        check("deleting asks first", page.locator("h1").inner_text() == "Are you sure?")
        page_checks(page, "confirmation")
        shot(page, "08-confirm-delete")
        confirm = page.get_by_role("button", name="Yes, do it")
        check("with the script, the confirm button waits for the typed text", confirm.is_disabled())
        page.fill("#typed", "sam@example.or")
        check("a wrong text keeps it disabled", confirm.is_disabled())
        page.fill("#typed", "  sam@example.org ")
        check("the right text (spaces trimmed, as the server does) enables it", confirm.is_enabled())
        page.fill("#typed", "sam@example.org")
        click(page, "Yes, do it")
        check("the user is deleted", status_text(page) == "The user was deleted.", status_text(page))
        r = httpx.get(f"{ROSTER_URL}/v1/users/{sam}", headers={"authorization": f"Bearer {admin_token}"})
        check("the deleted user is gone from the API", r.status_code == 404, r.status_code)

        # Keyboard only: the ban flow, from the search field to the ban button.
        kim_token = native_login("kim@example.org", PASSWORD)
        page.goto(f"{ROSTER_URL}/admin/users")
        page.focus("#q")
        page.keyboard.type("kim")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        for _ in range(60):
            page.keyboard.press("Tab")
            if page.evaluate("() => document.activeElement && document.activeElement.textContent") == "Kim Keys":
                break
        check("the user's link is reached with Tab", page.evaluate("() => document.activeElement.textContent") == "Kim Keys")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        for _ in range(80):
            page.keyboard.press("Tab")
            if page.evaluate("() => document.activeElement && document.activeElement.id") == "duration":
                break
        check("the ban duration is reached with Tab", page.evaluate("() => document.activeElement.id") == "duration")
        focus_ring = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
        check("the focused field shows its focus", focus_ring not in ("", "none"), focus_ring)
        page.keyboard.type("2h")
        page.keyboard.press("Tab")
        page.keyboard.type("keyboard only")
        page.keyboard.press("Tab")
        check("the ban button comes next", page.evaluate("() => document.activeElement.textContent") == "Ban")
        with page.expect_navigation(url=re.compile(r".*done=banned")):
            page.keyboard.press("Enter")
        check("banned with the keyboard alone", status_text(page) == "The user was banned.", status_text(page))
        check("the keyboard-banned user's token is refused", not token_works(kim_token))

        # Without JavaScript: no copy button, the confirm button enabled from the start (the
        # server checks the typed text), every form as before.
        plain = browser.new_context(locale="en-US", viewport=DESKTOP, java_script_enabled=False)
        page = plain.new_page()
        page.goto(f"{ROSTER_URL}/signin?return_to=/admin/invitations")
        page.fill("input[name=identifier]", "root@example.org")
        page.fill("input[name=password]", PASSWORD)
        click(page, "Sign in")
        page.fill("#email", "nojs@example.org")
        click(page, "Create the invitation link")
        check("without script the link is shown once, with no copy button", "/register?token=" in page.locator("#shown-once").inner_text() and page.locator(".copy").count() == 0)
        go_to_user(page, "kim", "kim@example.org")
        click(page, "Delete this user")
        check("without script the confirm button is enabled", page.get_by_role("button", name="Yes, do it").is_enabled())
        page.fill("#typed", "not kim")
        click(page, "Yes, do it")
        check("without script a wrong text is refused by the server", page.locator("[role=alert]").count() == 1, page.content()[:600])
        plain.close()

        browser.close()


if __name__ == "__main__":
    main(scenario)
