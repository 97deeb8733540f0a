//! Roster's stores: SQLite (embedded default) and PostgreSQL (scale-out), both always
//! compiled in and chosen by the URL scheme. SQL only; no policy.
