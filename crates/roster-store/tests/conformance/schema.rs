//! Backend selection and migration parity (not per backend).

use crate::common::*;

#[test]
fn urls_select_the_backend() {
    use roster_store::{BackendKind, backend_of};
    assert_eq!(backend_of("sqlite://data/roster.db").unwrap(), BackendKind::Sqlite);
    assert_eq!(backend_of("sqlite:roster.db").unwrap(), BackendKind::Sqlite);
    assert_eq!(backend_of("postgres://u@h/db").unwrap(), BackendKind::Postgres);
    assert_eq!(backend_of("postgresql://u@h/db").unwrap(), BackendKind::Postgres);
    let error = backend_of("mysql://u@h/db").unwrap_err().to_string();
    assert!(error.contains("`mysql`"), "{error}");
    assert!(backend_of("roster.db").is_err());
}

#[tokio::test]
async fn open_names_an_unknown_scheme() {
    let error = roster_store::open("mariadb://localhost/roster")
        .await
        .err()
        .expect("refused");
    assert!(error.to_string().contains("mariadb"), "{error}");
}

#[tokio::test]
async fn open_creates_the_sqlite_file_and_its_directory() {
    let db = TestDatabase::new(Backend::Sqlite).await.unwrap();
    let scratch = std::path::Path::new(db.url.strip_prefix("sqlite://").unwrap())
        .parent()
        .unwrap();
    let path = scratch.join("nested/deeper/roster.db");
    let store = roster_store::open(&format!("sqlite:{}", path.display())).await.unwrap();
    store.ping().await.unwrap();
    assert!(path.exists());
    store.close().await;
}

fn migration_files(backend: &str) -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn migration_directories_hold_the_same_files() {
    let sqlite = migration_files("sqlite");
    let postgres = migration_files("postgres");
    assert!(!sqlite.is_empty());
    assert_eq!(sqlite, postgres);
    for name in &sqlite {
        let (version, rest) = name.split_once('_').expect("NNNN_name.sql");
        assert!(
            version.len() == 4 && version.chars().all(|c| c.is_ascii_digit()),
            "{name}"
        );
        assert!(rest.ends_with(".sql"), "{name}");
    }
}

/// A column as both catalogues can describe it: table, column, NOT NULL, type class.
type Column = (String, String, bool, &'static str);

/// A key: table, column, `primary`/`unique`.
type Key = (String, String, String);

/// A foreign key: table, column, referenced table, on-delete action.
type ForeignKey = (String, String, String, String);

#[derive(Debug, PartialEq)]
struct Schema {
    columns: BTreeSet<Column>,
    keys: BTreeSet<Key>,
    foreign_keys: BTreeSet<ForeignKey>,
    indexes: BTreeSet<String>,
}

fn type_class(declared: &str) -> &'static str {
    match declared.to_ascii_lowercase().as_str() {
        "integer" | "bigint" => "integer",
        // JSON documents are TEXT in SQLite and JSONB in PostgreSQL.
        "text" | "jsonb" => "text",
        "boolean" => "boolean",
        "blob" | "bytea" => "bytes",
        other => panic!("unexpected column type {other}"),
    }
}

