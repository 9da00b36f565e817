//! Storing tasks.

use super::*;

#[tokio::test]
async fn unique_keys_return_the_active_task_and_free_once_it_ends() {
    each_backend(async |store, now| {
        let mut keyed = task("a", now);
        keyed.unique_key = Some("report:7".into());
        let first = store
            .insert_tasks(std::slice::from_ref(&keyed), now)
            .await
            .expect("insert")[0];
        let again = store
            .insert_tasks(std::slice::from_ref(&keyed), now)
            .await
            .expect("insert")[0];
        assert_eq!(again, (first.0, true));
        let claimed = store.claim("a", "r1", now, 1, false).await.expect("claim");
        store
            .register_runner(&runner("r1", now))
            .await
            .expect("register");
        store
            .complete(
                "r1",
                &[Completion {
                    task_id: claimed[0].id,
                    attempt: 1,
                    next_state: TaskState::Succeeded,
                    retry_at: None,
                    execution: execution(claimed[0].id, 1, ExecutionStatus::Succeeded, now),
                    chain: None,
                    follow_up: None,
                }],
                now,
            )
            .await
            .expect("complete");
        let fresh = store
            .insert_tasks(std::slice::from_ref(&keyed), now)
            .await
            .expect("insert")[0];
        assert!(!fresh.1 && fresh.0 != first.0, "the key was not freed");
    })
    .await;
}

#[tokio::test]
async fn a_task_run_in_this_process_is_stored_already_claimed() {
    each_backend(async |store, now| {
        let claimed = store
            .insert_running_task(&task("a", now), "exec-1", now)
            .await
            .expect("insert");
        assert_eq!((claimed.attempt, claimed.job.as_str()), (1, "a"));
        let stored = store.task(claimed.id).await.expect("read").expect("stored");
        assert_eq!(stored.state, TaskState::Running);
        assert_eq!(stored.locked_by.as_deref(), Some("exec-1"));
        assert!(
            store
                .claim("a", "r1", now, 10, false)
                .await
                .expect("claim")
                .is_empty(),
            "a running task is not claimed again"
        );
    })
    .await;
}
