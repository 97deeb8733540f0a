"""Roster's pages in a real browser, as a user: accessibility checked with axe-core on every
page of a list, screenshots of each at desktop and phone width in light and dark, and the
account flows (change the password, enrol two-step verification from the QR code page, create
and revoke an API key).

Run by tests/e2e.rs with Roster started; besides roster_e2e's variables:
  CHROMIUM       the browser binary (default /usr/bin/chromium)
  AXE_JS         axe-core's axe.min.js (tests/clients/axe, installed by npm)
  ACCOUNT_PART   `a11y` (the page list) or `flows` (the account flows)
Screenshots go to E2E_ARTIFACTS/screens/.
"""

from __future__ import annotations

import os
import re
import time

import httpx
from playwright.sync_api import Page, sync_playwright

from roster_e2e import ARTIFACTS, ROSTER_URL, check, create_user, main, native, native_login, totp, user_id

# How old an administrator's sign-in must be before a dangerous action asks for the password
# again (the console's REAUTH_AFTER), with a margin.
REAUTH_AFTER_SECONDS = 5 * 60 + 10

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
AXE_JS = os.environ.get("AXE_JS", "")
PASSWORD = "correct horse battery"
SCREENS = os.path.join(ARTIFACTS, "screens")

# The pages checked: (name, path, who). `who` is "anonymous", "user" or "admin"; add a page by
# adding a line (the admin console's pages go here too). `{ally}` is the user ally's id.
PAGES: list[tuple[str, str, str]] = [
    ("sign-in", "/signin", "anonymous"),
    ("second-factor-expired", "/signin/second-factor", "anonymous"),
    ("reset-password-invalid", "/reset-password?token=not-a-token", "anonymous"),
    ("sign-out", "/signout", "user"),
    ("account-profile", "/account", "user"),
    ("account-email", "/account/email", "user"),
    ("email-change-confirm", "/account/email/confirm?token=from-the-mail", "anonymous"),
    ("account-password", "/account/password", "user"),
    ("account-two-factor", "/account/two-factor", "user"),
    ("account-sessions", "/account/sessions", "user"),
    ("account-api-keys", "/account/api-keys", "user"),
    ("account-terms", "/account/terms", "user"),
    ("account-credits", "/account/credits", "user"),
    ("account-delete", "/account/delete", "user"),
    ("admin-dashboard", "/admin", "admin"),
    ("admin-users", "/admin/users", "admin"),
    ("admin-users-filtered", "/admin/users?q=root&role=admin", "admin"),
    ("admin-groups", "/admin/groups", "admin"),
    ("admin-permissions", "/admin/permissions", "admin"),
    ("admin-audit", "/admin/audit", "admin"),
    ("admin-invitations", "/admin/invitations", "admin"),
    ("admin-webhooks", "/admin/webhooks", "admin"),
    ("admin-clients", "/admin/clients", "admin"),
    ("admin-user", "/admin/users/{ally}", "admin"),
    ("admin-group", "/admin/groups/{group}", "admin"),
    ("admin-webhook", "/admin/webhooks/{webhook}", "admin"),
    ("admin-client", "/admin/clients/{client}", "admin"),
]

# Widths: a desktop and a 375 px phone.
VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 375, "height": 812}}
SCHEMES = ("light", "dark")
BLOCKING = ("serious", "critical")


def shot(page: Page, name: str) -> None:
    os.makedirs(SCREENS, exist_ok=True)
    page.screenshot(path=os.path.join(SCREENS, f"{name}.png"), full_page=True)


def axe_violations(page: Page) -> list[dict]:
    """Runs axe-core in the page (WCAG 2.0/2.1 A and AA rules and best practices); the
    violations of impact serious or critical."""
    if page.evaluate("typeof window.axe") == "undefined":
        with open(AXE_JS, encoding="utf-8") as f:
            page.evaluate(f.read() + "\n;undefined")
    result = page.evaluate(
        """async () => {
            const r = await axe.run(document, { resultTypes: ['violations'] });
            return r.violations.map(v => ({ id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5) }));
        }"""
    )
    return [v for v in result if v["impact"] in BLOCKING]


