//! Upkeep of the tasks table.

use super::*;

/// On PostgreSQL, claims and ends of attempts leave dead row versions behind (and their
/// index entries, which later claims step over); once there are enough, `reclaim`
/// vacuums the table. Below the threshold it leaves the table alone.
#[tokio::test]
async fn reclaiming_vacuums_the_tasks_table_once_ended_attempts_leave_enough_dead_rows() {
    let Some(base) = backends::postgres_url() else {
        return;
    };
    let (schema, url) = backends::fresh_schema(&base).await;
    let store = Store::connect(&url, &Default::default())
        .await
        .expect("open");
    store.migrate().await.expect("migrate");
    let mut connection = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
        .await
        .expect("connect");
    let vacuums = async |connection: &mut sqlx::PgConnection| -> i64 {
        sqlx::query_scalar(
            "SELECT vacuum_count + autovacuum_count FROM pg_stat_user_tables \
             WHERE relid = 'jobs_tasks'::regclass",
        )
        .fetch_one(connection)
        .await
        .expect("vacuum count")
    };
    let before = vacuums(&mut connection).await;
    assert_eq!(
        store.reclaim().await.expect("reclaim"),
        None,
        "an untouched table needs no vacuum"
    );
    // 60,000 tasks claimed and ended: 120,000 dead versions, past the threshold.
    let now = Utc::now();
    let tasks: Vec<NewTask> = (0..60_000).map(|_| task("a", now)).collect();
    store.insert_tasks(&tasks, now).await.expect("insert");
    loop {
        let claimed = store
            .claim("a", "r1", now, 1000, false)
            .await
            .expect("claim");
        if claimed.is_empty() {
            break;
        }
        let ends: Vec<Completion> = claimed
            .iter()
            .map(|t| Completion {
                task_id: t.id,
                attempt: t.attempt,
                next_state: TaskState::Succeeded,
                retry_at: None,
                snoozed: false,
                execution: execution(t.id, t.attempt, ExecutionStatus::Succeeded, now),
                chain: None,
                follow_up: None,
            })
            .collect();
        store.complete("r1", &ends, now).await.expect("complete");
    }
    // The server's statistics reach the table's counters within seconds.
    let mut reclaimed = None;
    for _ in 0..60 {
        reclaimed = store.reclaim().await.expect("reclaim");
        if reclaimed.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let dead = reclaimed.expect("the dead versions of 60,000 ended tasks are reclaimed");
    assert!(dead >= 100_000, "dead versions reclaimed: {dead}");
    assert!(
        vacuums(&mut connection).await > before,
        "the table was vacuumed"
    );
    drop(connection);
    store.close().await;
    backends::drop_schema(&base, &schema).await;
}

/// SQLite frees an old row's index entries in the same write: nothing is left to reclaim.
#[tokio::test]
async fn sqlite_has_nothing_to_reclaim() {
    for backend in backends::stores().await {
        if backend.store.backend() != Backend::Sqlite {
            backend.cleanup().await;
            continue;
        }
        let now = Utc::now();
        let ids = backend
            .store
            .insert_tasks(&[task("a", now)], now)
            .await
            .expect("insert");
        backend
            .store
            .claim("a", "r1", now, 1, false)
            .await
            .expect("claim");
        assert_eq!(ids.len(), 1);
        assert_eq!(backend.store.reclaim().await.expect("reclaim"), None);
        backend.cleanup().await;
    }
}
