//! Running attempts: progress, cancel requests, snoozes, results, and how a task ended.

use super::*;

/// Stores `n` tasks of job `a` due at `now`; their ids.
async fn due_tasks(store: &Store, n: usize, now: DateTime<Utc>) -> Vec<i64> {
    let tasks: Vec<NewTask> = (0..n).map(|_| task("a", now)).collect();
    store
        .insert_tasks(&tasks, now)
        .await
        .expect("insert")
        .into_iter()
        .map(|(id, _)| id)
        .collect()
}

/// The end of attempt 1 of task `id`, as `status`, with `next_state`.
fn ended(id: i64, next_state: TaskState, status: ExecutionStatus, at: DateTime<Utc>) -> Completion {
    Completion {
        task_id: id,
        attempt: 1,
        next_state,
        retry_at: (next_state == TaskState::Pending).then(|| at + TimeDelta::seconds(30)),
        snoozed: status == ExecutionStatus::Snoozed,
        execution: execution(id, 1, status, at),
        chain: None,
        follow_up: None,
    }
}

#[tokio::test]
async fn progress_is_written_only_for_tasks_the_runner_holds() {
    each_backend(async |store, now| {
        let ids = due_tasks(&store, 2, now).await;
        store.claim("a", "r1", now, 1, false).await.expect("claim");
        let held = ids[0];
        let report = |id: i64| (id, format!(r#"{{"done":{id},"total":10}}"#));
        store
            .report_progress("r1", &[report(ids[0]), report(ids[1])])
            .await
            .expect("report");
        store
            .report_progress("r2", &[])
            .await
            .expect("nothing to report");
        let progress = |id| {
            let store = store.clone();
            async move {
                store
                    .task(id)
                    .await
                    .expect("read")
                    .expect("stored")
                    .progress
            }
        };
        assert_eq!(
            progress(held).await,
            Some(serde_json::json!({"done": held, "total": 10}))
        );
        assert_eq!(progress(ids[1]).await, None, "not claimed: not written");
        // Another runner's report for a task it does not hold is ignored.
        store
            .report_progress("r2", &[(held, r#"{"done":0}"#.into())])
            .await
            .expect("report");
        assert_eq!(
            progress(held).await,
            Some(serde_json::json!({"done": held, "total": 10}))
        );
    })
    .await;
}

#[tokio::test]
async fn a_running_task_is_asked_to_stop_and_its_runner_finds_the_request() {
    each_backend(async |store, now| {
        let mut listener = store.listen().await.expect("listen");
        let ids = due_tasks(&store, 2, now).await;
        store.claim("a", "r1", now, 1, false).await.expect("claim");
        let (running, pending) = (ids[0], ids[1]);
        assert!(store.cancel_requests("r1").await.expect("read").is_empty());
        let Transition::Applied(asked) = store.cancel(running, "cli", now).await.expect("cancel")
        else {
            panic!("a running task can be cancelled");
        };
        assert_eq!(asked.state, TaskState::Running, "it stops in its runner");
        assert_eq!(asked.cancel_requested_at, Some(truncated(now)));
        assert_eq!(store.cancel_requests("r1").await.expect("read"), [running]);
        assert!(store.cancel_requests("r2").await.expect("read").is_empty());
        // PostgreSQL tells the runners at once; SQLite's runners find it at their poll.
        if let (Backend::Postgres, Some(listener)) = (store.backend(), listener.as_deref_mut()) {
            heard_cancel(listener, running).await;
        }
        // A pending task is cancelled at once.
        let Transition::Applied(cancelled) =
            store.cancel(pending, "cli", now).await.expect("cancel")
        else {
            panic!("a pending task can be cancelled");
        };
        assert_eq!(cancelled.state, TaskState::Cancelled);
        // The runner ends the attempt as cancelled: the request is answered.
        store
            .complete(
                "r1",
                &[ended(
                    running,
                    TaskState::Cancelled,
                    ExecutionStatus::Cancelled,
                    now,
                )],
                now,
            )
            .await
            .expect("complete");
        assert!(store.cancel_requests("r1").await.expect("read").is_empty());
        let task = store.task(running).await.expect("read").expect("stored");
        assert_eq!(task.state, TaskState::Cancelled);
        assert!(task.finished_at.is_some());
        // An ended task cannot be cancelled again.
        assert!(matches!(
            store.cancel(running, "cli", now).await.expect("cancel"),
            Transition::Refused(_)
        ));
    })
    .await;
}

/// Waits up to 10 s for the announcement that `task` was asked to stop.
async fn heard_cancel(listener: &mut dyn Listener, task: i64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let next = tokio::time::timeout_at(deadline, listener.next())
            .await
            .unwrap_or_else(|_| panic!("the cancel of task {task} was not announced within 10 s"))
            .expect("an announcement");
        if next == Announcement::CancelRequested(task) {
            return;
        }
    }
}

/// `at` as stored: to the millisecond.
fn truncated(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(at.timestamp_millis()).expect("in range")
}

#[tokio::test]
async fn a_snooze_gives_back_its_attempt_and_is_counted() {
    each_backend(async |store, now| {
        let id = store
            .insert_tasks(&[task("a", now)], now)
            .await
            .expect("insert")[0]
            .0;
        store.claim("a", "r1", now, 1, false).await.expect("claim");
        store
            .complete(
                "r1",
                &[ended(id, TaskState::Pending, ExecutionStatus::Snoozed, now)],
                now,
            )
            .await
            .expect("complete");
        let task = store.task(id).await.expect("read").expect("stored");
        assert_eq!(task.state, TaskState::Pending);
        assert_eq!(task.attempt, 0, "the snoozed attempt is not counted");
        assert_eq!(task.snoozes, 1);
        // The next claim is attempt 1 again, and knows of the snooze.
        let claimed = store
            .claim("a", "r1", now + TimeDelta::seconds(31), 1, false)
            .await
            .expect("claim");
        assert_eq!((claimed[0].attempt, claimed[0].snoozes), (1, 1));
        let rows = history(&store).await;
        assert_eq!(rows[0].status, ExecutionStatus::Snoozed);
    })
    .await;
}

#[tokio::test]
async fn how_a_task_ended_is_read_with_its_result() {
    each_backend(async |store, now| {
        assert_eq!(store.task_end(123_456).await.expect("read"), None);
        let ids = due_tasks(&store, 3, now).await;
        let end = |id| {
            let store = store.clone();
            async move { store.task_end(id).await.expect("read").expect("stored") }
        };
        assert_eq!(end(ids[0]).await.state, TaskState::Pending);
        store.claim("a", "r1", now, 2, false).await.expect("claim");
        assert_eq!(end(ids[0]).await.state, TaskState::Running);
        store
            .complete(
                "r1",
                &[
                    ended(
                        ids[0],
                        TaskState::Succeeded,
                        ExecutionStatus::Succeeded,
                        now,
                    ),
                    ended(ids[1], TaskState::Dead, ExecutionStatus::Dead, now),
                ],
                now,
            )
            .await
            .expect("complete");
        let succeeded = end(ids[0]).await;
        assert_eq!(succeeded.state, TaskState::Succeeded);
        assert_eq!(
            succeeded.result.as_deref(),
            Some(format!(r#"{{"task":{}}}"#, ids[0]).as_str())
        );
        let dead = end(ids[1]).await;
        assert_eq!(
            (dead.state, dead.last_error.as_deref(), dead.result),
            (TaskState::Dead, Some("boom"), None)
        );
        // The history keeps the result and the last progress of each attempt.
        let row = history(&store)
            .await
            .into_iter()
            .find(|e| e.task_id == ids[0])
            .expect("a history row");
        assert_eq!(row.result, Some(serde_json::json!({"task": ids[0]})));
        assert_eq!(
            row.progress,
            Some(serde_json::json!({"done": 2, "total": 2}))
        );
        // And the task keeps the last progress.
        let task = store.task(ids[0]).await.expect("read").expect("stored");
        assert_eq!(
            task.progress,
            Some(serde_json::json!({"done": 2, "total": 2}))
        );
    })
    .await;
}

#[tokio::test]
async fn a_lost_attempt_of_a_task_being_cancelled_ends_cancelled_not_retried() {
    each_backend(async |store, now| {
        store
            .register_runner(&runner("r1", now))
            .await
            .expect("register");
        let ids = due_tasks(&store, 2, now).await;
        store.claim("a", "r1", now, 2, false).await.expect("claim");
        store.cancel(ids[0], "cli", now).await.expect("cancel");
        // The runner gives up its claims (it stops) before it ends the attempts.
        let rescued = store
            .rescue(now, Duration::from_secs(10), "r1", Some("r1"), &AtOnce)
            .await
            .expect("rescue");
        assert_eq!(rescued.len(), 2);
        let cancelled = store.task(ids[0]).await.expect("read").expect("stored");
        assert_eq!(cancelled.state, TaskState::Cancelled);
        assert!(cancelled.finished_at.is_some());
        // The request is answered: retried by hand, the task is not stopped again.
        assert_eq!(cancelled.cancel_requested_at, None);
        let retried = store.task(ids[1]).await.expect("read").expect("stored");
        assert_eq!(retried.state, TaskState::Pending, "the other is retried");
        let row = history(&store)
            .await
            .into_iter()
            .find(|e| e.task_id == ids[0])
            .expect("a history row");
        assert_eq!(row.status, ExecutionStatus::Cancelled);
        assert!(
            row.error
                .as_deref()
                .is_some_and(|e| e.starts_with("cancelled while running")),
            "{row:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn the_ends_of_awaited_tasks_are_announced_and_only_theirs() {
    each_backend(async |store, now| {
        let ids = due_tasks(&store, 2, now).await;
        let listener = store.listen_ends().await.expect("listen");
        store.await_end(ids[1]).await.expect("await");
        let Some(mut listener) = listener else {
            // SQLite: callers poll.
            assert_eq!(store.backend(), Backend::Sqlite);
            return;
        };
        store.claim("a", "r1", now, 2, false).await.expect("claim");
        store
            .complete(
                "r1",
                &[
                    ended(
                        ids[0],
                        TaskState::Succeeded,
                        ExecutionStatus::Succeeded,
                        now,
                    ),
                    ended(
                        ids[1],
                        TaskState::Succeeded,
                        ExecutionStatus::Succeeded,
                        now,
                    ),
                ],
                now,
            )
            .await
            .expect("complete");
        // The channel is the database's: other schemas' tasks may be announced too.
        let mut heard = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        while let Ok(next) = tokio::time::timeout_at(deadline, listener.next()).await {
            heard.push(next.expect("an announcement"));
        }
        assert!(
            heard.contains(&Announcement::TaskEnded(ids[1])),
            "the awaited task's end was not announced: {heard:?}"
        );
        assert!(
            !heard.contains(&Announcement::TaskEnded(ids[0])),
            "a task no one waits for was announced: {heard:?}"
        );
    })
    .await;
}
