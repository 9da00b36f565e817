//! Upkeep of the tasks table.

use super::*;

/// On PostgreSQL, claims and ends of attempts leave dead row versions behind (and their
/// index entries, which later claims step over); once there are enough, `reclaim`
/// vacuums the table. Below the threshold it leaves the table alone. SQLite frees an old
/// row's index entries in the same write: it never has anything to reclaim.
#[tokio::test]
async fn reclaiming_vacuums_the_tasks_table_once_ended_attempts_leave_enough_dead_rows() {
    each_backend(async |store, now| {
        assert_eq!(
            store.reclaim().await.expect("reclaim"),
            None,
            "an untouched table needs no upkeep"
        );
        if store.backend() == Backend::Sqlite {
            store
                .insert_tasks(&[task("a", now)], now)
                .await
                .expect("insert");
            store.claim("a", "r1", now, 1, false).await.expect("claim");
            assert_eq!(store.reclaim().await.expect("reclaim"), None);
            return;
        }
        let mut connection = postgres(&store).await;
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
        // 60,000 tasks claimed and ended: 120,000 dead versions, past the threshold.
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
    })
    .await;
}
