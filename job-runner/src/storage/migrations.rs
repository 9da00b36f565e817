//! What every backend's schema migrations share: the migrations table, and the rule
//! that a runner never runs against a schema newer than it knows.
//!
//! sqlx's `migrate!` macro would pull in sqlx's proc-macro crates for what is a loop over a
//! few embedded files; each backend's `migrate.rs` is that loop.

use super::StoreError;

/// One schema change of one backend. The same change has the same version on every
/// backend.
pub(crate) struct Migration {
    /// Its number.
    pub(crate) version: i64,
    /// What it changes.
    pub(crate) name: &'static str,
    /// The statements.
    pub(crate) sql: &'static str,
}

/// The table that records applied migrations.
pub(crate) const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS jobs_migrations (
    version BIGINT PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at BIGINT NOT NULL
)";

impl Migration {
    /// The migrations of `all` not yet `applied`, in order; an error when a version newer
    /// than any known was applied (a newer runner migrated this database).
    pub(crate) fn pending<'a>(
        all: &'static [Migration],
        applied: &'a [i64],
    ) -> Result<impl Iterator<Item = &'static Migration> + 'a, StoreError> {
        let known = newest(all);
        if let Some(&found) = applied.iter().max()
            && found > known
        {
            return Err(StoreError::SchemaTooNew { found, known });
        }
        Ok(all.iter().filter(move |m| !applied.contains(&m.version)))
    }

    /// Says that it was applied.
    pub(crate) fn log(&self) {
        tracing::info!(
            version = self.version,
            name = self.name,
            "applied migration"
        );
    }
}

fn newest(all: &[Migration]) -> i64 {
    all.last().map_or(0, |m| m.version)
}

/// `Ok` when exactly the migrations of `all` are `applied`.
pub(crate) fn check_versions(applied: &[i64], all: &[Migration]) -> Result<(), StoreError> {
    let known = newest(all);
    match applied.iter().max() {
        Some(&found) if found > known => Err(StoreError::SchemaTooNew { found, known }),
        _ if all.iter().any(|m| !applied.contains(&m.version)) => Err(StoreError::NotMigrated),
        _ => Ok(()),
    }
}
