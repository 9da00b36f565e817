//! Flow control: unique keys, concurrency limits, rates and keys in turn, enforced by the
//! database across claimers.

use super::*;

fn keyed(job: &str, key: &str, at: DateTime<Utc>) -> NewTask {
    NewTask {
        partition_key: Some(key.into()),
        ..task(job, at)
    }
}

fn end(id: i64, state: TaskState, at: DateTime<Utc>) -> Completion {
    let status = match state {
        TaskState::Succeeded => ExecutionStatus::Succeeded,
        _ => ExecutionStatus::Dead,
    };
    Completion {
        task_id: id,
        attempt: 1,
        next_state: state,
        retry_at: None,
        snoozed: false,
        execution: execution(id, 1, status, at),
        chain: None,
        follow_up: None,
    }
}

const GLOBAL_3: Limits = Limits {
    concurrency: Some(3),
    rate: None,
    per_key: false,
    queue: None,
};

/// Twenty enqueues of one key at once, from as many connections: one task is stored, and
/// each enqueue says which.
#[tokio::test]
async fn concurrent_enqueues_of_one_unique_key_store_one_task() {
    each_backend(async |store, now| {
        let unique = NewTask {
            unique_key: Some(r#"[42,"2026-11-30"]"#.into()),
            ..task("report", now)
        };
        let enqueues: Vec<_> = (0..20)
            .map(|_| {
                let (store, unique) = (store.clone(), unique.clone());
                tokio::spawn(
                    async move { store.insert_tasks(&[unique], now).await.expect("insert")[0] },
                )
            })
            .collect();
        let mut results = Vec::new();
        for enqueue in enqueues {
            results.push(enqueue.await.expect("enqueue"));
        }
        let ids: HashSet<i64> = results.iter().map(|(id, _)| *id).collect();
        assert_eq!(ids.len(), 1, "{results:?}");
        assert_eq!(results.iter().filter(|(_, existing)| !existing).count(), 1);
        let stored = store
            .tasks(&TaskFilter {
                job: Some("report".into()),
                limit: 100,
                ..TaskFilter::default()
            })
            .await
            .expect("list");
        assert_eq!(stored.len(), 1);
    })
    .await;
}

/// A key is held while its task is pending or running, and for the period after it
/// succeeded; a dead or cancelled task frees it at once.
#[tokio::test]
async fn a_unique_key_is_held_until_the_period_after_success_or_freed_by_death() {
    each_backend(async |store, now| {
        let unique = |key: &str| NewTask {
            unique_key: Some(key.into()),
            unique_for: Duration::from_secs(3600),
            ..task("report", now)
        };
        let first = store
            .insert_tasks(&[unique("a")], now)
            .await
            .expect("insert")[0];
        let other = store
            .insert_tasks(&[unique("b")], now)
            .await
            .expect("insert")[0];
        assert!(!first.1 && !other.1);
        assert_eq!(
            store
                .insert_tasks(&[unique("a")], now)
                .await
                .expect("insert")[0],
            (first.0, true)
        );
        store
            .claim("report", "r1", now, 10, false)
            .await
            .expect("claim");
        let done = now + TimeDelta::seconds(5);
        store
            .complete(
                "r1",
                &[
                    end(first.0, TaskState::Succeeded, now),
                    end(other.0, TaskState::Dead, now),
                ],
                done,
            )
            .await
            .expect("complete");
        // `a` succeeded: held for an hour after it finished; `b` died: free at once.
        let later = now + TimeDelta::minutes(30);
        assert_eq!(
            store
                .insert_tasks(&[unique("a")], later)
                .await
                .expect("insert")[0],
            (first.0, true)
        );
        let again_b = store
            .insert_tasks(&[unique("b")], later)
            .await
            .expect("insert")[0];
        assert!(!again_b.1 && again_b.0 != other.0);
        let after = now + TimeDelta::minutes(61);
        let again_a = store
            .insert_tasks(&[unique("a")], after)
            .await
            .expect("insert")[0];
        assert!(!again_a.1 && again_a.0 != first.0);
        // A cancelled task frees its key.
        let Transition::Applied(_) = store.cancel(again_b.0, "cli", later).await.expect("cancel")
        else {
            panic!("not cancelled");
        };
        assert!(
            !store
                .insert_tasks(&[unique("b")], later)
                .await
                .expect("insert")[0]
                .1
        );
    })
    .await;
}

#[tokio::test]
async fn a_concurrency_limit_counts_every_runner() {
    each_backend(async |store, now| {
        let tasks: Vec<NewTask> = (0..10).map(|_| task("export", now)).collect();
        let ids = store.insert_tasks(&tasks, now).await.expect("insert");
        let first = store
            .claim_within("export", "r1", now, 10, &GLOBAL_3)
            .await
            .expect("claim");
        assert_eq!(first.len(), 3);
        assert!(
            store
                .claim_within("export", "r2", now, 10, &GLOBAL_3)
                .await
                .expect("claim")
                .is_empty()
        );
        store
            .complete("r1", &[end(first[0].id, TaskState::Succeeded, now)], now)
            .await
            .expect("complete");
        assert_eq!(
            store
                .claim_within("export", "r2", now, 10, &GLOBAL_3)
                .await
                .expect("claim")
                .len(),
            1
        );
        let state = store
            .flow_state("export", now, &GLOBAL_3, 5)
            .await
            .expect("state");
        assert_eq!((state.running, state.waiting), (3, 6));
        assert_eq!(ids.len(), 10);
    })
    .await;
}

/// A queue's limit holds for its jobs together: claimers of two jobs of one queue at once,
/// each with room of its own, take no more than the queue's limit between them; a job of
/// another queue is not held back.
#[tokio::test]
async fn a_queue_limit_holds_for_all_its_jobs_together() {
    each_backend(async |store, now| {
        let in_queue = |job: &str| NewTask {
            queue: "exports".into(),
            ..task(job, now)
        };
        let mut tasks: Vec<NewTask> = (0..20).map(|_| in_queue("export_a")).collect();
        tasks.extend((0..20).map(|_| in_queue("export_b")));
        tasks.extend((0..5).map(|_| task("other", now)));
        store.insert_tasks(&tasks, now).await.expect("insert");
        let queue_3 = Limits {
            queue: Some(QueueLimit {
                queue: "exports".into(),
                limit: 3,
            }),
            ..Limits::default()
        };
        let claims: Vec<_> = (0..6)
            .map(|n| {
                let (store, limits) = (store.clone(), queue_3.clone());
                let job = if n % 2 == 0 { "export_a" } else { "export_b" };
                tokio::spawn(async move {
                    store
                        .claim_within(job, &format!("r{n}"), now, 10, &limits)
                        .await
                        .expect("claim")
                        .len()
                })
            })
            .collect();
        let mut claimed = 0;
        for claim in claims {
            claimed += claim.await.expect("claim");
        }
        assert_eq!(claimed, 3);
        let other = store
            .claim_within("other", "r9", now, 10, &GLOBAL_3)
            .await
            .expect("claim");
        assert_eq!(other.len(), 3, "another queue's job was held back");
        let running = store
            .tasks(&TaskFilter {
                state: Some(TaskState::Running),
                queue: Some("exports".into()),
                limit: 100,
                ..TaskFilter::default()
            })
            .await
            .expect("list");
        assert_eq!(running.len(), 3);
    })
    .await;
}

/// Four claimers at once, each taking what the limit lets it: never more than the limit
/// runs, whatever the interleaving.
#[tokio::test]
async fn concurrent_claims_never_exceed_a_limit() {
    each_backend(async |store, now| {
        let tasks: Vec<NewTask> = (0..40).map(|_| task("export", now)).collect();
        store.insert_tasks(&tasks, now).await.expect("insert");
        let claims: Vec<_> = (0..4)
            .map(|n| {
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .claim_within("export", &format!("r{n}"), now, 10, &GLOBAL_3)
                        .await
                        .expect("claim")
                        .len()
                })
            })
            .collect();
        let mut claimed = 0;
        for claim in claims {
            claimed += claim.await.expect("claim");
        }
        assert_eq!(claimed, 3);
        let running = store
            .tasks(&TaskFilter {
                state: Some(TaskState::Running),
                limit: 100,
                ..TaskFilter::default()
            })
            .await
            .expect("list");
        assert_eq!(running.len(), 3);
    })
    .await;
}

