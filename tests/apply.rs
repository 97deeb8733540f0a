//! `roster apply`: the real binary against a test database on both backends, its effects read
//! back from the store. Apply, re-apply (no change), a changed field, --dry-run, --prune, bad
//! files, YAML, and the example file of the docs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use roster_core::Store;
use roster_testkit::{Backend, TestDatabase, backend_tests};
use serde_json::json;
use std::path::Path;
use std::sync::Arc;

const BIN: &str = env!("CARGO_BIN_EXE_roster");
const HOOK_SECRET: &str = "hook-secret-0123456789-abcdef";
const CLIENT_SECRET: &str = "ClientSecret0123456789abcdefghijKLMNOP";

/// Runs `roster ARGS` on the database; returns (exit code, stdout, stderr).
fn roster(db: &TestDatabase, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let output = std::process::Command::new(BIN)
        .env_clear()
        .env("ROSTER_DATABASE_URL", &db.url)
        .env("ROSTER_SECRET_KEY", roster_testkit::app::TEST_SECRET_KEY)
        .envs(env.iter().copied())
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (
        output.status.code().unwrap_or(-1),
        text(&output.stdout),
        text(&output.stderr),
    )
}

/// Applies `file` (in `dir`) with `flags`; asserts success and returns standard output.
fn apply(db: &TestDatabase, dir: &Path, file: &str, flags: &[&str]) -> String {
    let mut args = vec!["apply", file];
    args.extend_from_slice(flags);
    let (code, out, err) = roster(
        db,
        dir,
        &args,
        &[("HOOK_SECRET", HOOK_SECRET), ("CLIENT_SECRET", CLIENT_SECRET)],
    );
    assert_eq!(code, 0, "apply {file} {flags:?}: {out}{err}");
    assert!(
        !out.contains(HOOK_SECRET) && !out.contains(CLIENT_SECRET),
        "a secret printed: {out}"
    );
    out
}

fn users(db: &TestDatabase, dir: &Path) {
    for (email, name) in [("alice@example.org", "alice"), ("bob@example.org", "bob")] {
        let (code, out, err) = roster(db, dir, &["create-user", email, name, name, "--generate-password"], &[]);
        assert_eq!(code, 0, "{out}{err}");
    }
}

const FILE: &str = r#"
[[permission_templates]]
name = "default"
permissions = { workspace = { models = false }, features = { api_keys = false } }

[[groups]]
name = "engineering"
description = "Builds things"
members = ["alice@example.org", "bob"]
permissions = { workspace = { models = true } }

[[groups]]
name = "support"

[[webhooks]]
url = "https://hooks.example.org/roster"
events = ["user.created", "user.deleted"]
secret = "env:HOOK_SECRET"
required_for_deletion = true

[[clients]]
client_id = "chat"
name = "Chat"
secret = "env:CLIENT_SECRET"
redirect_uris = ["https://chat.example.org/callback"]
first_party = true
"#;

/// A snapshot of what apply manages, to compare before and after.
async fn state(store: &Arc<dyn Store>) -> serde_json::Value {
    let mut groups = Vec::new();
    for g in store.list_groups().await.unwrap() {
        let mut members: Vec<i64> = store
            .list_group_members(g.id)
            .await
            .unwrap()
            .iter()
            .map(|u| u.0)
            .collect();
        members.sort();
        groups.push(json!([
            g.name,
            g.description,
            g.permissions,
            members,
            g.updated_at.unix_timestamp_nanos().to_string()
        ]));
    }
    let hooks: Vec<_> = store
        .list_subscriptions()
        .await
        .unwrap()
        .into_iter()
        .map(|s| {
            json!([
                s.id,
                s.url,
                s.event_types,
                s.secret,
                s.required_for_deletion,
                s.description
            ])
        })
        .collect();
    let clients: Vec<_> = store
        .list_oidc_clients()
        .await
        .unwrap()
        .into_iter()
        .map(|c| {
            json!([
                c.client_id,
                c.name,
                c.secret_digest,
                c.redirect_uris,
                c.first_party,
                c.scopes,
                c.updated_at.unix_timestamp_nanos().to_string()
            ])
        })
        .collect();
    let template = store.get_permission_template("default").await.unwrap();
    json!({ "groups": groups, "webhooks": hooks, "clients": clients, "template": template })
}

