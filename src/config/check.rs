//! `roster config check` (the effective configuration, each value's source, secrets masked,
//! then every check) and `roster doctor` (the database, its migrations, the secret key, SMTP,
//! Redis and the clock, one verdict a line).

use super::{FlagOverrides, Settings};
use std::path::Path;

/// Settings whose whole value is secret.
const SECRET_SETTINGS: &[&str] = &["secret_key"];
/// URL settings whose password is secret.
const URL_SETTINGS: &[&str] = &["database_url", "smtp_url", "redis_url"];

/// A URL with its password replaced by `***`.
fn mask_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(_) => url.to_string(),
        // Unparsable: show the scheme only, the rest may hold a password.
        Err(_) => match url.split_once("://") {
            Some((scheme, _)) => format!("{scheme}://*** (unparsable)"),
            None => "*** (unparsable)".to_string(),
        },
    }
}

/// One setting's value as shown: TOML-like, secrets masked, unset settings `(unset)`.
fn shown(name: &str, value: &serde_json::Value) -> String {
    use serde_json::Value;
    match value {
        Value::Null => "(unset)".into(),
        Value::String(s) if SECRET_SETTINGS.contains(&name) && !s.trim().is_empty() => "\"***\" (set)".into(),
        Value::String(s) if URL_SETTINGS.contains(&name) => format!("{:?}", mask_url(s)),
        other => other.to_string(),
    }
}

/// `roster config check`: prints every setting with its value and source, then checks them;
/// an error names the bad setting.
pub fn config_check(config_file: Option<&Path>, flags: FlagOverrides) -> anyhow::Result<()> {
    let (settings, sources) = Settings::load_unchecked(config_file, flags)?;
    let values = serde_json::to_value(&settings)?;
    let width = sources.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
    for (name, source) in &sources {
        let value = values.get(*name).cloned().unwrap_or_default();
        println!("{name:<width$} = {}  # {}", shown(name, &value), source.as_str());
    }
    settings.validate()?;
    println!("configuration OK");
    Ok(())
}

/// One line of the doctor's report.
fn verdict(ok: bool, what: &str, detail: &str) -> bool {
    println!("{} {what}: {detail}", if ok { "ok  " } else { "FAIL" });
    ok
}

/// The largest difference tolerated between this host's clock and the database server's.
const MAX_SKEW_SECONDS: f64 = 5.0;