def sign_in(page: Page, login: str, password: str, return_to: str = "/account") -> None:
    page.goto(f"{ROSTER_URL}/signin?return_to={return_to}")
    page.fill("input[name=identifier]", login)
    page.fill("input[name=password]", password)
    page.locator("form:has(input[name=password]) [type=submit]").first.click()
    page.wait_for_load_state()


class Watch:
    """What a page did besides rendering: requests leaving Roster, CSP violations."""

    def __init__(self, page: Page):
        self.foreign: list[str] = []
        self.csp: list[str] = []
        page.on("request", self._request)
        page.on("console", self._console)

    def _request(self, request) -> None:
        if not request.url.startswith(ROSTER_URL + "/") and not request.url.startswith("data:"):
            self.foreign.append(request.url)

    def _console(self, message) -> None:
        if "Content Security Policy" in message.text or "Refused to" in message.text:
            self.csp.append(message.text)


def check_page(page: Page, name: str, watch: Watch, viewport: str, scheme: str) -> None:
    label = f"{name} ({viewport}, {scheme})"
    violations = axe_violations(page)
    check(f"axe-core: no serious or critical violation on {label}", violations == [], violations)
    if viewport == "phone":
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        check(f"{label} fits 375 px without scrolling sideways", overflow <= 0, overflow)
    shot(page, f"{name}-{viewport}-{scheme}")


def submit_form(page: Page, action_suffix: str) -> None:
    """Clicks the submit button of the form whose action ends with `action_suffix`."""
    with page.expect_navigation():
        page.locator(f"form[action$='{action_suffix}'] button[type=submit]").first.click()


def enrol_two_factor(login: str) -> list[str]:
    """Turns two-step verification on for `login` through the native API; its backup codes."""
    token = native_login(login, PASSWORD)
    setup = native("POST", "/v1/me/2fa/setup", token).json()
    native("POST", "/v1/me/2fa/confirm", token, {"code": totp(setup["secret"])})
    return list(setup["backup_codes"])


def confirmations_and_secrets(page: Page, watch: Watch, viewport: str, scheme: str, ids: dict) -> None:
    """As an administrator: the confirmation pages of dangerous actions (not carried out) and
    the pages that show a secret once (a reset link, a client's secret, a webhook's signing
    secret)."""
    page.goto(f"{ROSTER_URL}/admin/users/{ids['ally']}")
    submit_form(page, "/delete")
    check(f"deleting a user asks first, with the typed confirmation ({viewport}, {scheme})", page.locator("h1").inner_text() == "Are you sure?" and page.locator("#typed").count() == 1, page.content()[:600])
    check_page(page, "admin-confirm-delete-user", watch, viewport, scheme)
    page.goto(f"{ROSTER_URL}/admin/users/{ids['tia']}")
    submit_form(page, "/reset-two-factor")
    check(f"resetting two-step verification asks first ({viewport}, {scheme})", page.locator("h1").inner_text() == "Are you sure?", page.content()[:600])
    check_page(page, "admin-confirm-reset-two-factor", watch, viewport, scheme)
    page.goto(f"{ROSTER_URL}/admin/users/{ids['ally']}")
    submit_form(page, "/reset-link")
    link = page.locator("#shown-once").inner_text() if page.locator("#shown-once").count() else ""
    check(f"the reset link is shown once ({viewport}, {scheme})", "/reset-password?token=" in link, page.content()[:600])
    check_page(page, "admin-reset-link-shown", watch, viewport, scheme)
    page.goto(f"{ROSTER_URL}/admin/clients")
    page.fill("#client_id", f"a11y{viewport}{scheme}")
    page.fill("#redirect_uris", "https://app.example.org/callback")
    submit_form(page, "/admin/clients")
    secret = page.locator("#shown-once").inner_text() if page.locator("#shown-once").count() else ""
    check(f"a new client's secret is shown once ({viewport}, {scheme})", len(secret) >= 32, page.content()[:600])
    check_page(page, "admin-client-secret-shown", watch, viewport, scheme)
    page.goto(f"{ROSTER_URL}/admin/webhooks")
    page.fill("#url", f"https://hooks.example.org/{viewport}/{scheme}")
    submit_form(page, "/admin/webhooks")
    secret = page.locator("#shown-once").inner_text() if page.locator("#shown-once").count() else ""
    check(f"a new webhook's signing secret is shown once ({viewport}, {scheme})", len(secret) >= 16, page.content()[:600])
    check_page(page, "admin-webhook-secret-shown", watch, viewport, scheme)