#[tokio::test]
async fn a_per_key_limit_holds_per_key_while_other_keys_proceed() {
    each_backend(async |store, now| {
        let mut tasks: Vec<NewTask> = (0..5).map(|_| keyed("sync", "acme", now)).collect();
        tasks.extend((0..5).map(|_| keyed("sync", "globex", now)));
        store.insert_tasks(&tasks, now).await.expect("insert");
        let per_key_2 = Limits {
            concurrency: Some(2),
            rate: None,
            per_key: true,
            queue: None,
        };
        let claimed = store
            .claim_within("sync", "r1", now, 10, &per_key_2)
            .await
            .expect("claim");
        assert_eq!(claimed.len(), 4);
        assert!(
            store
                .claim_within("sync", "r2", now, 10, &per_key_2)
                .await
                .expect("claim")
                .is_empty()
        );
        // A new key proceeds while the others are at their limit.
        store
            .insert_tasks(&[keyed("sync", "initech", now)], now)
            .await
            .expect("insert");
        assert_eq!(
            store
                .claim_within("sync", "r2", now, 10, &per_key_2)
                .await
                .expect("claim")
                .len(),
            1
        );
        let state = store
            .flow_state("sync", now, &per_key_2, 10)
            .await
            .expect("state");
        let acme = state.keys.iter().find(|k| k.key == "acme").expect("acme");
        assert_eq!((acme.waiting, acme.running), (3, 2));
    })
    .await;
}

