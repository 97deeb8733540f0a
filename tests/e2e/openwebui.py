"""Open WebUI 0.12.4 signs users in through Roster (OpenID Connect), with plain HTTP.

Run by tests/e2e.rs with Roster and Open WebUI started; besides roster_e2e's variables:
  OWUI_URL, OWUI_CLIENT_ID, OWUI_CLIENT_SECRET   (Open WebUI was started with the same client)
"""

from __future__ import annotations

import os
import time

import httpx

from roster_e2e import (
    ROSTER_URL,
    add_client,
    alerts,
    check,
    create_user,
    main,
    native,
    native_login,
    parse,
    roster,
    sign_in,
    submit,
    user_id,
)

OWUI = os.environ.get("OWUI_URL", "").rstrip("/")
PASSWORD = "correct horse battery"


def owui_sign_in(identifier: str, password: str) -> tuple[httpx.Client, httpx.Response]:
    """/oauth/oidc/login -> Roster's sign-in form -> callback, following every redirect."""
    client = httpx.Client(follow_redirects=True, timeout=60)
    r = client.get(f"{OWUI}/oauth/oidc/login")
    check(
        f"{identifier}: /oauth/oidc/login leads to Roster's sign-in page",
        str(r.url).startswith(ROSTER_URL) and r.status_code == 200,
        f"{r.status_code} {r.url}",
    )
    return client, sign_in(client, r, identifier, password)


def session_token(client: httpx.Client) -> str | None:
    """Open WebUI's own session JWT (cookie `token`), if the callback set one."""
    for cookie in client.cookies.jar:
        if cookie.name == "token" and cookie.port in (None, OWUI.rsplit(":", 1)[1]):
            return cookie.value
    return None


def me(token: str) -> httpx.Response:
    return httpx.get(f"{OWUI}/api/v1/auths/", headers={"authorization": f"Bearer {token}"}, timeout=30)


def signed_in(identifier: str, password: str) -> tuple[httpx.Client, str, dict]:
    client, r = owui_sign_in(identifier, password)
    check(
        f"{identifier}: the callback lands on Open WebUI without an error",
        str(r.url).startswith(f"{OWUI}/auth") and "error=" not in str(r.url),
        f"{r.status_code} {r.url} {alerts(r.text)}",
    )
    token = session_token(client)
    check(f"{identifier}: Open WebUI set its session cookie", token is not None, list(client.cookies.jar))
    r = me(token)
    check(f"{identifier}: the Open WebUI session works", r.status_code == 200, f"{r.status_code} {r.text}")
    return client, token, r.json()


def refused(identifier: str, password: str, why: str) -> None:
    client, r = owui_sign_in(identifier, password)
    check(
        f"{identifier} ({why}): Roster does not send the browser back to Open WebUI",
        not str(r.url).startswith(OWUI) and session_token(client) is None,
        f"{r.status_code} {r.url}",
    )
    # Either the sign-in form with its error announced, or a page of its own (pending,
    # disabled, suspended) whose heading says why.
    says_why = alerts(r.text) != "" or ('type="password"' not in r.text and "<h1>" in r.text)
    check(f"{identifier} ({why}): Roster says why", r.status_code in (200, 401, 403) and says_why, f"{r.status_code} {r.text[:400]}")


# Back-channel logout is checked by a test of its own (tests/e2e.rs sets OWUI_CHECK_BACKCHANNEL).
BACKCHANNEL = os.environ.get("OWUI_CHECK_BACKCHANNEL") == "1"


def ended(token: str, what: str, within: float = 30.0) -> None:
    """Polls until the Open WebUI session `token` is refused (back-channel logout is delivered
    through Roster's outbox, so it may take a moment)."""
    if not BACKCHANNEL:
        print(f"not checked - {what}: back-channel logout (OWUI_CHECK_BACKCHANNEL unset)")
        return
    deadline = time.time() + within
    status = None
    while time.time() < deadline:
        status = me(token).status_code
        if status == 401:
            break
        time.sleep(0.5)
    check(f"{what}: Open WebUI refuses the session afterwards (back-channel logout)", status == 401, status)


