//! The backends a suite runs against: SQLite always; PostgreSQL when it is reachable.
//!
//! PostgreSQL is found through `JOBS_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`). When it cannot be reached the PostgreSQL
//! half of each suite is skipped with a loud message, except with `CI=true`, where that is a
//! failure. Every store gets a schema of its own, dropped when the store is.

#![allow(dead_code)]

use std::sync::OnceLock;
use std::time::Duration;

use job_runner::storage::{ConnectOptions, Store};
use sqlx::Connection;

/// The default server of this machine's tests.
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// The PostgreSQL server's URL, or `None` (after saying so) when it is unreachable.
pub fn postgres_url() -> Option<String> {
    static URL: OnceLock<Option<String>> = OnceLock::new();
    URL.get_or_init(|| {
        let url = std::env::var("JOBS_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned());
        let reachable = std::thread::spawn({
            let url = url.clone();
            move || {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
                runtime.block_on(async {
                    tokio::time::timeout(Duration::from_secs(5), sqlx::PgConnection::connect(&url))
                        .await
                        .ok()?
                        .ok()
                        .map(|_| ())
                })
            }
        })
        .join()
        .ok()
        .flatten()
        .is_some();
        if reachable {
            return Some(url);
        }
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("PostgreSQL is unreachable at {url} and CI=true: .ci/run must start it (or set JOBS_TEST_POSTGRES_URL)");
        }
        eprintln!("\n!!!!!!!!\n!!!!!!!! SKIPPING the PostgreSQL half of this suite: cannot reach {url}.\n!!!!!!!! Start PostgreSQL or set JOBS_TEST_POSTGRES_URL.\n!!!!!!!!\n");
        None
    })
    .clone()
}

/// A fresh schema on the test server: its name and a URL whose connections use it.
pub async fn fresh_schema(base: &str) -> (String, String) {
    let schema = format!("jt_{}_{:x}", std::process::id(), rand_suffix());
    let mut connection = sqlx::PgConnection::connect(base)
        .await
        .expect("connect to PostgreSQL");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&mut connection)
        .await
        .expect("create a schema");
    let separator = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{separator}options=-c%20search_path%3D{schema}");
    (schema, url)
}

/// Drops a schema made by [`fresh_schema`].
pub async fn drop_schema(base: &str, schema: &str) {
    if let Ok(mut connection) = sqlx::PgConnection::connect(base).await {
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP SCHEMA IF EXISTS {schema} CASCADE"
        )))
        .execute(&mut connection)
        .await;
    }
}

/// A random number, for names no other test takes.
pub fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
}

/// A store to test, and what to clean up after it.
pub struct TestStore {
    pub name: &'static str,
    pub store: Store,
    schema: Option<String>,
}

impl TestStore {
    pub async fn cleanup(self) {
        self.store.close().await;
        if let (Some(schema), Some(base)) = (self.schema, postgres_url()) {
            drop_schema(&base, &schema).await;
        }
    }
}

/// A fresh, migrated store per backend.
pub async fn stores() -> Vec<TestStore> {
    let dir = tempfile::tempdir().expect("a temporary folder").keep();
    let url = format!("sqlite://{}", dir.join("jobs.db").display());
    let sqlite = Store::connect(&url, &ConnectOptions::default())
        .await
        .expect("open SQLite");
    sqlite.migrate().await.expect("migrate SQLite");
    let mut stores = vec![TestStore {
        name: "sqlite",
        store: sqlite,
        schema: None,
    }];
    if let Some(base) = postgres_url() {
        let (schema, url) = fresh_schema(&base).await;
        let postgres = Store::connect(&url, &ConnectOptions::default())
            .await
            .expect("open PostgreSQL");
        postgres.migrate().await.expect("migrate PostgreSQL");
        stores.push(TestStore {
            name: "postgres",
            store: postgres,
            schema: Some(schema),
        });
    }
    stores
}