/// At most 3 starts in any window of a minute (and a second's margin).
#[tokio::test]
async fn a_rate_lets_no_more_start_in_its_window() {
    each_backend(async |store, now| {
        let tasks: Vec<NewTask> = (0..10).map(|_| task("call_partner", now)).collect();
        store.insert_tasks(&tasks, now).await.expect("insert");
        let rate = Limits {
            concurrency: None,
            rate: Some((3, Duration::from_secs(60))),
            per_key: false,
            queue: None,
        };
        assert_eq!(
            store
                .claim_within("call_partner", "r1", now, 10, &rate)
                .await
                .expect("claim")
                .len(),
            3
        );
        let in_window = now + TimeDelta::seconds(60);
        assert!(
            store
                .claim_within("call_partner", "r1", in_window, 10, &rate)
                .await
                .expect("claim")
                .is_empty()
        );
        let state = store
            .flow_state("call_partner", in_window, &rate, 5)
            .await
            .expect("state");
        assert_eq!(state.started_in_window, 3);
        let next = now + TimeDelta::seconds(62);
        assert_eq!(
            store
                .claim_within("call_partner", "r1", next, 10, &rate)
                .await
                .expect("claim")
                .len(),
            3
        );
    })
    .await;
}

/// One key's large backlog does not keep the others waiting: claims take keys in turn.
#[tokio::test]
async fn claims_take_keys_in_turn() {
    each_backend(async |store, now| {
        let mut tasks: Vec<NewTask> = (0..100).map(|_| keyed("sync", "big", now)).collect();
        tasks.extend((0..3).map(|_| keyed("sync", "small1", now)));
        tasks.extend((0..3).map(|_| keyed("sync", "small2", now)));
        store.insert_tasks(&tasks, now).await.expect("insert");
        let fair = Limits {
            concurrency: None,
            rate: None,
            per_key: true,
            queue: None,
        };
        let claimed = store
            .claim_within("sync", "r1", now, 6, &fair)
            .await
            .expect("claim");
        let ids: HashSet<i64> = claimed.iter().map(|t| t.id).collect();
        let by_key = store
            .tasks(&TaskFilter {
                state: Some(TaskState::Running),
                limit: 100,
                ..TaskFilter::default()
            })
            .await
            .expect("list");
        assert_eq!(by_key.len(), 6);
        assert!(by_key.iter().all(|t| ids.contains(&t.id)));
        let state = store
            .flow_state("sync", now, &fair, 10)
            .await
            .expect("state");
        for key in ["big", "small1", "small2"] {
            let k = state.keys.iter().find(|k| k.key == key).expect("a key");
            assert_eq!(k.running, 2, "{key}: {state:?}");
        }
    })
    .await;
}

