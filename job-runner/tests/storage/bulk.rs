//! Tasks in bulk and in depth: filters by time and argument text, counts, bulk actions
//! bounded by a snapshot id, a task's links, and the pulse of the table.

use job_runner::storage::{BulkAction, BulkOutcome, ChainStep, TaskCount};

use super::*;

/// Stores a task of `job` with `args`, runs its one attempt, and ends it `state`
/// (succeeded or dead) at `at`; returns its id.
async fn ended(store: &Store, job: &str, args: &str, state: TaskState, at: DateTime<Utc>) -> i64 {
    let mut new = task(job, at);
    new.args = args.into();
    new.max_attempts = 1;
    let id = store.insert_tasks(&[new], at).await.expect("insert")[0].0;
    let claimed = store.claim(job, "r1", at, 1, false).await.expect("claim");
    assert_eq!(claimed.iter().map(|t| t.id).collect::<Vec<_>>(), [id]);
    let status = match state {
        TaskState::Succeeded => ExecutionStatus::Succeeded,
        _ => ExecutionStatus::Dead,
    };
    let mut execution = execution(id, 1, status, at);
    execution.job = job.into();
    let completion = Completion {
        task_id: id,
        attempt: 1,
        next_state: state,
        retry_at: None,
        snoozed: false,
        execution,
        chain: None,
        follow_up: None,
    };
    store
        .complete("r1", &[completion], at)
        .await
        .expect("complete");
    id
}

fn ids(rows: &[job_runner::storage::TaskRow]) -> Vec<i64> {
    rows.iter().map(|t| t.id).collect()
}

#[tokio::test]
async fn tasks_are_filtered_by_last_change_and_argument_text_and_counted() {
    each_backend(async |store, now| {
        let early = now - TimeDelta::hours(2);
        let old_dead = ended(
            &store,
            "a",
            r#"{"customer":"ACME"}"#,
            TaskState::Dead,
            early,
        )
        .await;
        let new_dead = ended(
            &store,
            "a",
            r#"{"customer":"Globex"}"#,
            TaskState::Dead,
            now,
        )
        .await;
        // Pending: its last change is when it was stored.
        let mut pending = task("a", now);
        pending.args = r#"{"customer":"acme 100%"}"#.into();
        let pending = store.insert_tasks(&[pending], now).await.expect("insert")[0].0;
        let list = |filter: TaskFilter| {
            let store = store.clone();
            async move {
                let filter = TaskFilter {
                    limit: 10,
                    ..filter
                };
                let rows = store.tasks(&filter).await.expect("tasks");
                let count = store.count_tasks(&filter).await.expect("count");
                assert_eq!(count.count, rows.len() as u64, "the count is the listing's");
                assert_eq!(count.up_to_id, rows.first().map(|t| t.id));
                ids(&rows)
            }
        };
        let since = now - TimeDelta::hours(1);
        assert_eq!(
            list(TaskFilter {
                since: Some(since),
                ..TaskFilter::default()
            })
            .await,
            [pending, new_dead]
        );
        assert_eq!(
            list(TaskFilter {
                until: Some(since),
                ..TaskFilter::default()
            })
            .await,
            [old_dead]
        );
        let text = |t: &str| TaskFilter {
            text: Some(t.into()),
            ..TaskFilter::default()
        };
        assert_eq!(
            list(text("acme")).await,
            [pending, old_dead],
            "case-insensitive"
        );
        assert_eq!(
            list(text("0%")).await,
            [pending],
            "a wildcard is a plain character"
        );
        assert_eq!(list(text("_")).await, Vec::<i64>::new());
        assert_eq!(
            list(TaskFilter {
                state: Some(TaskState::Dead),
                job: Some("a".into()),
                since: Some(since),
                ..TaskFilter::default()
            })
            .await,
            [new_dead]
        );
        // The cursor pages on, newest first.
        assert_eq!(
            list(TaskFilter {
                before_id: Some(pending),
                ..TaskFilter::default()
            })
            .await,
            [new_dead, old_dead]
        );
        assert_eq!(
            store.count_tasks(&text("nowhere")).await.expect("count"),
            TaskCount {
                count: 0,
                up_to_id: None
            }
        );
    })
    .await;
}

