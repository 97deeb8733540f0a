"""Shared helpers of the end-to-end drivers (run by tests/e2e.rs, never by hand alone).

The Rust harness starts `roster serve` and the product, then runs a driver with:
  ROSTER_URL          the Roster base URL (also its issuer), e.g. http://127.0.0.1:40123
  ROSTER_BIN          the roster binary, for admin commands against the same database
  ROSTER_DATABASE_URL, ROSTER_SECRET_KEY, ROSTER_PUBLIC_URL,
  ROSTER_WEBHOOK_ALLOW_PRIVATE_NETWORKS                      what that binary needs
  E2E_ARTIFACTS       a directory for screenshots and logs (under target/)
Each driver prints one line per check ("ok - ...") and "ALL OK" at the end; any failed
check raises, prints "not ok - ..." and exits non-zero.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html.parser
import json
import os
import struct
import subprocess
import sys
import time
import urllib.parse

import httpx

ROSTER_URL = os.environ.get("ROSTER_URL", "").rstrip("/")
ARTIFACTS = os.environ.get("E2E_ARTIFACTS", ".")

# The form fields of Roster's sign-in pages (docs/pages.md).
IDENTIFIER_FIELD = "identifier"
PASSWORD_FIELD = "password"
CODE_FIELDS = ("code", "totp", "backup_code")


class CheckFailed(Exception):
    pass


def check(name: str, condition: bool, detail: object = "") -> None:
    """One named check: prints `ok - name`, or raises with the detail."""
    if not condition:
        print(f"not ok - {name}: {detail}", flush=True)
        raise CheckFailed(f"{name}: {detail}")
    print(f"ok - {name}", flush=True)


def main(scenario) -> None:
    """Runs a scenario; exit 0 and `ALL OK` only when every check passed."""
    try:
        scenario()
    except (CheckFailed, httpx.HTTPError) as e:
        print(f"FAILED: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
        sys.exit(1)
    print("ALL OK", flush=True)


# ---------------------------------------------------------------- the admin command line


def roster(*args: str, stdin: str | None = None) -> str:
    """Runs `roster ARGS` against the test database; its standard output. Fails on exit != 0."""
    env = {
        k: os.environ[k]
        for k in (
            "ROSTER_DATABASE_URL",
            "ROSTER_SECRET_KEY",
            "ROSTER_PUBLIC_URL",
            "ROSTER_WEBHOOK_ALLOW_PRIVATE_NETWORKS",
            "PATH",
        )
        if k in os.environ
    }
    run = subprocess.run(
        [os.environ["ROSTER_BIN"], *args],
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    if run.returncode != 0:
        raise CheckFailed(f"roster {' '.join(args)} exited {run.returncode}: {run.stderr.strip()}")
    return run.stdout


def create_user(email: str, name: str, username: str, password: str, role: str = "user") -> None:
    roster("create-user", email, name, username, "--password-stdin", "--role", role, stdin=password + "\n")


def add_client(
    client_id: str,
    secret: str | None,
    redirect_uris: list[str],
    *,
    first_party: bool = True,
    audience: str | None = None,
    backchannel_logout_uri: str | None = None,
    post_logout_redirect_uris: list[str] = (),
) -> None:
    """`roster clients add`: a confidential client with the given secret, or a public one."""
    args = ["clients", "add", client_id]
    for uri in redirect_uris:
        args += ["--redirect-uri", uri]
    if secret is None:
        args.append("--public")
    else:
        args.append("--secret-stdin")
    if first_party:
        args.append("--first-party")
    if audience:
        args += ["--audience", audience]
    if backchannel_logout_uri:
        args += ["--backchannel-logout-uri", backchannel_logout_uri]
    for uri in post_logout_redirect_uris:
        args += ["--post-logout-redirect-uri", uri]
    roster(*args, stdin=(secret + "\n") if secret is not None else None)


# ---------------------------------------------------------------- the native API


def native_login(login: str, password: str) -> str:
    r = httpx.post(f"{ROSTER_URL}/v1/auth/login", json={"login": login, "password": password})
    if r.status_code != 200:
        raise CheckFailed(f"native login of {login}: {r.status_code} {r.text}")
    return r.json()["access_token"]


def native(method: str, path: str, token: str, body: object | None = None) -> httpx.Response:
    r = httpx.request(
        method,
        f"{ROSTER_URL}{path}",
        headers={"authorization": f"Bearer {token}"},
        json=body,
    )
    if r.status_code >= 400:
        raise CheckFailed(f"{method} {path}: {r.status_code} {r.text}")
    return r


def user_id(admin: str, email: str) -> str:
    users = native("GET", f"/v1/users?q={urllib.parse.quote(email)}", admin).json()["users"]
    for u in users:
        if u["email"] == email:
            return u["id"]
    raise CheckFailed(f"no Roster user {email}")


def enable_two_factor(login: str, password: str) -> str:
    """Enrols TOTP for the account through the native API; the base32 secret."""
    token = native_login(login, password)
    setup = native("POST", "/v1/me/2fa/setup", token).json()
    secret = setup["secret"]
    native("POST", "/v1/me/2fa/confirm", token, {"code": totp(secret)})
    return secret


def totp(secret_b32: str, at: float | None = None) -> str:
    """RFC 6238 (SHA-1, 6 digits, 30 s), as Roster checks it."""
    key = base64.b32decode(secret_b32.upper() + "=" * (-len(secret_b32) % 8))
    step = int((time.time() if at is None else at) // 30)
    digest = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"


def fresh_totp(secret_b32: str) -> str:
    """A code of a time step no earlier code used (Roster accepts each step once)."""
    time.sleep(30 - time.time() % 30 + 0.5)
    return totp(secret_b32)


# ---------------------------------------------------------------- HTML forms


class Form:
    def __init__(self, action: str, method: str):
        self.action = action
        self.method = method.upper() or "GET"
        self.fields: list[tuple[str, str, str]] = []  # (name, value, type)
        self.buttons: list[tuple[str, str]] = []  # (name, value) of submit buttons


class FormParser(html.parser.HTMLParser):
    """Every <form> of a page with its inputs and submit buttons."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self.alerts: list[str] = []
        self._alert_depth = 0
        self._depth = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self._depth += 1
        if a.get("role") == "alert" and not self._alert_depth:
            self._alert_depth = self._depth
            self.alerts.append("")
        if tag == "form":
            self.forms.append(Form(a.get("action") or "", a.get("method") or "GET"))
        elif self.forms and tag == "input":
            kind = (a.get("type") or "text").lower()
            name = a.get("name")
            if not name:
                pass
            elif kind == "submit":
                self.forms[-1].buttons.append((name, a.get("value") or ""))
            elif kind in ("checkbox", "radio") and "checked" not in a:
                pass
            else:
                self.forms[-1].fields.append((name, a.get("value") or "", kind))
        elif self.forms and tag == "button" and (a.get("type") or "submit") == "submit":
            if a.get("name"):
                self.forms[-1].buttons.append((a["name"], a.get("value") or ""))
        if tag in ("input", "meta", "link", "br", "img", "hr"):
            self._depth -= 1

    def handle_endtag(self, tag):
        if self._alert_depth and self._depth == self._alert_depth:
            self._alert_depth = 0
        self._depth -= 1

    def handle_data(self, data):
        if self._alert_depth and self.alerts:
            self.alerts[-1] += data


