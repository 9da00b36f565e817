//! Schema migrations, embedded in the binary, one list per backend.
//!
//! sqlx's `migrate!` macro would pull in sqlx's proc-macro crates for what is a loop over a
//! few embedded files; this runner is that loop, with a lock so that runners starting
//! together migrate once.

use sqlx::Row;

use super::{Dialect, Doing, Store, StoreError, with_pool};

/// (version, name, SQL) for SQLite.
const SQLITE: &[(i64, &str, &str)] = &[
    (
        1,
        "tasks, history, runners",
        include_str!("migrations/sqlite/0001_tasks_history_runners.sql"),
    ),
    (
        2,
        "schedules",
        include_str!("migrations/sqlite/0002_schedules.sql"),
    ),
    (
        3,
        "events, chains",
        include_str!("migrations/sqlite/0003_events_chains.sql"),
    ),
];

/// (version, name, SQL) for PostgreSQL.
const POSTGRES: &[(i64, &str, &str)] = &[
    (
        1,
        "tasks, history, runners",
        include_str!("migrations/postgres/0001_tasks_history_runners.sql"),
    ),
    (
        2,
        "schedules",
        include_str!("migrations/postgres/0002_schedules.sql"),
    ),
    (
        3,
        "lighter indexes for succeeded tasks and attempts",
        include_str!("migrations/postgres/0003_lighter_indexes.sql"),
    ),
    (
        4,
        "events, chains",
        include_str!("migrations/postgres/0004_events_chains.sql"),
    ),
];

fn migrations(dialect: Dialect) -> &'static [(i64, &'static str, &'static str)] {
    match dialect {
        Dialect::Sqlite => SQLITE,
        Dialect::Postgres => POSTGRES,
    }
}

/// The key of the PostgreSQL advisory lock that serializes migrations.
const MIGRATION_LOCK: i64 = 0x006a_6f62_736d_6967;

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS jobs_migrations (
    version BIGINT PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at BIGINT NOT NULL
)";

pub(super) async fn run(store: &Store) -> Result<(), StoreError> {
    with_pool!(store, |pool, dialect| {
        let list = migrations(dialect);
        let known = list.last().map_or(0, |m| m.0);
        // SQLite's `BEGIN IMMEDIATE` takes the write lock at once and PostgreSQL's advisory
        // lock serializes migrators, so two runners starting together apply each migration
        // once.
        let mut tx = pool
            .begin_with(dialect.begin())
            .await
            .doing("starting the migration")?;
        if dialect == Dialect::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(MIGRATION_LOCK)
                .execute(&mut *tx)
                .await
                .doing("locking the migration")?;
        }
        sqlx::query(CREATE_TABLE)
            .execute(&mut *tx)
            .await
            .doing("creating the migrations table")?;
        let current: i64 = sqlx::query("SELECT COALESCE(MAX(version), 0) FROM jobs_migrations")
            .fetch_one(&mut *tx)
            .await
            .doing("reading the schema version")?
            .try_get(0)
            .doing("reading the schema version")?;
        if current > known {
            return Err(StoreError::SchemaTooNew {
                found: current,
                known,
            });
        }
        for &(version, name, sql) in list.iter().filter(|m| m.0 > current) {
            sqlx::raw_sql(sql)
                .execute(&mut *tx)
                .await
                .doing("applying a migration")?;
            sqlx::query(
                "INSERT INTO jobs_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
            )
            .bind(version)
            .bind(name)
            .bind(chrono::Utc::now().timestamp_millis())
            .execute(&mut *tx)
            .await
            .doing("recording a migration")?;
            tracing::info!(version, name, "applied migration");
        }
        tx.commit().await.doing("committing the migration")?;
        Ok(())
    })
}

pub(super) async fn check(store: &Store) -> Result<(), StoreError> {
    with_pool!(store, |pool, dialect| {
        let known = migrations(dialect).last().map_or(0, |m| m.0);
        let exists: i64 = sqlx::query(match dialect {
            Dialect::Sqlite => {
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'jobs_migrations'"
            }
            Dialect::Postgres => "SELECT COUNT(*) FROM (SELECT to_regclass('jobs_migrations') AS t) AS x WHERE t IS NOT NULL",
        })
        .fetch_one(pool)
        .await
        .doing("looking for the job tables")?
        .try_get(0)
        .doing("looking for the job tables")?;
        if exists == 0 {
            return Err(StoreError::NotMigrated);
        }
        let current: i64 = sqlx::query("SELECT COALESCE(MAX(version), 0) FROM jobs_migrations")
            .fetch_one(pool)
            .await
            .doing("reading the schema version")?
            .try_get(0)
            .doing("reading the schema version")?;
        match current {
            c if c > known => Err(StoreError::SchemaTooNew { found: c, known }),
            c if c < known => Err(StoreError::NotMigrated),
            _ => Ok(()),
        }
    })
}
