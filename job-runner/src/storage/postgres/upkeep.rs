//! Upkeep on PostgreSQL: a vacuum of the tasks table when claims and ends of attempts have
//! left enough dead row versions in it.
//!
//! Every claim and every end rewrites a task's row, and the index entries of the old
//! version stay until a vacuum removes them. The claim reads the pending tasks' index in
//! order, so it steps over the entries of every task claimed since the last vacuum: with a
//! backlog of 1,000,000 tasks a claim of 256 read 6,000 pages, and the drain fell from
//! 24,000 to 3,900 tasks a second. Autovacuum looks at a database at most once a minute
//! (`autovacuum_naptime`) and waits for a fifth of the table to be dead, which a busy queue
//! passes many times over in that minute (and some servers run without it); so the runners
//! vacuum the table themselves once its dead versions pass [`threshold`].
//!
//! They do not analyse it: the vacuum updates the table's size, which is what the claims'
//! and completions' plans depend on (both go by index whatever the statistics say), and an
//! analysis at each doubling of the table cost 4 us of server time per task in a drain of
//! 100,000 for no faster drain (1,000,000 drained at 31,400/s with it, 30,400/s without).

use async_trait::async_trait;
use sqlx::Row;

use super::Postgres;
use crate::storage::{Doing, StoreError, Upkeep};

/// The dead row versions worth a vacuum in a table of `live` rows: a fixed part, so that a
/// small table is not vacuumed for every few tasks, and a tenth of the table, so that the
/// pass (which reads every index of the table once) stays a small share of the work.
/// Measured on drains of 100,000 and 1,000,000 tasks: a twentieth and 20,000 vacuumed eight
/// times in a drain of 100,000, a sixth of the server's time per task.
fn threshold(live: i64) -> i64 {
    100_000 + live / 10
}

#[async_trait]
impl Upkeep for Postgres {
    async fn reclaim(&self) -> Result<Option<u64>, StoreError> {
        const DOING: &str = "vacuuming the tasks table";
        // The server's statistics, at most a second old; and whether this role may vacuum
        // the table at all (a role that does not own it would only be warned, each time).
        let row = sqlx::query(
            "SELECT s.n_dead_tup, s.n_live_tup, pg_has_role(c.relowner, 'USAGE') \
             FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid \
             WHERE s.relid = 'jobs_tasks'::regclass",
        )
        .fetch_optional(&self.pool)
        .await
        .doing(DOING)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let dead: i64 = row.try_get(0).doing(DOING)?;
        let live: i64 = row.try_get(1).doing(DOING)?;
        let owner: bool = row.try_get(2).doing(DOING)?;
        if !owner || dead < threshold(live) {
            return Ok(None);
        }
        // SKIP_LOCKED: a vacuum already running (another runner's, or autovacuum's) is
        // enough. INDEX_CLEANUP ON: the index entries are the point, and PostgreSQL would
        // otherwise skip them when few heap pages hold dead versions. TRUNCATE OFF: giving
        // the table's empty tail back to the file system takes a lock that claims wait for.
        self.pool
            .run_alone("VACUUM (SKIP_LOCKED, INDEX_CLEANUP ON, TRUNCATE OFF) jobs_tasks")
            .await
            .doing(DOING)?;
        Ok(Some(u64::try_from(dead).unwrap_or(0)))
    }
}

#[cfg(test)]
mod tests {
    use super::threshold;

    #[test]
    fn small_tables_wait_for_a_fixed_number_and_large_ones_for_a_share() {
        assert_eq!(threshold(0), 100_000);
        assert_eq!(threshold(1_000_000), 200_000);
    }
}
