//! Stored schedules.

use super::*;

fn schedule(id: &str, job: &str, cron: &str, at: DateTime<Utc>) -> ScheduleRow {
    ScheduleRow {
        id: id.into(),
        job: job.into(),
        cron: Some(cron.into()),
        every_ms: None,
        timezone: "UTC".into(),
        args: serde_json::json!({"customer": 42}),
        enabled: true,
        catch_up: "skip".into(),
        in_code: false,
        created_at: at,
        updated_at: at,
    }
}

#[tokio::test]
async fn schedules_are_added_read_changed_and_removed_and_each_change_moves_the_fingerprint() {
    each_backend(async |store, now| {
        let empty = store.schedules_fingerprint().await.expect("fingerprint");
        let row = schedule("report-acme", "build_report", "0 7 * * *", now);
        assert!(store.insert_schedule(&row).await.expect("insert"));
        assert!(
            !store.insert_schedule(&row).await.expect("insert again"),
            "an id is taken once"
        );
        let added = store.schedules_fingerprint().await.expect("fingerprint");
        assert_ne!(added, empty);
        assert_eq!(
            store.schedule("report-acme").await.expect("read"),
            Some(row.clone())
        );
        assert_eq!(store.schedule("nope").await.expect("read"), None);

        let mut changed = row.clone();
        changed.cron = Some("0 8 * * *".into());
        changed.updated_at = now + TimeDelta::seconds(1);
        let Transition::Applied(stored) = store
            .update_schedule(&changed, row.updated_at)
            .await
            .expect("update")
        else {
            panic!("not applied");
        };
        assert_eq!(stored, changed);
        // A change made from a stale reading is refused, with the schedule as found.
        let mut stale = row.clone();
        stale.cron = Some("0 9 * * *".into());
        let Transition::Refused(found) = store
            .update_schedule(&stale, row.updated_at)
            .await
            .expect("update")
        else {
            panic!("a stale change applied");
        };
        assert_eq!(found, changed);
        let mut unknown = changed.clone();
        unknown.id = "nope".into();
        assert!(matches!(
            store.update_schedule(&unknown, now).await.expect("update"),
            Transition::NotFound
        ));
        assert_eq!(
            store.schedules().await.expect("list"),
            vec![changed.clone()]
        );
        let edited = store.schedules_fingerprint().await.expect("fingerprint");
        assert_ne!(edited, added);

        // Pausing touches only the flag, and moves the fingerprint even within one
        // millisecond.
        let paused = store
            .set_schedule_enabled("report-acme", false, now)
            .await
            .expect("pause")
            .expect("found");
        assert!(!paused.enabled);
        assert_eq!(paused.cron, changed.cron);
        assert_ne!(
            store.schedules_fingerprint().await.expect("fingerprint"),
            edited
        );
        assert!(
            store
                .set_schedule_enabled("nope", false, now)
                .await
                .expect("pause")
                .is_none()
        );

        assert!(matches!(
            store.delete_schedule("report-acme").await.expect("delete"),
            Transition::Applied(_)
        ));
        assert!(matches!(
            store.delete_schedule("report-acme").await.expect("delete"),
            Transition::NotFound
        ));
        assert!(store.schedules().await.expect("list").is_empty());
    })
    .await;
}

#[tokio::test]
async fn code_schedules_are_written_without_touching_pauses_or_run_time_schedules() {
    each_backend(async |store, now| {
        let mut runtime = schedule("nightly", "other_job", "0 1 * * *", now);
        runtime.in_code = false;
        store.insert_schedule(&runtime).await.expect("insert");
        let mut code = schedule("expire_keys", "expire_keys", "0 0 * * *", now);
        code.in_code = true;
        code.args = serde_json::Value::Null;
        let mut clash = schedule("nightly", "nightly", "0 2 * * *", now);
        clash.in_code = true;
        let removed = store
            .sync_code_schedules(&[code.clone(), clash])
            .await
            .expect("sync");
        assert!(removed.is_empty());
        assert_eq!(
            store.schedule("nightly").await.expect("read"),
            Some(runtime),
            "a schedule added at run time keeps its id"
        );
        let stored = store
            .schedule("expire_keys")
            .await
            .expect("read")
            .expect("stored");
        assert!(stored.in_code && stored.enabled);
        assert_eq!(stored.cron.as_deref(), Some("0 0 * * *"));

        // Paused by hand, then synced with a new expression: still paused.
        // Defined in code: it can be paused, not edited or removed.
        let mut edit = stored.clone();
        edit.cron = Some("0 5 * * *".into());
        assert!(matches!(
            store
                .update_schedule(&edit, stored.updated_at)
                .await
                .expect("update"),
            Transition::Refused(_)
        ));
        assert!(matches!(
            store.delete_schedule("expire_keys").await.expect("delete"),
            Transition::Refused(_)
        ));
        store
            .set_schedule_enabled("expire_keys", false, now)
            .await
            .expect("pause");
        code.cron = Some("30 0 * * *".into());
        code.updated_at = now + TimeDelta::seconds(1);
        store.sync_code_schedules(&[code]).await.expect("sync");
        let stored = store
            .schedule("expire_keys")
            .await
            .expect("read")
            .expect("stored");
        assert_eq!(stored.cron.as_deref(), Some("30 0 * * *"));
        assert!(!stored.enabled, "a pause survives a sync");
    })
    .await;
}

/// Two edits made from the same reading: one applies, the other is refused.
#[tokio::test]
async fn of_two_concurrent_edits_of_a_schedule_one_applies() {
    each_backend(async |store, now| {
        for round in 0..20 {
            let id = format!("s{round}");
            let row = schedule(&id, "build_report", "0 7 * * *", now);
            store.insert_schedule(&row).await.expect("insert");
            let edit = |cron: &str| {
                let mut edit = row.clone();
                edit.cron = Some(cron.into());
                edit.updated_at = now + TimeDelta::seconds(1);
                let store = store.clone();
                tokio::spawn(
                    async move { store.update_schedule(&edit, now).await.expect("update") },
                )
            };
            let (a, b) = tokio::join!(edit("0 8 * * *"), edit("0 9 * * *"));
            let results = [a.expect("edit"), b.expect("edit")];
            let applied = results
                .iter()
                .filter(|r| matches!(r, Transition::Applied(_)))
                .count();
            assert_eq!(applied, 1, "round {round}: {results:?}");
        }
    })
    .await;
}