#[tokio::test]
async fn a_bulk_retry_touches_exactly_the_tasks_matched_up_to_the_snapshot() {
    each_backend(async |store, now| {
        let t = now - TimeDelta::hours(1);
        let before_t = ended(
            &store,
            "a",
            "{}",
            TaskState::Dead,
            t - TimeDelta::minutes(5),
        )
        .await;
        let other_job = ended(&store, "b", "{}", TaskState::Dead, now).await;
        let succeeded = ended(&store, "a", "{}", TaskState::Succeeded, now).await;
        let mut dead = Vec::new();
        for _ in 0..5 {
            dead.push(ended(&store, "a", "{}", TaskState::Dead, now).await);
        }
        let filter = TaskFilter {
            state: Some(TaskState::Dead),
            job: Some("a".into()),
            since: Some(t),
            ..TaskFilter::default()
        };
        let count = store.count_tasks(&filter).await.expect("count");
        assert_eq!(
            count,
            TaskCount {
                count: 5,
                up_to_id: dead.last().copied()
            }
        );
        // Stored after the count: never touched by the action that took the count.
        let late = ended(&store, "a", "{}", TaskState::Dead, now).await;
        let extra = |job: &str| if job == "a" { 4 } else { 9 };
        let retry = BulkAction::Retry {
            extra_attempts: &extra,
        };
        // Batches of two: three of them.
        let outcome = store
            .bulk_tasks(&retry, &filter, count.up_to_id.expect("an id"), 2, now)
            .await
            .expect("bulk retry");
        assert_eq!(
            outcome,
            BulkOutcome {
                matched: 5,
                applied: 5,
                skipped: 0
            }
        );
        for id in &dead {
            let task = store.task(*id).await.expect("read").expect("a task");
            assert_eq!(
                (task.state, task.max_attempts, task.finished_at),
                (TaskState::Pending, 5, None)
            );
            assert_eq!(task.run_at, now);
        }
        for id in [before_t, other_job, late] {
            let task = store.task(id).await.expect("read").expect("a task");
            assert_eq!(task.state, TaskState::Dead, "task {id} was touched");
        }
        let task = store.task(succeeded).await.expect("read").expect("a task");
        assert_eq!(task.state, TaskState::Succeeded);
        // Without a state, the pending ones match and are skipped.
        let all_a = TaskFilter {
            job: Some("a".into()),
            ..TaskFilter::default()
        };
        let outcome = store
            .bulk_tasks(&retry, &all_a, dead[4], 500, now)
            .await
            .expect("bulk retry");
        assert_eq!(
            outcome,
            BulkOutcome {
                matched: 7,
                applied: 1,
                skipped: 6
            }
        );
        let task = store.task(before_t).await.expect("read").expect("a task");
        assert_eq!(task.state, TaskState::Pending);
    })
    .await;
}

#[tokio::test]
async fn a_bulk_cancel_cancels_pending_tasks_and_asks_running_ones_to_stop() {
    each_backend(async |store, now| {
        let stored = store
            .insert_tasks(&[task("a", now), task("a", now), task("a", now)], now)
            .await
            .expect("insert");
        let running = store.claim("a", "r1", now, 1, false).await.expect("claim")[0].id;
        let done = ended(&store, "b", "{}", TaskState::Succeeded, now).await;
        let before = history(&store).await.len();
        let outcome = store
            .bulk_tasks(
                &BulkAction::Cancel { runner: "cli" },
                &TaskFilter::default(),
                done,
                500,
                now,
            )
            .await
            .expect("bulk cancel");
        assert_eq!(
            outcome,
            BulkOutcome {
                matched: 4,
                applied: 3,
                skipped: 1
            }
        );
        for (id, _) in &stored {
            let task = store.task(*id).await.expect("read").expect("a task");
            if *id == running {
                assert_eq!(task.state, TaskState::Running);
                assert_eq!(task.cancel_requested_at, Some(now));
            } else {
                assert_eq!(
                    (task.state, task.finished_at),
                    (TaskState::Cancelled, Some(now))
                );
            }
        }
        assert_eq!(
            store.cancel_requests("r1").await.expect("requests"),
            [running],
            "the runner sees the request"
        );
        let rows = history(&store).await;
        assert_eq!(rows.len(), before + 2, "a history row per cancelled task");
        assert!(
            rows[..2]
                .iter()
                .all(|e| e.status == ExecutionStatus::Cancelled && e.runner_id == "cli")
        );
    })
    .await;
}

#[tokio::test]
async fn a_bulk_delete_removes_finished_tasks_only_and_frees_their_keys() {
    each_backend(async |store, now| {
        let mut keyed = task("a", now);
        keyed.unique_key = Some("k".into());
        keyed.unique_for = Duration::from_secs(3600);
        keyed.max_attempts = 1;
        let keyed = store.insert_tasks(&[keyed], now).await.expect("insert")[0].0;
        store.claim("a", "r1", now, 1, false).await.expect("claim");
        let completion = Completion {
            task_id: keyed,
            attempt: 1,
            next_state: TaskState::Succeeded,
            retry_at: None,
            snoozed: false,
            execution: execution(keyed, 1, ExecutionStatus::Succeeded, now),
            chain: None,
            follow_up: None,
        };
        store
            .complete("r1", &[completion], now)
            .await
            .expect("complete");
        let dead = ended(&store, "a", "{}", TaskState::Dead, now).await;
        let pending = store
            .insert_tasks(&[task("a", now)], now)
            .await
            .expect("insert")[0]
            .0;
        let running = store
            .insert_tasks(&[task("b", now)], now)
            .await
            .expect("insert")[0]
            .0;
        store.claim("b", "r1", now, 1, false).await.expect("claim");
        let outcome = store
            .bulk_tasks(
                &BulkAction::Delete,
                &TaskFilter::default(),
                running,
                500,
                now,
            )
            .await
            .expect("bulk delete");
        assert_eq!(
            outcome,
            BulkOutcome {
                matched: 4,
                applied: 2,
                skipped: 2
            }
        );
        for id in [keyed, dead] {
            assert!(
                store.task(id).await.expect("read").is_none(),
                "task {id} stayed"
            );
        }
        for id in [pending, running] {
            assert!(
                store.task(id).await.expect("read").is_some(),
                "task {id} was deleted"
            );
        }
        assert_eq!(
            store
                .executions(&ExecutionFilter {
                    task_id: Some(dead),
                    limit: 10,
                    ..ExecutionFilter::default()
                })
                .await
                .expect("history")
                .len(),
            1,
            "history rows stay, as the cleaner leaves them"
        );
        // The key of the deleted success is free at once: a new task of the key is stored.
        let mut again = task("a", now);
        again.unique_key = Some("k".into());
        let (id, existed) = store.insert_tasks(&[again], now).await.expect("insert")[0];
        assert!(!existed && id != keyed, "the key was still held");
    })
    .await;
}