def scenario() -> None:
    add_client(
        os.environ["OWUI_CLIENT_ID"],
        os.environ["OWUI_CLIENT_SECRET"],
        [f"{OWUI}/oauth/oidc/login/callback"],
        first_party=True,
        backchannel_logout_uri=f"{OWUI}/oauth/backchannel-logout",
        post_logout_redirect_uris=[f"{OWUI}/auth"],
    )
    create_user("root@example.org", "Root Admin", "root", PASSWORD, role="admin")
    create_user("Bob@Example.org", "Bob Builder", "bob", PASSWORD)
    create_user("carol@example.org", "Carol", "carol", PASSWORD)
    create_user("dave@example.org", "Dave", "dave", PASSWORD)
    admin = native_login("root", PASSWORD)
    group = native("POST", "/v1/groups", admin, {"name": "research"}).json()
    bob = user_id(admin, "bob@example.org")
    native("POST", f"/v1/groups/{group['id']}/members", admin, {"user_ids": [bob]})

    # The first account Open WebUI sees becomes its admin anyway; the Roster admin takes it.
    root_client, root_token, root = signed_in("root@example.org", PASSWORD)
    check("root: admin in Open WebUI", root["role"] == "admin", root)

    # An ordinary Roster user: `user` from the roles claim (the default for new users is
    # `pending`), the email, the name and the groups from Roster.
    bob_client, bob_token, info = signed_in("bob", PASSWORD)
    check("bob: email from Roster (lower-cased)", info["email"] == "bob@example.org", info)
    check("bob: name from Roster", info["name"] == "Bob Builder", info)
    check("bob: role `user` from the roles claim (not the default `pending`)", info["role"] == "user", info)
    groups = httpx.get(f"{OWUI}/api/v1/users/groups", headers={"authorization": f"Bearer {bob_token}"}).json()
    check("bob: Open WebUI groups from the groups claim", [g["name"] for g in groups] == ["research"], groups)

    # Made admin at Roster: the next sign-in makes him admin in Open WebUI.
    native("PATCH", f"/v1/users/{bob}", admin, {"role": "admin"})
    bob_client, bob_token, info = signed_in("bob@example.org", PASSWORD)
    check("bob: admin in Open WebUI once admin at Roster (roles claim)", info["role"] == "admin", info)

    # Signing out at Roster ends the Open WebUI session through back-channel logout.
    r = bob_client.get(f"{ROSTER_URL}/signout")
    forms = parse(r.text).forms
    check("the Roster sign-out page has a form", r.status_code == 200 and forms != [], f"{r.status_code} {r.text[:300]}")
    r = submit(bob_client, r, forms[0], {})
    check("signing out at Roster succeeds", r.status_code < 400, f"{r.status_code} {r.url}")
    ended(bob_token, "bob signed out at Roster")

    # Carol signs in, then is banned at Roster: her Open WebUI session ends, she cannot return.
    _, carol_token, _ = signed_in("carol@example.org", PASSWORD)
    roster("ban-user", "carol@example.org", "1h", "--reason", "e2e")
    ended(carol_token, "carol banned at Roster")
    refused("carol@example.org", PASSWORD, "banned")

    # A deactivated account gets no session either.
    dave = user_id(admin, "dave@example.org")
    native("PATCH", f"/v1/users/{dave}", admin, {"active": False})
    refused("dave@example.org", PASSWORD, "deactivated")
    users = httpx.get(f"{OWUI}/api/v1/users/all", headers={"authorization": f"Bearer {root_token}"}).json()
    emails = sorted(u["email"] for u in users.get("users", users if isinstance(users, list) else []))
    check(
        "Open WebUI created accounts only for those Roster let in",
        emails == ["bob@example.org", "carol@example.org", "root@example.org"],
        emails,
    )

    # RP-initiated logout: Open WebUI's sign-out points at Roster's end-session endpoint.
    r = root_client.post(f"{OWUI}/api/v1/auths/signout", headers={"authorization": f"Bearer {root_token}"})
    check("Open WebUI's sign-out answers", r.status_code == 200, f"{r.status_code} {r.text}")
    redirect = r.json().get("redirect_url") or ""
    check("it sends the browser to Roster's end-session endpoint", redirect.startswith(f"{ROSTER_URL}/oidc/logout"), redirect)
    r = root_client.get(redirect)
    check("Roster's end-session endpoint accepts Open WebUI's request", r.status_code < 400, f"{r.status_code} {r.text[:300]}")


if __name__ == "__main__":
    main(scenario)
