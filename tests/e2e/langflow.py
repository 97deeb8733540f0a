"""Langflow 1.13 in external-auth mode accepts a Roster access token issued for its audience.

Run by tests/e2e.rs with Roster and Langflow started; besides roster_e2e's variables:
  LANGFLOW_URL        Langflow's base URL
  LANGFLOW_AUDIENCE   the LANGFLOW_EXTERNAL_AUTH_AUDIENCE Langflow was started with
"""

from __future__ import annotations

import os
import secrets

import httpx

from roster_e2e import (
    ROSTER_URL,
    add_client,
    authorize_url,
    check,
    create_user,
    form_with,
    jwt_claims,
    main,
    native_login,
    pkce,
    query,
    submit_no_follow,
    IDENTIFIER_FIELD,
    PASSWORD_FIELD,
)

LANGFLOW = os.environ.get("LANGFLOW_URL", "").rstrip("/")
AUDIENCE = os.environ.get("LANGFLOW_AUDIENCE", "langflow")
PASSWORD = "correct horse battery"
# Nothing listens here: the driver reads the code from the redirect and stops.
REDIRECT = "http://127.0.0.1:9/callback"


def access_token(client_id: str, secret: str, login: str) -> str:
    """The authorization code flow (PKCE, plain HTTP filling Roster's sign-in form) and the
    code exchange; the access token."""
    verifier, challenge = pkce()
    state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    browser = httpx.Client(timeout=30)
    r = browser.get(authorize_url(client_id, REDIRECT, "openid email profile", state, nonce, challenge))
    while r.status_code in (302, 303) and not r.headers["location"].startswith(REDIRECT):
        r = browser.get(httpx.URL(str(r.url)).join(r.headers["location"]))
    form = form_with(r.text, PASSWORD_FIELD)
    check(f"{client_id}: /oidc/authorize shows Roster's sign-in form", form is not None, f"{r.status_code} {r.text[:300]}")
    _, location = submit_no_follow(browser, r, form, {IDENTIFIER_FIELD: login, PASSWORD_FIELD: PASSWORD}, REDIRECT)
    check(f"{client_id}: signing in redirects back with a code", location is not None and "code" in query(location), location)
    params = query(location)
    check(f"{client_id}: the state comes back unchanged", params.get("state") == state, params)
    r = httpx.post(
        f"{ROSTER_URL}/oidc/token",
        data={"grant_type": "authorization_code", "code": params["code"], "redirect_uri": REDIRECT, "code_verifier": verifier},
        auth=(client_id, secret),
    )
    check(f"{client_id}: the code is exchanged for tokens", r.status_code == 200, f"{r.status_code} {r.text}")
    return r.json()["access_token"]


def whoami(token: str) -> httpx.Response:
    return httpx.get(f"{LANGFLOW}/api/v1/users/whoami", headers={"authorization": f"Bearer {token}"}, timeout=30)


def scenario() -> None:
    create_user("root@example.org", "Root Admin", "root", PASSWORD, role="admin")
    create_user("lena@example.org", "Lena", "lena", PASSWORD)
    flow_secret, other_secret = secrets.token_hex(24), secrets.token_hex(24)
    add_client("langflowui", flow_secret, [REDIRECT], audience=AUDIENCE)
    add_client("otherapp", other_secret, [REDIRECT], audience="someoneelse")

    token = access_token("langflowui", flow_secret, "lena")
    claims = jwt_claims(token)
    check("the access token is issued for Langflow's audience", AUDIENCE in (claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]), claims)

    r = whoami(token)
    check("Langflow accepts it: GET /api/v1/users/whoami 200", r.status_code == 200, f"{r.status_code} {r.text}")
    first = r.json()
    check("Langflow created the user under Roster's preferred_username", first.get("username") == "lena", first)
    check("the new Langflow user is active and not a superuser", first.get("is_active") is True and first.get("is_superuser") is False, first)
    r = whoami(access_token("langflowui", flow_secret, "lena@example.org"))
    check("a second token finds the same Langflow user (by sub)", r.status_code == 200 and r.json().get("id") == first.get("id"), r.text)

    r = whoami(access_token("otherapp", other_secret, "lena"))
    check("Langflow refuses a Roster token issued for another audience (401)", r.status_code == 401, f"{r.status_code} {r.text}")
    r = whoami(native_login("lena", PASSWORD))
    check("Langflow refuses Roster's native access token (no audience) (401)", r.status_code == 401, f"{r.status_code} {r.text}")
    r = whoami(token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB"))
    check("Langflow refuses a token whose signature is broken (401)", r.status_code == 401, f"{r.status_code} {r.text}")


if __name__ == "__main__":
    main(scenario)
