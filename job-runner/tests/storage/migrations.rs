//! The schema.

use sqlx::Connection;

use super::*;

#[tokio::test]
async fn migrating_twice_is_harmless() {
    each_backend(async |store, _| {
        store.migrate().await.expect("migrate again");
        store.check_schema().await.expect("the schema is current");
    })
    .await;
}

/// The migrations table as an older runner left it: `(version, name)` of each applied.
type Applied = &'static [(i64, &'static str)];

/// A database upgraded from an older runner's schema ends with the schema of a fresh one.
/// SQLite's older runners numbered "events, chains" 3 (PostgreSQL's 4): renumbered, and
/// given the version 3 they never had.
#[tokio::test]
async fn an_upgraded_database_has_the_schema_of_a_fresh_one() {
    const SQLITE_OLD: Applied = &[
        (1, "tasks, history, runners"),
        (2, "schedules"),
        (3, "events, chains"),
    ];
    const SQLITE_FILES: &[&str] = &[
        "0001_tasks_history_runners.sql",
        "0002_schedules.sql",
        "0004_events_chains.sql",
    ];
    let dir = tempfile::tempdir().expect("a folder");
    let url = |name: &str| format!("sqlite://{}?mode=rwc", dir.path().join(name).display());
    let fresh = Store::connect(&url("fresh.db"), &Default::default())
        .await
        .expect("open");
    fresh.migrate().await.expect("migrate");
    fresh.close().await;
    let mut old = sqlx::SqliteConnection::connect(&url("old.db"))
        .await
        .expect("open");
    apply_old(&mut old, "sqlite", SQLITE_FILES, SQLITE_OLD).await;
    drop(old);
    let upgraded = Store::connect(&url("old.db"), &Default::default())
        .await
        .expect("open");
    upgraded.migrate().await.expect("upgrade");
    upgraded.check_schema().await.expect("current");
    upgraded.close().await;
    let schema = |name: &'static str| {
        let url = url(name);
        async move {
            let mut c = sqlx::SqliteConnection::connect(&url).await.expect("open");
            let rows: Vec<(String, String, Option<String>)> = sqlx::query_as(
                "SELECT type, name, sql FROM sqlite_master \
                 WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name",
            )
            .fetch_all(&mut c)
            .await
            .expect("the schema");
            let versions: Vec<(i64, String)> =
                sqlx::query_as("SELECT version, name FROM jobs_migrations ORDER BY version")
                    .fetch_all(&mut c)
                    .await
                    .expect("the versions");
            (rows, versions)
        }
    };
    assert_eq!(schema("old.db").await, schema("fresh.db").await);

    let Some(base) = backends::postgres_url() else {
        return;
    };
    const POSTGRES_OLD: Applied = &[
        (1, "tasks, history, runners"),
        (2, "schedules"),
        (3, "lighter indexes for succeeded tasks and attempts"),
    ];
    const POSTGRES_FILES: &[&str] = &[
        "0001_tasks_history_runners.sql",
        "0002_schedules.sql",
        "0003_lighter_indexes.sql",
    ];
    let mut dumps = Vec::new();
    for upgrade in [false, true] {
        let (schema, url) = backends::fresh_schema(&base).await;
        if upgrade {
            let mut c = sqlx::PgConnection::connect(&url).await.expect("open");
            apply_old(&mut c, "postgres", POSTGRES_FILES, POSTGRES_OLD).await;
        }
        let store = Store::connect(&url, &Default::default())
            .await
            .expect("open");
        store.migrate().await.expect("migrate");
        store.close().await;
        let mut c = sqlx::PgConnection::connect(&url).await.expect("open");
        let columns: Vec<(String, String, String, String, Option<String>)> = sqlx::query_as(
            "SELECT table_name::text, column_name::text, data_type::text, is_nullable::text, \
                 column_default::text \
             FROM information_schema.columns WHERE table_schema = current_schema() \
             ORDER BY table_name, column_name",
        )
        .fetch_all(&mut c)
        .await
        .expect("columns");
        let indexes: Vec<(String, String)> = sqlx::query_as(
            "SELECT indexname::text, replace(indexdef, current_schema() || '.', '') \
             FROM pg_indexes WHERE schemaname = current_schema() ORDER BY indexname",
        )
        .fetch_all(&mut c)
        .await
        .expect("indexes");
        let versions: Vec<(i64, String)> =
            sqlx::query_as("SELECT version, name FROM jobs_migrations ORDER BY version")
                .fetch_all(&mut c)
                .await
                .expect("versions");
        drop(c);
        backends::drop_schema(&base, &schema).await;
        dumps.push((columns, indexes, versions));
    }
    assert_eq!(dumps[0], dumps[1]);
}

/// Applies an older runner's migrations, as it did, and records them as it did.
async fn apply_old<C>(connection: &mut C, backend: &str, files: &[&str], applied: Applied)
where
    for<'c> &'c mut C: sqlx::Executor<'c>,
    C: sqlx::Connection,
{
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/storage")
        .join(backend)
        .join("migrations");
    for file in files {
        let sql = std::fs::read_to_string(dir.join(file)).expect("a migration");
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut *connection)
            .await
            .expect("apply");
    }
    // As older runners wrote it (SQLite keeps the text).
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS jobs_migrations (
    version BIGINT PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at BIGINT NOT NULL
)",
    )
    .execute(&mut *connection)
    .await
    .expect("the migrations table");
    for (version, name) in applied {
        let sql = format!("INSERT INTO jobs_migrations VALUES ({version}, '{name}', 0)");
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut *connection)
            .await
            .expect("record");
    }
}

