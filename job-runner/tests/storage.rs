//! The storage suite: what every backend must do, run against each one.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use job_core::Trigger;
use job_runner::storage::{
    Backend, Completion, Execution, ExecutionFilter, ExecutionStatus, NewExecution, NewTask,
    RunnerRow, Store, TakenTick, TaskFilter, TaskState, TickOutcome, TickTask,
};

mod backends;

fn task(job: &str, run_at: DateTime<Utc>) -> NewTask {
    NewTask {
        job: job.into(),
        queue: "default".into(),
        args: r#"{"n":1}"#.into(),
        priority: 0,
        run_at,
        scheduled_at: run_at,
        max_attempts: 3,
        trigger: Trigger::Enqueue,
        unique_key: None,
        exclusive: false,
    }
}

fn runner(id: &str, at: DateTime<Utc>) -> RunnerRow {
    RunnerRow {
        id: id.into(),
        host: "test".into(),
        pid: 1,
        queues: String::new(),
        started_at: at,
        heartbeat_at: at,
    }
}

fn execution(
    task_id: i64,
    attempt: u32,
    status: ExecutionStatus,
    at: DateTime<Utc>,
) -> NewExecution {
    NewExecution {
        task_id,
        job: "a".into(),
        attempt,
        trigger: Trigger::Enqueue,
        scheduled_at: at,
        started_at: at,
        finished_at: at + TimeDelta::milliseconds(5),
        status,
        error: (status != ExecutionStatus::Succeeded).then(|| "boom".to_owned()),
        records_processed: Some(2),
        runner_id: "r1".into(),
        chain_id: None,
        chain_step: None,
    }
}

/// The newest history rows, newest first.
async fn history(store: &Store) -> Vec<Execution> {
    store
        .executions(&ExecutionFilter {
            limit: 10,
            ..ExecutionFilter::default()
        })
        .await
        .expect("history")
}

async fn each_backend(test: impl AsyncFn(Store, DateTime<Utc>)) {
    for backend in backends::stores().await {
        eprintln!("backend: {}", backend.name);
        // Whole milliseconds, as stored.
        let now = DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).expect("now");
        test(backend.store.clone(), now).await;
        backend.cleanup().await;
    }
}

#[tokio::test]
async fn claims_take_due_tasks_by_priority_then_age_and_count_the_attempt() {
    each_backend(async |store, now| {
        let mut low = task("a", now - TimeDelta::seconds(10));
        low.priority = 0;
        let mut high = task("a", now - TimeDelta::seconds(1));
        high.priority = 5;
        let later = task("a", now + TimeDelta::seconds(60));
        let other = task("b", now);
        let ids = store
            .insert_tasks(&[low, high, later, other], now)
            .await
            .expect("insert");
        assert_eq!(ids.len(), 4);
        assert!(ids.iter().all(|(_, existing)| !existing));

        let claimed = store.claim("a", "r1", now, 10, false).await.expect("claim");
        let claimed_ids: Vec<i64> = claimed.iter().map(|t| t.id).collect();
        assert_eq!(
            claimed_ids,
            [ids[1].0, ids[0].0],
            "priority first, then the oldest"
        );
        assert!(
            claimed
                .iter()
                .all(|t| t.attempt == 1 && t.max_attempts == 3)
        );
        assert_eq!(claimed[0].args, r#"{"n":1}"#);
        assert!(
            store
                .claim("a", "r1", now, 10, false)
                .await
                .expect("claim")
                .is_empty(),
            "claimed twice"
        );
        assert_eq!(
            store.next_due("a").await.expect("next due"),
            Some(now + TimeDelta::seconds(60))
        );
        let row = store.task(ids[0].0).await.expect("read").expect("exists");
        assert_eq!(row.state, TaskState::Running);
        assert_eq!(row.locked_by.as_deref(), Some("r1"));
    })
    .await;
}

#[tokio::test]
async fn concurrent_claimers_never_share_a_task() {
    each_backend(async |store, now| {
        let tasks: Vec<NewTask> = (0..400).map(|_| task("a", now)).collect();
        store.insert_tasks(&tasks, now).await.expect("insert");
        let claimers = (0..4).map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let batch = store
                        .claim("a", &format!("r{i}"), now, 7, false)
                        .await
                        .expect("claim");
                    if batch.is_empty() {
                        return mine;
                    }
                    mine.extend(batch.into_iter().map(|t| t.id));
                }
            })
        });
        let mut seen = HashSet::new();
        let mut total = 0;
        for claimer in claimers {
            for id in claimer.await.expect("a claimer") {
                total += 1;
                assert!(seen.insert(id), "task {id} was claimed twice");
            }
        }
        assert_eq!(total, 400);
    })
    .await;
}