async fn apply_reapply_change_dry_run_and_prune(backend: Backend) {
    let db = roster_testkit::or_skip!(TestDatabase::new(backend).await);
    let dir = tempfile::tempdir().unwrap();
    users(&db, dir.path());
    std::fs::write(dir.path().join("roster.toml"), FILE).unwrap();
    let store = db.store().await;
    let empty = state(&store).await;

    // A dry run shows everything it would make and makes nothing.
    let out = apply(&db, dir.path(), "roster.toml", &["--dry-run"]);
    assert!(out.contains("+ would create engineering"), "{out}");
    assert!(out.contains("+ would create chat"), "{out}");
    assert!(out.contains("Dry run, nothing changed: 5 to create"), "{out}");
    assert_eq!(state(&store).await, empty);

    let out = apply(&db, dir.path(), "roster.toml", &[]);
    assert!(
        out.contains("Applied roster.toml: 5 created, 0 updated, 0 deleted."),
        "{out}"
    );
    let groups = store.list_groups().await.unwrap();
    let engineering = groups.iter().find(|g| g.name == "engineering").unwrap();
    assert_eq!(engineering.permissions, json!({ "workspace": { "models": true } }));
    assert_eq!(store.list_group_members(engineering.id).await.unwrap().len(), 2);
    assert_eq!(
        store.get_permission_template("default").await.unwrap(),
        Some(json!({ "workspace": { "models": false }, "features": { "api_keys": false } }))
    );
    let hooks = store.list_subscriptions().await.unwrap();
    assert_eq!(hooks.len(), 1);
    assert!(hooks[0].required_for_deletion);
    assert_ne!(hooks[0].secret, HOOK_SECRET, "kept sealed");
    let client = store.get_oidc_client("chat").await.unwrap();
    assert!(client.first_party);
    assert_eq!(client.redirect_uris, ["https://chat.example.org/callback"]);
    assert_eq!(
        client.secret_digest.as_deref(),
        Some(roster_core::token::digest(CLIENT_SECRET).as_str())
    );

    // Through the core: audited (by the command line: no actor) and in the outbox.
    let (code, audit, _) = roster(&db, dir.path(), &["audit", "--json"], &[]);
    assert_eq!(code, 0);
    for action in ["group.create", "permission_template.update", "oidc_client.created"] {
        assert!(audit.contains(action), "{action} in {audit}");
    }

    // Again: nothing changes, and it says so.
    let applied = state(&store).await;
    let out = apply(&db, dir.path(), "roster.toml", &[]);
    assert!(out.starts_with("No changes: the database matches roster.toml"), "{out}");
    assert_eq!(state(&store).await, applied);

    // A changed field (and a changed secret) is an update naming the fields.
    let changed = FILE
        .replace("description = \"Builds things\"", "description = \"Builds more\"")
        .replace("first_party = true", "first_party = false")
        .replace("\"bob\"]", "]");
    std::fs::write(dir.path().join("roster.toml"), &changed).unwrap();
    let before = state(&store).await;
    let out = apply(&db, dir.path(), "roster.toml", &["--dry-run"]);
    assert!(
        out.contains("~ would update engineering: description, members"),
        "{out}"
    );
    assert!(out.contains("~ would update chat: first_party"), "{out}");
    assert_eq!(state(&store).await, before, "a dry run changes nothing");
    let out = apply(&db, dir.path(), "roster.toml", &[]);
    assert!(out.contains("0 created, 2 updated, 0 deleted"), "{out}");
    let engineering = store
        .list_groups()
        .await
        .unwrap()
        .into_iter()
        .find(|g| g.name == "engineering")
        .unwrap();
    assert_eq!(engineering.description, "Builds more");
    assert_eq!(store.list_group_members(engineering.id).await.unwrap().len(), 1);
    assert!(!store.get_oidc_client("chat").await.unwrap().first_party);
    let (code, out, err) = roster(
        &db,
        dir.path(),
        &["apply", "roster.toml"],
        &[
            ("HOOK_SECRET", "another-secret-0123456789"),
            ("CLIENT_SECRET", "Another0123456789abcdefghijKLMNOPQRSTU"),
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("~ update https://hooks.example.org/roster: secret"),
        "{out}"
    );
    assert!(out.contains("~ update chat: secret"), "{out}");
    assert!(!out.contains("another-secret") && !out.contains("Another0123"), "{out}");
    assert_eq!(
        store.get_oidc_client("chat").await.unwrap().secret_digest.as_deref(),
        Some(roster_core::token::digest("Another0123456789abcdefghijKLMNOPQRSTU").as_str())
    );
    apply(&db, dir.path(), "roster.toml", &[]);

    // Objects the file does not name: listed and kept; removed with --prune.
    let fewer = r#"
[[permission_templates]]
name = "default"
permissions = { workspace = { models = false }, features = { api_keys = false } }

[[groups]]
name = "engineering"
description = "Builds more"
members = ["alice@example.org"]
permissions = { workspace = { models = true } }

[[clients]]
client_id = "web"
public = true
redirect_uris = ["https://web.example.org/cb"]
"#;
    std::fs::write(dir.path().join("fewer.toml"), fewer).unwrap();
    let out = apply(&db, dir.path(), "fewer.toml", &[]);
    assert!(
        out.contains("! not in the file, kept (--prune removes it): support"),
        "{out}"
    );
    assert!(
        out.contains("! not in the file, kept (--prune removes it): chat"),
        "{out}"
    );
    assert!(out.contains("1 created"), "{out}");
    assert_eq!(store.list_groups().await.unwrap().len(), 2);
    let out = apply(&db, dir.path(), "fewer.toml", &["--prune", "--dry-run"]);
    assert!(
        out.contains("- would delete support") && out.contains("- would delete chat"),
        "{out}"
    );
    assert_eq!(store.list_groups().await.unwrap().len(), 2);
    let out = apply(&db, dir.path(), "fewer.toml", &["--prune"]);
    assert!(out.contains("0 created, 0 updated, 2 deleted"), "{out}");
    let names: Vec<String> = store.list_groups().await.unwrap().into_iter().map(|g| g.name).collect();
    assert_eq!(names, ["engineering"]);
    let clients: Vec<String> = store
        .list_oidc_clients()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.client_id)
        .collect();
    assert_eq!(clients, ["web"]);
    let out = apply(&db, dir.path(), "fewer.toml", &["--prune"]);
    assert!(out.starts_with("No changes"), "{out}");
}