/// A database at schema 7 with history (rows of long ago, of now, of days ahead) migrates
/// to 8 with every row still readable under its id, and the numbering goes on after the
/// last row. On PostgreSQL the old table becomes a partition of the partitioned history.
#[tokio::test]
async fn a_database_at_schema_7_with_history_migrates_with_every_row_readable() {
    const SEVEN: Applied = &[
        (1, "tasks, history, runners"),
        (2, "schedules"),
        (3, "lighter indexes for succeeded tasks and attempts"),
        (4, "events, chains"),
        (5, "flow control"),
        (6, "tasks in the application"),
        (7, "operations console"),
    ];
    const FILES: &[&str] = &[
        "0001_tasks_history_runners.sql",
        "0002_schedules.sql",
        "0003_lighter_indexes.sql",
        "0004_events_chains.sql",
        "0005_flow_control.sql",
        "0006_tasks_in_the_application.sql",
        "0007_operations_console.sql",
    ];
    const ROWS: i64 = 1000;
    let now = Utc::now().timestamp_millis();
    // Every 7 hours back from 10 days ahead: days ahead, today, and two months back.
    let fill = format!(
        "INSERT INTO jobs_executions (task_id, job, attempt, trigger, scheduled_at, started_at, \
             finished_at, duration_ms, status, runner_id, result) \
         SELECT i, 'j', 1, 'enqueue', 0, 0, {now} + 864000000 - CAST(i AS BIGINT) * 25200000, 1, 'succeeded', \
             'r0', '{{\"i\":' || i || '}}' FROM {{series}}"
    );
    let dir = tempfile::tempdir().expect("a folder");
    let mut urls = vec![(
        Backend::Sqlite,
        format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("seven.db").display()
        ),
        None,
    )];
    if let Some(base) = backends::postgres_url() {
        let (schema, url) = backends::fresh_schema(&base).await;
        urls.push((Backend::Postgres, url, Some((base, schema))));
    }
    for (backend, url, schema) in urls {
        eprintln!("backend: {backend}");
        let series = match backend {
            Backend::Postgres => format!("generate_series(1, {ROWS}) AS i"),
            Backend::Sqlite => format!(
                "(WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s \
                  WHERE i < {ROWS}) SELECT i FROM s)"
            ),
        };
        let fill = fill.replace("{series}", &series);
        match backend {
            Backend::Postgres => {
                let mut c = sqlx::PgConnection::connect(&url).await.expect("open");
                apply_old(&mut c, "postgres", FILES, SEVEN).await;
                sqlx::raw_sql(sqlx::AssertSqlSafe(fill))
                    .execute(&mut c)
                    .await
                    .expect("fill");
            }
            Backend::Sqlite => {
                let mut c = sqlx::SqliteConnection::connect(&url).await.expect("open");
                apply_old(&mut c, "sqlite", FILES, SEVEN).await;
                sqlx::raw_sql(sqlx::AssertSqlSafe(fill))
                    .execute(&mut c)
                    .await
                    .expect("fill");
            }
        }
        let store = Store::connect(&url, &Default::default())
            .await
            .expect("open");
        assert!(
            store.check_schema().await.is_err(),
            "schema 7 is not current"
        );
        store.migrate().await.expect("migrate to 8");
        store.check_schema().await.expect("current");
        let rows = store
            .executions(&ExecutionFilter {
                limit: 2 * ROWS as u32,
                ..ExecutionFilter::default()
            })
            .await
            .expect("the history");
        assert_eq!(rows.len(), ROWS as usize);
        for row in &rows {
            // Written in the order of `i`: the row of `i` has id `i`.
            let i = row.id;
            assert_eq!(row.task_id, i);
            assert_eq!(
                row.finished_at.timestamp_millis(),
                now + 864_000_000 - i * 25_200_000
            );
            assert_eq!(
                row.result,
                Some(serde_json::json!({ "i": i })),
                "the result of row {i}"
            );
        }
        // A row by its task (an index of every partition), and the next id.
        let one = store
            .executions(&ExecutionFilter {
                task_id: Some(500),
                limit: 10,
                ..ExecutionFilter::default()
            })
            .await
            .expect("by task");
        assert_eq!(one.iter().map(|r| r.id).collect::<Vec<_>>(), [500]);
        let ids = store
            .insert_tasks(&[task("j", Utc::now())], Utc::now())
            .await
            .expect("insert");
        let at = DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).expect("now");
        store.claim("j", "r1", at, 1, false).await.expect("claim");
        let mut next = execution(ids[0].0, 1, ExecutionStatus::Succeeded, at);
        next.job = "j".into();
        store
            .complete(
                "r1",
                &[Completion {
                    task_id: ids[0].0,
                    attempt: 1,
                    next_state: TaskState::Succeeded,
                    retry_at: None,
                    snoozed: false,
                    execution: next,
                    chain: None,
                    follow_up: None,
                }],
                at,
            )
            .await
            .expect("complete");
        assert_eq!(history(&store).await[0].id, ROWS + 1);
        store.close().await;
        if let Some((base, schema)) = schema {
            backends::drop_schema(&base, &schema).await;
        }
    }
}