def a11y(browser) -> None:
    check("axe-core is installed (tests/clients/axe)", os.path.isfile(AXE_JS), AXE_JS)
    # An administrator signed in now, whose dangerous actions ask for the password again once
    # the sign-in is older than REAUTH_AFTER (checked at the end).
    reauth_context = browser.new_context(locale="en-US")
    reauth_page = reauth_context.new_page()
    reauth_watch = Watch(reauth_page)
    sign_in(reauth_page, "root", PASSWORD)
    reauth_from = time.monotonic()
    root = native_login("root@example.org", PASSWORD)
    ally = user_id(root, "ally@example.org")
    # A user with two-step verification on, signed in once with a backup code, whose backup
    # codes are replaced from the page (shown once).
    tia_codes = enrol_two_factor("tia")
    tia_context = browser.new_context(locale="en-US")
    tia_page = tia_context.new_page()
    tia_watch = Watch(tia_page)
    sign_in(tia_page, "tia", PASSWORD)
    tia_page.fill("input[name=code]", tia_codes.pop())
    with tia_page.expect_navigation():
        tia_page.locator("form:has(input[name=code]) [type=submit]").first.click()
    check("the two-step user is signed in with a backup code", tia_page.url.endswith("/account"), tia_page.url)
    # One of each thing the console has a page for: a group with a member, a webhook (its
    # receiver is never reached here), a client.
    ids = {"ally": ally, "tia": user_id(root, "tia@example.org")}
    made = native("POST", "/v1/groups", root, {"name": "a11y crew"})
    check("a group is made for its page", made.status_code == 201, made.text)
    ids["group"] = made.json()["id"]
    native("POST", f"/v1/groups/{ids['group']}/members", root, {"user_ids": [ally]})
    made = native("POST", "/v1/webhooks", root, {"url": "https://hooks.example.org/roster"})
    check("a webhook is made for its page", made.status_code == 201, made.text)
    ids["webhook"] = made.json()["id"]
    made = native("POST", "/v1/clients", root, {"client_id": "a11yclient", "redirect_uris": ["https://app.example.org/callback"]})
    check("a client is made for its page", made.status_code == 201, made.text)
    ids["client"] = "a11yclient"
    for viewport, size in VIEWPORTS.items():
        for scheme in SCHEMES:
            contexts = {}
            for who in sorted({w for _, _, w in PAGES}):
                context = browser.new_context(locale="en-US", viewport=size, color_scheme=scheme)
                page = context.new_page()
                watch = Watch(page)
                if who == "user":
                    sign_in(page, "ally", PASSWORD)
                elif who == "admin":
                    sign_in(page, "root", PASSWORD)
                contexts[who] = (context, page, watch)
            for name, path, who in PAGES:
                _, page, watch = contexts[who]
                page.goto(f"{ROSTER_URL}{path.format(**ids)}")
                page.wait_for_load_state()
                check_page(page, name, watch, viewport, scheme)
            # A page with its errors announced: the sign-in form with a wrong password.
            _, page, watch = contexts["anonymous"]
            page.goto(f"{ROSTER_URL}/signin")
            page.fill("input[name=identifier]", "ally")
            page.fill("input[name=password]", "wrong password")
            page.locator("form [type=submit]").first.click()
            page.wait_for_load_state()
            check("a failed sign-in announces its error (role=alert)", page.locator("[role=alert]").count() == 1, page.content()[:400])
            check_page(page, "sign-in-error", watch, viewport, scheme)
            # The two-step set-up page (QR code) and a new key, shown once.
            _, page, watch = contexts["user"]
            page.goto(f"{ROSTER_URL}/account/two-factor")
            page.get_by_role("button", name=re.compile("set up|start over", re.I)).first.click()
            page.wait_for_load_state()
            check_page(page, "account-two-factor-setup", watch, viewport, scheme)
            page.goto(f"{ROSTER_URL}/account/api-keys")
            page.fill("input[name=name]", f"key {viewport} {scheme}")
            page.get_by_role("button", name="Create key").click()
            page.wait_for_load_state()
            check_page(page, "account-api-key-created", watch, viewport, scheme)
            # Backup codes replaced from the page, shown once.
            tia_page.set_viewport_size(size)
            tia_page.emulate_media(color_scheme=scheme)
            tia_page.goto(f"{ROSTER_URL}/account/two-factor")
            tia_page.fill("input[name=code]", tia_codes.pop())
            with tia_page.expect_navigation():
                tia_page.locator("button[value=backup-codes]").click()
            tia_codes = [c.strip() for c in tia_page.locator("#backup-codes-list li").all_inner_texts()]
            check(f"ten new backup codes are shown once ({viewport}, {scheme})", len(tia_codes) == 10, tia_page.content()[:600])
            check_page(tia_page, "account-backup-codes-new", tia_watch, viewport, scheme)
            _, page, watch = contexts["admin"]
            confirmations_and_secrets(page, watch, viewport, scheme, ids)
            for who, (context, _, watch) in contexts.items():
                check(f"every request of the {who} pages ({viewport}, {scheme}) went to Roster (no CDN)", watch.foreign == [], watch.foreign)
                check(f"no Content-Security-Policy violation on the {who} pages ({viewport}, {scheme})", watch.csp == [], watch.csp)
                context.close()
    check("the two-step user's pages requested nothing outside Roster", tia_watch.foreign == [], tia_watch.foreign)
    check("no Content-Security-Policy violation on the two-step user's pages", tia_watch.csp == [], tia_watch.csp)
    tia_context.close()
    # The confirmation that asks for the administrator's password again: the sign-in is now
    # older than REAUTH_AFTER (waited for if the pages above took less).
    time.sleep(max(0.0, REAUTH_AFTER_SECONDS - (time.monotonic() - reauth_from)))
    for viewport, size in VIEWPORTS.items():
        for scheme in SCHEMES:
            reauth_page.set_viewport_size(size)
            reauth_page.emulate_media(color_scheme=scheme)
            reauth_page.goto(f"{ROSTER_URL}/admin/users/{ally}")
            submit_form(reauth_page, "/delete")
            check(f"after {REAUTH_AFTER_SECONDS} s the confirmation asks for the password too ({viewport}, {scheme})", reauth_page.locator("#typed").count() == 1 and reauth_page.locator("input#password[type=password]").count() == 1, reauth_page.content()[:800])
            check_page(reauth_page, "admin-confirm-delete-user-password", reauth_watch, viewport, scheme)
    check("the re-authentication pages requested nothing outside Roster", reauth_watch.foreign == [], reauth_watch.foreign)
    check("no Content-Security-Policy violation on the re-authentication pages", reauth_watch.csp == [], reauth_watch.csp)
    reauth_context.close()


