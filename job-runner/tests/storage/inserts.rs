//! Storing tasks.

use super::*;
use job_runner::storage::{ChainLink, FollowUp};

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
                    snoozed: false,
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

/// Plain tasks, keyed tasks and the starts of chains go in together, in one transaction:
/// all of them or none.
#[tokio::test]
async fn tasks_of_every_kind_are_stored_together_all_or_none() {
    each_backend(async |store, now| {
        let keyed = NewTask {
            unique_key: Some("k".into()),
            ..task("a", now)
        };
        let chain = NewTask {
            then: vec!["b".into(), "c".into()],
            ..task("a", now)
        };
        let ids = store
            .insert_tasks(&[task("a", now), chain.clone(), keyed], now)
            .await
            .expect("insert");
        assert_eq!(ids.len(), 3);
        let start = store.task(ids[1].0).await.expect("read").expect("stored");
        assert_eq!(
            (start.chain_id, start.chain_step),
            (Some(ids[1].0), Some(1))
        );
        let claimed = store.claim("a", "r1", now, 10, false).await.expect("claim");
        let rest = claimed
            .iter()
            .find(|t| t.id == ids[1].0)
            .and_then(|t| t.chain.clone())
            .expect("the chain's start knows its chain")
            .rest;
        assert_eq!(rest, ["b", "c"]);

        // PostgreSQL refuses a NUL character in text: the batch that holds one stores
        // nothing, the chain's start included. (SQLite stores it.)
        if store.backend() == Backend::Postgres {
            let before = store
                .tasks(&TaskFilter {
                    limit: 100,
                    ..TaskFilter::default()
                })
                .await
                .expect("list");
            let refused = task("a\0b", now);
            assert!(store.insert_tasks(&[chain, refused], now).await.is_err());
            let after = store
                .tasks(&TaskFilter {
                    limit: 100,
                    ..TaskFilter::default()
                })
                .await
                .expect("list");
            assert_eq!(
                after.len(),
                before.len(),
                "part of a refused batch was stored"
            );
        }
    })
    .await;
}

/// The enqueuer's trace context goes in with every kind of task, comes back with each
/// claim, and a chain's next step stores the one it is given.
#[tokio::test]
async fn trace_contexts_are_stored_with_tasks_and_claimed_with_them() {
    each_backend(async |store, now| {
        let traced = |name: &str| NewTask {
            trace_context: Some(format!(
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\n{name}=1"
            )),
            ..task("a", now)
        };
        let keyed = NewTask {
            unique_key: Some("k".into()),
            ..traced("keyed")
        };
        let chain = NewTask {
            then: vec!["b".into()],
            ..traced("chain")
        };
        let ids = store
            .insert_tasks(&[traced("plain"), chain, keyed, task("a", now)], now)
            .await
            .expect("insert");
        let claimed = store.claim("a", "r1", now, 10, false).await.expect("claim");
        let context_of = |id: i64| {
            claimed
                .iter()
                .find(|t| t.id == id)
                .expect("claimed")
                .trace_context
                .clone()
        };
        for (i, state) in ["plain", "chain", "keyed"].iter().enumerate() {
            let context = context_of(ids[i].0).expect("a stored context");
            assert!(context.ends_with(&format!("\n{state}=1")), "{context}");
        }
        assert_eq!(context_of(ids[3].0), None);

        let started = store
            .insert_running_task(&traced("exec"), "exec-1", now)
            .await
            .expect("insert");
        assert!(started.trace_context.is_some_and(|c| c.ends_with("exec=1")));

        store
            .register_runner(&runner("r1", now))
            .await
            .expect("register");
        let link = ChainLink {
            id: ids[1].0,
            step: 2,
            rest: Vec::new(),
        };
        store
            .complete(
                "r1",
                &[Completion {
                    task_id: ids[1].0,
                    attempt: 1,
                    next_state: TaskState::Succeeded,
                    retry_at: None,
                    snoozed: false,
                    execution: execution(ids[1].0, 1, ExecutionStatus::Succeeded, now),
                    chain: Some(ChainLink {
                        id: ids[1].0,
                        step: 1,
                        rest: vec!["b".into()],
                    }),
                    follow_up: Some(FollowUp {
                        task: NewTask {
                            job: "b".into(),
                            ..traced("step2")
                        },
                        link,
                    }),
                }],
                now,
            )
            .await
            .expect("complete");
        let next = store.claim("b", "r1", now, 1, false).await.expect("claim");
        assert_eq!(next.len(), 1);
        assert!(
            next[0]
                .trace_context
                .as_deref()
                .is_some_and(|c| c.ends_with("step2=1")),
            "{:?}",
            next[0].trace_context
        );
    })
    .await;
}
