//! Reading tasks and history.

use super::*;

#[tokio::test]
async fn stored_tasks_are_counted_by_job_queue_and_state() {
    each_backend(async |store, now| {
        let mut other_queue = task("b", now - TimeDelta::seconds(30));
        other_queue.queue = "transfers".into();
        other_queue.max_attempts = 1;
        let ids = store
            .insert_tasks(
                &[
                    task("a", now - TimeDelta::seconds(10)),
                    task("a", now + TimeDelta::seconds(60)),
                    other_queue,
                ],
                now,
            )
            .await
            .expect("insert");
        assert_eq!(
            store.next_due_any().await.expect("next due"),
            Some(now - TimeDelta::seconds(30))
        );
        let stats = store.queue_stats(now).await.expect("stats");
        assert_eq!(stats.len(), 2, "{stats:?}");
        assert_eq!((stats[0].queue.as_str(), stats[0].due), ("default", 1));
        assert_eq!(stats[0].oldest_due_age_seconds, 10.0);
        assert_eq!((stats[1].queue.as_str(), stats[1].due), ("transfers", 1));

        // The task of `b` fails for good: dead.
        let claimed = store.claim("b", "r1", now, 1, false).await.expect("claim");
        assert_eq!(claimed.len(), 1);
        let mut failed = execution(ids[2].0, 1, ExecutionStatus::Dead, now);
        failed.job = "b".into();
        let end = Completion {
            task_id: ids[2].0,
            attempt: 1,
            next_state: TaskState::Dead,
            retry_at: None,
            snoozed: false,
            execution: failed,
            chain: None,
            follow_up: None,
        };
        store.complete("r1", &[end], now).await.expect("complete");
        assert_eq!(
            store.task_counts(TaskState::Dead).await.expect("dead"),
            vec![("b".to_owned(), 1)]
        );
        // One task of `a` runs.
        store.claim("a", "r1", now, 1, false).await.expect("claim");
        assert_eq!(
            store
                .task_counts(TaskState::Running)
                .await
                .expect("running"),
            vec![("a".to_owned(), 1)]
        );
        assert_eq!(
            store.stored_jobs().await.expect("jobs"),
            vec![("a".to_owned(), 2), ("b".to_owned(), 1)]
        );
        let args = store.stored_args("a", 10).await.expect("args");
        assert_eq!(
            args,
            vec![
                (ids[0].0, serde_json::json!({"n": 1})),
                (ids[1].0, serde_json::json!({"n": 1}))
            ]
        );
        assert_eq!(store.stored_args("a", 1).await.expect("args").len(), 1);

        let last = store.last_executions().await.expect("last");
        assert_eq!(last.len(), 1);
        assert_eq!(
            (last[0].job.as_str(), last[0].status),
            ("b", ExecutionStatus::Dead)
        );
    })
    .await;
}