#[tokio::test]
async fn task_links_show_the_chain_the_tick_and_the_event() {
    each_backend(async |store, now| {
        let tick_at = now - TimeDelta::minutes(1);
        let TickOutcome::Enqueued(ticked) = store
            .take_tick("every-minute", tick_at, &task("a", tick_at), now)
            .await
            .expect("tick")
        else {
            panic!("the tick stored no task")
        };
        let links = store.task_links(ticked).await.expect("links");
        assert_eq!(links.tick, Some(("every-minute".to_owned(), tick_at)));
        assert_eq!((links.event, links.chain.len()), (None, 0));

        let event = Event {
            id: "evt-1".into(),
            source: "hooks".into(),
            kind: "created".into(),
            fields: serde_json::Map::new(),
        };
        let EventOutcome::Enqueued(from_event) = store
            .record_event(&event, "a", Ok(&task("a", now)), now)
            .await
            .expect("event")
        else {
            panic!("the event stored no task")
        };
        let links = store.task_links(from_event).await.expect("links");
        assert_eq!(links.event, Some(("hooks".to_owned(), "evt-1".to_owned())));
        assert_eq!(links.tick, None);

        // A chain started at run time: its first step's success stores the second.
        let mut first = task("a", now);
        first.then = vec!["b".into()];
        let first = store.insert_tasks(&[first], now).await.expect("insert")[0].0;
        let claimed = store.claim("a", "r1", now, 10, false).await.expect("claim");
        let step = claimed
            .iter()
            .find(|t| t.id == first)
            .expect("the first step")
            .clone();
        let mut follow = task("b", now);
        follow.args = "{}".into();
        let link = step.chain.clone().expect("a chain step");
        let completion = Completion {
            task_id: first,
            attempt: 1,
            next_state: TaskState::Succeeded,
            retry_at: None,
            snoozed: false,
            execution: execution(first, 1, ExecutionStatus::Succeeded, now),
            chain: Some(link.clone()),
            follow_up: Some(job_runner::storage::FollowUp {
                task: follow,
                link: job_runner::storage::ChainLink {
                    id: link.id,
                    step: 2,
                    rest: Vec::new(),
                },
            }),
        };
        store
            .complete("r1", &[completion], now)
            .await
            .expect("complete");
        let links = store.task_links(first).await.expect("links");
        assert_eq!(links.chain.len(), 2, "{links:?}");
        assert_eq!(
            links.chain[0],
            ChainStep {
                task_id: first,
                step: 1,
                job: "a".into(),
                state: TaskState::Succeeded
            }
        );
        let second = links.chain[1].clone();
        assert_eq!(
            (second.step, second.job.as_str(), second.state),
            (2, "b", TaskState::Pending)
        );
        assert_eq!(
            store.task_links(second.task_id).await.expect("links").chain,
            links.chain
        );
        assert_eq!(
            store.task_links(999_999).await.expect("links"),
            Default::default()
        );
    })
    .await;
}

#[tokio::test]
async fn the_pulse_counts_tasks_per_state_and_names_the_latest_attempt() {
    each_backend(async |store, now| {
        let empty = store.pulse().await.expect("pulse");
        assert_eq!((empty.counts.len(), empty.latest_execution_id), (0, None));
        store
            .insert_tasks(&[task("a", now), task("a", now)], now)
            .await
            .expect("insert");
        ended(&store, "b", "{}", TaskState::Dead, now).await;
        // A success moves the latest history row on, and is not counted.
        ended(&store, "b", "{}", TaskState::Succeeded, now).await;
        let pulse = store.pulse().await.expect("pulse");
        let mut counts = pulse.counts.clone();
        counts.sort_by_key(|(state, _)| state.as_str());
        assert_eq!(counts, [(TaskState::Dead, 1), (TaskState::Pending, 2)]);
        assert_eq!(pulse.latest_execution_id, Some(history(&store).await[0].id));
        assert!(pulse.paused_queues.is_empty());
    })
    .await;
}
