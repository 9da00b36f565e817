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
    /// The migrations of `all` after version `current`; an error when `current` is newer
    /// than the newest known.
    pub(crate) fn after(
        all: &'static [Migration],
        current: i64,
    ) -> Result<impl Iterator<Item = &'static Migration>, StoreError> {
        let known = newest(all);
        if current > known {
            return Err(StoreError::SchemaTooNew {
                found: current,
                known,
            });
        }
        Ok(all.iter().filter(move |m| m.version > current))
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

/// `Ok` when the schema at `current` is exactly the newest of `all`.
pub(crate) fn check_version(current: i64, all: &[Migration]) -> Result<(), StoreError> {
    let known = newest(all);
    match current {
        c if c > known => Err(StoreError::SchemaTooNew { found: c, known }),
        c if c < known => Err(StoreError::NotMigrated),
        _ => Ok(()),
    }
}