/// Tasks of a keyed job stored without a key (enqueued before the job had `per`) are
/// claimed too, as one key of their own.
#[tokio::test]
async fn tasks_of_a_keyed_job_without_a_key_are_claimed_as_a_key_of_their_own() {
    each_backend(async |store, now| {
        let mut tasks: Vec<NewTask> = (0..3).map(|_| task("sync", now)).collect();
        tasks.extend((0..3).map(|_| keyed("sync", "acme", now)));
        store.insert_tasks(&tasks, now).await.expect("insert");
        let fair = Limits {
            per_key: true,
            ..Limits::default()
        };
        let claimed = store
            .claim_within("sync", "r1", now, 4, &fair)
            .await
            .expect("claim");
        assert_eq!(claimed.len(), 4);
        let rest = store
            .claim_within("sync", "r1", now, 10, &fair)
            .await
            .expect("claim");
        assert_eq!(rest.len(), 2, "every task of the job is claimed in the end");
    })
    .await;
}

/// Claims of one slot each (a runner whose attempts end one at a time) still go round the
/// keys: each goes to the key with the fewest attempts running, not to the oldest backlog.
#[tokio::test]
async fn claims_of_one_slot_go_round_the_keys() {
    each_backend(async |store, now| {
        let mut tasks: Vec<NewTask> = (0..50).map(|_| keyed("sync", "big", now)).collect();
        tasks.extend((0..3).map(|_| keyed("sync", "small1", now)));
        tasks.extend((0..3).map(|_| keyed("sync", "small2", now)));
        store.insert_tasks(&tasks, now).await.expect("insert");
        let fair = Limits {
            concurrency: None,
            rate: None,
            per_key: true,
            queue: None,
        };
        for _ in 0..6 {
            let claimed = store
                .claim_within("sync", "r1", now, 1, &fair)
                .await
                .expect("claim");
            assert_eq!(claimed.len(), 1);
        }
        let state = store
            .flow_state("sync", now, &fair, 10)
            .await
            .expect("state");
        for key in ["big", "small1", "small2"] {
            let k = state.keys.iter().find(|k| k.key == key).expect("a key");
            assert_eq!(k.running, 2, "{key}: {state:?}");
        }
    })
    .await;
}

#[tokio::test]
async fn limits_set_at_run_time_are_stored_and_cleared() {
    each_backend(async |store, now| {
        let row = LimitOverride {
            job: "export".into(),
            concurrency: Some(5),
            rate_count: Some(100),
            rate_window_ms: Some(60_000),
            updated_at: now,
        };
        store.set_limit_override(&row).await.expect("set");
        assert_eq!(
            store.limit_overrides().await.expect("list"),
            vec![row.clone()]
        );
        let changed = LimitOverride {
            concurrency: None,
            ..row
        };
        store.set_limit_override(&changed).await.expect("set");
        assert_eq!(store.limit_overrides().await.expect("list"), vec![changed]);
        assert!(store.clear_limit_override("export").await.expect("clear"));
        assert!(!store.clear_limit_override("export").await.expect("clear"));
        assert!(store.limit_overrides().await.expect("list").is_empty());
    })
    .await;
}
