//! An independent relying party: `openid-client` 6 (npm; LibreChat's own OIDC library,
//! tests/clients/openid-client/flow.mjs) runs discovery, the code flow with PKCE and a nonce,
//! userinfo, refresh, revocation and the end-session URL against a running Roster, while this
//! test signs the user in on Roster's pages. Needs node and npm; without them (outside CI) the
//! test prints SKIPPED and passes.

use crate::pages::Browser;
use roster_core::service::oidc::{ClientChanges, NewClient};
use roster_testkit::{Backend, backend_tests, spawn_app};
use serde_json::Value;
use std::path::PathBuf;
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

const REDIRECT: &str = "https://rp.example/oauth/openid/callback";
const POST_LOGOUT: &str = "https://rp.example/login";

fn client_dir() -> PathBuf {
    crate::npm::client_dir("openid-client")
}

fn ready() -> bool {
    crate::npm::ready("openid-client", "openid-client", "openid-client test")
}

async fn openid_client_signs_in_refreshes_and_revokes(backend: Backend) {
    if !ready() {
        return;
    }
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let user = app.admin().await;
    let secret = app
        .core
        .create_oidc_client(
            app.core.operator(),
            NewClient {
                client_id: "librechat".into(),
                public: false,
                secret: None,
                settings: ClientChanges {
                    redirect_uris: Some(vec![REDIRECT.into()]),
                    post_logout_redirect_uris: Some(vec![POST_LOGOUT.into()]),
                    first_party: Some(true),
                    ..ClientChanges::default()
                },
            },
        )
        .await
        .unwrap()
        .secret
        .unwrap();
    let mut child = tokio::process::Command::new("node")
        .arg("flow.mjs")
        .current_dir(client_dir())
        .env("ISSUER", &app.address)
        .env("CLIENT_ID", "librechat")
        .env("CLIENT_SECRET", &secret)
        .env("REDIRECT_URI", REDIRECT)
        .env("POST_LOGOUT_REDIRECT_URI", POST_LOGOUT)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node starts");
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut browser = Browser::new(&app);
    let mut seen = Vec::new();
    let run = async {
        while let Some(line) = stdout.next_line().await.unwrap() {
            let message: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
            if let Some(url) = message["authorize"].as_str() {
                // The user's browser: authorize, sign in on Roster's page, back to authorize,
                // then to the relying party's callback (whose URL goes to the library).
                let path = url.strip_prefix(app.address.as_str()).expect("on the issuer");
                assert!(path.starts_with("/oidc/authorize?"), "{path}");
                let first = browser.get(path).await;
                assert_eq!(first.status, 303);
                let back = browser.sign_in(&user.email, &user.password, Some(path)).await;
                assert_eq!(back.status, 303, "{}", back.html);
                let answer = browser.get(&back.location().unwrap()).await;
                let callback = answer.location().expect("sent back to the client");
                assert!(callback.starts_with(REDIRECT), "{callback}");
                stdin.write_all(format!("{callback}\n").as_bytes()).await.unwrap();
                stdin.flush().await.unwrap();
            }
            seen.push(message);
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(60), run)
        .await
        .expect("the client finishes within a minute");
    let out = child.wait_with_output().await.unwrap();
    let result = seen.last().cloned().unwrap_or(Value::Null);
    assert!(
        out.status.success() && result.get("claims").is_some(),
        "client failed: {:?}\nstdout: {seen:#?}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let id = user.id_str();
    assert_eq!(result["issuer"], app.address.as_str());
    assert_eq!(result["claims"]["sub"], id.as_str());
    assert_eq!(result["claims"]["aud"], "librechat");
    assert_eq!(result["claims"]["email"], user.email.as_str());
    assert_eq!(result["token_type"], "bearer");
    assert!(result["expires_in"].as_i64().is_some_and(|s| s > 0), "{result}");
    assert_eq!(result["userinfo"]["sub"], id.as_str());
    assert_eq!(result["userinfo"]["email"], user.email.as_str());
    assert_eq!(
        result["refreshed_id_token_sub"],
        id.as_str(),
        "a refresh brings a new ID token"
    );
    assert_eq!(result["refresh_token_rotated"], true);
    assert_eq!(
        result["after_revocation"], "invalid_grant",
        "a revoked refresh token is refused"
    );
    // The end-session URL the library builds is accepted, and sends the browser back.
    let end = result["end_session"].as_str().unwrap();
    let path = end.strip_prefix(app.address.as_str()).unwrap();
    assert!(
        path.starts_with("/oidc/logout?") && path.contains("client_id=librechat"),
        "{path}"
    );
    let answer = browser.get(path).await;
    assert!(answer.status.as_u16() < 400, "{} {}", answer.status, answer.html);
}

backend_tests!(openid_client_signs_in_refreshes_and_revokes);