/// `roster doctor`: checks what `roster serve` needs; exits non-zero when any check fails.
pub async fn doctor(config_file: Option<&Path>, flags: FlagOverrides) -> anyhow::Result<()> {
    let settings = match Settings::load(config_file, flags) {
        Ok(settings) => {
            verdict(true, "configuration", "valid");
            settings
        }
        Err(e) => {
            verdict(false, "configuration", &format!("{e:#}"));
            anyhow::bail!("roster doctor: the configuration is invalid");
        }
    };
    let mut failed = Vec::new();
    let url = settings.database_url();
    let backend = roster_store::backend_of(&url)?;
    let inspection = roster_store::inspect(&url).await;
    let migrated = match &inspection {
        Ok(i) => {
            verdict(
                true,
                "database",
                &format!("reachable ({backend:?}, {})", mask_url(&url)),
            );
            let ok = i.pending.is_empty() && i.unknown.is_empty();
            let detail = if !i.unknown.is_empty() {
                format!(
                    "the database has migrations this Roster does not know ({:?}): upgrade Roster",
                    i.unknown
                )
            } else if i.pending.is_empty() {
                format!("{} applied, none pending", i.applied)
            } else {
                format!(
                    "{} applied, {} pending ({}): roster serve applies them",
                    i.applied,
                    i.pending.len(),
                    i.pending.join(", ")
                )
            };
            if !verdict(ok, "migrations", &detail) {
                failed.push("migrations");
            }
            ok
        }
        Err(e) => {
            verdict(false, "database", &format!("{e:#}"));
            failed.push("database");
            false
        }
    };

    // The secret key: its format, then (on a migrated database) whether it is the database's.
    match secret_key_without_creating(&settings) {
        Err(e) => {
            verdict(false, "secret key", &format!("{e:#}"));
            failed.push("secret key");
        }
        Ok(key) if migrated => match roster_store::open(&url).await {
            Ok(store) => {
                let matches = roster_core::service::key_matches_database(store.as_ref(), &key).await;
                store.close().await;
                let ok = match matches {
                    Ok(Some(true)) => verdict(
                        true,
                        "secret key",
                        &format!("key id {} matches the database", key.key_id()),
                    ),
                    Ok(None) => verdict(
                        true,
                        "secret key",
                        &format!("key id {} (the database has none recorded yet)", key.key_id()),
                    ),
                    Ok(Some(false)) => verdict(
                        false,
                        "secret key",
                        &format!("key id {} is not the one this database was set up with", key.key_id()),
                    ),
                    Err(e) => verdict(
                        false,
                        "secret key",
                        &format!("cannot read the database's key check: {e}"),
                    ),
                };
                if !ok {
                    failed.push("secret key");
                }
            }
            Err(e) => {
                verdict(false, "secret key", &format!("cannot open the database: {e:#}"));
                failed.push("secret key");
            }
        },
        Ok(key) => {
            verdict(
                true,
                "secret key",
                &format!("key id {} (not compared: the database is not ready)", key.key_id()),
            );
        }
    }

    match settings.smtp_url.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
        None => {
            verdict(true, "smtp", "not configured (no mail is sent)");
        }
        Some(smtp) => {
            let outcome = match roster_core::mail::SmtpMailer::new(smtp, &settings.mail_from) {
                Ok(mailer) => mailer.check().await,
                Err(e) => Err(e.to_string()),
            };
            let detail = match &outcome {
                Ok(()) => format!("{} answers EHLO", mask_url(smtp)),
                Err(e) => format!("{}: {e}", mask_url(smtp)),
            };
            if !verdict(outcome.is_ok(), "smtp", &detail) {
                failed.push("smtp");
            }
        }
    }

    match settings.redis_url.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
        None => {
            verdict(true, "redis", "not configured (limits count per instance)");
        }
        Some(redis) => {
            let outcome = match roster_core::limit::redis::RedisCounters::new(redis, &settings.redis_key_prefix) {
                Ok(counters) => counters.ping().await.map_err(|e| e.0),
                Err(e) => Err(e.to_string()),
            };
            let detail = match &outcome {
                Ok(()) => format!("{} answers PING", mask_url(redis)),
                Err(e) => format!("{}: {e}", mask_url(redis)),
            };
            if !verdict(outcome.is_ok(), "redis", &detail) {
                failed.push("redis");
            }
        }
    }

    // The clock: after the ids' epoch, and (PostgreSQL) close to the database server's.
    let now = roster_core::time::OffsetDateTime::now_utc();
    let epoch_ok = (now.unix_timestamp() * 1000) > roster_core::id::EPOCH_MS;
    let clock = match inspection.as_ref().ok().and_then(|i| i.server_time) {
        _ if !epoch_ok => (false, format!("this host's clock says {now}, before 2024")),
        Some(server) => {
            let skew = (now - server).as_seconds_f64();
            (
                skew.abs() <= MAX_SKEW_SECONDS,
                format!("{skew:+.3} s from the database server's (at most ±{MAX_SKEW_SECONDS} s)"),
            )
        }
        None => (true, format!("{now} (SQLite runs on this host's clock)")),
    };
    if !verdict(clock.0, "clock", &clock.1) {
        failed.push("clock");
    }

    if failed.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("roster doctor: failed: {}", failed.join(", "))
    }
}

/// The secret key as `roster serve` would use it, without creating the key file.
fn secret_key_without_creating(settings: &Settings) -> anyhow::Result<roster_core::secret::SecretKey> {
    use roster_core::secret::KEY_FILE;
    let configured = settings.secret_key.as_ref().is_some_and(|k| !k.0.trim().is_empty());
    let file = settings.data_dir.join(KEY_FILE);
    if !configured && !file.exists() {
        anyhow::bail!(
            "secret_key is not set and {} does not exist (roster serve creates it; every instance needs the same)",
            file.display()
        );
    }
    settings.secret_key()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_in_urls_are_masked() {
        assert_eq!(
            mask_url("postgres://roster:hunter2@db:5432/roster"),
            "postgres://roster:***@db:5432/roster"
        );
        assert_eq!(
            mask_url("redis://:pw@127.0.0.1:6379/0"),
            "redis://:***@127.0.0.1:6379/0"
        );
        assert_eq!(
            mask_url("sqlite://roster-data/roster.db"),
            "sqlite://roster-data/roster.db"
        );
        assert!(!mask_url("smtp://u:p w@x y").contains("p w"));
        assert_eq!(shown("secret_key", &serde_json::json!("abc")), "\"***\" (set)");
        assert_eq!(shown("node_id", &serde_json::Value::Null), "(unset)");
    }
}
