//! Open WebUI's routes (`routers/auths.py`, `routers/users.py`, `routers/groups.py`), one
//! file a resource. Each handler parses, calls core services, and renders Open WebUI's shapes.

use super::{admin, auths, error, groups, settings, users};
use crate::state::AppState;
use axum::Router;
use axum::routing::{delete, get, post};

/// Mounts the Open WebUI routes (paths as Open WebUI's own) at `openwebui_prefix`, with every
/// error rendered in Open WebUI's shape.
pub fn mount(state: &AppState) -> Router<AppState> {
    crate::dialect::mount_at(&state.config.openwebui_prefix, routes(), error::render_error)
}

fn routes() -> Router<AppState> {
    let auths = Router::new()
        .route("/signin", post(auths::signin_post))
        .route("/signup", post(auths::signup_post))
        .route("/signout", get(auths::signout_get))
        .route("/add", post(auths::add_post))
        .route("/update/password", post(auths::update_password_post))
        .route("/update/profile", post(auths::update_profile_post))
        .route("/update/timezone", post(auths::update_timezone_post))
        .route("/admin/details", get(admin::details_get))
        .route("/admin/config", get(admin::config_get).post(admin::config_post))
        .route(
            "/api_key",
            get(auths::api_key_get)
                .post(auths::api_key_post)
                .delete(auths::api_key_delete),
        );
    let users = Router::new()
        .route("/all", get(users::all_get))
        .route("/search", get(users::search_get))
        .route("/groups", get(settings::groups_get))
        .route("/permissions", get(settings::permissions_get))
        .route(
            "/default/permissions",
            get(settings::default_permissions_get).post(settings::default_permissions_post),
        )
        .route(
            "/default/permissions/defaults",
            get(settings::default_permissions_defaults_get),
        )
        .route("/user/settings", get(settings::settings_get))
        .route("/user/settings/update", post(settings::settings_update_post))
        .route("/user/status", get(settings::status_get))
        .route("/user/status/update", post(settings::status_update_post))
        .route("/user/info", get(settings::info_get))
        .route("/user/info/update", post(settings::info_update_post))
        // Chat analytics and model data Roster does not hold: unknown routes, as the issue says.
        .route("/usage", get(crate::error::not_found_fallback))
        .route("/user/variables", get(crate::error::not_found_fallback))
        .route("/user/variables/update", post(crate::error::not_found_fallback))
        .route("/{id}", get(users::id_get).delete(users::id_delete))
        .route("/{id}/info", get(users::id_info_get))
        .route("/{id}/active", get(users::id_active_get))
        .route("/{id}/profile/image", get(users::id_profile_image_get))
        .route("/{id}/oauth/sessions", get(users::id_oauth_sessions_get))
        .route("/{id}/groups", get(settings::id_groups_get))
        .route("/{id}/update", post(users::id_update_post))
        .route("/{id}/sessions/revoke", post(users::id_sessions_revoke_post));
    let groups = Router::new()
        .route("/create", post(groups::create_post))
        .route("/id/{id}", get(groups::id_get))
        .route("/id/{id}/update", post(groups::id_update_post))
        .route("/id/{id}/users/add", post(groups::id_users_add_post))
        .route("/id/{id}/users/remove", post(groups::id_users_remove_post))
        .route("/id/{id}/delete", delete(groups::id_delete));
    // The collection routes answer with and without the trailing slash the frontend sends.
    Router::new()
        .route("/api/v1/auths", get(auths::session_get))
        .route("/api/v1/auths/", get(auths::session_get))
        .route("/api/v1/users", get(users::list_get))
        .route("/api/v1/users/", get(users::list_get))
        .route("/api/v1/groups", get(groups::list_get))
        .route("/api/v1/groups/", get(groups::list_get))
        .nest("/api/v1/auths", auths)
        .nest("/api/v1/users", users)
        .nest("/api/v1/groups", groups)
}