def flows(browser) -> None:
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    watch = Watch(page)
    sign_in(page, "flo", PASSWORD)
    check("signing in with return_to=/account lands on the profile", page.url.endswith("/account"), page.url)

    # Change the password.
    new_password = "a much longer passphrase"
    page.get_by_role("link", name="Password").click()
    page.wait_for_load_state()
    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_label("New password", exact=True).fill(new_password)
    page.get_by_label("Repeat the new password").fill(new_password)
    page.get_by_role("button", name="Change password").click()
    page.wait_for_load_state()
    status = page.locator("[role=status]").inner_text()
    check("the password change is confirmed on the page", "password has been changed" in status, status)
    check("the old password no longer signs in", httpx.post(f"{ROSTER_URL}/v1/auth/login", json={"login": "flo", "password": PASSWORD}).status_code == 401)
    native_login("flo", new_password)
    check("the new password signs in through the API", True)
    shot(page, "flow-password-changed")

    # Enrol two-step verification from the page: the secret read from it, a code computed.
    page.get_by_role("link", name="Two-step verification").click()
    page.wait_for_load_state()
    page.get_by_role("button", name="Set up two-step verification").click()
    page.wait_for_load_state()
    check("the set-up page shows a QR code Roster drew (inline SVG)", page.locator(".qr[role=img] svg path").count() == 1, page.content()[:600])
    secret = page.locator("#totp-secret").inner_text().strip()
    check("the secret is also shown as text", re.fullmatch(r"[A-Z2-7]{16,}", secret) is not None, secret)
    backup_codes = [c.strip() for c in page.locator("#backup-codes-list li").all_inner_texts()]
    check("ten backup codes are shown once", len(backup_codes) == 10, backup_codes)
    shot(page, "flow-two-factor-setup")
    page.get_by_label("Code from the app").fill(totp(secret))
    page.get_by_role("button", name="Turn on").click()
    page.wait_for_load_state()
    status = page.locator("[role=status]").inner_text()
    check("two-step verification is turned on", "now on" in status, status)
    check("the secret is not shown again", secret not in page.content())
    token = native_login_with_code("flo", new_password, backup_codes[0])
    check("signing in now needs the second factor (a backup code from the page works)", token is not None)
    shot(page, "flow-two-factor-on")

    # Create an API key, use it, revoke it.
    page.get_by_role("link", name="API keys").click()
    page.wait_for_load_state()
    page.get_by_label("Name of the new key").fill("browser test")
    page.get_by_role("button", name="Create key").click()
    page.wait_for_load_state()
    key = page.locator("#api-key-secret").inner_text().strip()
    check("the new key is shown", key.startswith("rst_"), key)
    me = httpx.get(f"{ROSTER_URL}/v1/me", headers={"authorization": f"Bearer {key}"})
    check("the key works through the API", me.status_code == 200 and me.json().get("username") == "flo", f"{me.status_code} {me.text[:200]}")
    shot(page, "flow-api-key-created")
    page.goto(f"{ROSTER_URL}/account/api-keys")
    check("the list of keys does not show the secret again", key not in page.content())
    check("the list shows the key by its name", page.locator("li.item:has(h3:text('browser test'))").count() == 1, page.content()[:800])
    page.locator("li.item:has(h3:text('browser test'))").get_by_role("button", name="Revoke").click()
    page.wait_for_load_state()
    status = page.locator("[role=status]").inner_text()
    check("the revocation is confirmed", "revoked" in status, status)
    me = httpx.get(f"{ROSTER_URL}/v1/me", headers={"authorization": f"Bearer {key}"})
    check("the revoked key fails through the API", me.status_code == 401, me.status_code)
    shot(page, "flow-api-key-revoked")

    check("the flows requested nothing outside Roster", watch.foreign == [], watch.foreign)
    check("the flows met no Content-Security-Policy violation", watch.csp == [], watch.csp)
    context.close()


