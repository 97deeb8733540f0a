//! Langflow's routes (`api/v1/login.py`, `api/v1/users.py`, `api/v1/api_key.py`), one file a
//! resource. Each handler parses, calls core services, and renders Langflow's shapes.

use super::{api_keys, error, login, users};
use crate::state::AppState;
use axum::Router;
use axum::routing::{delete, get, patch, post};

/// Mounts the Langflow routes (paths as Langflow's own) at `langflow_prefix`, with every
/// error rendered in Langflow's shape.
pub fn mount(state: &AppState) -> Router<AppState> {
    crate::dialect::mount_at(&state.config.langflow_prefix, routes(), error::render_error)
}

fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/login", post(login::login_post))
        .route("/api/v1/refresh", post(login::refresh_post))
        .route("/api/v1/logout", post(login::logout_post))
        .route("/api/v1/auto_login", get(login::auto_login_get))
        .route(
            "/api/v1/users",
            get(users::users_list_get).post(users::users_create_post),
        )
        .route(
            "/api/v1/users/",
            get(users::users_list_get).post(users::users_create_post),
        )
        .route("/api/v1/users/whoami", get(users::whoami_get))
        .route(
            "/api/v1/users/{id}",
            get(users::user_get).patch(users::user_patch).delete(users::user_delete),
        )
        .route("/api/v1/users/{id}/reset-password", patch(users::reset_password_patch))
        .route(
            "/api/v1/api_key",
            get(api_keys::api_keys_get).post(api_keys::api_keys_post),
        )
        .route(
            "/api/v1/api_key/",
            get(api_keys::api_keys_get).post(api_keys::api_keys_post),
        )
        .route("/api/v1/api_key/{id}", delete(api_keys::api_key_delete))
        .route("/api/v1/api_key/store", post(login::api_key_store_post))
}
