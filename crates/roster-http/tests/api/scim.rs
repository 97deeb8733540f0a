//! The SCIM 2.0 server at `/scim/v2`: who may call it, users and groups, filters, PATCH,
//! pages, sorting, ETags and the SCIM error shape.

use reqwest::Method;
use roster_core::time::Duration;
use roster_core::{Role, UserId};
use roster_testkit::app::TestResponse;
use roster_testkit::{Backend, TestApp, backend_tests, spawn_app};
use serde_json::{Value, json};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// An app and an administrator's key with the scim scope.
async fn scim_app(backend: Backend) -> Option<(TestApp, String)> {
    let app = spawn_app(backend).await?;
    let admin = app.admin().await;
    let key = app.api_key(&admin, &["scim"]).await;
    Some((app, key))
}

async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    key: &str,
    body: Option<&Value>,
    if_match: Option<&str>,
) -> TestResponse {
    let mut request = app
        .client
        .request(method, format!("{}/scim/v2{path}", app.address))
        .bearer_auth(key);
    if let Some(body) = body {
        request = request
            .header("content-type", "application/scim+json")
            .body(body.to_string());
    }
    if let Some(tag) = if_match {
        request = request.header("if-match", tag);
    }
    TestApp::read(request.send().await.unwrap()).await
}

async fn get(app: &TestApp, key: &str, path: &str) -> TestResponse {
    send(app, Method::GET, path, key, None, None).await
}

/// Asserts a SCIM Error message with this status and scimType.
#[track_caller]
fn assert_scim_error(r: &TestResponse, status: u16, scim_type: Option<&str>) {
    assert_eq!(r.status.as_u16(), status, "body: {}", r.text);
    assert_eq!(
        r.headers.get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/scim+json"),
        "body: {}",
        r.text
    );
    assert_eq!(
        r.body["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:Error"])
    );
    assert_eq!(r.body["status"], status.to_string());
    assert_eq!(r.body["scimType"].as_str(), scim_type, "body: {}", r.text);
    assert!(r.body["detail"].is_string());
}

fn user_body(user_name: &str, email: &str) -> Value {
    json!({
        "schemas": [USER, ENTERPRISE],
        "userName": user_name,
        "externalId": format!("ext-{user_name}"),
        "name": {"givenName": "Given", "familyName": user_name},
        "displayName": format!("Display {user_name}"),
        "emails": [{"value": email, "type": "work", "primary": true}],
        "active": true,
        ENTERPRISE: {"employeeNumber": "701984", "department": "Sales", "manager": {"value": "1"}},
    })
}

async fn create_user(app: &TestApp, key: &str, user_name: &str, email: &str) -> Value {
    let r = send(
        app,
        Method::POST,
        "/Users",
        key,
        Some(&user_body(user_name, email)),
        None,
    )
    .await;
    r.assert_status(201);
    r.body
}

fn ids(r: &TestResponse) -> Vec<String> {
    r.body["Resources"]
        .as_array()
        .unwrap_or_else(|| panic!("a ListResponse: {}", r.text))
        .iter()
        .map(|u| {
            u["userName"]
                .as_str()
                .or(u["displayName"].as_str())
                .unwrap()
                .to_string()
        })
        .collect()
}

async fn only_scim_keys_get_in(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let admin = app.admin().await;
    let member = app.user(Role::User).await;
    let r = app.get("/scim/v2/Users", None).await;
    assert_scim_error(&r, 401, None);
    assert_eq!(r.headers["www-authenticate"], "Bearer");
    assert_scim_error(&app.get("/scim/v2/Users", Some("rst_unknown")).await, 401, None);
    // A session, or an administrator's key without the scope: 403.
    assert_scim_error(&app.get("/scim/v2/Users", Some(&admin.access_token)).await, 403, None);
    let plain = app.api_key(&admin, &[]).await;
    assert_scim_error(&app.get("/scim/v2/Groups", Some(&plain)).await, 403, None);
    // Only administrators grant the scope.
    let r = app
        .post(
            "/v1/me/api-keys",
            Some(&member.access_token),
            &json!({"name": "x", "scopes": ["scim"]}),
        )
        .await;
    r.assert_problem(403, "forbidden");
    let key = app.api_key(&admin, &["scim"]).await;
    for path in [
        "/ServiceProviderConfig",
        "/ResourceTypes",
        "/Schemas",
        "/Users",
        "/Groups",
    ] {
        let r = get(&app, &key, path).await;
        r.assert_status(200);
        assert_eq!(r.headers["content-type"], "application/scim+json");
    }
    let r = get(&app, &key, "/ResourceTypes/User").await;
    assert_eq!(r.body["schemaExtensions"][0]["schema"], ENTERPRISE);
    get(&app, &key, &format!("/Schemas/{ENTERPRISE}"))
        .await
        .assert_status(200);
    assert_scim_error(&get(&app, &key, "/Schemas/urn:x").await, 404, None);
    assert_scim_error(&get(&app, &key, "/Nothing").await, 404, None);
    // A key whose owner is no longer an administrator loses the scope.
    let other_admin = app.user(Role::Admin).await;
    let key2 = app.api_key(&other_admin, &["scim"]).await;
    get(&app, &key2, "/Users").await.assert_status(200);
    app.set_user(
        other_admin.id,
        roster_core::service::AdminUserChanges {
            role: Some(Role::User),
            ..Default::default()
        },
    )
    .await;
    assert_scim_error(&get(&app, &key2, "/Users").await, 403, None);
}

