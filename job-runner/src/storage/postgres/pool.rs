//! The driver's connections: straight to the server, or through a pooler in transaction
//! mode (PgBouncer's `pool_mode = transaction`), which lends a server connection for one
//! transaction at a time and hands it to another client after.
//!
//! Nothing of a session may then outlive a transaction. What the driver keeps in a session,
//! and what becomes of it when pooled:
//! - Prepared statements. sqlx prepares each statement (`Parse`, then `Sync`) before it
//!   binds and runs it (`Bind`, `Execute`, then `Sync` again), and keeps named statements to
//!   run them again. Outside a transaction the pooler may send the second half to another
//!   server connection than the first, where the statement does not exist, or where another
//!   client's statement of the same name does. So, pooled, every statement runs inside a
//!   transaction (the pooler keeps the server connection until it ends), sqlx caches no
//!   statement (each is prepared again, under a name no earlier statement of this connection
//!   had), and each transaction starts with `DEALLOCATE ALL`, which drops the statements other
//!   clients left on that server connection, so that no name is taken.
//! - LISTEN: on a connection of its own, given by `listen_url` (see `listen.rs`), or none.
//!   NOTIFY needs nothing: it is sent inside the transactions that store the tasks, and
//!   the server delivers it at their commit.
//! - Locks: only transaction-scoped advisory locks (`pg_advisory_xact_lock`, in the
//!   migration and flow control), which end with their transaction.
//! - Startup parameters: sqlx's `extra_float_digits`, which PgBouncer refuses, is not sent
//!   (every value is read in binary); `options` (a `search_path`, say) is checked, see
//!   [`check_options`].

use futures_util::future::BoxFuture;
use futures_util::stream::{self, BoxStream};
use futures_util::{StreamExt, TryStreamExt};
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPool, PgQueryResult, PgRow, PgStatement, PgTypeInfo};
use sqlx::{Either, Execute, Executor, PgConnection, Postgres, SqlStr, Transaction};
use sqlx_core::describe::Describe;

use crate::storage::{PoolMode, StoreError};

/// How a transaction starts through a pooler in transaction mode: the statements other
/// clients left on the server connection go, so that no name this one prepares is taken.
const BEGIN_POOLED: &str = "BEGIN; DEALLOCATE ALL";

/// The driver's pool of connections, which runs each statement given to it (as an
/// executor) alone when it reaches the server directly, and in a transaction of its own
/// through a pooler in transaction mode.
#[derive(Debug, Clone)]
pub(super) struct Pool {
    inner: PgPool,
    pooled: bool,
}

impl Pool {
    /// A pool over `inner`, whose connections were opened with [`options`].
    pub(super) fn new(inner: PgPool, mode: PoolMode) -> Pool {
        Pool {
            inner,
            pooled: mode == PoolMode::Transaction,
        }
    }

    /// Opens a transaction.
    pub(super) async fn begin(&self) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        if self.pooled {
            self.inner.begin_with(BEGIN_POOLED).await
        } else {
            self.inner.begin().await
        }
    }

    /// A connection for several statements: through a pooler in transaction mode, a
    /// transaction, which [`Held::finish`] commits.
    pub(super) async fn acquire(&self) -> Result<Held, sqlx::Error> {
        Ok(if self.pooled {
            Held::Transaction(self.begin().await?)
        } else {
            Held::Connection(self.inner.acquire().await?)
        })
    }

    /// Runs `sql`, which must not run inside a transaction (`VACUUM`), alone: as one
    /// simple-protocol message, which prepares nothing and which a pooler in transaction
    /// mode sends whole to one server connection.
    pub(super) async fn run_alone(&self, sql: &'static str) -> Result<(), sqlx::Error> {
        sqlx::raw_sql(sql).execute(&self.inner).await?;
        Ok(())
    }

    /// Closes every connection.
    pub(super) async fn close(&self) {
        self.inner.close().await;
    }
}

/// The connection settings of `mode`: through a pooler in transaction mode, no statement
/// cache and no startup parameter a pooler refuses.
pub(super) fn options(options: PgConnectOptions, mode: PoolMode) -> PgConnectOptions {
    match mode {
        PoolMode::Session => options,
        PoolMode::Transaction => options.statement_cache_capacity(0).extra_float_digits(None),
    }
}

