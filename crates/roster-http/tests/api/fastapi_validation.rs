//! FastAPI's 422 bodies in both FastAPI dialects (Langflow and Open WebUI), as pydantic v2
//! writes them: a malformed path UUID (`uuid_parsing`, the parser's reason), query
//! parameters under `query` with the raw input, body errors echoing what was sent. The
//! expected bodies were captured from FastAPI 0.165 with pydantic 2.13 on routes declared as
//! the products declare theirs.

use reqwest::Method;
use roster_core::Role;
use roster_core::id::id_to_uuid;
use roster_testkit::app::{TestApp, TestResponse};
use roster_testkit::{Backend, backend_tests, spawn_app};
use serde_json::{Value, json};

const LANGFLOW: &str = "/langflow/api/v1";
const OPEN_WEBUI: &str = "/openwebui/api/v1";

async fn call(app: &TestApp, method: Method, path: &str, token: &str, body: Option<Value>) -> TestResponse {
    app.request(method, path, Some(token), body.as_ref()).await
}

#[track_caller]
fn unprocessable(r: &TestResponse, errors: Value) {
    r.assert_status(422);
    assert_eq!(r.body, json!({ "detail": errors }), "body: {}", r.text);
}

async fn langflow_422_bodies(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let admin = app.admin().await;
    let user = app.user(Role::User).await;
    let a = admin.access_token.as_str();

    unprocessable(
        &call(&app, Method::GET, &format!("{LANGFLOW}/users/not-a-uuid"), a, None).await,
        json!([{
            "type": "uuid_parsing",
            "loc": ["path", "user_id"],
            "msg": "Input should be a valid UUID, invalid character: found `n` at 1",
            "input": "not-a-uuid",
            "ctx": {"error": "invalid character: found `n` at 1"},
        }]),
    );
    unprocessable(
        &call(&app, Method::DELETE, &format!("{LANGFLOW}/users/1234"), a, None).await,
        json!([{
            "type": "uuid_parsing",
            "loc": ["path", "user_id"],
            "msg": "Input should be a valid UUID, invalid length: expected length 32 for simple format, found 4",
            "input": "1234",
            "ctx": {"error": "invalid length: expected length 32 for simple format, found 4"},
        }]),
    );
    unprocessable(
        &call(&app, Method::DELETE, &format!("{LANGFLOW}/api_key/xyz"), a, None).await,
        json!([{
            "type": "uuid_parsing",
            "loc": ["path", "api_key_id"],
            "msg": "Input should be a valid UUID, invalid character: found `x` at 1",
            "input": "xyz",
            "ctx": {"error": "invalid character: found `x` at 1"},
        }]),
    );
    // A well-formed UUID that names no user: 404, as Langflow's lookup answers.
    let foreign = "123e4567-e89b-12d3-a456-426614174000";
    let r = call(&app, Method::GET, &format!("{LANGFLOW}/users/{foreign}"), a, None).await;
    r.assert_status(404);
    assert_eq!(r.body, json!({"detail": "User not found"}));
    // Any of pydantic's UUID forms names the user.
    let simple = id_to_uuid(user.id.0).replace('-', "").to_uppercase();
    let r = call(&app, Method::GET, &format!("{LANGFLOW}/users/{simple}"), a, None).await;
    r.assert_status(200);
    assert_eq!(r.body["username"], user.username.as_str());

    // Query parameters: `query` locations, the raw input, every misfit at once.
    unprocessable(
        &call(&app, Method::GET, &format!("{LANGFLOW}/users/?limit=abc"), a, None).await,
        json!([{
            "type": "int_parsing",
            "loc": ["query", "limit"],
            "msg": "Input should be a valid integer, unable to parse string as an integer",
            "input": "abc",
        }]),
    );
    unprocessable(
        &call(
            &app,
            Method::GET,
            &format!("{LANGFLOW}/users/?skip=-1&limit=500"),
            a,
            None,
        )
        .await,
        json!([
            {
                "type": "greater_than_equal",
                "loc": ["query", "skip"],
                "msg": "Input should be greater than or equal to 0",
                "input": "-1",
                "ctx": {"ge": 0},
            },
            {
                "type": "less_than_equal",
                "loc": ["query", "limit"],
                "msg": "Input should be less than or equal to 200",
                "input": "500",
                "ctx": {"le": 200},
            },
        ]),
    );
    unprocessable(
        &call(&app, Method::GET, &format!("{LANGFLOW}/users/?limit=0"), a, None).await,
        json!([{
            "type": "greater_than_equal",
            "loc": ["query", "limit"],
            "msg": "Input should be greater than or equal to 1",
            "input": "0",
            "ctx": {"ge": 1},
        }]),
    );
    // Pydantic's lax integers are read as it reads them.
    let r = call(
        &app,
        Method::GET,
        &format!("{LANGFLOW}/users/?limit=%2B02&skip=0.0"),
        a,
        None,
    )
    .await;
    r.assert_status(200);
    assert_eq!(r.body["users"].as_array().unwrap().len(), 2);
    // The superuser check (a route dependency) comes before the parameters are validated.
    let r = call(
        &app,
        Method::GET,
        &format!("{LANGFLOW}/users/?limit=abc"),
        &user.access_token,
        None,
    )
    .await;
    r.assert_status(403);

    // A body field of the wrong type echoes what was sent.
    let r = call(
        &app,
        Method::PATCH,
        &format!("{LANGFLOW}/users/{}", id_to_uuid(user.id.0)),
        a,
        Some(json!({"is_active": "maybe"})),
    )
    .await;
    r.assert_status(422);
    assert_eq!(r.body["detail"][0]["loc"], json!(["body", "is_active"]), "{}", r.text);
    assert_eq!(r.body["detail"][0]["input"], "maybe", "{}", r.text);
}