async fn users_are_created_read_replaced_and_deleted(backend: Backend) {
    let (app, key) = roster_testkit::or_skip!(scim_app(backend).await);
    let r = send(
        &app,
        Method::POST,
        "/Users",
        &key,
        Some(&user_body("bjensen", "bjensen@example.com")),
        None,
    )
    .await;
    r.assert_status(201);
    let id = r.body["id"].as_str().unwrap().to_string();
    let location = r.headers["location"].to_str().unwrap().to_string();
    assert!(location.ends_with(&format!("/scim/v2/Users/{id}")), "{location}");
    assert_eq!(r.body["meta"]["location"], location);
    assert_eq!(
        r.headers["etag"].to_str().unwrap(),
        r.body["meta"]["version"].as_str().unwrap()
    );
    assert_eq!(r.body["userName"], "bjensen");
    assert_eq!(r.body["externalId"], "ext-bjensen");
    assert_eq!(r.body["displayName"], "Display bjensen");
    assert_eq!(r.body["name"]["familyName"], "bjensen");
    assert_eq!(r.body["emails"][0]["value"], "bjensen@example.com");
    assert_eq!(r.body[ENTERPRISE]["department"], "Sales");
    assert_eq!(r.body["schemas"], json!([USER, ENTERPRISE]));
    assert_eq!(r.body["meta"]["resourceType"], "User");
    // It is a Roster user, without a password, and the change went through the journal.
    let user = app.core.store.get_user(UserId(id.parse().unwrap())).await.unwrap();
    assert_eq!(user.username.as_deref(), Some("bjensen"));
    assert_eq!(user.email.as_deref(), Some("bjensen@example.com"));
    assert_eq!(user.name.as_deref(), Some("Display bjensen"));
    assert!(user.password_hash.is_none() && user.active);
    let events = app.core.store.list_outbox(0, 100).await.unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.event_type == "user.created" && e.subject_id == user.id)
    );
    assert!(app.audit().await.iter().any(|a| a.action == "scim.record_write"));

    let r = get(&app, &key, &format!("/Users/{id}")).await;
    r.assert_status(200);
    assert_eq!(r.body["userName"], "bjensen");
    assert!(r.headers.contains_key("etag"));

    // PUT replaces; Entra's string booleans are read as booleans.
    let mut replaced = user_body("babs", "babs@example.com");
    replaced["active"] = json!("False");
    replaced["title"] = json!("Tour Guide");
    replaced.as_object_mut().unwrap().remove(ENTERPRISE);
    let r = send(&app, Method::PUT, &format!("/Users/{id}"), &key, Some(&replaced), None).await;
    r.assert_status(200);
    assert_eq!(r.body["userName"], "babs");
    assert_eq!(r.body["active"], false);
    assert_eq!(r.body["title"], "Tour Guide");
    assert!(r.body.get(ENTERPRISE).is_none());
    let user = app.core.store.get_user(user.id).await.unwrap();
    assert_eq!(user.username.as_deref(), Some("babs"));
    assert_eq!(user.email.as_deref(), Some("babs@example.com"));
    assert!(!user.active);
    let events = app.core.store.list_outbox(0, 100).await.unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.event_type == "user.deactivated" && e.subject_id == user.id)
    );

    // A name changed in Roster shows in SCIM.
    app.set_user(
        user.id,
        roster_core::service::AdminUserChanges {
            profile: roster_core::service::ProfileChanges {
                name: roster_core::service::Patch::Set("Renamed".into()),
                ..Default::default()
            },
            ..Default::default()
        },
    )
    .await;
    assert_eq!(
        get(&app, &key, &format!("/Users/{id}")).await.body["displayName"],
        "Renamed"
    );

    let r = send(&app, Method::DELETE, &format!("/Users/{id}"), &key, None, None).await;
    r.assert_status(204);
    assert_scim_error(&get(&app, &key, &format!("/Users/{id}")).await, 404, None);
    assert!(app.core.store.get_user(user.id).await.is_err());
    let events = app.core.store.list_outbox(0, 100).await.unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.event_type == "user.deleted" && e.subject_id == user.id)
    );
    assert_scim_error(
        &send(&app, Method::DELETE, &format!("/Users/{id}"), &key, None, None).await,
        404,
        None,
    );
    assert_scim_error(&get(&app, &key, "/Users/not-an-id").await, 404, None);
}

