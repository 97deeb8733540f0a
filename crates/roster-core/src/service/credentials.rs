//! The credential cache: sessions and API keys with their users, remembered between requests
//! so that an authenticated request needs no database round trip, and forgotten as soon as
//! they may have changed (see [`crate::store::AuthChanges`]): a change this instance commits
//! at once, one another process commits when its notice arrives (within a second, in practice
//! milliseconds), and everything while the notification channel does not work.

use super::Core;
use crate::error::{Error, Result};
use crate::id::SessionId;
use crate::store::{ApiKey, Session, StoreError};
use crate::user::User;
use std::sync::Arc;

/// How many sessions, and how many API keys, are remembered.
pub(super) const CREDENTIAL_CACHE: usize = 10_000;

/// A credential's record and its user as read from the database, with the change mark noted
/// before the read.
#[derive(Debug)]
pub(super) struct Remembered<T> {
    mark: u64,
    record: T,
    user: User,
}

/// What a lookup found: the records, and the mark to remember them under (None: the channel
/// does not work, remember nothing).
pub(super) struct Found<T> {
    pub record: T,
    pub user: User,
    mark: Option<u64>,
}

pub(super) type SessionCache = quick_cache::sync::Cache<SessionId, Arc<Remembered<Session>>>;
pub(super) type ApiKeyCache = quick_cache::sync::Cache<String, Arc<Remembered<ApiKey>>>;

fn unknown_is_invalid(e: StoreError) -> Error {
    match e {
        StoreError::NotFound => Error::InvalidToken,
        e => e.into(),
    }
}

impl Core {
    /// A session and its user: remembered, or read (and remembered).
    pub(super) async fn session_with_user(&self, id: SessionId) -> Result<Found<Session>> {
        if let Some(hit) = self.sessions.get(&id)
            && self.changes.is_valid(hit.mark, hit.user.id)
        {
            return Ok(Found {
                record: hit.record.clone(),
                user: hit.user.clone(),
                mark: Some(hit.mark),
            });
        }
        let mark = self.changes.mark();
        let (record, user) = self.store.get_session_with_user(id).await.map_err(unknown_is_invalid)?;
        let found = Found { record, user, mark };
        self.remember_session(&found);
        Ok(found)
    }

    /// Remembers a session as it is now (after its last-use times were touched, too).
    pub(super) fn remember_session(&self, found: &Found<Session>) {
        if let Some(mark) = found.mark {
            self.sessions.insert(
                found.record.id,
                Arc::new(Remembered {
                    mark,
                    record: found.record.clone(),
                    user: found.user.clone(),
                }),
            );
        }
    }

    /// An API key (by its secret's digest) and its user: remembered, or read (and remembered).
    pub(super) async fn api_key_with_user(&self, digest: String) -> Result<Found<ApiKey>> {
        if let Some(hit) = self.api_keys.get(&digest)
            && self.changes.is_valid(hit.mark, hit.user.id)
        {
            return Ok(Found {
                record: hit.record.clone(),
                user: hit.user.clone(),
                mark: Some(hit.mark),
            });
        }
        let mark = self.changes.mark();
        let (record, user) = self
            .store
            .get_api_key_with_user(&digest)
            .await
            .map_err(unknown_is_invalid)?;
        let found = Found { record, user, mark };
        self.remember_api_key(digest, &found);
        Ok(found)
    }

    /// Remembers an API key as it is now.
    pub(super) fn remember_api_key(&self, digest: String, found: &Found<ApiKey>) {
        if let Some(mark) = found.mark {
            self.api_keys.insert(
                digest,
                Arc::new(Remembered {
                    mark,
                    record: found.record.clone(),
                    user: found.user.clone(),
                }),
            );
        }
    }

    /// Relays the changes other processes commit into the credential cache, and proves the
    /// channel works (see [`crate::store::Store::watch_changes`]); runs until the store is
    /// closed. Until it runs, every request reads its credential from the database.
    pub fn watch_changes(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        self.store.watch_changes()
    }

    /// Whether the credential cache is in use: its notification channel works.
    pub fn credential_cache_live(&self) -> bool {
        self.changes.is_live()
    }
}