/// Bad files fail with one line naming the file, the place and the problem, and change
/// nothing, even where the entries before the bad one are good.
async fn bad_files_change_nothing(backend: Backend) {
    let db = roster_testkit::or_skip!(TestDatabase::new(backend).await);
    let dir = tempfile::tempdir().unwrap();
    users(&db, dir.path());
    let store = db.store().await;
    let empty = state(&store).await;
    let good = "[[groups]]\nname = \"first\"\n\n";
    let cases: [(&str, String, &str); 9] = [
        ("syntax.toml", format!("{good}[[groups]\nname = 1\n"), "line 4"),
        (
            "syntax.yaml",
            "groups:\n  - name: a\n   description: [\n".into(),
            "line 3",
        ),
        (
            "section.toml",
            format!("{good}[[grops]]\nname = \"x\"\n"),
            "unknown section \"grops\"",
        ),
        (
            "field.toml",
            format!("{good}[[groups]]\nname = \"x\"\ncolour = \"red\"\n"),
            "groups[1].colour: unknown field `colour`",
        ),
        (
            "type.toml",
            format!("{good}[[groups]]\nname = \"x\"\npermissions = \"all\"\n"),
            "groups[1] (x): permissions: must be a JSON object",
        ),
        (
            "member.toml",
            format!("{good}[[groups]]\nname = \"x\"\nmembers = [\"alice\", \"nobody\"]\n"),
            "groups[1] (x): members[1]: no user with the email or username \"nobody\"",
        ),
        (
            "twice.toml",
            format!("{good}{good}"),
            "groups[1] (first): named twice in the file",
        ),
        (
            "hook.toml",
            format!("{good}[[webhooks]]\nurl = \"https://h.example.org/\"\nevents = [\"user.exploded\"]\n"),
            "webhooks[0] (https://h.example.org/): event_types",
        ),
        (
            "secret.toml",
            format!(
                "{good}[[clients]]\nclient_id = \"c\"\nsecret = \"env:MISSING_SECRET\"\nredirect_uris = [\"https://c.example.org/cb\"]\n"
            ),
            "clients[0] (c): secret: the environment variable MISSING_SECRET is not set",
        ),
    ];
    for (name, text, needle) in cases {
        std::fs::write(dir.path().join(name), text).unwrap();
        let (code, out, err) = roster(&db, dir.path(), &["apply", name], &[]);
        assert_eq!(code, 1, "{name}: {out}{err}");
        assert_eq!(err.lines().count(), 1, "{name}: one line: {err}");
        assert!(
            err.contains(name) && err.contains(needle),
            "{name}: {needle:?} in {err}"
        );
        assert_eq!(state(&store).await, empty, "{name} changed something");
    }
    let (code, _, err) = roster(&db, dir.path(), &["apply", "missing.toml"], &[]);
    assert_eq!(code, 1);
    assert!(err.contains("missing.toml"), "{err}");
}