def parse(page: str) -> FormParser:
    p = FormParser()
    p.feed(page)
    return p


def form_with(page: str, field: str) -> Form | None:
    for f in parse(page).forms:
        if any(name == field for name, _, _ in f.fields):
            return f
    return None


def submit(client: httpx.Client, response: httpx.Response, form: Form, values: dict[str, str], button: str | None = None) -> httpx.Response:
    """Submits `form` of `response` with its hidden fields, `values` and (optionally) the submit
    button whose value or name is `button`; follows redirects with the same client."""
    data = {name: value for name, value, _ in form.fields}
    data.update(values)
    if button is not None:
        for name, value in form.buttons:
            if value == button or name == button:
                data[name] = value
                break
        else:
            raise CheckFailed(f"no submit button {button!r} in {form.buttons}")
    url = urllib.parse.urljoin(str(response.url), form.action or str(response.url))
    if form.method == "POST":
        return client.post(url, data=data)
    return client.get(url, params=data)


def code_field(form: Form) -> str:
    for name, _, _ in form.fields:
        if name in CODE_FIELDS:
            return name
    for name, _, kind in form.fields:
        if kind not in ("hidden",):
            return name
    raise CheckFailed("the second-factor form has no code field")


def alerts(page: str) -> str:
    return " | ".join(a.strip() for a in parse(page).alerts if a.strip())


