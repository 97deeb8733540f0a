//! Roster's domain: users, sessions and API keys, the rules that govern them, and the
//! [`Store`] trait that persists them. No HTTP and no SQL live here.

pub mod chat;
pub mod clock;
pub mod config;
pub mod error;
pub mod id;
pub mod journal;
pub mod limit;
pub mod mail;
pub mod password;
pub mod secret;
pub mod service;
pub mod store;
pub mod telemetry;
pub mod tier;
pub mod token;
pub mod two_factor;
pub mod user;
pub mod webhooks;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::CoreConfig;
pub use error::{Error, ErrorCode, Refusal, Result};
pub use id::{ApiKeyId, GroupId, IdGenerator, SessionId, UserId};
pub use service::{Actor, Authority, Core, Credential, Operator};
pub use store::{Store, StoreError};
pub use time;
pub use user::{Email, Role, User, Username};