/// YAML works as TOML does; `file:` secrets are read relative to the file.
async fn yaml_files_and_file_secrets(backend: Backend) {
    let db = roster_testkit::or_skip!(TestDatabase::new(backend).await);
    let dir = tempfile::tempdir().unwrap();
    users(&db, dir.path());
    std::fs::create_dir(dir.path().join("conf")).unwrap();
    std::fs::write(dir.path().join("conf/hook.secret"), format!("{HOOK_SECRET}\n")).unwrap();
    let yaml = "groups:\n  - name: ops\n    members: [alice]\n    permissions:\n      features: {api_keys: true}\nwebhooks:\n  - url: https://hooks.example.org/y\n    secret: file:hook.secret\n";
    std::fs::write(dir.path().join("conf/roster.yaml"), yaml).unwrap();
    let out = apply(&db, dir.path(), "conf/roster.yaml", &[]);
    assert!(out.contains("2 created"), "{out}");
    let out = apply(&db, dir.path(), "conf/roster.yaml", &[]);
    assert!(out.starts_with("No changes"), "{out}");
    let groups = store_groups(&db).await;
    assert_eq!(groups, ["ops"]);
}

/// SCIM targets: created with a token from the environment (never printed), unchanged on a
/// second run, updated in place (same id, so the delivery log and outbox position stay) when
/// the token or a flag changes, and removed by --prune.
async fn scim_targets_are_applied(backend: Backend) {
    let db = roster_testkit::or_skip!(TestDatabase::new(backend).await);
    let dir = tempfile::tempdir().unwrap();
    let store = db.store().await;
    let file = |groups: bool| {
        format!(
            "[[scim_targets]]\nname = \"chat\"\nurl = \"https://chat.example.org/api/v1/scim/v2/\"\n\
             token = \"env:SCIM_TOKEN\"\ngroups = {groups}\n"
        )
    };
    let run = |file: &str, token: &str, flags: &[&str]| {
        let mut args = vec!["apply", file];
        args.extend_from_slice(flags);
        let (code, out, err) = roster(&db, dir.path(), &args, &[("SCIM_TOKEN", token)]);
        assert_eq!(code, 0, "apply {file} {flags:?}: {out}{err}");
        assert!(!out.contains(token), "the token printed: {out}");
        out
    };
    std::fs::write(dir.path().join("scim.toml"), file(false)).unwrap();
    let out = run("scim.toml", "first-token-0123456789", &[]);
    assert!(out.contains("1 created"), "{out}");
    let created = store.list_scim_targets().await.unwrap();
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].url, "https://chat.example.org/api/v1/scim/v2");
    assert!(!created[0].push_groups);
    let out = run("scim.toml", "first-token-0123456789", &[]);
    assert!(out.starts_with("No changes"), "{out}");

    let out = run("scim.toml", "second-token-0123456789", &["--dry-run"]);
    assert!(out.contains("token"), "{out}");
    assert_eq!(store.list_scim_targets().await.unwrap()[0].token, created[0].token);
    let out = run("scim.toml", "second-token-0123456789", &[]);
    assert!(out.contains("1 updated") && out.contains("token"), "{out}");
    std::fs::write(dir.path().join("scim.toml"), file(true)).unwrap();
    let out = run("scim.toml", "second-token-0123456789", &[]);
    assert!(
        out.contains("1 updated") && out.contains("groups") && !out.contains("token"),
        "{out}"
    );
    let updated = store.list_scim_targets().await.unwrap();
    assert_eq!(updated[0].id, created[0].id, "updated in place");
    assert_eq!(updated[0].start_seq, created[0].start_seq);
    assert!(updated[0].push_groups);
    assert_ne!(updated[0].token, created[0].token, "the new token is sealed");
    let out = run("scim.toml", "second-token-0123456789", &[]);
    assert!(out.starts_with("No changes"), "{out}");

    std::fs::write(dir.path().join("none.toml"), "scim_targets = []\n").unwrap();
    let out = run("none.toml", "unused-token-0123456789", &[]);
    assert!(out.contains("kept"), "{out}");
    assert_eq!(store.list_scim_targets().await.unwrap().len(), 1);
    let out = run("none.toml", "unused-token-0123456789", &["--prune"]);
    assert!(out.contains("1 deleted"), "{out}");
    assert!(store.list_scim_targets().await.unwrap().is_empty());
}

