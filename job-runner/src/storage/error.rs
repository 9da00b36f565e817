//! What can go wrong in storage, and what was being done when it did.

/// A storage failure, with what was being done.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database URL is not one this runner understands.
    #[error(
        "unsupported database URL `{0}`: use `sqlite://PATH` (or a file path) for SQLite, or `postgres://USER@HOST/DB` for PostgreSQL"
    )]
    UnsupportedUrl(String),
    /// The database could not be opened.
    #[error("cannot open database `{url}`: {source}")]
    Connect {
        /// The URL, without its password.
        url: String,
        /// What the driver reported.
        #[source]
        source: sqlx::Error,
    },
    /// The database's schema is newer than this runner.
    #[error(
        "the database's schema is at version {found}, newer than this runner knows ({known}): upgrade the runner before running it against this database"
    )]
    SchemaTooNew {
        /// The version in the database.
        found: i64,
        /// The newest version this runner knows.
        known: i64,
    },
    /// The database's schema has not been created.
    #[error(
        "the database has no job tables yet: run `job-runner migrate` (or `job-runner run`, which migrates at start)"
    )]
    NotMigrated,
    /// A statement failed.
    #[error("database error while {doing}: {source}")]
    Query {
        /// What was being done.
        doing: &'static str,
        /// What the driver reported.
        #[source]
        source: sqlx::Error,
    },
    /// A stored value could not be read.
    #[error("unreadable stored value while {doing}: {detail}")]
    Corrupt {
        /// What was being done.
        doing: &'static str,
        /// What is wrong.
        detail: String,
    },
}

/// Adds what was being done to a driver error: `.doing("claiming tasks")?`.
pub(crate) trait Doing<T> {
    /// The error, with what was being done.
    fn doing(self, doing: &'static str) -> Result<T, StoreError>;
}

impl<T> Doing<T> for Result<T, sqlx::Error> {
    fn doing(self, doing: &'static str) -> Result<T, StoreError> {
        self.map_err(|source| StoreError::Query { doing, source })
    }
}
