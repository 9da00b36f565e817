//! Upkeep on SQLite: none. SQLite rewrites a row in place and frees the entries of the old
//! one in every index in the same write, so ended tasks leave nothing behind for claims to
//! step over (a drain of 1,000,000 tasks runs as fast as one of 20,000: BENCHMARKS.md).

use async_trait::async_trait;

use super::Sqlite;
use crate::storage::{StoreError, Upkeep};

#[async_trait]
impl Upkeep for Sqlite {
    async fn reclaim(&self) -> Result<Option<u64>, StoreError> {
        Ok(None)
    }
}