async fn open_webui_422_bodies(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let admin = app.admin().await;
    let a = admin.access_token.as_str();

    unprocessable(
        &call(&app, Method::GET, &format!("{OPEN_WEBUI}/users/?page=x"), a, None).await,
        json!([{
            "type": "int_parsing",
            "loc": ["query", "page"],
            "msg": "Input should be a valid integer, unable to parse string as an integer",
            "input": "x",
        }]),
    );
    unprocessable(
        &call(
            &app,
            Method::GET,
            &format!("{OPEN_WEBUI}/users/search?page=1.5"),
            a,
            None,
        )
        .await,
        json!([{
            "type": "int_parsing",
            "loc": ["query", "page"],
            "msg": "Input should be a valid integer, unable to parse string as an integer",
            "input": "1.5",
        }]),
    );
    unprocessable(
        &call(
            &app,
            Method::GET,
            &format!("{OPEN_WEBUI}/users/user/settings?raw=maybe"),
            a,
            None,
        )
        .await,
        json!([{
            "type": "bool_parsing",
            "loc": ["query", "raw"],
            "msg": "Input should be a valid boolean, unable to interpret input",
            "input": "maybe",
        }]),
    );
    let groups = format!(
        "{OPEN_WEBUI}/users/{}/groups?include_inherited=2",
        id_to_uuid(admin.id.0)
    );
    unprocessable(
        &call(&app, Method::GET, &groups, a, None).await,
        json!([{
            "type": "bool_parsing",
            "loc": ["query", "include_inherited"],
            "msg": "Input should be a valid boolean, unable to interpret input",
            "input": "2",
        }]),
    );
    // pydantic's booleans: `yes`, `on`, `1`, any case.
    call(
        &app,
        Method::GET,
        &format!("{OPEN_WEBUI}/users/user/settings?raw=YES"),
        a,
        None,
    )
    .await
    .assert_status(200);
    call(&app, Method::GET, &format!("{OPEN_WEBUI}/users/?page=%202%20"), a, None)
        .await
        .assert_status(200);

    // Body errors echo what was sent: the value at the field, the object lacking a field.
    let r = app
        .request(
            Method::POST,
            &format!("{OPEN_WEBUI}/auths/signin"),
            None,
            Some(&json!({"email": 1, "password": "x"})),
        )
        .await;
    r.assert_status(422);
    assert_eq!(r.body["detail"][0]["loc"], json!(["body", "email"]), "{}", r.text);
    assert_eq!(r.body["detail"][0]["input"], 1, "{}", r.text);
    let r = app
        .request(
            Method::POST,
            &format!("{OPEN_WEBUI}/auths/signin"),
            None,
            Some(&json!({"email": "a@example.org"})),
        )
        .await;
    r.assert_status(422);
    assert_eq!(r.body["detail"][0]["loc"], json!(["body", "password"]), "{}", r.text);
    assert_eq!(
        r.body["detail"][0]["input"],
        json!({"email": "a@example.org"}),
        "{}",
        r.text
    );
}

backend_tests!(langflow_422_bodies, open_webui_422_bodies);
