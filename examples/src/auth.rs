//! The example application's authentication store: API keys, sessions, refresh tokens,
//! WebAuthn challenges and device codes, in SQLite.
//!
//! These are the application's own tables, not the SDK's. Every instant is stored as
//! INTEGER unix seconds (UTC), and every method that depends on the time takes "now" as an
//! argument: the jobs pass [`JobContext::now`](job_core::JobContext::now), so that a test on a
//! virtual clock decides what has expired.

use std::str::FromStr;

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

/// How long a WebAuthn challenge stays valid after it is issued.
pub const CHALLENGE_LIFETIME: TimeDelta = TimeDelta::minutes(5);

/// The tables and indexes of the store, created by [`AuthDb::create_tables`].
const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS auth_keys (
        id             INTEGER PRIMARY KEY,
        name           TEXT    NOT NULL,
        active         INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
        created_at     INTEGER NOT NULL,
        expires_at     INTEGER,
        deactivated_at INTEGER
    )",
    "CREATE INDEX IF NOT EXISTS auth_keys_active_expiry
        ON auth_keys (expires_at) WHERE active = 1",
    "CREATE TABLE IF NOT EXISTS sessions (
        id         TEXT    PRIMARY KEY,
        user_id    TEXT    NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
    )",
    "CREATE INDEX IF NOT EXISTS sessions_expiry ON sessions (expires_at)",
    "CREATE TABLE IF NOT EXISTS refresh_tokens (
        token      TEXT    PRIMARY KEY,
        user_id    TEXT    NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
    )",
    "CREATE INDEX IF NOT EXISTS refresh_tokens_expiry ON refresh_tokens (expires_at)",
    "CREATE TABLE IF NOT EXISTS webauthn_challenges (
        id         TEXT    PRIMARY KEY,
        user_id    TEXT,
        challenge  BLOB    NOT NULL,
        created_at INTEGER NOT NULL
    )",
    "CREATE INDEX IF NOT EXISTS webauthn_challenges_created
        ON webauthn_challenges (created_at)",
    "CREATE TABLE IF NOT EXISTS device_codes (
        device_code TEXT    PRIMARY KEY,
        user_code   TEXT    NOT NULL UNIQUE,
        created_at  INTEGER NOT NULL,
        expires_at  INTEGER NOT NULL
    )",
    "CREATE INDEX IF NOT EXISTS device_codes_expiry ON device_codes (expires_at)",
    "CREATE TABLE IF NOT EXISTS document_index (
        name TEXT PRIMARY KEY,
        size INTEGER NOT NULL,
        checksum TEXT NOT NULL,
        indexed_at INTEGER NOT NULL
    )",
];

/// A failure of the authentication store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened.
    #[error(
        "cannot open the database `{url}`; check the URL (EXAMPLES_DATABASE_URL), and that its folder exists and is writable"
    )]
    Open {
        /// The URL given.
        url: String,
        /// What SQLite said.
        #[source]
        source: sqlx::Error,
    },
    /// A statement failed.
    #[error("cannot {action}; check that the database is reachable and writable")]
    Query {
        /// What the store was doing, such as `delete expired sessions`.
        action: &'static str,
        /// What SQLite said.
        #[source]
        source: sqlx::Error,
    },
}

impl StoreError {
    fn query(action: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
        move |source| StoreError::Query { action, source }
    }
}

/// The authentication database, registered as shared state for the jobs that clean it.
///
/// ```no_run
/// # async fn demo() -> Result<(), examples::auth::StoreError> {
/// use examples::AuthDb;
///
/// let db = AuthDb::connect("sqlite://auth.db?mode=rwc").await?; // creates the tables
/// let expired = db.delete_expired_sessions(chrono::Utc::now()).await?;
/// # let _ = expired;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct AuthDb {
    pool: SqlitePool,
}

impl AuthDb {
    /// Opens the database at `url` (such as `sqlite://app.db?mode=rwc`, or `sqlite::memory:`)
    /// and creates its tables if they are missing.
    pub async fn connect(url: &str) -> Result<AuthDb, StoreError> {
        let open = |source| StoreError::Open {
            url: url.to_owned(),
            source,
        };
        let options = SqliteConnectOptions::from_str(url).map_err(open)?;
        let pool = SqlitePoolOptions::new()
            .connect_with(options)
            .await
            .map_err(open)?;
        let db = AuthDb::from_pool(pool);
        db.create_tables().await?;
        Ok(db)
    }