async fn user_errors_have_scim_types(backend: Backend) {
    let (app, key) = roster_testkit::or_skip!(scim_app(backend).await);
    create_user(&app, &key, "taken", "taken@example.com").await;
    let r = send(
        &app,
        Method::POST,
        "/Users",
        &key,
        Some(&user_body("TAKEN", "other@example.com")),
        None,
    )
    .await;
    assert_scim_error(&r, 409, Some("uniqueness"));
    let r = send(
        &app,
        Method::POST,
        "/Users",
        &key,
        Some(&user_body("fresh", "taken@example.com")),
        None,
    )
    .await;
    assert_scim_error(&r, 409, Some("uniqueness"));
    let r = send(
        &app,
        Method::POST,
        "/Users",
        &key,
        Some(&json!({"schemas": [USER]})),
        None,
    )
    .await;
    assert_scim_error(&r, 400, Some("invalidValue"));
    assert!(r.body["detail"].as_str().unwrap().contains("userName"));
    let r = send(
        &app,
        Method::POST,
        "/Users",
        &key,
        Some(&user_body("x y z", "a@example.com")),
        None,
    )
    .await;
    assert_scim_error(&r, 400, Some("invalidValue"));
    let r = send(
        &app,
        Method::POST,
        "/Users",
        &key,
        Some(&user_body("okname", "not-an-email")),
        None,
    )
    .await;
    assert_scim_error(&r, 400, Some("invalidValue"));
    let mut bad_active = user_body("okname", "ok@example.com");
    bad_active["active"] = json!("maybe");
    let r = send(&app, Method::POST, "/Users", &key, Some(&bad_active), None).await;
    assert_scim_error(&r, 400, Some("invalidValue"));
    // Malformed JSON.
    let r = TestApp::read(
        app.client
            .post(format!("{}/scim/v2/Users", app.address))
            .bearer_auth(&key)
            .header("content-type", "application/scim+json")
            .body("{not json")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_scim_error(&r, 400, Some("invalidSyntax"));
    let r = send(&app, Method::POST, "/Users", &key, Some(&json!([1])), None).await;
    assert_scim_error(&r, 400, Some("invalidSyntax"));
    assert_scim_error(&get(&app, &key, "/Users?count=many").await, 400, Some("invalidValue"));
    assert_scim_error(
        &get(&app, &key, "/Users?sortOrder=sideways").await,
        400,
        Some("invalidValue"),
    );
}

/// Three users made a day apart: alice, bob (inactive), carol.
async fn three_users(app: &TestApp, key: &str) -> Vec<Value> {
    let mut made = Vec::new();
    for (name, email) in [
        ("alice", "alice@corp.example"),
        ("bob", "bob@home.example"),
        ("carol", "carol@corp.example"),
    ] {
        made.push(create_user(app, key, name, email).await);
        app.advance(Duration::days(1));
    }
    let bob = made[1]["id"].as_str().unwrap();
    let body = json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": false}]});
    send(app, Method::PATCH, &format!("/Users/{bob}"), key, Some(&body), None)
        .await
        .assert_status(200);
    made
}

async fn filter(app: &TestApp, key: &str, filter: &str) -> Vec<String> {
    let query: String = url_encode(filter);
    let r = get(app, key, &format!("/Users?filter={query}")).await;
    r.assert_status(200);
    let mut names = ids(&r);
    names.retain(|n| n != "admin" && !n.starts_with("user"));
    assert_eq!(
        r.body["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:ListResponse"])
    );
    names
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn each_filter_operator(backend: Backend) {
    let (app, key) = roster_testkit::or_skip!(scim_app(backend).await);
    let users = three_users(&app, &key).await;
    let bob_modified = users[1]["meta"]["lastModified"].as_str().unwrap().to_string();
    assert_eq!(
        filter(&app, &key, r#"userName eq "ALICE""#).await,
        ["alice"],
        "userName is caseExact=false"
    );
    assert_eq!(
        filter(&app, &key, r#"userName ne "alice" and externalId pr"#)
            .await
            .len(),
        2
    );
    assert_eq!(
        filter(&app, &key, r#"emails.value co "corp""#).await,
        ["alice", "carol"]
    );
    assert_eq!(filter(&app, &key, r#"userName sw "ca""#).await, ["carol"]);
    assert_eq!(filter(&app, &key, r#"emails.value ew "@home.example""#).await, ["bob"]);
    assert_eq!(filter(&app, &key, "title pr").await, Vec::<String>::new());
    assert_eq!(filter(&app, &key, "externalId pr").await, ["alice", "bob", "carol"]);
    assert_eq!(
        filter(&app, &key, &format!(r#"meta.created gt "{bob_modified}""#)).await,
        ["carol"]
    );
    assert_eq!(
        filter(&app, &key, &format!(r#"meta.created ge "{bob_modified}""#)).await,
        ["bob", "carol"]
    );
    assert!(
        filter(&app, &key, &format!(r#"meta.created lt "{bob_modified}""#))
            .await
            .contains(&"alice".to_string())
    );
    assert!(
        !filter(&app, &key, &format!(r#"meta.created le "{bob_modified}""#))
            .await
            .contains(&"carol".to_string())
    );
    assert_eq!(filter(&app, &key, r#"userName gt "b""#).await, ["bob", "carol"]);
    assert_eq!(filter(&app, &key, "active eq false").await, ["bob"]);
    assert_eq!(filter(&app, &key, r#"externalId eq "ext-carol""#).await, ["carol"]);
    assert_eq!(
        filter(&app, &key, r#"externalId eq "EXT-carol""#).await,
        Vec::<String>::new(),
        "externalId is caseExact"
    );
    assert_eq!(filter(&app, &key, r#"emails eq "bob@home.example""#).await, ["bob"]);
    assert_eq!(
        filter(&app, &key, &format!(r#"id eq "{}""#, users[0]["id"].as_str().unwrap())).await,
        ["alice"]
    );
}

async fn logical_operators_and_attribute_paths(backend: Backend) {
    let (app, key) = roster_testkit::or_skip!(scim_app(backend).await);
    three_users(&app, &key).await;
    assert_eq!(
        filter(&app, &key, r#"emails.value co "corp" and active eq true"#).await,
        ["alice", "carol"]
    );
    assert_eq!(
        filter(&app, &key, r#"userName eq "alice" or userName eq "bob""#).await,
        ["alice", "bob"]
    );
    assert_eq!(
        filter(&app, &key, r#"not (emails.value co "corp") and externalId pr"#).await,
        ["bob"]
    );
    assert_eq!(
        filter(
            &app,
            &key,
            r#"(userName eq "alice" or userName eq "bob") and active eq true"#
        )
        .await,
        ["alice"]
    );
    assert_eq!(
        filter(
            &app,
            &key,
            r#"userName eq "alice" or userName eq "bob" and active eq true"#
        )
        .await,
        ["alice"],
        "and binds tighter than or"
    );
    assert_eq!(
        filter(&app, &key, r#"emails[type eq "work" and value sw "carol"]"#).await,
        ["carol"]
    );
    assert_eq!(filter(&app, &key, r#"name.familyName eq "BOB""#).await, ["bob"]);
    assert_eq!(
        filter(
            &app,
            &key,
            &format!(r#"{ENTERPRISE}:department eq "sales" and userName eq "carol""#)
        )
        .await,
        ["carol"]
    );
    assert_eq!(
        filter(
            &app,
            &key,
            &format!(r#"{ENTERPRISE}:manager.value eq "1" and userName sw "a""#)
        )
        .await,
        ["alice"]
    );
    assert_eq!(
        filter(&app, &key, &format!(r#"{USER}:userName eq "bob""#)).await,
        ["bob"]
    );
    for bad in [
        r#"userName eq"#,
        r#"userName zz "a""#,
        r#"(userName eq "a""#,
        r#"userName eq "a" and"#,
        "active gt true",
    ] {
        let r = get(&app, &key, &format!("/Users?filter={}", url_encode(bad))).await;
        assert_scim_error(&r, 400, Some("invalidFilter"));
    }
}

async fn pages_and_sorting(backend: Backend) {
    let (app, key) = roster_testkit::or_skip!(scim_app(backend).await);
    three_users(&app, &key).await;
    // The administrator who made the key is a user too: four in all.
    let r = get(&app, &key, "/Users?startIndex=2&count=2").await;
    r.assert_status(200);
    assert_eq!(r.body["totalResults"], 4);
    assert_eq!(r.body["startIndex"], 2);
    assert_eq!(r.body["itemsPerPage"], 2);
    assert_eq!(ids(&r), ["alice", "bob"]);
    let r = get(&app, &key, "/Users?startIndex=4&count=10").await;
    assert_eq!(ids(&r), ["carol"]);
    let r = get(&app, &key, "/Users?count=0").await;
    assert_eq!(r.body["totalResults"], 4);
    assert_eq!(r.body["Resources"], json!([]));
    let f = url_encode(r#"externalId pr"#);
    let r = get(
        &app,
        &key,
        &format!("/Users?filter={f}&sortBy=userName&sortOrder=descending"),
    )
    .await;
    assert_eq!(ids(&r), ["carol", "bob", "alice"]);
    let r = get(
        &app,
        &key,
        &format!("/Users?filter={f}&sortBy=emails.value&startIndex=2&count=1"),
    )
    .await;
    assert_eq!(r.body["totalResults"], 3);
    assert_eq!(ids(&r), ["bob"]);
    let r = get(&app, &key, "/Users?sortBy=meta.created&sortOrder=descending&count=1").await;
    assert_eq!(ids(&r), ["carol"]);
    // the same as a SearchRequest
    let search = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
        "filter": "externalId pr", "sortBy": "userName", "sortOrder": "descending",
        "startIndex": 2, "count": 1, "attributes": ["userName"],
    });
    let r = send(&app, Method::POST, "/Users/.search", &key, Some(&search), None).await;
    r.assert_status(200);
    assert_eq!(r.body["totalResults"], 3);
    assert_eq!(ids(&r), ["bob"]);
    assert!(r.body["Resources"][0].get("emails").is_none());
    let r = send(&app, Method::POST, "/.search", &key, Some(&search), None).await;
    assert_scim_error(&r, 501, None);
    // attributes and excludedAttributes
    let r = get(
        &app,
        &key,
        &format!("/Users?filter={f}&attributes=userName,name.givenName&count=1"),
    )
    .await;
    let first = &r.body["Resources"][0];
    assert_eq!(first["userName"], "alice");
    assert_eq!(first["name"], json!({"givenName": "Given"}));
    assert!(first["id"].is_string() && first.get("emails").is_none() && first.get(ENTERPRISE).is_none());
    let r = get(
        &app,
        &key,
        &format!("/Users?filter={f}&excludedAttributes=emails,{ENTERPRISE}:department&count=1"),
    )
    .await;
    let first = &r.body["Resources"][0];
    assert!(first.get("emails").is_none());
    assert!(first[ENTERPRISE].get("department").is_none() && first[ENTERPRISE]["employeeNumber"] == "701984");
}

async fn patch_user_forms(backend: Backend) {
    let (app, key) = roster_testkit::or_skip!(scim_app(backend).await);
    let u = create_user(&app, &key, "pat", "pat@work.example").await;
    let path = format!("/Users/{}", u["id"].as_str().unwrap());
    let patch = |ops: Value| json!({"schemas": [PATCH], "Operations": ops});
    let run = |ops: Value| {
        let body = patch(ops);
        let app = &app;
        let key = &key;
        let path = path.clone();
        async move { send(app, Method::PATCH, &path, key, Some(&body), None).await }
    };
    // add with a path, and without (Entra's casing, dotted keys, an extension object)
    let r = run(json!([{"op": "add", "path": "nickName", "value": "Patty"}])).await;
    r.assert_status(200);
    assert_eq!(r.body["nickName"], "Patty");
    let r = run(json!([{"op": "Add", "value": {"title": "Lead", "name.middleName": "M",
        ENTERPRISE: {"costCenter": "42"}}}]))
    .await;
    assert_eq!(r.body["title"], "Lead");
    assert_eq!(r.body["name"]["middleName"], "M");
    assert_eq!(r.body[ENTERPRISE]["costCenter"], "42");
    assert_eq!(r.body[ENTERPRISE]["department"], "Sales");
    let r =
        run(json!([{"op": "add", "path": "emails", "value": [{"value": "pat@home.example", "type": "home"}]}])).await;
    assert_eq!(r.body["emails"].as_array().unwrap().len(), 2);
    // replace with a value path, and the email follows into Roster
    let r = run(json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "pat@new.example"}])).await;
    r.assert_status(200);
    let user = app
        .core
        .store
        .get_user(UserId(u["id"].as_str().unwrap().parse().unwrap()))
        .await
        .unwrap();
    assert_eq!(user.email.as_deref(), Some("pat@new.example"));
    // replace without a path, with Entra's string boolean
    let r = run(json!([{"op": "Replace", "value": {"active": "False", "displayName": "Pat Q"}}])).await;
    assert_eq!(r.body["active"], false);
    assert_eq!(r.body["displayName"], "Pat Q");
    let user = app.core.store.get_user(user.id).await.unwrap();
    assert!(!user.active);
    assert_eq!(user.name.as_deref(), Some("Pat Q"));
    let r = run(json!([{"op": "replace", "path": format!("{ENTERPRISE}:department"), "value": "Ops"}])).await;
    assert_eq!(r.body[ENTERPRISE]["department"], "Ops");
    let r = run(json!([{"op": "replace", "path": "userName", "value": "patricia"}])).await;
    assert_eq!(r.body["userName"], "patricia");
    // remove: an attribute, a sub-attribute, values by filter
    let r = run(json!([{"op": "remove", "path": "nickName"}, {"op": "remove", "path": "name.middleName"}])).await;
    assert!(r.body.get("nickName").is_none() && r.body["name"].get("middleName").is_none());
    let r = run(json!([{"op": "remove", "path": "emails[type eq \"home\"]"}])).await;
    assert_eq!(r.body["emails"].as_array().unwrap().len(), 1);
    let r = run(json!([{"op": "remove", "path": format!("{ENTERPRISE}:manager")}])).await;
    assert!(r.body[ENTERPRISE].get("manager").is_none());
    // errors
    assert_scim_error(&run(json!([{"op": "remove"}])).await, 400, Some("noTarget"));
    assert_scim_error(
        &run(json!([{"op": "replace", "path": "emails[type eq \"fax\"].value", "value": "x"}])).await,
        400,
        Some("noTarget"),
    );
    assert_scim_error(
        &run(json!([{"op": "add", "path": "emails[type eq", "value": "x"}])).await,
        400,
        Some("invalidPath"),
    );
    assert_scim_error(
        &run(json!([{"op": "replace", "path": "id", "value": "1"}])).await,
        400,
        Some("mutability"),
    );
    assert_scim_error(
        &run(json!([{"op": "jump", "path": "title", "value": "1"}])).await,
        400,
        Some("invalidValue"),
    );
    assert_scim_error(
        &run(json!([{"op": "remove", "path": "userName"}])).await,
        400,
        Some("invalidValue"),
    );
    let r = send(&app, Method::PATCH, &path, &key, Some(&json!({"Operations": []})), None).await;
    assert_scim_error(&r, 400, Some("invalidSyntax"));
    // a failed PATCH changed nothing
    assert_eq!(get(&app, &key, &path).await.body["userName"], "patricia");
}

async fn etags_and_if_match(backend: Backend) {
    let (app, key) = roster_testkit::or_skip!(scim_app(backend).await);
    let u = create_user(&app, &key, "etag", "etag@example.com").await;
    let path = format!("/Users/{}", u["id"].as_str().unwrap());
    let v1 = u["meta"]["version"].as_str().unwrap().to_string();
    assert!(v1.starts_with("W/\""));
    assert_eq!(
        get(&app, &key, &path).await.headers["etag"].to_str().unwrap(),
        v1,
        "stable while unchanged"
    );
    let body = json!({"schemas": [PATCH], "Operations": [{"op": "add", "path": "title", "value": "A"}]});
    let r = send(&app, Method::PATCH, &path, &key, Some(&body), Some(&v1)).await;
    r.assert_status(200);
    let v2 = r.body["meta"]["version"].as_str().unwrap().to_string();
    assert_ne!(v1, v2);
    // the old version no longer matches: 412, and nothing changes
    let body = json!({"schemas": [PATCH], "Operations": [{"op": "add", "path": "title", "value": "B"}]});
    assert_scim_error(
        &send(&app, Method::PATCH, &path, &key, Some(&body), Some(&v1)).await,
        412,
        None,
    );
    let mut put = user_body("etag", "etag@example.com");
    put["title"] = json!("C");
    assert_scim_error(
        &send(&app, Method::PUT, &path, &key, Some(&put), Some(&v1)).await,
        412,
        None,
    );
    assert_scim_error(
        &send(&app, Method::DELETE, &path, &key, None, Some(&v1)).await,
        412,
        None,
    );
    assert_eq!(get(&app, &key, &path).await.body["title"], "A");
    send(&app, Method::PUT, &path, &key, Some(&put), Some("*"))
        .await
        .assert_status(200);
    let v3 = get(&app, &key, &path).await.body["meta"]["version"]
        .as_str()
        .unwrap()
        .to_string();
    send(&app, Method::DELETE, &path, &key, None, Some(&v3))
        .await
        .assert_status(204);
}

async fn groups_with_members(backend: Backend) {
    let (app, key) = roster_testkit::or_skip!(scim_app(backend).await);
    let a = create_user(&app, &key, "ga", "ga@example.com").await;
    let b = create_user(&app, &key, "gb", "gb@example.com").await;
    let (a, b) = (
        a["id"].as_str().unwrap().to_string(),
        b["id"].as_str().unwrap().to_string(),
    );
    let r = send(
        &app,
        Method::POST,
        "/Groups",
        &key,
        Some(&json!({"schemas": [GROUP], "displayName": "Sales", "externalId": "g-1", "members": [{"value": a}]})),
        None,
    )
    .await;
    r.assert_status(201);
    let gid = r.body["id"].as_str().unwrap().to_string();
    let path = format!("/Groups/{gid}");
    assert_eq!(r.body["members"][0]["value"], a);
    assert_eq!(r.body["externalId"], "g-1");
    assert!(r.headers["location"].to_str().unwrap().ends_with(&path));
    let members = app
        .core
        .store
        .list_group_members(roster_core::GroupId(gid.parse().unwrap()))
        .await
        .unwrap();
    assert_eq!(members, vec![UserId(a.parse().unwrap())]);
    // the user shows its group
    assert_eq!(
        get(&app, &key, &format!("/Users/{a}")).await.body["groups"][0]["display"],
        "Sales"
    );
    let patch = |ops: Value| json!({"schemas": [PATCH], "Operations": ops});
    let r = send(
        &app,
        Method::PATCH,
        &path,
        &key,
        Some(&patch(
            json!([{"op": "add", "path": "members", "value": [{"value": b}]}]),
        )),
        None,
    )
    .await;
    r.assert_status(200);
    assert_eq!(r.body["members"].as_array().unwrap().len(), 2);
    let r = send(
        &app,
        Method::PATCH,
        &path,
        &key,
        Some(&patch(
            json!([{"op": "remove", "path": format!("members[value eq \"{a}\"]")}]),
        )),
        None,
    )
    .await;
    assert_eq!(
        r.body["members"],
        json!([{"value": b, "$ref": format!("{}", r.body["members"][0]["$ref"].as_str().unwrap())}])
    );
    // Entra: remove by value, rename without a path
    let r = send(
        &app,
        Method::PATCH,
        &path,
        &key,
        Some(&patch(
            json!([{"op": "Remove", "path": "members", "value": [{"value": b}]},
            {"op": "Replace", "value": {"displayName": "Sales EU"}}]),
        )),
        None,
    )
    .await;
    r.assert_status(200);
    assert!(r.body.get("members").is_none());
    assert_eq!(r.body["displayName"], "Sales EU");
    let events = app.core.store.list_outbox(0, 200).await.unwrap();
    assert!(events.iter().any(|e| e.event_type == "group.member_removed"));
    // filters on groups
    let f = url_encode(r#"displayName eq "sales eu""#);
    assert_eq!(
        ids(&get(&app, &key, &format!("/Groups?filter={f}")).await),
        ["Sales EU"]
    );
    let f = url_encode(r#"externalId eq "g-1""#);
    assert_eq!(
        get(&app, &key, &format!("/Groups?filter={f}")).await.body["totalResults"],
        1
    );
    // PUT replaces the members
    let r = send(
        &app,
        Method::PUT,
        &path,
        &key,
        Some(&json!({"schemas": [GROUP], "displayName": "Sales", "members": [{"value": a}, {"value": b}]})),
        None,
    )
    .await;
    r.assert_status(200);
    let f = url_encode(&format!(r#"members.value eq "{b}""#));
    assert_eq!(
        get(&app, &key, &format!("/Groups?filter={f}")).await.body["totalResults"],
        1
    );
    // a member that is no user
    let r = send(
        &app,
        Method::POST,
        "/Groups",
        &key,
        Some(&json!({"displayName": "X", "members": [{"value": "123"}]})),
        None,
    )
    .await;
    assert_scim_error(&r, 400, Some("invalidValue"));
    let r = send(
        &app,
        Method::POST,
        "/Groups",
        &key,
        Some(&json!({"schemas": [GROUP]})),
        None,
    )
    .await;
    assert_scim_error(&r, 400, Some("invalidValue"));
    send(&app, Method::DELETE, &path, &key, None, None)
        .await
        .assert_status(204);
    assert_scim_error(&get(&app, &key, &path).await, 404, None);
}

/// A resource and its SCIM record (externalId and the attributes kept) are written in one
/// transaction: a record that cannot be written leaves no user, group or change behind, and a
/// change of the record alone is written too.
async fn a_resource_and_its_record_are_one_write(backend: Backend) {
    let (app, key) = roster_testkit::or_skip!(scim_app(backend).await);
    let long = "x".repeat(600);
    let mut body = user_body("halfway", "halfway@example.com");
    body["externalId"] = json!(long);
    let r = send(&app, Method::POST, "/Users", &key, Some(&body), None).await;
    assert_scim_error(&r, 400, Some("invalidValue"));
    assert!(r.text.contains("externalId"), "{}", r.text);
    let found = get(&app, &key, "/Users?filter=userName%20eq%20%22halfway%22").await;
    assert_eq!(
        found.body["totalResults"], 0,
        "no user without its record: {}",
        found.text
    );
    let r = send(
        &app,
        Method::POST,
        "/Groups",
        &key,
        Some(&json!({"schemas": [GROUP], "displayName": "Halfway", "externalId": long})),
        None,
    )
    .await;
    assert_scim_error(&r, 400, Some("invalidValue"));
    let groups = get(&app, &key, "/Groups").await;
    assert_eq!(groups.body["totalResults"], 0, "{}", groups.text);
    // A replacement whose record cannot be written changes nothing.
    let created = create_user(&app, &key, "whole", "whole@example.com").await;
    let path = format!("/Users/{}", created["id"].as_str().unwrap());
    let mut replaced = user_body("whole", "whole@example.com");
    replaced["displayName"] = json!("Changed Name");
    replaced["externalId"] = json!(long);
    let r = send(&app, Method::PUT, &path, &key, Some(&replaced), None).await;
    assert_scim_error(&r, 400, Some("invalidValue"));
    let now = get(&app, &key, &path).await;
    assert_eq!(now.body["displayName"], created["displayName"], "{}", now.text);
    assert_eq!(now.body["externalId"], "ext-whole");
    // Only the externalId changes: written.
    let r = send(
        &app,
        Method::PATCH,
        &path,
        &key,
        Some(&json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "externalId", "value": "ext-new"}]})),
        None,
    )
    .await;
    r.assert_status(200);
    assert_eq!(get(&app, &key, &path).await.body["externalId"], "ext-new");
    // The creation and its record are journaled together.
    let actions: Vec<String> = app.audit().await.into_iter().map(|e| e.action).collect();
    assert_eq!(
        actions.iter().filter(|a| *a == "scim.record_write").count(),
        2,
        "{actions:?}"
    );
}

/// A filter or sort no index serves reads every user: past `scim_max_scanned_users` the list
/// is refused with `tooMany` (RFC 7644 §3.4.2.2); a filter on an indexed attribute and a plain
/// page still answer.
async fn lists_that_would_read_every_user_are_refused_past_the_limit(backend: Backend) {
    let app =
        roster_testkit::or_skip!(roster_testkit::app::spawn_app_with(backend, |c| c.scim_max_scanned_users = 3).await);
    let admin = app.admin().await;
    let key = app.api_key(&admin, &["scim"]).await;
    let user = app.user(Role::User).await;
    // Two users: under the limit, the filter is applied in memory.
    let r = get(&app, &key, "/Users?filter=name.familyName%20pr").await;
    r.assert_status(200);
    app.user(Role::User).await;
    app.user(Role::User).await;
    // Four: refused, whether by a filter or a sort.
    for path in ["/Users?filter=name.familyName%20pr", "/Users?sortBy=userName"] {
        let r = get(&app, &key, path).await;
        assert_scim_error(&r, 400, Some("tooMany"));
        assert!(r.body["detail"].as_str().unwrap().contains("userName"), "{}", r.text);
    }
    // An equality on an indexed attribute, and a page without filter, still answer.
    let r = get(
        &app,
        &key,
        &format!("/Users?filter=userName%20eq%20%22{}%22", user.username),
    )
    .await;
    r.assert_status(200);
    assert_eq!(r.body["totalResults"], 1, "{}", r.text);
    let r = get(&app, &key, "/Users?count=2").await;
    r.assert_status(200);
    assert_eq!(r.body["totalResults"], 4, "{}", r.text);
}

backend_tests!(
    a_resource_and_its_record_are_one_write,
    lists_that_would_read_every_user_are_refused_past_the_limit,
    only_scim_keys_get_in,
    users_are_created_read_replaced_and_deleted,
    user_errors_have_scim_types,
    each_filter_operator,
    logical_operators_and_attribute_paths,
    pages_and_sorting,
    patch_user_forms,
    etags_and_if_match,
    groups_with_members,
);