/// Through a pooler in transaction mode, startup `options` are refused (PgBouncer before
/// 1.20), or dropped when it is told to ignore them: a `search_path` among them that did
/// not reach the server would put the job tables in another schema. Checks that the
/// server's `search_path` is the one asked for.
pub(super) async fn check_options(
    pool: &Pool,
    options: &PgConnectOptions,
    url: &str,
) -> Result<(), StoreError> {
    let Some(asked) = options.get_options().and_then(search_path) else {
        return Ok(());
    };
    if !pool.pooled {
        return Ok(());
    }
    let found: String = sqlx::query_scalar("SELECT current_setting('search_path')")
        .fetch_one(pool)
        .await
        .map_err(|source| StoreError::Connect {
            url: url.to_owned(),
            source,
        })?;
    let bare = |s: &str| s.replace([' ', '"'], "");
    if bare(&found) == bare(&asked) {
        return Ok(());
    }
    Err(StoreError::PoolerOptions {
        url: url.to_owned(),
        problem: format!(
            "the URL asks for search_path `{asked}` and the server's connections have `{found}`"
        ),
    })
}

/// The `search_path` that startup options (`-c search_path=jobs`, `--search_path=jobs`)
/// set, if any.
fn search_path(options: &str) -> Option<String> {
    let (_, after) = options.rsplit_once("search_path=")?;
    let mut value = String::new();
    let mut chars = after.chars();
    while let Some(c) = chars.next() {
        match c {
            // A backslash escapes the next character (a space, say).
            '\\' => value.extend(chars.next()),
            c if c.is_whitespace() => break,
            c => value.push(c),
        }
    }
    Some(value)
}

/// A connection for several statements (see [`Pool::acquire`]).
pub(super) enum Held {
    /// A pooled connection, straight to the server.
    Connection(PoolConnection<Postgres>),
    /// A transaction, through a pooler in transaction mode.
    Transaction(Transaction<'static, Postgres>),
}

impl Held {
    /// Ends the use of the connection: commits the transaction, if it is one (dropped
    /// without this, it rolls back).
    pub(super) async fn finish(self) -> Result<(), sqlx::Error> {
        match self {
            Held::Connection(_) => Ok(()),
            Held::Transaction(tx) => tx.commit().await,
        }
    }
}

impl std::ops::Deref for Held {
    type Target = PgConnection;

    fn deref(&self) -> &PgConnection {
        match self {
            Held::Connection(connection) => connection,
            Held::Transaction(tx) => tx,
        }
    }
}

impl std::ops::DerefMut for Held {
    fn deref_mut(&mut self) -> &mut PgConnection {
        match self {
            Held::Connection(connection) => connection,
            Held::Transaction(tx) => tx,
        }
    }
}

impl<'p> Executor<'p> for &'_ Pool {
    type Database = Postgres;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, Result<Either<PgQueryResult, PgRow>, sqlx::Error>>
    where
        E: 'q + Execute<'q, Postgres>,
    {
        if !self.pooled {
            return (&self.inner).fetch_many(query);
        }
        // Every result is read before the commit: the driver reads results whole.
        let pool = self.clone();
        stream::once(async move {
            let mut tx = pool.begin().await?;
            let results: Vec<_> = tx.fetch_many(query).try_collect().await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(stream::iter(results.into_iter().map(Ok)))
        })
        .try_flatten()
        .boxed()
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, Result<Option<PgRow>, sqlx::Error>>
    where
        E: 'q + Execute<'q, Postgres>,
    {
        if !self.pooled {
            return (&self.inner).fetch_optional(query);
        }
        let pool = self.clone();
        Box::pin(async move {
            let mut tx = pool.begin().await?;
            let row = tx.fetch_optional(query).await?;
            tx.commit().await?;
            Ok(row)
        })
    }

    fn describe<'e>(self, sql: SqlStr) -> BoxFuture<'e, Result<Describe<Postgres>, sqlx::Error>>
    where
        'p: 'e,
    {
        // Only sqlx's query macros describe statements; the driver uses none.
        (&self.inner).describe(sql)
    }

    fn prepare_with<'e>(
        self,
        sql: SqlStr,
        parameters: &'e [PgTypeInfo],
    ) -> BoxFuture<'e, Result<PgStatement, sqlx::Error>>
    where
        'p: 'e,
    {
        if !self.pooled {
            return (&self.inner).prepare_with(sql, parameters);
        }
        // A statement prepared ahead lives on one server connection, which the pooler
        // lends to others after: the driver prepares nothing ahead.
        Box::pin(async {
            Err(sqlx::Error::Configuration(
                "statements cannot be prepared ahead through a pooler in transaction mode".into(),
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_search_path_of_startup_options() {
        assert_eq!(search_path("-c search_path=jobs"), Some("jobs".into()));
        assert_eq!(
            search_path("-c statement_timeout=5s --search_path=a,b -c x=y"),
            Some("a,b".into())
        );
        assert_eq!(
            search_path(r"-c search_path=my\ schema"),
            Some("my schema".into())
        );
        assert_eq!(search_path("-c statement_timeout=5s"), None);
    }
}
