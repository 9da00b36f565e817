//! The PostgreSQL schema: migrations embedded in the binary, applied in one transaction
//! under an advisory lock, so that runners starting together apply each migration once.

use async_trait::async_trait;
use sqlx::Row;

use super::Postgres;
use crate::storage::migrations::{CREATE_TABLE, Migration, check_versions};
use crate::storage::{Doing, Migrations, StoreError};

/// Every migration, in order.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "tasks, history, runners",
        sql: include_str!("migrations/0001_tasks_history_runners.sql"),
    },
    Migration {
        version: 2,
        name: "schedules",
        sql: include_str!("migrations/0002_schedules.sql"),
    },
    Migration {
        version: 3,
        name: "lighter indexes for succeeded tasks and attempts",
        sql: include_str!("migrations/0003_lighter_indexes.sql"),
    },
    Migration {
        version: 4,
        name: "events, chains",
        sql: include_str!("migrations/0004_events_chains.sql"),
    },
    Migration {
        version: 5,
        name: "flow control",
        sql: include_str!("migrations/0005_flow_control.sql"),
    },
    Migration {
        version: 6,
        name: "tasks in the application",
        sql: include_str!("migrations/0006_tasks_in_the_application.sql"),
    },
    Migration {
        version: 7,
        name: "operations console",
        sql: include_str!("migrations/0007_operations_console.sql"),
    },
    Migration {
        version: 8,
        name: "partitioned history",
        sql: include_str!("migrations/0008_partitioned_history.sql"),
    },
    Migration {
        version: 9,
        name: "lighter claims",
        sql: include_str!("migrations/0009_lighter_claims.sql"),
    },
];

/// The key of the advisory lock that serializes migrations.
const MIGRATION_LOCK: i64 = 0x006a_6f62_736d_6967;

async fn versions(executor: impl sqlx::PgExecutor<'_>) -> Result<Vec<i64>, StoreError> {
    sqlx::query_scalar("SELECT version FROM jobs_migrations ORDER BY version")
        .fetch_all(executor)
        .await
        .doing("reading the schema version")
}

#[async_trait]
impl Migrations for Postgres {
    async fn migrate(&self) -> Result<(), StoreError> {
        let mut tx = self.begin("starting the migration").await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *tx)
            .await
            .doing("locking the migration")?;
        sqlx::query(CREATE_TABLE)
            .execute(&mut *tx)
            .await
            .doing("creating the migrations table")?;
        let applied = versions(&mut *tx).await?;
        for migration in Migration::pending(MIGRATIONS, &applied)? {
            sqlx::raw_sql(migration.sql)
                .execute(&mut *tx)
                .await
                .doing("applying a migration")?;
            sqlx::query(
                "INSERT INTO jobs_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
            )
            .bind(migration.version)
            .bind(migration.name)
            .bind(chrono::Utc::now().timestamp_millis())
            .execute(&mut *tx)
            .await
            .doing("recording a migration")?;
            migration.log();
        }
        tx.commit().await.doing("committing the migration")?;
        Ok(())
    }

    async fn check_schema(&self) -> Result<(), StoreError> {
        const DOING: &str = "looking for the job tables";
        let exists: i64 = sqlx::query(
            "SELECT COUNT(*) FROM (SELECT to_regclass('jobs_migrations') AS t) AS x \
             WHERE t IS NOT NULL",
        )
        .fetch_one(&self.pool)
        .await
        .doing(DOING)?
        .try_get(0)
        .doing(DOING)?;
        if exists == 0 {
            return Err(StoreError::NotMigrated);
        }
        check_versions(&versions(&self.pool).await?, MIGRATIONS)
    }
}