/// The schema as the parity test compares it. The search indexes differ by design (SQLite's
/// FTS5 table `users_search` and its shadow tables, PostgreSQL's pg_trgm `users_search_trgm_idx`)
/// and are left out; the conformance tests exercise both.
async fn sqlite_schema(url: &str) -> Schema {
    let pool = sqlx::SqlitePool::connect(url).await.unwrap();
    let rows: Vec<(String, String, bool, String, i64)> = sqlx::query_as(
        "SELECT m.name, p.name, p.\"notnull\", p.type, p.pk FROM sqlite_master m \
         JOIN pragma_table_info(m.name) p WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' \
         AND m.name <> '_sqlx_migrations' AND m.name NOT LIKE 'users_search%'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let columns = rows
        .iter()
        // An INTEGER PRIMARY KEY is the rowid: never NULL, though not declared NOT NULL.
        .map(|(t, c, not_null, ty, pk)| {
            let rowid = *pk > 0 && ty.eq_ignore_ascii_case("INTEGER");
            (t.clone(), c.clone(), *not_null || rowid, type_class(ty))
        })
        .collect();
    let mut keys: BTreeSet<Key> = rows
        .iter()
        .filter(|r| r.4 > 0)
        .map(|(t, c, ..)| (t.clone(), c.clone(), "primary".to_string()))
        .collect();
    let unique: Vec<(String, String)> = sqlx::query_as(
        "SELECT m.name, ii.name FROM sqlite_master m JOIN pragma_index_list(m.name) il \
         JOIN pragma_index_info(il.name) ii WHERE m.type = 'table' AND il.\"unique\" = 1 AND il.origin = 'u'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    keys.extend(unique.into_iter().map(|(t, c)| (t, c, "unique".to_string())));
    let foreign_keys: Vec<ForeignKey> = sqlx::query_as(
        "SELECT m.name, f.\"from\", f.\"table\", f.on_delete FROM sqlite_master m \
         JOIN pragma_foreign_key_list(m.name) f WHERE m.type = 'table'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let indexes: Vec<(String,)> =
        sqlx::query_as("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
            .fetch_all(&pool)
            .await
            .unwrap();
    pool.close().await;
    Schema {
        columns,
        keys,
        foreign_keys: foreign_keys.into_iter().collect(),
        indexes: indexes.into_iter().map(|(n,)| n).collect(),
    }
}

async fn postgres_schema(url: &str) -> Schema {
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    let rows: Vec<(String, String, bool, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text, is_nullable = 'NO', data_type::text \
         FROM information_schema.columns WHERE table_schema = 'public' AND table_name <> '_sqlx_migrations'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let columns = rows
        .into_iter()
        .map(|(t, c, not_null, ty)| (t, c, not_null, type_class(&ty)))
        .collect();
    let keys: Vec<Key> = sqlx::query_as(
        "SELECT cl.relname::text, a.attname::text, CASE c.contype WHEN 'p' THEN 'primary' ELSE 'unique' END \
         FROM pg_constraint c JOIN pg_class cl ON cl.oid = c.conrelid \
         JOIN pg_namespace n ON n.oid = cl.relnamespace \
         JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey) \
         WHERE n.nspname = 'public' AND c.contype IN ('p', 'u') AND cl.relname <> '_sqlx_migrations'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let foreign_keys: Vec<ForeignKey> = sqlx::query_as(
        "SELECT cl.relname::text, a.attname::text, rc.relname::text, \
         CASE c.confdeltype WHEN 'c' THEN 'CASCADE' WHEN 'a' THEN 'NO ACTION' WHEN 'r' THEN 'RESTRICT' \
         WHEN 'n' THEN 'SET NULL' ELSE 'SET DEFAULT' END \
         FROM pg_constraint c JOIN pg_class cl ON cl.oid = c.conrelid JOIN pg_class rc ON rc.oid = c.confrelid \
         JOIN pg_namespace n ON n.oid = cl.relnamespace \
         JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey) \
         WHERE n.nspname = 'public' AND c.contype = 'f'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    // Indexes created by CREATE INDEX, not those backing a constraint.
    let indexes: Vec<(String,)> = sqlx::query_as(
        "SELECT i.indexname::text FROM pg_indexes i WHERE i.schemaname = 'public' \
         AND i.indexname <> 'users_search_trgm_idx' AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    Schema {
        columns,
        keys: keys.into_iter().collect(),
        foreign_keys: foreign_keys.into_iter().collect(),
        indexes: indexes.into_iter().map(|(n,)| n).collect(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrated_schemas_match() {
    let sqlite_db = TestDatabase::new(Backend::Sqlite).await.unwrap();
    sqlite_db.store().await.close().await;
    let sqlite = sqlite_schema(&sqlite_db.url).await;
    assert!(
        sqlite
            .columns
            .iter()
            .any(|(t, c, ..)| t == "users" && c == "search_key"),
        "{sqlite:#?}"
    );
    assert!(sqlite.indexes.contains("users_email_sort_idx"), "{sqlite:#?}");
    let pg_db = roster_testkit::or_skip!(TestDatabase::new(Backend::Postgres).await);
    pg_db.store().await.close().await;
    let mut postgres = postgres_schema(&pg_db.url).await;
    let mut sqlite = sqlite;
    // By design (migration 0013): PostgreSQL gives `outbox.seq` after commit, so there it is
    // a nullable unique column with an index of the rows still without one; SQLite gives it
    // at insert (the row id).
    let outbox_seq = |t: &String, c: &String| t == "outbox" && c == "seq";
    assert!(
        postgres
            .columns
            .contains(&("outbox".into(), "seq".into(), false, "integer"))
    );
    assert!(
        postgres
            .keys
            .contains(&("outbox".into(), "seq".into(), "unique".into()))
    );
    assert!(postgres.indexes.remove("outbox_unsequenced_idx"));
    assert!(sqlite.keys.contains(&("outbox".into(), "seq".into(), "primary".into())));
    for schema in [&mut sqlite, &mut postgres] {
        schema.columns.retain(|(t, c, ..)| !outbox_seq(t, c));
        schema.keys.retain(|(t, c, _)| !outbox_seq(t, c));
    }
    assert_eq!(
        sqlite.columns, postgres.columns,
        "columns, nullability and type classes"
    );
    assert_eq!(sqlite.keys, postgres.keys, "primary and unique keys");
    assert_eq!(sqlite.foreign_keys, postgres.foreign_keys, "foreign keys");
    assert_eq!(sqlite.indexes, postgres.indexes, "index names");
}
