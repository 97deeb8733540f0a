"""Roster's sign-in pages in a real browser: Debian's Chromium, headless, driven by Playwright
(which downloads nothing: it is pointed at the system binary).

Run by tests/e2e.rs with Roster started; besides roster_e2e's variables:
  CHROMIUM       the browser binary (default /usr/bin/chromium)
  BROWSER_PART   `pages` (the pages on their own) or `oidc` (inside a relying party's flow)
Screenshots go to E2E_ARTIFACTS.
"""

from __future__ import annotations

import http.server
import os
import re
import secrets
import threading

import httpx
from playwright.sync_api import Page, sync_playwright

from roster_e2e import (
    ARTIFACTS,
    IDENTIFIER_FIELD,
    PASSWORD_FIELD,
    ROSTER_URL,
    add_client,
    authorize_url,
    check,
    create_user,
    enable_two_factor,
    fresh_totp,
    jwt_claims,
    main,
    pkce,
    query,
    totp,
)

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
PASSWORD = "correct horse battery"


class _Answer(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
        body = b"back at the relying party"
        self.send_response(200)
        self.send_header("content-type", "text/plain")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


# The relying party's redirect URI: a real listener, since the browser reaches it by redirects.
_RP = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
threading.Thread(target=_RP.serve_forever, daemon=True).start()
RP_ORIGIN = f"http://127.0.0.1:{_RP.server_address[1]}"
REDIRECT = f"{RP_ORIGIN}/cb"
BYE = f"{RP_ORIGIN}/bye"
CLIENT, SECRET = "portal", secrets.token_hex(24)
SESSION_COOKIE = "roster_session"


def shot(page: Page, name: str) -> None:
    page.screenshot(path=os.path.join(ARTIFACTS, f"{name}.png"), full_page=True)


class RelyingParty:
    """Keeps the URLs of REDIRECT the browser was sent to (the listener answers them)."""

    def __init__(self, page: Page):
        self.urls: list[str] = []
        page.on("request", self._record)

    def _record(self, request) -> None:
        if request.url.startswith(f"{RP_ORIGIN}/"):
            self.urls.append(request.url)


def start_flow(page: Page, **extra: str) -> tuple[str, str, str]:
    """Opens /oidc/authorize for the third-party client; (state, nonce, verifier)."""
    verifier, challenge = pkce()
    state, nonce = secrets.token_urlsafe(12), secrets.token_urlsafe(12)
    page.goto(authorize_url(CLIENT, REDIRECT, "openid email profile", state, nonce, challenge, **extra))
    return state, nonce, verifier


def on_sign_in_form(page: Page) -> bool:
    return page.locator(f"input[name={IDENTIFIER_FIELD}]").count() == 1 and page.locator(f"input[name={PASSWORD_FIELD}]").count() == 1


def fill_sign_in(page: Page, identifier: str, password: str) -> None:
    page.fill(f"input[name={IDENTIFIER_FIELD}]", identifier)
    page.fill(f"input[name={PASSWORD_FIELD}]", password)
    page.locator("form:has(input[name=password]) [type=submit]").first.click()
    page.wait_for_load_state()


def session_cookies(context) -> list[dict]:
    return [c for c in context.cookies() if c["name"] == SESSION_COOKIE]


def unlabelled_inputs(page: Page) -> list[str]:
    """Visible form controls without an accessible label."""
    return page.evaluate(
        """() => [...document.querySelectorAll('input, select, textarea')]
            .filter(e => e.type !== 'hidden' && e.type !== 'submit')
            .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.getAttribute('aria-labelledby'))
            .map(e => e.name || e.id || e.outerHTML)"""
    )


def click_button(page: Page, pattern: str) -> None:
    page.get_by_role("button", name=re.compile(pattern, re.I)).first.click()
    page.wait_for_load_state()


def exchange(code: str, verifier: str) -> dict:
    r = httpx.post(
        f"{ROSTER_URL}/oidc/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier},
        auth=(CLIENT, SECRET),
    )
    check("the code from the browser is exchanged for tokens", r.status_code == 200, f"{r.status_code} {r.text}")
    return r.json()


def sign_in_pages(browser) -> None:
    """The pages on their own (/signin, /signin/second-factor, /signout): no relying party."""
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    page.goto(f"{ROSTER_URL}/signin")
    check("/signin shows the sign-in form", on_sign_in_form(page), page.url)
    check("the sign-in page declares its language", (page.get_attribute("html", "lang") or "") != "", page.content()[:200])
    check("every field of the sign-in form has a label", unlabelled_inputs(page) == [], unlabelled_inputs(page))
    shot(page, "01-sign-in")

    fill_sign_in(page, "pat", "not the password")
    alert = page.locator("[role=alert]")
    check(
        "a wrong password keeps the form and announces the error (role=alert)",
        on_sign_in_form(page) and alert.count() > 0 and alert.first.inner_text().strip() != "",
        page.content()[:500],
    )
    check("no session cookie for a wrong password", session_cookies(context) == [], context.cookies())
    shot(page, "02-wrong-password")

    fill_sign_in(page, "pat", PASSWORD)
    check("the right password signs in: the form is gone, the session cookie is set", not on_sign_in_form(page) and session_cookies(context) != [], f"{page.url} {context.cookies()}")
    check("the browser session cookie is HttpOnly and SameSite=Lax", all(c.get("httpOnly") and c.get("sameSite") == "Lax" for c in session_cookies(context)), session_cookies(context))
    shot(page, "03-signed-in")

    page.goto(f"{ROSTER_URL}/signout")
    check("the sign-out page asks for confirmation with a form", page.locator("form [type=submit]").count() > 0, page.content()[:500])
    shot(page, "04-sign-out")
    page.locator("form [type=submit]").first.click()
    page.wait_for_load_state()
    shot(page, "05-signed-out")
    check("signing out ends the session: the cookie is gone", session_cookies(context) == [], context.cookies())
    context.close()

    # Second factor.
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    page.goto(f"{ROSTER_URL}/signin")
    fill_sign_in(page, "tess@example.org", PASSWORD)
    code_input = page.locator("input[name=code]")
    check("an account with 2FA gets the second-factor page, no session yet", code_input.count() == 1 and session_cookies(context) == [], page.content()[:500])
    check("every field of the second-factor form has a label", unlabelled_inputs(page) == [], unlabelled_inputs(page))
    shot(page, "06-second-factor")
    code_input.fill("000000" if totp(TOTP["tess"]) != "000000" else "111111")
    page.locator("form [type=submit]").first.click()
    page.wait_for_load_state()
    check("a wrong code is refused and announced", code_input.count() == 1 and page.locator("[role=alert]").count() > 0, page.content()[:500])
    shot(page, "07-second-factor-wrong")
    code_input.fill(fresh_totp(TOTP["tess"]))
    page.locator("form [type=submit]").first.click()
    page.wait_for_load_state()
    check("the right code signs in", code_input.count() == 0 and session_cookies(context) != [], page.content()[:500])
    context.close()

    # Keyboard only: Tab reaches the identifier, then the password, and Enter submits.
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    page.goto(f"{ROSTER_URL}/signin")
    focused = "document.activeElement && (document.activeElement.name || document.activeElement.tagName)"
    # The identifier may have the focus already (autofocus); else Tab must reach it.
    order = [page.evaluate(focused)]
    for _ in range(12):
        if order[-1] == IDENTIFIER_FIELD:
            break
        page.keyboard.press("Tab")
        order.append(page.evaluate(focused))
    check("Tab reaches the identifier field", order[-1] == IDENTIFIER_FIELD, order)
    page.keyboard.type("pat")
    page.keyboard.press("Tab")
    check("the next Tab stop is the password", page.evaluate("document.activeElement.name") == PASSWORD_FIELD, page.evaluate("document.activeElement.outerHTML"))
    focus_style = page.evaluate("getComputedStyle(document.activeElement).outlineStyle + ' ' + getComputedStyle(document.activeElement).boxShadow")
    check("the focused field is visibly marked", focus_style != "none none", focus_style)
    page.keyboard.type(PASSWORD)
    shot(page, "08-keyboard")
    # A key press does not wait for the navigation it starts; wait for it here.
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_load_state()
    check("Enter signs in: the form is gone, the session cookie is set", not on_sign_in_form(page) and session_cookies(context) != [], page.url)
    shot(page, "09-keyboard-signed-in")
    context.close()


def oidc_flows(browser) -> None:
    """The pages inside the OpenID Connect flow of a third-party client: consent (remembered),
    single sign-on, denial, RP-initiated logout's confirmation, sign-out, the second factor's
    amr."""
    add_client(CLIENT, SECRET, [REDIRECT], first_party=False, post_logout_redirect_uris=[BYE])
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    rp = RelyingParty(page)
    state, nonce, verifier = start_flow(page)
    check("authorize sends the browser to Roster's sign-in page", on_sign_in_form(page), page.url)
    fill_sign_in(page, "pat", "not the password")
    check("a wrong password issues no code", rp.urls == [] and on_sign_in_form(page), rp.urls)
    fill_sign_in(page, "pat", PASSWORD)
    check("a third-party client asks for consent", rp.urls == [] and page.get_by_role("button", name=re.compile("allow", re.I)).count() > 0, page.content()[:500])
    check("the consent page names the client", CLIENT in page.content(), page.content()[:500])
    shot(page, "10-consent")
    click_button(page, "allow")
    check("allowing sends the browser back with a code", len(rp.urls) == 1 and "code" in query(rp.urls[0]), rp.urls)
    params = query(rp.urls[0])
    check("the state comes back unchanged", params.get("state") == state, params)
    claims = jwt_claims(exchange(params["code"], verifier)["id_token"])
    check("the ID token is Pat's, with the nonce", claims.get("email") == "pat@example.org" and claims.get("nonce") == nonce, claims)

    # Single sign-on: a second authorization in the same browser needs no password, and the
    # consent given is remembered.
    rp.urls.clear()
    state, _, _ = start_flow(page)
    check("the Roster browser session signs in again without the password form", not on_sign_in_form(page), page.url)
    check("the remembered consent sends the browser straight back with a code and the state", len(rp.urls) == 1 and query(rp.urls[0]).get("state") == state, f"{rp.urls} {page.url}")

    # Denying consent: access_denied back at the client.
    rp.urls.clear()
    state, _, _ = start_flow(page, prompt="consent")
    shot(page, "11-consent-again")
    click_button(page, "deny|cancel|decline")
    check("denying consent returns error=access_denied", len(rp.urls) == 1 and query(rp.urls[0]).get("error") == "access_denied" and query(rp.urls[0]).get("state") == state, rp.urls)

    # RP-initiated logout without an ID token: Roster asks first, then goes back with the state.
    rp.urls.clear()
    page.goto(f"{ROSTER_URL}/oidc/logout?client_id={CLIENT}&post_logout_redirect_uri={BYE}&state=bye1")
    check("a logout without an ID token asks to confirm", rp.urls == [] and page.locator("form[action='/oidc/logout'] [type=submit]").count() == 1, page.url)
    shot(page, "12-logout-confirm")
    page.locator("form[action='/oidc/logout'] [type=submit]").first.click()
    page.wait_for_load_state()
    check("confirming goes back to the registered post-logout URI with the state", len(rp.urls) == 1 and rp.urls[0].startswith(BYE) and query(rp.urls[0]).get("state") == "bye1", rp.urls)
    rp.urls.clear()
    start_flow(page)
    check("after the logout, authorize asks for the password again", on_sign_in_form(page) and rp.urls == [], page.url)
    fill_sign_in(page, "pat", PASSWORD)

    # After signing out, authorize asks for the password again.
    page.goto(f"{ROSTER_URL}/signout")
    page.locator("form [type=submit]").first.click()
    page.wait_for_load_state()
    rp.urls.clear()
    start_flow(page)
    check("after signing out, authorize asks for the password again", on_sign_in_form(page) and rp.urls == [], page.url)
    context.close()

    # The second factor inside the flow: the ID token's amr says so.
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    rp = RelyingParty(page)
    _, _, verifier = start_flow(page)
    fill_sign_in(page, "tess@example.org", PASSWORD)
    page.locator("input[name=code]").fill(fresh_totp(TOTP["tess"]))
    page.locator("form [type=submit]").first.click()
    page.wait_for_load_state()
    click_button(page, "allow")
    check("with the second factor the browser gets back to the client", len(rp.urls) == 1 and "code" in query(rp.urls[0]), rp.urls)
    claims = jwt_claims(exchange(query(rp.urls[0])["code"], verifier)["id_token"])
    check("the ID token says a second factor was used (amr)", "otp" in claims.get("amr", []), claims)
    context.close()


TOTP: dict[str, str] = {}


def scenario() -> None:
    part = os.environ.get("BROWSER_PART", "pages")
    create_user("pat@example.org", "Pat Doe", "pat", PASSWORD)
    create_user("tess@example.org", "Tess Two", "tess", PASSWORD)
    TOTP["tess"] = enable_two_factor("tess", PASSWORD)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        if part == "pages":
            sign_in_pages(browser)
        else:
            oidc_flows(browser)
        browser.close()


if __name__ == "__main__":
    main(scenario)
