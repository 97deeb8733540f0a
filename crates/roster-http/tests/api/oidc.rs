//! The OpenID Connect provider: discovery, keys, the code flow, refresh, userinfo,
//! revocation, introspection, end-session and every OAuth error, on both backends.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use roster_core::service::oidc::{AuthorizeOutcome, AuthorizeRequest, ClientChanges, NewClient, SignedIn};
use roster_core::{Clock, Role, SessionId, UserId};
use roster_testkit::app::{TestApp, TestUser};
use roster_testkit::{Backend, backend_tests, spawn_app};
use serde_json::{Value, json};

pub(crate) const REDIRECT: &str = "https://rp.example/oauth/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mJ92K59mJ9ptYyXoSvcwQ98Ua8hCm4";
const CHALLENGE: &str = "QkivW4l930RkWv961iReOTNmRwNtPvQw3MK03HrFTKU";

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Registers a client through the core; returns its secret (None: public).
pub(crate) async fn client(
    app: &TestApp,
    id: &str,
    public: bool,
    first_party: bool,
    changes: ClientChanges,
) -> Option<String> {
    let created = app
        .core
        .create_oidc_client(
            app.core.operator(),
            NewClient {
                client_id: id.into(),
                public,
                secret: None,
                settings: ClientChanges {
                    redirect_uris: Some(vec![REDIRECT.into()]),
                    post_logout_redirect_uris: Some(vec!["https://rp.example/bye".into()]),
                    first_party: Some(first_party),
                    ..changes
                },
            },
        )
        .await
        .unwrap();
    created.secret
}

/// The user's browser session: the session of its test login.
pub(crate) async fn signed_in(app: &TestApp, user: &TestUser) -> SignedIn {
    let claims = app.core.keys().verify(&user.access_token, app.clock.now()).unwrap();
    let (_, session): (UserId, SessionId) = claims.ids().unwrap();
    SignedIn {
        user: app.core.store.get_user(user.id).await.unwrap(),
        session_id: session,
        auth_time: app.clock.now(),
        amr: vec!["pwd".into()],
    }
}

pub(crate) fn request(client_id: &str, extra: &[(&str, &str)]) -> AuthorizeRequest {
    let mut r = AuthorizeRequest {
        response_type: Some("code".into()),
        client_id: Some(client_id.into()),
        redirect_uri: Some(REDIRECT.into()),
        scope: Some("openid profile email offline_access".into()),
        state: Some("st4te".into()),
        nonce: Some("n0nce".into()),
        code_challenge: Some(CHALLENGE.into()),
        code_challenge_method: Some("S256".into()),
        ..Default::default()
    };
    for (k, v) in extra {
        let v = Some(v.to_string());
        match *k {
            "nonce" => r.nonce = v.filter(|s| !s.is_empty()),
            "scope" => r.scope = v,
            "prompt" => r.prompt = v,
            "pkce" => {
                r.code_challenge = None;
                r.code_challenge_method = None;
            }
            other => panic!("unknown {other}"),
        }
    }
    r
}

/// Runs the authorization step for `user` and returns the code.
pub(crate) async fn code_for(app: &TestApp, user: &TestUser, client_id: &str, extra: &[(&str, &str)]) -> String {
    let who = signed_in(app, user).await;
    let outcome = app
        .core
        .oidc_authorize(&request(client_id, extra), Some(&who), None, "/oidc/authorize")
        .await
        .unwrap();
    let AuthorizeOutcome::Redirect(to) = outcome else {
        panic!("expected a redirect, got {outcome:?}")
    };
    let url = reqwest::Url::parse(&to).unwrap();
    assert!(to.starts_with(REDIRECT));
    let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(q["state"], "st4te");
    assert_eq!(q["iss"], app.address);
    q["code"].clone()
}

pub(crate) async fn form(
    app: &TestApp,
    path: &str,
    basic: Option<(&str, &str)>,
    params: &[(&str, &str)],
) -> (u16, Value, reqwest::header::HeaderMap) {
    let mut r = app.client.post(format!("{}{path}", app.address)).form(params);
    if let Some((id, secret)) = basic {
        r = r.header(
            "authorization",
            format!("Basic {}", STANDARD.encode(format!("{id}:{secret}"))),
        );
    }
    let response = r.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null), headers)
}

