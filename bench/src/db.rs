//! The databases the bench runs on: a fresh SQLite file or PostgreSQL schema per run.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::Context as _;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{AssertSqlSafe, Connection, Row};

/// A database kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// An SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

impl Backend {
    /// The name in tables and files.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    /// The name in prose.
    pub fn title(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        }
    }
}

/// Where runs put their databases.
#[derive(Debug, Clone)]
pub struct Place {
    /// A folder on the real disk for SQLite files.
    pub work: PathBuf,
    /// The PostgreSQL server (a database the bench may create schemas in).
    pub postgres: String,
}

static RUNS: AtomicUsize = AtomicUsize::new(0);

/// One run's database.
#[derive(Debug)]
pub struct Db {
    /// Its kind.
    pub backend: Backend,
    /// The URL that runners and clients open.
    pub url: String,
    /// The SQLite folder or PostgreSQL schema to remove afterwards.
    owned: Owned,
    base: String,
}

#[derive(Debug)]
enum Owned {
    Folder(PathBuf),
    Schema(String),
}

impl Db {
    /// A fresh, empty database.
    pub async fn fresh(backend: Backend, place: &Place) -> anyhow::Result<Db> {
        let n = RUNS.fetch_add(1, Ordering::Relaxed);
        let name = format!("bench_{}_{n}", std::process::id());
        match backend {
            Backend::Sqlite => {
                let folder = place.work.join(&name);
                std::fs::create_dir_all(&folder)
                    .with_context(|| format!("creating {}", folder.display()))?;
                Ok(Db {
                    backend,
                    url: format!("sqlite://{}", folder.join("jobs.db").display()),
                    owned: Owned::Folder(folder),
                    base: String::new(),
                })
            }
            Backend::Postgres => {
                let mut connection = PgConnection::connect(&place.postgres)
                    .await
                    .with_context(|| format!("connecting to {}", place.postgres))?;
                sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA {name}")))
                    .execute(&mut connection)
                    .await?;
                let separator = if place.postgres.contains('?') {
                    '&'
                } else {
                    '?'
                };
                Ok(Db {
                    backend,
                    url: format!(
                        "{}{separator}options=-c%20search_path%3D{name}",
                        place.postgres
                    ),
                    owned: Owned::Schema(name),
                    base: place.postgres.clone(),
                })
            }
        }
    }

    /// The SQLite folder, if any.
    pub fn folder(&self) -> Option<&Path> {
        match &self.owned {
            Owned::Folder(folder) => Some(folder),
            Owned::Schema(_) => None,
        }
    }

    /// Removes the database.
    pub async fn remove(self) {
        match self.owned {
            Owned::Folder(folder) => {
                let _ = std::fs::remove_dir_all(folder);
            }
            Owned::Schema(schema) => {
                if let Ok(mut connection) = PgConnection::connect(&self.base).await {
                    let _ = sqlx::query(AssertSqlSafe(format!(
                        "DROP SCHEMA IF EXISTS {schema} CASCADE"
                    )))
                    .execute(&mut connection)
                    .await;
                }
            }
        }
    }

    /// A connection of the bench's own, for checks and fills.
    pub async fn connect(&self) -> anyhow::Result<Conn> {
        Conn::open(self.backend, &self.url).await
    }
}

/// A plain connection to either backend.
pub enum Conn {
    /// SQLite.
    Sqlite(SqliteConnection),
    /// PostgreSQL.
    Postgres(PgConnection),
}

impl Conn {
    /// Opens `url`.
    pub async fn open(backend: Backend, url: &str) -> anyhow::Result<Conn> {
        Ok(match backend {
            Backend::Sqlite => {
                let options = SqliteConnectOptions::from_str(url)?
                    .create_if_missing(true)
                    .busy_timeout(std::time::Duration::from_secs(30));
                Conn::Sqlite(SqliteConnection::connect_with(&options).await?)
            }
            Backend::Postgres => {
                Conn::Postgres(PgConnection::connect_with(&PgConnectOptions::from_str(url)?).await?)
            }
        })
    }

