//! Retention.

use super::*;

#[tokio::test]
async fn pruning_removes_old_history_and_finished_tasks_but_keeps_dead_ones() {
    each_backend(async |store, now| {
        let old = now - TimeDelta::days(40);
        let ids = store
            .insert_tasks(&[task("a", old), task("a", old), task("a", now)], old)
            .await
            .expect("insert");
        store.claim("a", "r1", old, 2, false).await.expect("claim");
        let end = |id: i64, next_state, status| Completion {
            task_id: id,
            attempt: 1,
            next_state,
            retry_at: None,
            execution: execution(id, 1, status, old),
            chain: None,
            follow_up: None,
        };
        store
            .complete(
                "r1",
                &[
                    end(ids[0].0, TaskState::Succeeded, ExecutionStatus::Succeeded),
                    end(ids[1].0, TaskState::Dead, ExecutionStatus::Dead),
                ],
                old,
            )
            .await
            .expect("complete");
        let (executions, tasks) = store
            .prune(now - TimeDelta::days(30), 1000)
            .await
            .expect("prune");
        assert_eq!((executions, tasks), (2, 1));
        assert!(
            store.task(ids[0].0).await.expect("read").is_none(),
            "an old succeeded task stayed"
        );
        assert_eq!(
            store
                .task(ids[1].0)
                .await
                .expect("read")
                .expect("kept")
                .state,
            TaskState::Dead
        );
        assert!(store.task(ids[2].0).await.expect("read").is_some());
    })
    .await;
}
