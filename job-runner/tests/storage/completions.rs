//! Recording the ends of attempts.

use super::*;

#[tokio::test]
async fn completions_write_states_and_history_and_skip_claims_lost_meanwhile() {
    each_backend(async |store, now| {
        let ids = store
            .insert_tasks(&[task("a", now), task("a", now), task("a", now)], now)
            .await
            .expect("insert");
        let claimed = store.claim("a", "r1", now, 3, false).await.expect("claim");
        assert_eq!(claimed.len(), 3);
        let retry_at = now + TimeDelta::seconds(30);
        let completions = vec![
            Completion {
                task_id: ids[0].0,
                attempt: 1,
                next_state: TaskState::Succeeded,
                retry_at: None,
                snoozed: false,
                execution: execution(ids[0].0, 1, ExecutionStatus::Succeeded, now),
                chain: None,
                follow_up: None,
            },
            Completion {
                task_id: ids[1].0,
                attempt: 1,
                next_state: TaskState::Pending,
                retry_at: Some(retry_at),
                snoozed: false,
                execution: execution(ids[1].0, 1, ExecutionStatus::Failed, now),
                chain: None,
                follow_up: None,
            },
            Completion {
                task_id: ids[2].0,
                attempt: 1,
                next_state: TaskState::Dead,
                retry_at: None,
                snoozed: false,
                execution: execution(ids[2].0, 1, ExecutionStatus::Dead, now),
                chain: None,
                follow_up: None,
            },
        ];
        store
            .complete("r1", &completions, now)
            .await
            .expect("complete");
        let state = |i: usize| {
            let store = store.clone();
            let id = ids[i].0;
            async move { store.task(id).await.expect("read").expect("exists") }
        };
        assert_eq!(state(0).await.state, TaskState::Succeeded);
        let retried = state(1).await;
        assert_eq!(
            (retried.state, retried.run_at),
            (TaskState::Pending, retry_at)
        );
        assert_eq!(retried.last_error.as_deref(), Some("boom"));
        assert_eq!(state(2).await.state, TaskState::Dead);
        assert!(state(2).await.finished_at.is_some());
        let history = history(&store).await;
        assert_eq!(history.len(), 3);
        assert_eq!(history[0].task_id, ids[2].0, "newest first");
        assert_eq!(history[2].records_processed, Some(2));
        assert_eq!(history[2].duration_ms, 5);

        // A retry that is not due is not claimed; a stale completion changes nothing.
        assert!(
            store
                .claim("a", "r1", now, 3, false)
                .await
                .expect("claim")
                .is_empty()
        );
        let stale = Completion {
            task_id: ids[1].0,
            attempt: 1,
            next_state: TaskState::Succeeded,
            retry_at: None,
            snoozed: false,
            execution: execution(ids[1].0, 1, ExecutionStatus::Succeeded, now),
            chain: None,
            follow_up: None,
        };
        let ignored = store.complete("r2", &[stale], now).await.expect("complete");
        assert_eq!(ignored, [ids[1].0], "the stale completion is reported");
        assert_eq!(
            state(1).await.state,
            TaskState::Pending,
            "a runner that does not hold a task changed it"
        );
    })
    .await;
}

#[tokio::test]
async fn chain_steps_keep_their_chain_in_the_history_when_rescued_or_cancelled() {
    each_backend(async |store, now| {
        let lease = Duration::from_secs(10);
        let rest = ["b".to_owned()];
        let chain = |run_at| NewTask {
            then: rest.to_vec(),
            ..task("a", run_at)
        };
        let ids = store
            .insert_tasks(&[chain(now), chain(now + TimeDelta::hours(1))], now)
            .await
            .expect("two chains");
        let (lost, cancelled) = (ids[0].0, ids[1].0);
        let row = store.task(lost).await.expect("read").expect("stored");
        assert_eq!((row.chain_id, row.chain_step), (Some(lost), Some(1)));

        store
            .register_runner(&runner("dead", now))
            .await
            .expect("register");
        let claimed = store
            .claim("a", "dead", now, 1, false)
            .await
            .expect("claim");
        assert_eq!(claimed.len(), 1);
        // Given back by its runner (as at a shutdown past the grace period).
        let later = now + TimeDelta::seconds(11);
        store
            .rescue(later, lease, "alive", Some("dead"), &AtOnce)
            .await
            .expect("rescue");
        store.cancel(cancelled, "cli", later).await.expect("cancel");

        let history = history(&store).await;
        let chains: Vec<(i64, ExecutionStatus, Option<i64>, Option<i64>)> = history
            .iter()
            .map(|e| (e.task_id, e.status, e.chain_id, e.chain_step))
            .collect();
        assert_eq!(
            chains,
            [
                (
                    cancelled,
                    ExecutionStatus::Cancelled,
                    Some(cancelled),
                    Some(1)
                ),
                (lost, ExecutionStatus::Failed, Some(lost), Some(1)),
            ]
        );
    })
    .await;
}
