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
            snoozed: false,
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
        let pruned = store
            .prune(now - TimeDelta::days(30), 1000)
            .await
            .expect("prune");
        assert_eq!((pruned.executions, pruned.tasks), (2, 1));
        // Their minutes of the rollup went with them.
        let old_window = job_runner::storage::MinuteWindow {
            since: old - TimeDelta::hours(1),
            until: old + TimeDelta::hours(1),
            bucket_ms: 7_200_000,
            job: None,
            queue: None,
        };
        assert!(
            store
                .minutes(&old_window)
                .await
                .expect("minutes")
                .is_empty()
        );
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

/// A monthly job's last tick is older than the retention period: it stays, so that a run
/// missed while no runner ran is still caught up.
#[tokio::test]
async fn pruning_keeps_the_latest_tick_of_each_schedule_and_drops_old_events() {
    each_backend(async |store, now| {
        let months = [
            now - TimeDelta::days(95),
            now - TimeDelta::days(65),
            now - TimeDelta::days(35),
        ];
        for at in months {
            store
                .take_tick("monthly", at, &task("report", at), at)
                .await
                .expect("tick");
        }
        store
            .take_tick("hourly", now, &task("h", now), now)
            .await
            .expect("tick");
        let mut fields = serde_json::Map::new();
        fields.insert("path".into(), "a".into());
        for (id, at) in [("old", now - TimeDelta::days(40)), ("new", now)] {
            let event = Event {
                id: id.into(),
                source: "uploads".into(),
                kind: "file_written".into(),
                fields: fields.clone(),
            };
            store
                .record_event(&event, "ingest", Err("refused"), at)
                .await
                .expect("event");
        }
        let pruned = store
            .prune(now - TimeDelta::days(30), 1000)
            .await
            .expect("prune");
        assert_eq!((pruned.ticks, pruned.events), (2, 1));
        assert!(!pruned.filled(1000));
        assert!(pruned.filled(2));
        assert_eq!(
            store.last_tick("monthly").await.expect("last"),
            Some(months[2]),
            "the latest tick of a schedule was pruned"
        );
        assert_eq!(store.last_tick("hourly").await.expect("last"), Some(now));
        let events: Vec<String> = store
            .events(10)
            .await
            .expect("events")
            .into_iter()
            .map(|e| e.event_id)
            .collect();
        assert_eq!(events, ["new"]);
    })
    .await;
}
