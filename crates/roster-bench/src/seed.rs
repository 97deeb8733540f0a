//! Seeding: N varied users straight through the store's bulk path, plus some sessions and
//! API keys, all with one known password.

use roster_core::journal::Journal;
use roster_core::password::PasswordHasher;
use roster_core::store::{ApiKey, Session, UserSort};
use roster_core::time::{Duration, OffsetDateTime};
use roster_core::token::{digest, random_secret};
use roster_core::user::PasswordHash;
use roster_core::{ApiKeyId, IdGenerator, Role, SessionId, User, UserId};
use std::time::Instant;

/// What the load phase needs to know about the seeded data.
pub struct Seeded {
    pub seconds: f64,
    pub password: String,
    pub admin_email: String,
    /// Active users with the `user` role, for logins.
    pub user_emails: Vec<String>,
    /// The username of the first of them (Plexichat's search is by username).
    pub first_username: String,
    /// A cursor into the middle of the `created_at` order.
    pub deep_cursor: String,
    /// A search term that matches 3 users.
    pub search_few: String,
    /// A search term that matches about 3% of users.
    pub search_many: String,
}

const FIRST: &[&str] = &[
    "ada",
    "alan",
    "grace",
    "linus",
    "margaret",
    "dennis",
    "barbara",
    "ken",
    "frances",
    "john",
    "radia",
    "tim",
    "sophie",
    "yukihiro",
    "guido",
    "bjarne",
    "anita",
    "donald",
    "edsger",
    "hedy",
    "katherine",
    "leslie",
    "niklaus",
    "shafi",
    "whitfield",
    "jean",
    "mary",
    "ivan",
    "vint",
    "robert",
    "lynn",
    "carol",
    "annie",
    "fran",
    "priya",
    "wei",
    "aiko",
    "mateo",
    "olga",
    "kwame",
    "fatima",
    "lars",
    "ines",
    "tomasz",
    "noor",
    "ravi",
    "chen",
    "amara",
];
const LAST: &[&str] = &[
    "lovelace",
    "turing",
    "hopper",
    "torvalds",
    "hamilton",
    "ritchie",
    "liskov",
    "thompson",
    "allen",
    "mccarthy",
    "perlman",
    "berners",
    "wilson",
    "matsumoto",
    "rossum",
    "stroustrup",
    "borg",
    "knuth",
    "dijkstra",
    "lamarr",
    "johnson",
    "lamport",
    "wirth",
    "goldwasser",
    "diffie",
    "sammet",
    "keller",
    "sutherland",
    "cerf",
    "kahn",
    "conway",
    "shaw",
    "easley",
    "bilas",
    "sharma",
    "zhang",
    "tanaka",
    "garcia",
    "petrova",
    "mensah",
    "haddad",
    "nilsen",
    "moreau",
    "nowak",
    "rahman",
    "iyer",
    "li",
    "okafor",
];
const DOMAINS: &[&str] = &[
    "example.org",
    "mail.example",
    "chat.example",
    "uni.example.edu",
    "corp.example",
    "lab.example",
    "inbox.example",
    "post.example",
    "team.example",
    "dev.example",
];

/// Seeds `n` users into the database at `url` (migrating it first).
pub async fn seed(url: &str, n: u64) -> anyhow::Result<Seeded> {
    let started = Instant::now();
    let store = roster_store::open(url).await?;
    let password = "bench-password-1".to_string();
    let hash = PasswordHasher::new(1).hash(&password).await?;
    let ids = IdGenerator::new(1000);
    let now = OffsetDateTime::now_utc();
    let span = Duration::days(730);
    let start = now - span;
    let step_ms = (span.whole_milliseconds() as i64 / n.max(1) as i64).max(1);
    let admin_email = "bench-admin@roster.bench".to_string();
    let mut user_emails = Vec::new();
    let mut first_username = String::new();
    let mut middle: Option<User> = None;
    let mut batch = Vec::with_capacity(10_000);
    let mut sessions = Vec::new();
    let mut keys = Vec::new();
    for i in 0..n {
        let user = make_user(
            i,
            n,
            &ids,
            &hash,
            start + Duration::milliseconds(step_ms * i as i64),
            &admin_email,
        );
        if user.role == Role::User && user.active && user_emails.len() < 256 {
            if user_emails.is_empty() {
                first_username = user.username.clone().unwrap_or_default();
            }
            user_emails.push(user.email.clone().unwrap_or_default());
        }
        if i == n / 2 {
            middle = Some(user.clone());
        }
        if i % 200 == 7 {
            sessions.push(user.id);
        }
        if i % 500 == 11 {
            keys.push(user.id);
        }
        batch.push(user);
        if batch.len() == 10_000 {
            store.insert_users_bulk(&batch, &Journal::default()).await?;
            batch.clear();
        }
    }
    if !batch.is_empty() {
        store.insert_users_bulk(&batch, &Journal::default()).await?;
    }
    for user in sessions {
        let session = Session {
            id: SessionId(ids.next_id()),
            user_id: user,
            created_at: now,
            last_used_at: now,
            expires_at: now + Duration::days(30),
            user_agent: Some("roster-bench".into()),
            ip: Some("127.0.0.1".into()),
        };
        store.insert_session(&session, &digest(&random_secret())).await?;
    }
    for user in keys {
        let secret = random_secret();
        let key = ApiKey {
            id: ApiKeyId(ids.next_id()),
            user_id: user,
            name: "seeded".into(),
            prefix: format!("rst_{}", &secret[..8]),
            scopes: vec![],
            created_at: now,
            expires_at: None,
            last_used_at: None,
        };
        store
            .insert_api_key(&key, &digest(&secret), &Journal::default())
            .await?;
    }
    store.refresh_statistics().await?;
    store.close().await;
    let middle = middle.ok_or_else(|| anyhow::anyhow!("no users seeded"))?;
    Ok(Seeded {
        seconds: started.elapsed().as_secs_f64(),
        password,
        admin_email,
        user_emails,
        first_username,
        deep_cursor: roster_core::service::cursor_after(UserSort::CreatedAt, &middle),
        search_few: "quixote".into(),
        search_many: "bigcorp".into(),
    })
}

