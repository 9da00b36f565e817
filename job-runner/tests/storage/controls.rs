//! The controls: cancel, retry, pause, resume.

use super::*;

#[tokio::test]
async fn cancel_and_retry_move_only_tasks_in_the_right_state() {
    each_backend(async |store, now| {
        let ids = store
            .insert_tasks(&[task("a", now), task("a", now)], now)
            .await
            .expect("insert");
        let applied = |transition: Transition| match transition {
            Transition::Applied(task) => task,
            other => panic!("not applied: {other:?}"),
        };
        let refused = |transition: Transition| match transition {
            Transition::Refused(task) => task,
            other => panic!("not refused: {other:?}"),
        };
        let cancelled = applied(store.cancel(ids[0].0, "cli", now).await.expect("cancel"));
        assert_eq!(cancelled.state, TaskState::Cancelled);
        // Refused, with the task as found.
        let again = refused(store.cancel(ids[0].0, "cli", now).await.expect("cancel"));
        assert_eq!(again.state, TaskState::Cancelled);
        let pending = refused(store.retry(ids[1].0, 3, now).await.expect("retry"));
        assert_eq!(pending.state, TaskState::Pending);
        let retried = applied(store.retry(ids[0].0, 3, now).await.expect("retry"));
        assert_eq!(
            (retried.state, retried.max_attempts),
            (TaskState::Pending, 3)
        );
        assert!(matches!(
            store.cancel(999_999, "cli", now).await.expect("cancel"),
            Transition::NotFound
        ));
    })
    .await;
}

/// Claims and cancels race over the same tasks: each task is either claimed (and runs) or
/// cancelled (and never runs), never both.
#[tokio::test]
async fn a_cancel_never_overwrites_a_claim_made_meanwhile() {
    each_backend(async |store, now| {
        let tasks: Vec<NewTask> = (0..300).map(|_| task("a", now)).collect();
        let ids: Vec<i64> = store
            .insert_tasks(&tasks, now)
            .await
            .expect("insert")
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        let claimers: Vec<_> = (0..4)
            .map(|n| {
                let store = store.clone();
                tokio::spawn(async move {
                    let runner = format!("r{n}");
                    let mut claimed = Vec::new();
                    loop {
                        let batch = store
                            .claim("a", &runner, now, 1, false)
                            .await
                            .expect("claim");
                        if batch.is_empty() {
                            return claimed;
                        }
                        claimed.extend(batch.into_iter().map(|t| t.id));
                    }
                })
            })
            .collect();
        let cancels: Vec<_> = ids
            .iter()
            .map(|&id| {
                let store = store.clone();
                tokio::spawn(async move {
                    // A running task is only asked to stop: it stays running.
                    matches!(
                        store.cancel(id, "cli", now).await.expect("cancel"),
                        Transition::Applied(task) if task.state == TaskState::Cancelled
                    )
                    .then_some(id)
                })
            })
            .collect();
        let mut claimed = HashSet::new();
        for claimer in claimers {
            claimed.extend(claimer.await.expect("claimer"));
        }
        let mut cancelled = HashSet::new();
        for cancel in cancels {
            cancelled.extend(cancel.await.expect("cancel"));
        }
        assert_eq!(claimed.len() + cancelled.len(), ids.len());
        assert!(claimed.is_disjoint(&cancelled));
        for id in claimed {
            let task = store.task(id).await.expect("read").expect("stored");
            assert_eq!(
                task.state,
                TaskState::Running,
                "claimed task {id} was overwritten"
            );
        }
    })
    .await;
}

/// Two retries of one dead task race with a claim: the task runs once, and a retry never
/// puts a running task back to pending.
#[tokio::test]
async fn concurrent_retries_never_put_a_running_task_back() {
    each_backend(async |store, now| {
        for round in 0..40 {
            let mut once = task("a", now);
            once.max_attempts = 1;
            let id = store.insert_tasks(&[once], now).await.expect("insert")[0].0;
            let runner = format!("r{round}");
            store
                .claim("a", &runner, now, 1, false)
                .await
                .expect("claim");
            let end = Completion {
                task_id: id,
                attempt: 1,
                next_state: TaskState::Dead,
                retry_at: None,
                snoozed: false,
                execution: execution(id, 1, ExecutionStatus::Dead, now),
                chain: None,
                follow_up: None,
            };
            store
                .complete(&runner, &[end], now)
                .await
                .expect("complete");
            let retry = |store: Store| async move { store.retry(id, 1, now).await.expect("retry") };
            let claim = {
                let store = store.clone();
                let runner = runner.clone();
                tokio::spawn(async move {
                    // Claim as soon as a retry makes the task pending.
                    for _ in 0..200 {
                        let got = store
                            .claim("a", &runner, now, 1, false)
                            .await
                            .expect("claim");
                        if !got.is_empty() {
                            return true;
                        }
                        tokio::task::yield_now().await;
                    }
                    false
                })
            };
            let (a, b) = tokio::join!(
                tokio::spawn(retry(store.clone())),
                tokio::spawn(retry(store.clone()))
            );
            let applied = [a.expect("retry"), b.expect("retry")]
                .iter()
                .filter(|t| matches!(t, Transition::Applied(_)))
                .count();
            let claimed = claim.await.expect("claim");
            assert_eq!(
                applied, 1,
                "round {round}: one retry applies, the other finds it pending or running"
            );
            let task = store.task(id).await.expect("read").expect("stored");
            if claimed {
                assert_eq!(
                    task.state,
                    TaskState::Running,
                    "round {round}: a retry overwrote a claim"
                );
            }
        }
    })
    .await;
}
