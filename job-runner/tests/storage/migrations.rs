//! The schema.

use sqlx::Connection;

use super::*;

#[tokio::test]
async fn migrating_twice_is_harmless() {
    each_backend(async |store, _| {
        store.migrate().await.expect("migrate again");
        store.check_schema().await.expect("the schema is current");
    })
    .await;
}

/// The migrations table as an older runner left it: `(version, name)` of each applied.
type Applied = &'static [(i64, &'static str)];

/// A database upgraded from an older runner's schema ends with the schema of a fresh one.
/// SQLite's older runners numbered "events, chains" 3 (PostgreSQL's 4): renumbered, and
/// given the version 3 they never had.
#[tokio::test]
async fn an_upgraded_database_has_the_schema_of_a_fresh_one() {
    const SQLITE_OLD: Applied = &[
        (1, "tasks, history, runners"),
        (2, "schedules"),
        (3, "events, chains"),
    ];
    const SQLITE_FILES: &[&str] = &[
        "0001_tasks_history_runners.sql",
        "0002_schedules.sql",
        "0004_events_chains.sql",
    ];
    let dir = tempfile::tempdir().expect("a folder");
    let url = |name: &str| format!("sqlite://{}?mode=rwc", dir.path().join(name).display());
    let fresh = Store::connect(&url("fresh.db"), &Default::default())
        .await
        .expect("open");
    fresh.migrate().await.expect("migrate");
    fresh.close().await;
    let mut old = sqlx::SqliteConnection::connect(&url("old.db"))
        .await
        .expect("open");
    apply_old(&mut old, "sqlite", SQLITE_FILES, SQLITE_OLD).await;
    drop(old);
    let upgraded = Store::connect(&url("old.db"), &Default::default())
        .await
        .expect("open");
    upgraded.migrate().await.expect("upgrade");
    upgraded.check_schema().await.expect("current");
    upgraded.close().await;
    let schema = |name: &'static str| {
        let url = url(name);
        async move {
            let mut c = sqlx::SqliteConnection::connect(&url).await.expect("open");
            let rows: Vec<(String, String, Option<String>)> = sqlx::query_as(
                "SELECT type, name, sql FROM sqlite_master \
                 WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name",
            )
            .fetch_all(&mut c)
            .await
            .expect("the schema");
            let versions: Vec<(i64, String)> =
                sqlx::query_as("SELECT version, name FROM jobs_migrations ORDER BY version")
                    .fetch_all(&mut c)
                    .await
                    .expect("the versions");
            (rows, versions)
        }
    };
    assert_eq!(schema("old.db").await, schema("fresh.db").await);

    let Some(base) = backends::postgres_url() else {
        return;
    };
    const POSTGRES_OLD: Applied = &[
        (1, "tasks, history, runners"),
        (2, "schedules"),
        (3, "lighter indexes for succeeded tasks and attempts"),
    ];
    const POSTGRES_FILES: &[&str] = &[
        "0001_tasks_history_runners.sql",
        "0002_schedules.sql",
        "0003_lighter_indexes.sql",
    ];
    let mut dumps = Vec::new();
    for upgrade in [false, true] {
        let (schema, url) = backends::fresh_schema(&base).await;
        if upgrade {
            let mut c = sqlx::PgConnection::connect(&url).await.expect("open");
            apply_old(&mut c, "postgres", POSTGRES_FILES, POSTGRES_OLD).await;
        }
        let store = Store::connect(&url, &Default::default())
            .await
            .expect("open");
        store.migrate().await.expect("migrate");
        store.close().await;
        let mut c = sqlx::PgConnection::connect(&url).await.expect("open");
        let columns: Vec<(String, String, String, String, Option<String>)> = sqlx::query_as(
            "SELECT table_name::text, column_name::text, data_type::text, is_nullable::text, \
                 column_default::text \
             FROM information_schema.columns WHERE table_schema = current_schema() \
             ORDER BY table_name, column_name",
        )
        .fetch_all(&mut c)
        .await
        .expect("columns");
        let indexes: Vec<(String, String)> = sqlx::query_as(
            "SELECT indexname::text, replace(indexdef, current_schema() || '.', '') \
             FROM pg_indexes WHERE schemaname = current_schema() ORDER BY indexname",
        )
        .fetch_all(&mut c)
        .await
        .expect("indexes");
        let versions: Vec<(i64, String)> =
            sqlx::query_as("SELECT version, name FROM jobs_migrations ORDER BY version")
                .fetch_all(&mut c)
                .await
                .expect("versions");
        drop(c);
        backends::drop_schema(&base, &schema).await;
        dumps.push((columns, indexes, versions));
    }
    assert_eq!(dumps[0], dumps[1]);
}

/// Applies an older runner's migrations, as it did, and records them as it did.
async fn apply_old<C>(connection: &mut C, backend: &str, files: &[&str], applied: Applied)
where
    for<'c> &'c mut C: sqlx::Executor<'c>,
    C: sqlx::Connection,
{
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/storage")
        .join(backend)
        .join("migrations");
    for file in files {
        let sql = std::fs::read_to_string(dir.join(file)).expect("a migration");
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut *connection)
            .await
            .expect("apply");
    }
    // As older runners wrote it (SQLite keeps the text).
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS jobs_migrations (
    version BIGINT PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at BIGINT NOT NULL
)",
    )
    .execute(&mut *connection)
    .await
    .expect("the migrations table");
    for (version, name) in applied {
        let sql = format!("INSERT INTO jobs_migrations VALUES ({version}, '{name}', 0)");
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut *connection)
            .await
            .expect("record");
    }
}