fn make_user(
    i: u64,
    n: u64,
    ids: &IdGenerator,
    hash: &PasswordHash,
    created_at: OffsetDateTime,
    admin_email: &str,
) -> User {
    let first = FIRST[(i % FIRST.len() as u64) as usize];
    let last = LAST[((i / FIRST.len() as u64) % LAST.len() as u64) as usize];
    // Three users share a rare name; about 3% work at "bigcorp".
    let rare = i > 0 && (i == n / 3 || i == n / 3 * 2 || i == n - 1);
    let (first, last) = if rare { ("zebulon", "quixote") } else { (first, last) };
    let domain = if i % 33 == 5 {
        "bigcorp.example"
    } else {
        DOMAINS[(i % DOMAINS.len() as u64) as usize]
    };
    let email = if i == 0 {
        admin_email.to_string()
    } else {
        format!("{first}.{last}.{i}@{domain}")
    };
    let role = if i == 0 || i % 1000 == 1 {
        Role::Admin
    } else if i % 20 == 3 {
        Role::Pending
    } else {
        Role::User
    };
    User {
        id: UserId(ids.next_id()),
        email: Some(email),
        email_verified: !i.is_multiple_of(4),
        username: Some(format!("{first}_{last}_{i}")),
        name: Some(format!(
            "{}{} {}{}",
            &first[..1].to_uppercase(),
            &first[1..],
            &last[..1].to_uppercase(),
            &last[1..]
        )),
        password_hash: Some(hash.clone()),
        provider: if i.is_multiple_of(10) {
            "google".into()
        } else {
            "local".into()
        },
        role,
        active: i % 100 != 42,
        avatar: None,
        bio: None,
        timezone: Some("UTC".into()),
        terms_version: None,
        terms_accepted_at: None,
        preferences: serde_json::json!({}),
        created_at,
        updated_at: created_at,
        last_login_at: None,
        last_active_at: None,
        revision: 0,
        banned_until: None,
        ban_reason: None,
    }
}

/// Writes `n` import records (JSON lines, each with a bcrypt hash, as a peer product exports
/// them) and times `roster import-users` on them.
pub async fn time_import(bin: &std::path::Path, url: &str, dir: &std::path::Path, n: u64) -> anyhow::Result<f64> {
    use std::io::Write as _;
    let hash = bcrypt::hash("imported-password", 10)?;
    let path = dir.join("import.jsonl");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path)?);
    for i in 0..n {
        let first = FIRST[(i % FIRST.len() as u64) as usize];
        let last = LAST[((i / FIRST.len() as u64) % LAST.len() as u64) as usize];
        let record = serde_json::json!({
            "email": format!("{first}.{last}.{i}@import.example"),
            "username": format!("imported_{first}_{i}"),
            "name": format!("{first} {last}"),
            "password_hash": hash,
        });
        writeln!(file, "{record}")?;
    }
    file.flush()?;
    drop(file);
    let started = Instant::now();
    let output = std::process::Command::new(bin)
        .args(["import-users", "--format", "jsonl", "--database", url])
        .arg(&path)
        .output()?;
    let seconds = started.elapsed().as_secs_f64();
    if !output.status.success() {
        anyhow::bail!("import-users failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    eprintln!(
        "imported {n} records in {seconds:.1} s: {}",
        String::from_utf8_lossy(&output.stdout).trim()
    );
    Ok(seconds)
}