def sign_in(client: httpx.Client, response: httpx.Response, identifier: str, password: str, totp_secret: str | None = None) -> httpx.Response:
    """On a Roster sign-in page: fills the form (and the second factor, and allows consent);
    the response after the last redirect."""
    form = form_with(response.text, PASSWORD_FIELD)
    if form is None:
        raise CheckFailed(f"no sign-in form at {response.url} ({response.status_code}): {response.text[:300]}")
    response = submit(client, response, form, {IDENTIFIER_FIELD: identifier, PASSWORD_FIELD: password})
    if totp_secret is not None:
        form = next((f for f in parse(response.text).forms if any(n in CODE_FIELDS for n, _, _ in f.fields)), None)
        if form is None:
            raise CheckFailed(f"no second-factor form at {response.url}: {response.text[:300]}")
        response = submit(client, response, form, {code_field(form): fresh_totp(totp_secret)})
    return response


def authorize_url(client_id: str, redirect_uri: str, scope: str, state: str, nonce: str, challenge: str | None = None, **extra: str) -> str:
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": scope,
        "state": state,
        "nonce": nonce,
        **extra,
    }
    if challenge:
        params.update(code_challenge=challenge, code_challenge_method="S256")
    return f"{ROSTER_URL}/oidc/authorize?{urllib.parse.urlencode(params)}"


def pkce() -> tuple[str, str]:
    verifier = base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def follow_until(client: httpx.Client, url: str, stop_prefix: str, max_hops: int = 10) -> tuple[httpx.Response, str | None]:
    """GETs `url` following redirects by hand until a Location starts with `stop_prefix`
    (returned, not fetched: nothing listens there) or a page is answered."""
    response = client.get(url)
    for _ in range(max_hops):
        location = response.headers.get("location")
        if response.status_code not in (301, 302, 303, 307, 308) or not location:
            return response, None
        location = urllib.parse.urljoin(str(response.url), location)
        if location.startswith(stop_prefix):
            return response, location
        response = client.get(location)
    raise CheckFailed(f"more than {max_hops} redirects from {url}")


def submit_no_follow(client: httpx.Client, response: httpx.Response, form: Form, values: dict[str, str], stop_prefix: str, button: str | None = None) -> tuple[httpx.Response, str | None]:
    """Like submit, but follows redirects by hand and stops at `stop_prefix`."""
    response = submit(client, response, form, values, button)
    for _ in range(10):
        location = response.headers.get("location")
        if response.status_code not in (301, 302, 303, 307, 308) or not location:
            return response, None
        location = urllib.parse.urljoin(str(response.url), location)
        if location.startswith(stop_prefix):
            return response, location
        response = client.get(location)
    raise CheckFailed("too many redirects")


def query(url: str) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))


def jwt_claims(token: str) -> dict:
    """The claims of a JWT, unverified (the products verify; this only reads)."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
