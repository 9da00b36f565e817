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
        changed.enabled = false;
        changed.updated_at = now + TimeDelta::seconds(1);
        assert!(store.update_schedule(&changed).await.expect("update"));
        let mut unknown = changed.clone();
        unknown.id = "nope".into();
        assert!(!store.update_schedule(&unknown).await.expect("update"));
        assert_eq!(
            store.schedules().await.expect("list"),
            vec![changed.clone()]
        );
        assert_ne!(
            store.schedules_fingerprint().await.expect("fingerprint"),
            added
        );

        assert!(store.delete_schedule("report-acme").await.expect("delete"));
        assert!(!store.delete_schedule("report-acme").await.expect("delete"));
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
        store
            .sync_code_schedules(&[code.clone(), clash])
            .await
            .expect("sync");
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
        let mut paused = stored.clone();
        paused.enabled = false;
        store.update_schedule(&paused).await.expect("pause");
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
