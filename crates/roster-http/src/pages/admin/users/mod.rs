//! `/admin/users`: the list (the API's substring search, filters, sort, keyset pages, the
//! count) and a user's page with its actions, each one core call as the administrator.
//! Split in three: [`list`] (the list), [`page`] (a user's page) and [`actions`] (what its
//! forms post); what they share is here.

mod actions;
mod list;
mod page;

pub use actions::*;
pub use list::*;
pub use page::*;

use super::view::{
    AdminChrome, Ask, Confirmation, MessagePage, confirm, display_name, login_of, render, when, when_or,
};
use super::{Admin, AdminForm, Empty, done, error_page, path_id};
use crate::extract::Meta;
use crate::pages::PageQuery;
use crate::pages::RESET_PASSWORD_PATH;
use crate::pages::strings::fill;
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use roster_core::service::{
    AdminUserChanges, ListAudit, ListUsers, Patch, ProfileChanges, ResetLinkCreated, ResetLinkSent, parse_duration,
};
use roster_core::store::UserSort;
use roster_core::{Error, GroupId, Role, User, UserId};
use serde::Deserialize;
use time::Duration;

/// How many users a page of the list shows.
const PAGE_SIZE: u32 = 50;
/// How long a password-reset link made here lasts.
const RESET_LINK_LIFETIME: Duration = Duration::days(1);

/// An option of a `<select>`.
#[derive(Debug, Clone)]
pub struct Choice {
    pub value: String,
    pub text: String,
    pub selected: bool,
}

pub fn choices(options: &[(&str, &str)], current: &str) -> Vec<Choice> {
    options
        .iter()
        .map(|(value, text)| Choice {
            value: value.to_string(),
            text: text.to_string(),
            selected: *value == current,
        })
        .collect()
}

/// A row of the list.
#[derive(Debug, Clone)]
pub struct UserRow {
    pub href: String,
    pub name: String,
    pub email: String,
    pub username: String,
    pub role: String,
    pub status: String,
    pub created: String,
    pub last_active: String,
}

/// What a user's state is, in words: pending, deactivated, banned, active; unverified.
pub fn status_words(admin: &Admin, user: &User, now: time::OffsetDateTime) -> String {
    let t = admin.t;
    let mut words = Vec::new();
    if user.banned_until.is_some_and(|until| until > now) {
        words.push(t.status_banned);
    }
    if !user.active {
        words.push(t.status_deactivated);
    } else if user.role == Role::Pending {
        words.push(t.status_pending);
    } else if words.is_empty() {
        words.push(t.status_active);
    }
    if !user.email_verified && user.email.is_some() {
        words.push(t.status_unverified);
    }
    words.join(", ")
}

pub fn role_name(admin: &Admin, role: Role) -> &'static str {
    match role {
        Role::Admin => admin.t.role_admin,
        Role::User => admin.t.role_user,
        Role::Pending => admin.t.role_pending,
    }
}

pub fn user_row(admin: &Admin, user: &User, now: time::OffsetDateTime) -> UserRow {
    UserRow {
        href: format!("/admin/users/{}", user.id),
        name: display_name(user),
        email: user.email.clone().unwrap_or_default(),
        username: user.username.clone().unwrap_or_default(),
        role: role_name(admin, user.role).to_string(),
        status: status_words(admin, user, now),
        created: when(user.created_at),
        last_active: when_or(user.last_active_at, admin.t.never),
    }
}

/// The message of a `done` key.
fn notice(admin: &Admin, key: &str) -> Option<String> {
    let t = admin.t;
    Some(
        match key {
            "saved" => t.saved,
            "role" => t.role_changed,
            "activated" => t.activated,
            "deactivated" => t.deactivated,
            "banned" => t.banned,
            "unbanned" => t.unbanned,
            "two_factor" => t.two_factor_reset,
            "session" => t.session_revoked,
            "sessions" => t.sessions_revoked,
            "key" => t.api_key_revoked,
            "group_added" => t.group_added,
            "group_removed" => t.group_removed,
            "credits" => t.credits_changed,
            "deleted" => t.user_deleted,
            "reset_mailed" => t.reset_link_mailed,
            "avatar" => t.avatar_saved,
            "avatar_removed" => t.avatar_removed,
            _ => return None,
        }
        .to_string(),
    )
}