    /// Wraps a pool that is already open; call [`create_tables`](AuthDb::create_tables)
    /// unless the tables exist.
    pub fn from_pool(pool: SqlitePool) -> AuthDb {
        AuthDb { pool }
    }

    /// The connection pool, for the application's own queries.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Records (or replaces) a document's size and checksum in the document index.
    pub async fn index_document(
        &self,
        name: &str,
        size: u64,
        checksum: u64,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO document_index (name, size, checksum, indexed_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (name) DO UPDATE SET size = excluded.size, checksum = excluded.checksum,
                 indexed_at = excluded.indexed_at",
        )
        .bind(name)
        .bind(i64::try_from(size).unwrap_or(i64::MAX))
        .bind(format!("{checksum:016x}"))
        .bind(now.timestamp())
        .execute(&self.pool)
        .await
        .map_err(StoreError::query("index a document"))?;
        Ok(())
    }

    /// The checksum recorded for a document, as 16 hex digits.
    pub async fn indexed_checksum(&self, name: &str) -> Result<Option<String>, StoreError> {
        sqlx::query_scalar("SELECT checksum FROM document_index WHERE name = ?1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::query("read the document index"))
    }

    /// Creates the tables and indexes that are missing; running it again changes nothing.
    pub async fn create_tables(&self) -> Result<(), StoreError> {
        let action = "create the authentication tables";
        let mut tx = self.pool.begin().await.map_err(StoreError::query(action))?;
        for statement in SCHEMA {
            sqlx::query(*statement)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::query(action))?;
        }
        tx.commit().await.map_err(StoreError::query(action))
    }

    /// Deactivates the keys that are still active and whose expiry is `now` or earlier,
    /// recording `now` as their deactivation time. Keys without an expiry never expire.
    /// Returns how many keys it deactivated.
    pub async fn deactivate_expired_keys(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let now = now.timestamp();
        let result = sqlx::query(
            "UPDATE auth_keys SET active = 0, deactivated_at = ?1
             WHERE active = 1 AND expires_at IS NOT NULL AND expires_at <= ?1",
        )
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(StoreError::query("deactivate expired keys"))?;
        Ok(result.rows_affected())
    }

    /// Deletes the sessions whose expiry is `now` or earlier; returns how many.
    pub async fn delete_expired_sessions(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let result = sqlx::query("DELETE FROM sessions WHERE expires_at <= ?")
            .bind(now.timestamp())
            .execute(&self.pool)
            .await
            .map_err(StoreError::query("delete expired sessions"))?;
        Ok(result.rows_affected())
    }

    /// Deletes the refresh tokens whose expiry is `now` or earlier; returns how many.
    pub async fn delete_expired_refresh_tokens(
        &self,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let result = sqlx::query("DELETE FROM refresh_tokens WHERE expires_at <= ?")
            .bind(now.timestamp())
            .execute(&self.pool)
            .await
            .map_err(StoreError::query("delete expired refresh tokens"))?;
        Ok(result.rows_affected())
    }

    /// Deletes the WebAuthn challenges issued more than [`CHALLENGE_LIFETIME`] before `now`
    /// (`created_at < now - 5 minutes`); returns how many.
    pub async fn delete_expired_challenges(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let cutoff = now - CHALLENGE_LIFETIME;
        let result = sqlx::query("DELETE FROM webauthn_challenges WHERE created_at < ?")
            .bind(cutoff.timestamp())
            .execute(&self.pool)
            .await
            .map_err(StoreError::query("delete expired WebAuthn challenges"))?;
        Ok(result.rows_affected())
    }

    /// Deletes the device authorization codes whose expiry is `now` or earlier; returns how
    /// many.
    pub async fn delete_expired_device_codes(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let result = sqlx::query("DELETE FROM device_codes WHERE expires_at <= ?")
            .bind(now.timestamp())
            .execute(&self.pool)
            .await
            .map_err(StoreError::query("delete expired device codes"))?;
        Ok(result.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn create_tables_is_idempotent() -> Result<(), StoreError> {
        let db = AuthDb::connect("sqlite::memory:").await?;
        db.create_tables().await?;
        db.create_tables().await?;
        Ok(())
    }

    #[tokio::test]
    async fn a_bad_url_names_itself() {
        let error = AuthDb::connect("postgres://nowhere").await.unwrap_err();
        assert!(error.to_string().contains("postgres://nowhere"), "{error}");
    }
}
