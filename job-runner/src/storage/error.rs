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
    /// The database URL carries startup `options` that the pooler in transaction mode in
    /// front of the server refused or dropped.
    #[error(
        "cannot use the `options` of database URL `{url}` through a pooler in transaction mode: {problem}. PgBouncer before 1.20 refuses startup options, or drops them when told to ignore them: set what they set on the role instead (`ALTER ROLE name SET search_path = ...`) or give the jobs a database of their own, and take `options` out of the URL"
    )]
    PoolerOptions {
        /// The URL, without its password.
        url: String,
        /// What went wrong.
        problem: String,
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
    /// The database file could not be watched for changes made by other processes.
    #[error("cannot watch `{path}` for changes made by other processes: {source}")]
    Watch {
        /// The database file.
        path: String,
        /// What the system reported.
        #[source]
        source: std::io::Error,
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

impl StoreError {
    /// Whether the database refused a value it was given (a NUL in text, a value too long
    /// or out of range, a constraint): the same statement would be refused again, so trying
    /// again cannot help. Other failures (a lost connection, a lock or a statement that
    /// timed out, a server shutting down) may pass when tried again.
    pub fn is_refused_value(&self) -> bool {
        let source = match self {
            StoreError::Corrupt { .. } => return true,
            StoreError::Query { source, .. } => source,
            _ => return false,
        };
        match source {
            sqlx::Error::Encode(_) => true,
            sqlx::Error::Database(error) => {
                if let Some(pg) = error.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
                    // SQLSTATE classes: data exception, integrity constraint violation,
                    // program limit exceeded.
                    return ["22", "23", "54"].iter().any(|c| pg.code().starts_with(c));
                }
                // SQLite's primary result codes: TOOBIG, CONSTRAINT, MISMATCH, RANGE.
                let primary = error
                    .code()
                    .and_then(|code| code.parse::<i64>().ok())
                    .map(|code| code & 0xff);
                matches!(primary, Some(18 | 19 | 20 | 25))
            }
            _ => false,
        }
    }
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