#[tokio::test]
async fn paused_jobs_hold_their_tasks_and_exclusive_jobs_run_one_at_a_time() {
    each_backend(async |store, now| {
        store
            .insert_tasks(&[task("a", now)], now)
            .await
            .expect("insert");
        assert!(store.pause("a", now).await.expect("pause"));
        assert!(!store.pause("a", now).await.expect("pause again"));
        assert!(
            store
                .claim("a", "r1", now, 10, false)
                .await
                .expect("claim")
                .is_empty()
        );
        assert_eq!(store.paused().await.expect("paused"), ["a"]);
        assert!(store.resume("a").await.expect("resume"));
        assert_eq!(
            store
                .claim("a", "r1", now, 10, false)
                .await
                .expect("claim")
                .len(),
            1
        );

        let mut one = task("x", now);
        one.exclusive = true;
        store
            .insert_tasks(&[one.clone(), one], now)
            .await
            .expect("insert");
        assert_eq!(
            store
                .claim("x", "r1", now, 10, true)
                .await
                .expect("claim")
                .len(),
            1
        );
        assert!(
            store
                .claim("x", "r2", now, 10, true)
                .await
                .expect("claim")
                .is_empty(),
            "two exclusive runs at once"
        );
    })
    .await;
}

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
                execution: execution(ids[0].0, 1, ExecutionStatus::Succeeded, now),
                chain: None,
                follow_up: None,
            },
            Completion {
                task_id: ids[1].0,
                attempt: 1,
                next_state: TaskState::Pending,
                retry_at: Some(retry_at),
                execution: execution(ids[1].0, 1, ExecutionStatus::Failed, now),
                chain: None,
                follow_up: None,
            },
            Completion {
                task_id: ids[2].0,
                attempt: 1,
                next_state: TaskState::Dead,
                retry_at: None,
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
async fn claims_of_silent_runners_are_rescued_counting_the_attempt() {
    each_backend(async |store, now| {
        let lease = Duration::from_secs(10);
        let mut last_chance = task("a", now);
        last_chance.max_attempts = 1;
        let ids = store
            .insert_tasks(&[task("a", now), last_chance], now)
            .await
            .expect("insert");
        store
            .register_runner(&runner("dead", now))
            .await
            .expect("register");
        store
            .register_runner(&runner("alive", now))
            .await
            .expect("register");
        assert_eq!(
            store
                .claim("a", "dead", now, 2, false)
                .await
                .expect("claim")
                .len(),
            2
        );

        let later = now + TimeDelta::seconds(5);
        assert!(
            store
                .rescue(later, lease, "alive", None)
                .await
                .expect("rescue")
                .is_empty(),
            "rescued within the lease"
        );

        let later = now + TimeDelta::seconds(11);
        assert!(store.heartbeat("alive", later).await.expect("heartbeat"));
        let rescued = store
            .rescue(later, lease, "alive", None)
            .await
            .expect("rescue");
        assert_eq!(rescued.len(), 2);
        let first = store.task(ids[0].0).await.expect("read").expect("exists");
        assert_eq!((first.state, first.attempt), (TaskState::Pending, 1));
        let last = store.task(ids[1].0).await.expect("read").expect("exists");
        assert_eq!(
            last.state,
            TaskState::Dead,
            "a lost last attempt is not retried"
        );
        let history = history(&store).await;
        assert_eq!(history.len(), 2);
        assert!(history.iter().all(|e| {
            e.error
                .as_deref()
                .unwrap_or_default()
                .contains("stopped heartbeating")
        }));
        let runners: Vec<String> = store
            .runners()
            .await
            .expect("runners")
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(runners, ["alive"], "the silent runner is unregistered");
        assert!(
            !store.heartbeat("dead", later).await.expect("heartbeat"),
            "a rescued runner is told so"
        );
    })
    .await;
}

#[tokio::test]
async fn chain_steps_keep_their_chain_in_the_history_when_rescued_or_cancelled() {
    each_backend(async |store, now| {
        let lease = Duration::from_secs(10);
        let rest = ["b".to_owned()];
        let lost = store
            .insert_chain_start(&task("a", now), &rest, now)
            .await
            .expect("a chain");
        let cancelled = store
            .insert_chain_start(&task("a", now + TimeDelta::hours(1)), &rest, now)
            .await
            .expect("a chain");
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
        let later = now + TimeDelta::seconds(11);
        store
            .rescue(later, lease, "alive", None)
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

#[tokio::test]
async fn each_tick_is_taken_once() {
    each_backend(async |store, now| {
        let tick = now + TimeDelta::seconds(1);
        let mut cron = task("nightly", tick);
        cron.trigger = Trigger::Cron;
        let outcomes = futures_util::future::join_all(
            (0..5).map(|_| store.take_tick("nightly", tick, &cron, now)),
        )
        .await;
        let enqueued = outcomes
            .iter()
            .filter(|o| matches!(o, Ok(TickOutcome::Enqueued(_))))
            .count();
        assert_eq!(enqueued, 1, "{outcomes:?}");
        assert!(
            outcomes
                .iter()
                .all(|o| matches!(o, Ok(TickOutcome::Enqueued(_) | TickOutcome::AlreadyTaken)))
        );

        store.pause("nightly", now).await.expect("pause");
        let next = tick + TimeDelta::seconds(1);
        assert_eq!(
            store
                .take_tick("nightly", next, &cron, now)
                .await
                .expect("tick"),
            TickOutcome::Paused
        );
        store.resume("nightly").await.expect("resume");

        cron.exclusive = true;
        let after = next + TimeDelta::seconds(1);
        assert_eq!(
            store
                .take_tick("nightly", after, &cron, now)
                .await
                .expect("tick"),
            TickOutcome::StillRunning
        );
    })
    .await;
}

#[tokio::test]
async fn ticks_taken_in_a_batch_are_claimed_at_their_instants_and_can_be_given_back() {
    each_backend(async |store, now| {
        let tick = |job: &str, seconds: i64| {
            let at = now + TimeDelta::seconds(seconds);
            let mut cron = task(job, at);
            cron.trigger = Trigger::Cron;
            TickTask {
                schedule_id: job.into(),
                tick_at: at,
                task: cron,
            }
        };
        store.pause("paused", now).await.expect("pause");
        let ticks = [
            tick("minutely", 60),
            tick("paused", 60),
            tick("minutely", 120),
            tick("minutely", 180),
        ];
        let taken = store
            .take_ticks(&ticks, "sim")
            .await
            .expect("take")
            .expect("none taken before");
        assert!(taken[1].is_none(), "a paused job's tick is skipped");
        let ids: Vec<i64> = taken.iter().flatten().map(|t| t.id).collect();
        assert_eq!(ids.len(), 3);
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids in taking order");
        for (claimed, seconds) in taken.iter().flatten().zip([60, 120, 180]) {
            assert_eq!(claimed.attempt, 1);
            let row = store.task(claimed.id).await.expect("read").expect("stored");
            assert_eq!(row.state, TaskState::Running);
            assert_eq!(row.locked_by.as_deref(), Some("sim"));
            assert_eq!(
                row.created_at,
                now + TimeDelta::seconds(seconds),
                "taken at its tick"
            );
        }

        assert!(
            store
                .take_ticks(&ticks[2..], "sim")
                .await
                .expect("take")
                .is_none(),
            "ticks already taken: nothing stored"
        );
        let mut exclusive = tick("single", 60);
        exclusive.task.exclusive = true;
        assert!(
            store
                .take_ticks(&[exclusive], "sim")
                .await
                .expect("take")
                .is_none(),
            "an exclusive job's ticks are taken one by one"
        );
        let stored = store
            .tasks(&TaskFilter {
                limit: 100,
                ..TaskFilter::default()
            })
            .await
            .expect("tasks");
        assert_eq!(stored.len(), 3, "refused batches store nothing");

        // The second tick's task goes back to pending; the third tick is given back whole.
        let third = TakenTick {
            schedule_id: "minutely".into(),
            tick_at: ticks[3].tick_at,
            task_id: ids[2],
        };
        store
            .release_ticks(&[third], &[ids[1]])
            .await
            .expect("release");
        assert!(store.task(ids[2]).await.expect("read").is_none());
        let back = store.task(ids[1]).await.expect("read").expect("kept");
        assert_eq!(
            (back.state, back.attempt, back.locked_by),
            (TaskState::Pending, 0, None)
        );
        let again = store
            .take_tick(
                "minutely",
                ticks[3].tick_at,
                &ticks[3].task,
                ticks[3].tick_at,
            )
            .await
            .expect("tick");
        let TickOutcome::Enqueued(id) = again else {
            panic!("a tick given back is taken again: {again:?}");
        };
        if store.backend() == Backend::Sqlite {
            assert_eq!(id, ids[2], "SQLite hands the id out again");
        }
        let claimed = store
            .claim("minutely", "r1", now + TimeDelta::seconds(120), 10, false)
            .await
            .expect("claim");
        assert_eq!(
            claimed
                .iter()
                .map(|t| (t.id, t.attempt))
                .collect::<Vec<_>>(),
            [(ids[1], 1)]
        );
    })
    .await;
}

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

#[tokio::test]
async fn cancel_and_retry_move_only_tasks_in_the_right_state() {
    each_backend(async |store, now| {
        let ids = store
            .insert_tasks(&[task("a", now), task("a", now)], now)
            .await
            .expect("insert");
        let cancelled = store.cancel(ids[0].0, "cli", now).await.expect("cancel");
        assert_eq!(cancelled.state, TaskState::Cancelled);
        let error = store
            .cancel(ids[0].0, "cli", now)
            .await
            .expect_err("cancelled twice");
        assert!(
            error
                .to_string()
                .contains("only pending tasks can be cancelled"),
            "{error}"
        );
        let error = store
            .retry(ids[1].0, 3, now)
            .await
            .expect_err("retried a pending task");
        assert!(
            error
                .to_string()
                .contains("only dead or cancelled tasks can be retried"),
            "{error}"
        );
        let retried = store.retry(ids[0].0, 3, now).await.expect("retry");
        assert_eq!(
            (retried.state, retried.max_attempts),
            (TaskState::Pending, 3)
        );
        assert!(
            store
                .cancel(999_999, "cli", now)
                .await
                .expect_err("unknown")
                .to_string()
                .contains("no task has id")
        );
    })
    .await;
}

#[tokio::test]
async fn migrating_twice_is_harmless() {
    each_backend(async |store, _| {
        store.migrate().await.expect("migrate again");
        store.check_schema().await.expect("the schema is current");
    })
    .await;
}