    /// Runs statements.
    pub async fn execute(&mut self, sql: &str) -> anyhow::Result<()> {
        let sql = AssertSqlSafe(sql.to_owned());
        match self {
            Conn::Sqlite(c) => {
                sqlx::raw_sql(sql).execute(c).await?;
            }
            Conn::Postgres(c) => {
                sqlx::raw_sql(sql).execute(c).await?;
            }
        }
        Ok(())
    }

    /// The integers of the first row of a query.
    pub async fn row(&mut self, sql: &str) -> anyhow::Result<Vec<i64>> {
        let sql = AssertSqlSafe(sql.to_owned());
        Ok(match self {
            Conn::Sqlite(c) => {
                let row = sqlx::query(sql).fetch_one(c).await?;
                (0..row.len())
                    .map(|i| row.try_get::<Option<i64>, _>(i).map(|v| v.unwrap_or(0)))
                    .collect::<Result<_, _>>()?
            }
            Conn::Postgres(c) => {
                let row = sqlx::query(sql).fetch_one(c).await?;
                (0..row.len())
                    .map(|i| row.try_get::<Option<i64>, _>(i).map(|v| v.unwrap_or(0)))
                    .collect::<Result<_, _>>()?
            }
        })
    }

    /// The text of the first column of the first row.
    pub async fn text(&mut self, sql: &str) -> anyhow::Result<String> {
        let sql = AssertSqlSafe(sql.to_owned());
        Ok(match self {
            Conn::Sqlite(c) => sqlx::query(sql).fetch_one(c).await?.try_get(0)?,
            Conn::Postgres(c) => sqlx::query(sql).fetch_one(c).await?.try_get(0)?,
        })
    }

    /// Closes the connection.
    pub async fn close(self) {
        match self {
            Conn::Sqlite(c) => {
                let _ = c.close().await;
            }
            Conn::Postgres(c) => {
                let _ = c.close().await;
            }
        }
    }
}

/// Fills the SDK's tables with `rows` finished tasks, each with its history row, as a
/// database that has run for a while holds them.
pub async fn fill_finished(conn: &mut Conn, backend: Backend, rows: u64) -> anyhow::Result<()> {
    let now = chrono::Utc::now().timestamp_millis() - 86_400_000;
    let series = match backend {
        Backend::Sqlite => format!(
            "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < {rows}) \
             SELECT n FROM g"
        ),
        Backend::Postgres => format!("SELECT n FROM generate_series(1, {rows}) AS g(n)"),
    };
    conn.execute(&format!(
        "INSERT INTO jobs_tasks (job, queue, args, state, priority, run_at, scheduled_at, attempt, \
             max_attempts, trigger, exclusive, created_at, finished_at) \
         SELECT 'bench_noop', 'default', CAST(n AS TEXT), 'succeeded', 0, {now} + n / 100, \
             {now} + n / 100, 1, 4, 'enqueue', 0, {now} + n / 100, {now} + n / 100 + 1 \
         FROM ({series}) AS s"
    ))
    .await?;
    conn.execute(
        "INSERT INTO jobs_executions (task_id, job, attempt, trigger, scheduled_at, started_at, \
             finished_at, duration_ms, status, error, records_processed, runner_id) \
         SELECT id, job, 1, trigger, scheduled_at, finished_at - 1, finished_at, 1, 'succeeded', \
             NULL, NULL, 'bench-fill' \
         FROM jobs_tasks WHERE state = 'succeeded'",
    )
    .await?;
    if backend == Backend::Postgres {
        // What autovacuum does on a database that has been running.
        conn.execute("VACUUM ANALYZE jobs_tasks").await?;
        conn.execute("VACUUM ANALYZE jobs_executions").await?;
    }
    Ok(())
}