async fn store_groups(db: &TestDatabase) -> Vec<String> {
    db.store()
        .await
        .list_groups()
        .await
        .unwrap()
        .into_iter()
        .map(|g| g.name)
        .collect()
}

/// The example of docs/operations.md applies as it is, and a second time changes nothing.
async fn the_documented_example_applies(backend: Backend) {
    let db = roster_testkit::or_skip!(TestDatabase::new(backend).await);
    let dir = tempfile::tempdir().unwrap();
    users(&db, dir.path());
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/examples/roster-apply.toml");
    let file = example.to_str().unwrap();
    let env = [
        ("ROSTER_BILLING_WEBHOOK_SECRET", HOOK_SECRET),
        ("ROSTER_LIBRECHAT_CLIENT_SECRET", CLIENT_SECRET),
    ];
    let (code, out, err) = roster(&db, dir.path(), &["apply", file], &env);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("6 created"), "{out}");
    let (code, out, err) = roster(&db, dir.path(), &["apply", file], &env);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("No changes"), "{out}");
    assert_eq!(store_groups(&db).await, ["engineering", "support"]);
    let docs = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/operations.md")).unwrap();
    let text = std::fs::read_to_string(&example).unwrap();
    assert!(
        docs.contains(&text),
        "docs/operations.md shows docs/examples/roster-apply.toml as it is"
    );
}

backend_tests!(
    apply_reapply_change_dry_run_and_prune,
    bad_files_change_nothing,
    yaml_files_and_file_secrets,
    scim_targets_are_applied,
    the_documented_example_applies,
);