pub(crate) async fn exchange(app: &TestApp, code: &str, basic: (&str, &str)) -> (u16, Value) {
    let (status, body, headers) = form(
        app,
        "/oidc/token",
        Some(basic),
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    if status == 200 {
        assert_eq!(headers["cache-control"], "no-store");
        assert!(headers.get("www-authenticate").is_none());
    }
    (status, body)
}

pub(crate) fn claims_of(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// Verifies `jwt` against the published JWKS, as a relying party does.
pub(crate) async fn verify_with_jwks(app: &TestApp, jwt: &str, audience: &str) -> Value {
    let jwks: jsonwebtoken::jwk::JwkSet = app
        .client
        .get(format!("{}/oidc/jwks", app.address))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let header = jsonwebtoken::decode_header(jwt).unwrap();
    let kid = header.kid.expect("kid");
    let jwk = jwks.find(&kid).expect("the signing key is published");
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.set_audience(&[audience]);
    validation.set_issuer(&[app.address.as_str()]);
    jsonwebtoken::decode::<Value>(jwt, &key, &validation).unwrap().claims
}

async fn discovery_and_keys(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let doc = app.get("/.well-known/openid-configuration", None).await;
    doc.assert_status(200);
    let d = &doc.body;
    assert_eq!(d["issuer"], app.address);
    for (field, path) in [
        ("authorization_endpoint", "/oidc/authorize"),
        ("token_endpoint", "/oidc/token"),
        ("userinfo_endpoint", "/oidc/userinfo"),
        ("jwks_uri", "/oidc/jwks"),
        ("revocation_endpoint", "/oidc/revoke"),
        ("introspection_endpoint", "/oidc/introspect"),
        ("end_session_endpoint", "/oidc/logout"),
    ] {
        assert_eq!(d[field], format!("{}{path}", app.address));
    }
    assert_eq!(d["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(d["id_token_signing_alg_values_supported"][0], "RS256");
    assert_eq!(d["response_types_supported"], json!(["code"]));
    let r = app
        .client
        .get(format!("{}/oidc/jwks", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "application/jwk-set+json");
    let jwks: Value = r.json().await.unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    // A current and a next key per algorithm.
    assert_eq!(keys.len(), 4);
    for k in keys {
        assert_eq!(k["use"], "sig");
        assert!(k["kid"].is_string());
    }
    let rsa: Vec<_> = keys.iter().filter(|k| k["kty"] == "RSA").collect();
    assert_eq!(rsa.len(), 2);
    assert!(URL_SAFE_NO_PAD.decode(rsa[0]["n"].as_str().unwrap()).unwrap().len() >= 256);

    // Rotation: the key that signs next was published before; the old one stays.
    let before: Vec<String> = keys.iter().map(|k| k["kid"].as_str().unwrap().to_string()).collect();
    let signing = app.core.rotate_oidc_keys(app.core.operator()).await.unwrap();
    let after: Value = app.get("/oidc/jwks", None).await.body;
    let after: Vec<String> = after["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(after.len(), 6);
    for kid in &before {
        assert!(after.contains(kid));
    }
    for (_, kid) in &signing {
        assert!(
            before.contains(kid),
            "the new signing key was published before the rotation"
        );
    }
}

async fn code_flow_tokens_userinfo_refresh(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let user = app.admin().await;
    let secret = client(
        &app,
        "owui",
        false,
        true,
        ClientChanges {
            audience: Some(Some("langflow".into())),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(secret.len() >= 32 && secret.chars().all(|c| c.is_ascii_alphanumeric()));
    let code = code_for(&app, &user, "owui", &[]).await;
    let (status, tokens) = exchange(&app, &code, ("owui", &secret)).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    assert!(tokens["expires_in"].as_i64().unwrap() > 0);
    assert!(tokens["refresh_token"].is_string());
    let id = verify_with_jwks(&app, tokens["id_token"].as_str().unwrap(), "owui").await;
    assert_eq!(id["sub"], user.id_str());
    assert_eq!(id["aud"], "owui");
    assert_eq!(id["azp"], "owui");
    assert_eq!(id["nonce"], "n0nce");
    assert_eq!(id["email"], user.email);
    assert_eq!(id["preferred_username"], user.username);
    assert_eq!(id["roles"], json!(["admin"]));
    assert_eq!(id["groups"], json!([]));
    assert_eq!(id["amr"], json!(["pwd"]));
    assert!(id["auth_time"].is_i64() && id["sid"].is_string());
    // Roster does not verify addresses without mail: the claim says so.
    let stored = app.core.store.get_user(user.id).await.unwrap();
    assert_eq!(id["email_verified"], json!(stored.email_verified));
    let header = jsonwebtoken::decode_header(tokens["id_token"].as_str().unwrap()).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
    // The access token is a JWT for the client's audience (what Langflow checks).
    let access = verify_with_jwks(&app, tokens["access_token"].as_str().unwrap(), "langflow").await;
    assert_eq!(access["sub"], user.id_str());
    assert_eq!(access["client_id"], "owui");
    assert_eq!(access["email"], user.email);

    // Userinfo: the same claims, no WWW-Authenticate on 200.
    let r = app
        .client
        .get(format!("{}/oidc/userinfo", app.address))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("www-authenticate").is_none());
    let info: Value = r.json().await.unwrap();
    assert_eq!(info["sub"], user.id_str());
    assert_eq!(info["email"], user.email);
    assert_eq!(info["roles"], json!(["admin"]));
    let r = app
        .client
        .get(format!("{}/oidc/userinfo", app.address))
        .bearer_auth("not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );

    // Refresh (client_secret_post, as Open WebUI refreshes): a new pair with an ID token.
    let refresh = tokens["refresh_token"].as_str().unwrap().to_string();
    let (status, next, _) = form(
        &app,
        "/oidc/token",
        None,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("client_id", "owui"),
            ("client_secret", &secret),
        ],
    )
    .await;
    assert_eq!(status, 200, "{next}");
    assert!(next["id_token"].is_string());
    let id2 = claims_of(next["id_token"].as_str().unwrap());
    assert!(id2.get("nonce").is_none());
    let next_refresh = next["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(next_refresh, refresh);
    // Reuse of the old refresh token revokes the grant: the new one dies too.
    let (status, body, _) = form(
        &app,
        "/oidc/token",
        Some(("owui", &secret)),
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")));
    let (status, _, _) = form(
        &app,
        "/oidc/token",
        Some(("owui", &secret)),
        &[("grant_type", "refresh_token"), ("refresh_token", &next_refresh)],
    )
    .await;
    assert_eq!(status, 400);
    let r = app
        .client
        .get(format!("{}/oidc/userinfo", app.address))
        .bearer_auth(next["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "a revoked grant's access token is refused");

    // The audit trail names the client.
    let audit = app.audit().await;
    for action in ["oidc.authorize", "oidc.token"] {
        assert!(
            audit
                .iter()
                .any(|e| e.action == action && e.details["client_id"] == "owui"),
            "{action} audited"
        );
    }
}

async fn codes_are_single_use_and_bound(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let user = app.admin().await;
    let secret = client(&app, "rp", false, true, ClientChanges::default()).await.unwrap();
    let other = client(&app, "other", false, true, ClientChanges::default())
        .await
        .unwrap();

    // Replay: refused, and what the code issued is revoked.
    let code = code_for(&app, &user, "rp", &[]).await;
    let (status, tokens) = exchange(&app, &code, ("rp", &secret)).await;
    assert_eq!(status, 200);
    let (status, body) = exchange(&app, &code, ("rp", &secret)).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")));
    let (status, _, _) = form(
        &app,
        "/oidc/token",
        Some(("rp", &secret)),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(status, 400, "the replayed code's refresh token is revoked");

    // Another client's code, a wrong verifier, a wrong redirect URI.
    let code = code_for(&app, &user, "rp", &[]).await;
    let (status, body) = exchange(&app, &code, ("other", &other)).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")));
    let code = code_for(&app, &user, "rp", &[]).await;
    let (status, body, _) = form(
        &app,
        "/oidc/token",
        Some(("rp", &secret)),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", "x".repeat(43).as_str()),
        ],
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")));
    let code = code_for(&app, &user, "rp", &[]).await;
    let (status, body, _) = form(
        &app,
        "/oidc/token",
        Some(("rp", &secret)),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "https://rp.example/other"),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")));

    // Expired.
    let code = code_for(&app, &user, "rp", &[]).await;
    app.clock.advance(roster_core::time::Duration::seconds(61));
    let (status, body) = exchange(&app, &code, ("rp", &secret)).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")));

    // Without a nonce, the ID token has none (openid-client rejects an unexpected one).
    let code = code_for(&app, &user, "rp", &[("nonce", "")]).await;
    let (status, tokens) = exchange(&app, &code, ("rp", &secret)).await;
    assert_eq!(status, 200);
    assert!(claims_of(tokens["id_token"].as_str().unwrap()).get("nonce").is_none());

    // A banned user's code yields nothing.
    let code = code_for(&app, &user, "rp", &[]).await;
    let banned = app.user(Role::User).await;
    let banned_code = code_for(&app, &banned, "rp", &[]).await;
    app.core
        .ban_user(
            app.core.operator(),
            banned.id,
            roster_core::time::Duration::hours(1),
            Some("test"),
        )
        .await
        .unwrap();
    let (status, body) = exchange(&app, &banned_code, ("rp", &secret)).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    let (status, _) = exchange(&app, &code, ("rp", &secret)).await;
    assert_eq!(status, 200);
}

async fn client_authentication_and_grant_errors(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let user = app.admin().await;
    let secret = client(&app, "rp", false, true, ClientChanges::default()).await.unwrap();
    client(&app, "spa", true, true, ClientChanges::default()).await;
    let service = client(
        &app,
        "svc",
        false,
        true,
        ClientChanges {
            grant_types: Some(vec!["client_credentials".into()]),
            redirect_uris: Some(vec![]),
            audience: Some(Some("api".into())),
            scopes: Some(vec!["roles".into()]),
            ..Default::default()
        },
    )
    .await;
    let code = code_for(&app, &user, "rp", &[]).await;
    // Wrong secret: 401 invalid_client with a Basic challenge.
    let (status, body, headers) = form(
        &app,
        "/oidc/token",
        Some(("rp", "wrong")),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")));
    assert!(headers["www-authenticate"].to_str().unwrap().starts_with("Basic"));
    assert_eq!(headers["content-type"], "application/json");
    // Unknown client, no authentication.
    let (status, body, _) = form(
        &app,
        "/oidc/token",
        Some(("nobody", "x")),
        &[("grant_type", "authorization_code")],
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")));
    let (status, body, _) = form(&app, "/oidc/token", None, &[("grant_type", "authorization_code")]).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")));
    // Missing and unsupported grant types.
    let (status, body, _) = form(&app, "/oidc/token", Some(("rp", &secret)), &[("code", "x")]).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")));
    let (status, body, _) = form(
        &app,
        "/oidc/token",
        Some(("rp", &secret)),
        &[("grant_type", "password")],
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (400, Some("unsupported_grant_type")));
    let (status, body, _) = form(
        &app,
        "/oidc/token",
        Some(("rp", &secret)),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (400, Some("unauthorized_client")));
    // A repeated parameter and a JSON body are invalid requests.
    let (status, body, _) = form(
        &app,
        "/oidc/token",
        Some(("rp", &secret)),
        &[("grant_type", "authorization_code"), ("grant_type", "refresh_token")],
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")));
    let r = app
        .post("/oidc/token", None, &json!({"grant_type": "authorization_code"}))
        .await;
    assert_eq!(
        (r.status.as_u16(), r.body["error"].as_str()),
        (400, Some("invalid_request"))
    );
    // The code still works with the right secret, sent URL-encoded by Basic as oauth4webapi does.
    let (status, _) = exchange(&app, &code, ("rp", &secret)).await;
    assert_eq!(status, 200);

    // A public client: no secret, PKCE required; a secret is refused.
    let code = code_for(&app, &user, "spa", &[]).await;
    let (status, body, _) = form(
        &app,
        "/oidc/token",
        None,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("client_id", "spa"),
            ("client_secret", "whatever"),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")));
    let (status, body, _) = form(
        &app,
        "/oidc/token",
        None,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("client_id", "spa"),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");

    // client_credentials: a token for the audience, no ID token, no refresh token.
    let service = service.unwrap();
    let (status, body, _) = form(
        &app,
        "/oidc/token",
        Some(("svc", &service)),
        &[("grant_type", "client_credentials"), ("scope", "openid")],
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_scope")));
    let (status, body, _) = form(
        &app,
        "/oidc/token",
        Some(("svc", &service)),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("id_token").is_none() && body.get("refresh_token").is_none());
    let claims = verify_with_jwks(&app, body["access_token"].as_str().unwrap(), "api").await;
    assert_eq!(claims["sub"], "svc");

    // Introspection (confidential clients) and revocation.
    let code = code_for(&app, &user, "rp", &[]).await;
    let (_, tokens) = exchange(&app, &code, ("rp", &secret)).await;
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let (status, body, _) = form(&app, "/oidc/introspect", Some(("rp", &secret)), &[("token", access)]).await;
    assert_eq!(status, 200);
    assert_eq!(body["active"], true);
    assert_eq!(body["sub"], user.id_str());
    assert_eq!(body["client_id"], "rp");
    let (_, body, _) = form(&app, "/oidc/introspect", Some(("rp", &secret)), &[("token", refresh)]).await;
    assert_eq!(body["active"], true);
    let (_, body, _) = form(
        &app,
        "/oidc/introspect",
        Some(("rp", &secret)),
        &[("token", "nonsense")],
    )
    .await;
    assert_eq!(body, json!({"active": false}));
    let (status, body, _) = form(
        &app,
        "/oidc/introspect",
        None,
        &[("token", access), ("client_id", "spa")],
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")));
    let (status, _, _) = form(&app, "/oidc/revoke", Some(("rp", &secret)), &[("token", "unknown")]).await;
    assert_eq!(status, 200);
    let (status, _, _) = form(
        &app,
        "/oidc/revoke",
        Some(("rp", &secret)),
        &[("token", refresh), ("token_type_hint", "refresh_token")],
    )
    .await;
    assert_eq!(status, 200);
    let (_, body, _) = form(&app, "/oidc/introspect", Some(("rp", &secret)), &[("token", access)]).await;
    assert_eq!(body["active"], false, "revoking the refresh token ends the grant");
}

async fn authorize_errors(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let user = app.admin().await;
    client(&app, "rp", false, true, ClientChanges::default()).await;
    client(&app, "spa", true, true, ClientChanges::default()).await;
    client(&app, "third", false, false, ClientChanges::default()).await;
    let http = no_redirects();
    let get = |query: String| {
        let http = http.clone();
        let address = app.address.clone();
        async move {
            http.get(format!("{address}/oidc/authorize?{query}"))
                .send()
                .await
                .unwrap()
        }
    };
    let enc = |s: &str| url_encode(s);
    // Unknown client, unregistered redirect URI: a page, never a redirect.
    for query in [
        format!(
            "client_id=nobody&redirect_uri={}&response_type=code&scope=openid",
            enc(REDIRECT)
        ),
        format!(
            "client_id=rp&redirect_uri={}&response_type=code&scope=openid",
            enc("https://evil.example/cb")
        ),
        "response_type=code&scope=openid".to_string(),
    ] {
        let r = get(query).await;
        assert_eq!(r.status(), 400);
        assert!(r.headers().get("location").is_none());
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    }
    let error_of = |r: &reqwest::Response| -> std::collections::HashMap<String, String> {
        let location = r.headers()["location"].to_str().unwrap();
        assert!(location.starts_with(REDIRECT), "{location}");
        reqwest::Url::parse(location)
            .unwrap()
            .query_pairs()
            .into_owned()
            .collect()
    };
    let base = format!("client_id=rp&redirect_uri={}&state=abc", enc(REDIRECT));
    for (extra, expected) in [
        ("&scope=openid", "invalid_request"),
        ("&response_type=token&scope=openid", "unsupported_response_type"),
        ("&response_type=code&scope=openid%20admin", "invalid_scope"),
        (
            "&response_type=code&scope=openid&code_challenge=abc&code_challenge_method=plain",
            "invalid_request",
        ),
        ("&response_type=code&scope=openid&prompt=none", "login_required"),
        ("&response_type=code&scope=openid&max_age=ten", "invalid_request"),
    ] {
        let r = get(format!("{base}{extra}")).await;
        assert_eq!(r.status(), 303, "{extra}");
        let q = error_of(&r);
        assert_eq!(q["error"], expected, "{extra}");
        assert_eq!(q["state"], "abc");
        assert_eq!(q["iss"], app.address);
    }
    // A public client must use PKCE.
    let r = get(format!(
        "client_id=spa&redirect_uri={}&response_type=code&scope=openid&state=s",
        enc(REDIRECT)
    ))
    .await;
    assert_eq!(error_of(&r)["error"], "invalid_request");
    // Not signed in: to the sign-in page, coming back here.
    let r = get(format!("{base}&response_type=code&scope=openid")).await;
    let location = r.headers()["location"].to_str().unwrap();
    assert!(location.starts_with("/signin?"), "{location}");
    assert!(location.contains("return_to=%2Foidc%2Fauthorize"));

    // Signed in: prompt=login asks again, consent for a third-party client.
    let who = signed_in(&app, &user).await;
    let mut r = request("rp", &[]);
    r.prompt = Some("login".into());
    let outcome = app
        .core
        .oidc_authorize(&r, Some(&who), None, "/oidc/authorize?prompt=login")
        .await
        .unwrap();
    let AuthorizeOutcome::SignIn {
        force: true, return_to, ..
    } = outcome
    else {
        panic!("{outcome:?}")
    };
    assert!(return_to.contains("auth_after="));
    // Coming back signed in anew: a code.
    let after = return_to.split("auth_after=").nth(1).unwrap().to_string();
    r.auth_after = Some(after);
    let outcome = app.core.oidc_authorize(&r, Some(&who), None, "/").await.unwrap();
    assert!(
        matches!(outcome, AuthorizeOutcome::Redirect(ref to) if to.contains("code=")),
        "{outcome:?}"
    );
    let outcome = app
        .core
        .oidc_authorize(&request("third", &[]), Some(&who), None, "/")
        .await
        .unwrap();
    assert!(matches!(outcome, AuthorizeOutcome::Consent { .. }), "{outcome:?}");
    let mut none = request("third", &[]);
    none.prompt = Some("none".into());
    let outcome = app.core.oidc_authorize(&none, Some(&who), None, "/").await.unwrap();
    assert!(matches!(outcome, AuthorizeOutcome::Redirect(ref to) if to.contains("error=consent_required")));
    let outcome = app
        .core
        .oidc_authorize(&request("third", &[]), Some(&who), Some(false), "/")
        .await
        .unwrap();
    assert!(matches!(outcome, AuthorizeOutcome::Redirect(ref to) if to.contains("error=access_denied")));
    // A deactivated user gets no code.
    let mut who = who;
    who.user.active = false;
    let outcome = app
        .core
        .oidc_authorize(&request("rp", &[]), Some(&who), None, "/")
        .await
        .unwrap();
    assert!(matches!(outcome, AuthorizeOutcome::Redirect(ref to) if to.contains("error=access_denied")));
}

async fn end_session_checks_its_redirect(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let user = app.admin().await;
    let secret = client(&app, "rp", false, true, ClientChanges::default()).await.unwrap();
    let code = code_for(&app, &user, "rp", &[]).await;
    let (_, tokens) = exchange(&app, &code, ("rp", &secret)).await;
    let id_token = tokens["id_token"].as_str().unwrap();
    let http = no_redirects();
    let go = |query: String| {
        let http = http.clone();
        let address = app.address.clone();
        async move { http.get(format!("{address}/oidc/logout?{query}")).send().await.unwrap() }
    };
    // Open WebUI's form: the literal None and a registered URI needs a client.
    let r = go(format!(
        "id_token_hint=None&post_logout_redirect_uri={}",
        url_encode("https://rp.example/bye")
    ))
    .await;
    assert_eq!(r.status(), 400);
    let r = go(format!(
        "id_token_hint={id_token}&post_logout_redirect_uri={}&state=x",
        url_encode("https://rp.example/bye")
    ))
    .await;
    assert_eq!(r.headers()["location"], "https://rp.example/bye?state=x");
    let r = go(format!(
        "client_id=rp&logout_hint={}&post_logout_redirect_uri={}",
        url_encode(&user.email),
        url_encode("https://rp.example/bye")
    ))
    .await;
    assert_eq!(r.headers()["location"], "https://rp.example/bye");
    let r = go(format!(
        "client_id=rp&post_logout_redirect_uri={}",
        url_encode("https://evil.example/")
    ))
    .await;
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("location").is_none());
    let r = go("id_token_hint=forged.token.here".into()).await;
    assert_eq!(r.status(), 400);
}

async fn clients_are_validated_and_audited(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let admin = app.admin().await;
    let user = app.user(Role::User).await;
    let body = json!({"client_id": "webui", "redirect_uris": [REDIRECT], "first_party": true, "audience": "langflow"});
    app.post("/v1/clients", Some(&user.access_token), &body)
        .await
        .assert_problem(403, "forbidden");
    let r = app.post("/v1/clients", Some(&admin.access_token), &body).await;
    r.assert_status(201);
    let secret = r.body["client_secret"].as_str().unwrap().to_string();
    assert_eq!(r.body["client"]["confidential"], true);
    assert_eq!(r.body["client"]["audience"], "langflow");
    app.post("/v1/clients", Some(&admin.access_token), &body)
        .await
        .assert_problem(409, "conflict");
    for (bad, field) in [
        (json!({"client_id": "web-ui", "redirect_uris": [REDIRECT]}), "client_id"),
        (
            json!({"client_id": "x", "redirect_uris": ["/relative"]}),
            "redirect_uris",
        ),
        (json!({"client_id": "x", "redirect_uris": []}), "redirect_uris"),
        (
            json!({"client_id": "x", "redirect_uris": [REDIRECT], "scopes": ["admin"]}),
            "scopes",
        ),
        (
            json!({"client_id": "x", "redirect_uris": [REDIRECT], "signing_alg": "HS256"}),
            "signing_alg",
        ),
        (
            json!({"client_id": "x", "redirect_uris": [REDIRECT], "access_token_ttl": 1}),
            "access_token_ttl",
        ),
        (
            json!({"client_id": "x", "redirect_uris": [REDIRECT], "roles_claim": "sub"}),
            "roles_claim",
        ),
        (
            json!({"client_id": "x", "redirect_uris": [REDIRECT], "public": true, "grant_types": ["client_credentials"]}),
            "grant_types",
        ),
    ] {
        let r = app.post("/v1/clients", Some(&admin.access_token), &bad).await;
        assert_eq!(r.status.as_u16(), 422, "{bad}: {}", r.text);
        assert_eq!(r.body["field"], field, "{bad}");
    }
    let list = app.get("/v1/clients", Some(&admin.access_token)).await;
    list.assert_status(200);
    assert_eq!(list.body["clients"].as_array().unwrap().len(), 1);
    assert!(!list.text.contains(&secret));
    let r = app
        .patch(
            "/v1/clients/webui",
            Some(&admin.access_token),
            &json!({"first_party": false, "name": "Open WebUI"}),
        )
        .await;
    r.assert_status(200);
    assert_eq!(r.body["first_party"], false);
    assert_eq!(r.body["name"], "Open WebUI");
    let r = app
        .post("/v1/clients/webui/secret", Some(&admin.access_token), &json!({}))
        .await;
    r.assert_status(200);
    let new_secret = r.body["client_secret"].as_str().unwrap();
    assert_ne!(new_secret, secret);
    // The old secret no longer authenticates.
    let (status, _, _) = form(&app, "/oidc/introspect", Some(("webui", &secret)), &[("token", "x")]).await;
    assert_eq!(status, 401);
    let (status, _, _) = form(&app, "/oidc/introspect", Some(("webui", new_secret)), &[("token", "x")]).await;
    assert_eq!(status, 200);
    app.get("/v1/clients/nope", Some(&admin.access_token))
        .await
        .assert_problem(404, "not_found");
    app.delete("/v1/clients/webui", Some(&admin.access_token))
        .await
        .assert_status(204);
    app.delete("/v1/clients/webui", Some(&admin.access_token))
        .await
        .assert_problem(404, "not_found");
    let audit = app.audit().await;
    for action in [
        "oidc_client.created",
        "oidc_client.updated",
        "oidc_client.secret_rotated",
        "oidc_client.deleted",
    ] {
        assert!(
            audit.iter().any(|e| e.action == action && e.actor_id == Some(admin.id)),
            "{action}"
        );
    }
    let events = app.core.store.list_outbox(0, 100).await.unwrap();
    assert!(events.iter().any(|e| e.event_type == "oidc_client.created"));
}

pub(crate) fn url_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

pub(crate) fn query_of(location: &str) -> std::collections::HashMap<String, String> {
    reqwest::Url::parse(location)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

async fn browser_sign_in_consent_and_logout(backend: Backend) {
    use crate::pages::Browser;
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let user = app.admin().await;
    let secret = client(&app, "rp", false, true, ClientChanges::default()).await.unwrap();
    let third = client(&app, "third", false, false, ClientChanges::default())
        .await
        .unwrap();
    let mut browser = Browser::new(&app);
    let authorize = |client: &str, extra: &str| {
        format!(
            "/oidc/authorize?response_type=code&client_id={client}&redirect_uri={}&scope=openid%20email%20profile&state=s1&nonce=n1&code_challenge={CHALLENGE}&code_challenge_method=S256{extra}",
            url_encode(REDIRECT)
        )
    };
    // Not signed in: to the sign-in page, then back, then to the client with a code.
    let first = browser.get(&authorize("rp", "")).await;
    assert_eq!(first.status, 303);
    let to_signin = first.location().unwrap();
    assert!(to_signin.starts_with("/signin?return_to="), "{to_signin}");
    let back = browser
        .sign_in(&user.email, &user.password, Some(&authorize("rp", "")))
        .await;
    assert_eq!(back.status, 303, "{}", back.html);
    let back = back.location().unwrap();
    let answer = browser.get(&back).await;
    let location = answer.location().unwrap();
    let q = query_of(&location);
    assert!(location.starts_with(REDIRECT));
    assert_eq!(q["state"], "s1");
    let (status, tokens) = exchange(&app, &q["code"], ("rp", &secret)).await;
    assert_eq!(status, 200, "{tokens}");
    let id_token = tokens["id_token"].as_str().unwrap().to_string();
    let id = claims_of(&id_token);
    assert_eq!(id["sub"], user.id_str());
    assert_eq!(id["nonce"], "n1");
    assert_eq!(id["amr"], json!(["pwd"]));

    // Signed in: prompt=none answers at once; prompt=login sends to sign in again, once.
    let answer = browser.get(&authorize("rp", "&prompt=none")).await;
    assert!(query_of(&answer.location().unwrap()).contains_key("code"));
    let answer = browser.get(&authorize("rp", "&prompt=login")).await;
    let to_signin = answer.location().unwrap();
    assert!(to_signin.contains("prompt=login"), "{to_signin}");
    app.clock.advance(roster_core::time::Duration::seconds(2));
    let page = browser.get(&to_signin).await;
    assert_eq!(page.status, 200, "the form is shown again: {}", page.html);
    let signin = page
        .form("/signin")
        .set("identifier", &user.email)
        .set("password", &user.password);
    let back = browser.submit(&signin).await;
    assert_eq!(back.status, 303, "{}", back.html);
    let answer = browser.get(&back.location().unwrap()).await;
    assert!(
        query_of(&answer.location().unwrap()).contains_key("code"),
        "no second sign-in loop"
    );

    // A third-party client asks for consent; deny, then allow.
    let page = browser.get(&authorize("third", "")).await;
    assert_eq!(page.status, 200, "{}", page.html);
    let consent = page.form("/oidc/authorize");
    assert_eq!(consent.fields["client_id"], "third");
    let decide = |decision: &str| {
        let mut f = consent.clone();
        f.fields.insert("decision".into(), decision.into());
        f
    };
    let denied = browser.submit(&decide("deny")).await;
    assert_eq!(query_of(&denied.location().unwrap())["error"], "access_denied");
    let forged = browser.submit(&decide("allow").set("csrf", "forged")).await;
    assert_eq!(forged.status, 400);
    let allowed = browser.submit(&decide("allow")).await;
    let q = query_of(&allowed.location().unwrap());
    assert_eq!(q["state"], "s1");
    let (status, third_tokens) = exchange(&app, &q["code"], ("third", &third)).await;
    assert_eq!(status, 200, "{third_tokens}");

    // RP-initiated logout with the ID token: the session ends, the client's grant too.
    let out = browser
        .get(&format!(
            "/oidc/logout?id_token_hint={id_token}&post_logout_redirect_uri={}",
            url_encode("https://rp.example/bye")
        ))
        .await;
    assert_eq!(out.location().as_deref(), Some("https://rp.example/bye"));
    let again = browser.get(&authorize("rp", "")).await;
    assert!(again.location().unwrap().starts_with("/signin"));
    let (status, _, _) = form(
        &app,
        "/oidc/token",
        Some(("third", &third)),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", third_tokens["refresh_token"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(status, 400, "ending the browser session ends its grants");
}

/// The audit actions recorded for `client_id`.
async fn audited(app: &TestApp, client_id: &str) -> Vec<String> {
    app.audit()
        .await
        .into_iter()
        .filter(|e| e.details["client_id"] == client_id)
        .map(|e| e.action)
        .collect()
}

async fn consent_is_remembered_listed_and_withdrawn(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let user = app.admin().await;
    let other = app.user(Role::User).await;
    let secret = client(&app, "third", false, false, ClientChanges::default())
        .await
        .unwrap();
    let who = signed_in(&app, &user).await;
    let authorize = |extra: &'static [(&'static str, &'static str)], consent: Option<bool>| {
        let who = who.clone();
        let app = &app;
        async move {
            app.core
                .oidc_authorize(&request("third", extra), Some(&who), consent, "/oidc/authorize")
                .await
                .unwrap()
        }
    };
    let is_consent = |o: &AuthorizeOutcome| matches!(o, AuthorizeOutcome::Consent { .. });
    let code_of = |o: AuthorizeOutcome| match o {
        AuthorizeOutcome::Redirect(to) => query_of(&to).get("code").cloned(),
        other => panic!("expected a redirect, got {other:?}"),
    };
    let error_of = |o: AuthorizeOutcome| match o {
        AuthorizeOutcome::Redirect(to) => query_of(&to)["error"].clone(),
        other => panic!("expected a redirect, got {other:?}"),
    };
    // Not allowed yet: asked, and prompt=none is consent_required.
    assert!(is_consent(&authorize(&[], None).await));
    assert_eq!(
        error_of(authorize(&[("prompt", "none")], None).await),
        "consent_required"
    );
    // Allowed once: remembered for the same scopes (and fewer), prompt=none included.
    assert!(code_of(authorize(&[], Some(true)).await).is_some());
    assert!(code_of(authorize(&[], None).await).is_some(), "not asked again");
    assert!(code_of(authorize(&[("scope", "openid email")], None).await).is_some());
    let code = code_of(authorize(&[("prompt", "none")], None).await).unwrap();
    // prompt=consent asks again; so does a scope not allowed yet.
    assert!(is_consent(&authorize(&[("prompt", "consent")], None).await));
    let more: &[(&str, &str)] = &[("scope", "openid profile email offline_access groups")];
    assert!(is_consent(&authorize(more, None).await));
    assert_eq!(
        error_of(authorize(&[("scope", "openid groups"), ("prompt", "none")], None).await),
        "consent_required"
    );
    // Another user's consent is their own.
    let theirs = signed_in(&app, &other).await;
    let outcome = app
        .core
        .oidc_authorize(&request("third", &[]), Some(&theirs), None, "/")
        .await
        .unwrap();
    assert!(is_consent(&outcome), "{outcome:?}");

    // The user lists the consent (native API).
    let token = Some(user.access_token.as_str());
    let list = app.get("/v1/me/consents", token).await;
    list.assert_status(200);
    let consents = list.body["consents"].as_array().unwrap();
    assert_eq!(consents.len(), 1, "{}", list.body);
    assert_eq!(consents[0]["client_id"], "third");
    assert_eq!(consents[0]["client_name"], "third");
    assert_eq!(
        consents[0]["scopes"],
        json!(["openid", "profile", "email", "offline_access"])
    );
    assert!(consents[0]["granted_at"].as_str().unwrap().contains('T'));
    let one = app.get("/v1/me/consents/third", token).await;
    one.assert_status(200);
    assert_eq!(one.body["client_id"], "third");
    app.get("/v1/me/consents/third", Some(&other.access_token))
        .await
        .assert_status(404);
    app.get("/v1/me/consents", None).await.assert_status(401);
    assert_eq!(
        app.get("/v1/me/consents", Some(&other.access_token)).await.body["consents"],
        json!([])
    );

    // Withdrawing it ends the client's refresh tokens of the user; the next sign-in asks.
    let (status, tokens) = exchange(&app, &code, ("third", &secret)).await;
    assert_eq!(status, 200, "{tokens}");
    let refresh = tokens["refresh_token"].as_str().unwrap().to_string();
    app.delete("/v1/me/consents/third", Some(&other.access_token))
        .await
        .assert_status(404);
    app.delete("/v1/me/consents/third", token).await.assert_status(204);
    app.delete("/v1/me/consents/third", token).await.assert_status(404);
    app.get("/v1/me/consents/third", token).await.assert_status(404);
    let (status, body, _) = form(
        &app,
        "/oidc/token",
        Some(("third", &secret)),
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")));
    let r = no_redirects()
        .get(format!("{}/oidc/userinfo", app.address))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "the access token ends with the grant");
    assert!(is_consent(&authorize(&[], None).await));
    let actions = audited(&app, "third").await;
    for action in ["oidc.consent_granted", "oidc.consent_withdrawn"] {
        assert!(actions.iter().any(|a| a == action), "{action} audited: {actions:?}");
    }

    // Removing the client removes its consents: registered again, it asks again.
    assert!(code_of(authorize(&[], Some(true)).await).is_some());
    app.core.delete_oidc_client(app.core.operator(), "third").await.unwrap();
    client(&app, "third", false, false, ClientChanges::default()).await;
    assert!(is_consent(&authorize(&[], None).await));
    assert_eq!(app.get("/v1/me/consents", token).await.body["consents"], json!([]));
}

async fn logout_without_a_hint_asks_first(backend: Backend) {
    use crate::pages::Browser;
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let user = app.admin().await;
    let secret = client(&app, "rp", false, true, ClientChanges::default()).await.unwrap();
    client(&app, "other", false, true, ClientChanges::default()).await;
    let elsewhere = ClientChanges {
        post_logout_redirect_uris: Some(vec!["https://other.example/bye".into()]),
        ..Default::default()
    };
    app.core
        .update_oidc_client(app.core.operator(), "other", elsewhere)
        .await
        .unwrap();
    let bye = url_encode("https://rp.example/bye");
    let mut browser = Browser::new(&app);
    let first = browser.sign_in(&user.email, &user.password, None).await;
    assert_eq!(first.status, 303, "{}", first.html);
    let is_signed_in = |page: &crate::pages::Page| page.texts("main a").iter().any(|a| a == "Sign out");

    // client_id and a registered URI, no hint: a confirmation page; nothing ends yet.
    let page = browser
        .get(&format!(
            "/oidc/logout?client_id=rp&post_logout_redirect_uri={bye}&state=x%20y"
        ))
        .await;
    assert_eq!(page.status, 200, "{}", page.html);
    assert!(page.location().is_none());
    let confirm = page.form("/oidc/logout");
    assert_eq!(confirm.fields["client_id"], "rp");
    assert_eq!(confirm.fields["post_logout_redirect_uri"], "https://rp.example/bye");
    assert_eq!(confirm.fields["state"], "x y");
    assert!(is_signed_in(&browser.get("/signin").await), "still signed in");
    // A forged answer (logout CSRF) is refused and ends nothing.
    let forged = browser.submit(&confirm.clone().set("csrf", "forged")).await;
    assert_eq!(forged.status, 403);
    assert!(forged.location().is_none());
    assert!(is_signed_in(&browser.get("/signin").await), "still signed in");
    // Confirmed: the session ends, back to the client with its state.
    let page = browser
        .get(&format!(
            "/oidc/logout?client_id=rp&post_logout_redirect_uri={bye}&state=x%20y"
        ))
        .await;
    let done = browser.submit(&page.form("/oidc/logout")).await;
    assert_eq!(done.status, 303, "{}", done.html);
    assert_eq!(done.location().as_deref(), Some("https://rp.example/bye?state=x+y"));
    assert!(!is_signed_in(&browser.get("/signin").await), "signed out");

    // The same confirmation for a POSTed request (RP-Initiated Logout allows both).
    browser.sign_in(&user.email, &user.password, None).await;
    let body = format!("client_id=rp&post_logout_redirect_uri={bye}");
    let page = browser.post_raw("/oidc/logout", body, &[]).await;
    assert_eq!(page.status, 200, "{}", page.html);
    assert!(is_signed_in(&browser.get("/signin").await));
    let done = browser.submit(&page.form("/oidc/logout")).await;
    assert_eq!(done.location().as_deref(), Some("https://rp.example/bye"));

    // Without client_id or a hint, a redirect URI is an error page; so is one registered for
    // another client, or an unregistered one: never a redirect, and the session stays.
    browser.sign_in(&user.email, &user.password, None).await;
    for query in [
        format!("post_logout_redirect_uri={bye}"),
        format!("client_id=other&post_logout_redirect_uri={bye}&state=s"),
        format!(
            "client_id=rp&post_logout_redirect_uri={}",
            url_encode("https://rp.example/bye/")
        ),
        format!("client_id=nobody&post_logout_redirect_uri={bye}"),
    ] {
        let page = browser.get(&format!("/oidc/logout?{query}")).await;
        assert_eq!(page.status, 400, "{query}: {}", page.html);
        assert!(page.location().is_none(), "{query}");
    }
    assert!(is_signed_in(&browser.get("/signin").await));

    // With the ID token as hint: at once; client_id must then be its audience.
    let who = signed_in(&app, &user).await;
    let outcome = app
        .core
        .oidc_authorize(&request("rp", &[]), Some(&who), None, "/")
        .await
        .unwrap();
    let AuthorizeOutcome::Redirect(to) = outcome else {
        panic!("{outcome:?}")
    };
    let (_, tokens) = exchange(&app, &query_of(&to)["code"], ("rp", &secret)).await;
    let id_token = tokens["id_token"].as_str().unwrap();
    let page = browser
        .get(&format!(
            "/oidc/logout?id_token_hint={id_token}&client_id=other&post_logout_redirect_uri={bye}"
        ))
        .await;
    assert_eq!(page.status, 400, "client_id differs from the hint's audience");
    assert!(is_signed_in(&browser.get("/signin").await));
    let done = browser
        .get(&format!(
            "/oidc/logout?id_token_hint={id_token}&client_id=rp&post_logout_redirect_uri={bye}&state=s"
        ))
        .await;
    assert_eq!(done.location().as_deref(), Some("https://rp.example/bye?state=s"));
    assert!(!is_signed_in(&browser.get("/signin").await), "signed out at once");

    // Not signed in: nothing to end, straight back to the client.
    let page = browser
        .get(&format!("/oidc/logout?client_id=rp&post_logout_redirect_uri={bye}"))
        .await;
    assert_eq!(page.location().as_deref(), Some("https://rp.example/bye"));
}

/// Userinfo of `token`: status and body.
async fn userinfo(app: &TestApp, token: &str) -> (u16, Value) {
    let r = app
        .client
        .get(format!("{}/oidc/userinfo", app.address))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// An access token of `user` for the client `rp` (a fresh grant each time).
async fn access_token_for(app: &TestApp, user: &TestUser, secret: &str) -> String {
    let code = code_for(app, user, "rp", &[]).await;
    let (status, tokens) = exchange(app, &code, ("rp", secret)).await;
    assert_eq!(status, 200, "{tokens}");
    tokens["access_token"].as_str().unwrap().to_string()
}

/// A new user with an access token that userinfo answers (so its check is remembered).
async fn serving_user(app: &TestApp, secret: &str) -> (TestUser, String) {
    let user = app.user(Role::User).await;
    let token = access_token_for(app, &user, secret).await;
    assert_eq!(userinfo(app, &token).await.0, 200);
    (user, token)
}

/// Userinfo remembers a token's checked signature, but reads the grant, the account, the
/// client's claim names and the groups on every request: whatever ends access refuses the
/// very next request, and a change to the claims shows at once.
async fn userinfo_refuses_the_next_request_once_access_ends(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let admin = app.admin().await;
    let operator = app.core.authenticate_bearer(&admin.access_token).await.unwrap();
    let secret = client(
        &app,
        "rp",
        false,
        true,
        ClientChanges {
            roles_claim: Some("rr".into()),
            groups_claim: Some("gg".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();

    // Claims: the client's claim names, the user's groups in name order, read live.
    let user = app.user(Role::User).await;
    let token = access_token_for(&app, &user, &secret).await;
    let (status, info) = userinfo(&app, &token).await;
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["sub"], user.id_str());
    assert_eq!(info["rr"], json!(["user"]));
    assert_eq!(info["gg"], json!([]));
    for name in ["zeta", "alpha"] {
        let group = app
            .core
            .create_group(
                &operator,
                roster_core::service::NewGroup {
                    name: name.into(),
                    description: None,
                    permissions: None,
                },
            )
            .await
            .unwrap();
        app.core
            .add_group_members(&operator, group.id, &[user.id])
            .await
            .unwrap();
    }
    let (status, info) = userinfo(&app, &token).await;
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["gg"], json!(["alpha", "zeta"]));
    assert_eq!(info["rr"], json!(["user"]));
    assert_eq!(info["email"], user.email);

    // Revoked by its client.
    let (status, info) = userinfo(&app, &token).await;
    assert_eq!(status, 200, "{info}");
    let (status, _, _) = form(&app, "/oidc/revoke", Some(("rp", &secret)), &[("token", &token)]).await;
    assert_eq!(status, 200);
    assert_eq!(userinfo(&app, &token).await.0, 401, "revoked grant");

    // The browser session ended (logout): a grant without offline_access ends with it (an
    // offline one outlives it, see `backchannel::offline_grants_outlive_the_sign_out_but_not_the_account`).
    let user = app.user(Role::User).await;
    let code = code_for(&app, &user, "rp", &[("scope", "openid profile email")]).await;
    let (status, tokens) = exchange(&app, &code, ("rp", &secret)).await;
    assert_eq!(status, 200, "{tokens}");
    let token = tokens["access_token"].as_str().unwrap().to_string();
    assert_eq!(userinfo(&app, &token).await.0, 200);
    let actor = app.core.authenticate_bearer(&user.access_token).await.unwrap();
    app.core.logout(&actor).await.unwrap();
    assert_eq!(userinfo(&app, &token).await.0, 401, "ended session");

    // Banned.
    let (user, token) = serving_user(&app, &secret).await;
    app.core
        .ban_user(
            app.core.operator(),
            user.id,
            roster_core::time::Duration::hours(1),
            None,
        )
        .await
        .unwrap();
    assert_eq!(userinfo(&app, &token).await.0, 401, "banned user");

    // Deactivated.
    let (user, token) = serving_user(&app, &secret).await;
    app.core
        .admin_update_user(
            app.core.operator(),
            user.id,
            roster_core::service::AdminUserChanges {
                active: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(userinfo(&app, &token).await.0, 401, "deactivated user");

    // Deleted.
    let (user, token) = serving_user(&app, &secret).await;
    app.core.delete_user(app.core.operator(), user.id).await.unwrap();
    assert_eq!(userinfo(&app, &token).await.0, 401, "deleted user");

    // Expired (the remembered signature check does not outlive the token).
    let (_, token) = serving_user(&app, &secret).await;
    app.clock.advance(roster_core::time::Duration::seconds(901));
    assert_eq!(userinfo(&app, &token).await.0, 401, "expired token");

    // The client removed.
    let (_, token) = serving_user(&app, &secret).await;
    app.core.delete_oidc_client(app.core.operator(), "rp").await.unwrap();
    assert_eq!(userinfo(&app, &token).await.0, 401, "removed client");

    // A token whose signature does not match is refused, remembered or not.
    let mut forged: Vec<char> = token.chars().collect();
    let i = forged.len() - 20;
    forged[i] = if forged[i] == 'A' { 'B' } else { 'A' };
    let forged: String = forged.into_iter().collect();
    assert_eq!(userinfo(&app, &forged).await.0, 401, "bad signature");
}

backend_tests!(
    consent_is_remembered_listed_and_withdrawn,
    logout_without_a_hint_asks_first,
    browser_sign_in_consent_and_logout,
    userinfo_refuses_the_next_request_once_access_ends,
    discovery_and_keys,
    code_flow_tokens_userinfo_refresh,
    codes_are_single_use_and_bound,
    client_authentication_and_grant_errors,
    authorize_errors,
    end_session_checks_its_redirect,
    clients_are_validated_and_audited,
);
