//! The SQLite schema: migrations embedded in the binary, applied in one `IMMEDIATE`
//! transaction (it takes the write lock at once, so two runners starting together apply
//! each migration once).

use async_trait::async_trait;
use sqlx::Row;

use super::Sqlite;
use crate::storage::migrations::{CREATE_TABLE, Migration, check_version};
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
        name: "events, chains",
        sql: include_str!("migrations/0003_events_chains.sql"),
    },
];

async fn version(executor: impl sqlx::SqliteExecutor<'_>) -> Result<i64, StoreError> {
    const DOING: &str = "reading the schema version";
    sqlx::query("SELECT COALESCE(MAX(version), 0) FROM jobs_migrations")
        .fetch_one(executor)
        .await
        .doing(DOING)?
        .try_get(0)
        .doing(DOING)
}

#[async_trait]
impl Migrations for Sqlite {
    async fn migrate(&self) -> Result<(), StoreError> {
        let mut tx = self.begin("starting the migration").await?;
        sqlx::query(CREATE_TABLE)
            .execute(&mut *tx)
            .await
            .doing("creating the migrations table")?;
        let current = version(&mut *tx).await?;
        for migration in Migration::after(MIGRATIONS, current)? {
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
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'jobs_migrations'",
        )
        .fetch_one(&self.pool)
        .await
        .doing(DOING)?
        .try_get(0)
        .doing(DOING)?;
        if exists == 0 {
            return Err(StoreError::NotMigrated);
        }
        check_version(version(&self.pool).await?, MIGRATIONS)
    }
}