def native_login_with_code(login: str, password: str, backup_code: str) -> str | None:
    """The native login's two steps: the password gives a challenge, the code a token."""
    first = httpx.post(f"{ROSTER_URL}/v1/auth/login", json={"login": login, "password": password})
    body = first.json()
    challenge = body.get("challenge") or (body.get("two_factor") or {}).get("challenge")
    if first.status_code == 200 and "access_token" in body:
        return None
    check("the password alone gives a two-factor challenge", challenge is not None, f"{first.status_code} {first.text}")
    second = httpx.post(f"{ROSTER_URL}/v1/auth/login/2fa", json={"challenge": challenge, "backup_code": backup_code})
    check("the backup code completes the login", second.status_code == 200, f"{second.status_code} {second.text}")
    return second.json()["access_token"]


def scenario() -> None:
    part = os.environ.get("ACCOUNT_PART", "a11y")
    create_user("root@example.org", "Root Admin", "root", PASSWORD, role="admin")
    create_user("ally@example.org", "Ally Access", "ally", PASSWORD)
    create_user("flo@example.org", "Flo Flows", "flo", PASSWORD)
    create_user("tia@example.org", "Tia Two-Step", "tia", PASSWORD)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        if part == "a11y":
            a11y(browser)
        else:
            flows(browser)
        browser.close()


if __name__ == "__main__":
    main(scenario)
