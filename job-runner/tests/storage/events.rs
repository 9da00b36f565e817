//! Events from sources.

use super::*;

fn event(id: &str) -> Event {
    let mut fields = serde_json::Map::new();
    fields.insert("path".into(), "inbox/a.pdf".into());
    Event {
        id: id.into(),
        source: "uploads".into(),
        kind: "file_written".into(),
        fields,
    }
}

#[tokio::test]
async fn an_event_starts_each_job_once_and_a_refusal_is_recorded() {
    each_backend(async |store, now| {
        let job_task = task("ingest", now);
        let first = store
            .record_event(&event("e1"), "ingest", Ok(&job_task), now)
            .await
            .expect("record");
        let EventOutcome::Enqueued(id) = first else {
            panic!("not enqueued: {first:?}");
        };
        assert_eq!(
            store.task(id).await.expect("read").expect("stored").job,
            "ingest"
        );
        assert_eq!(
            store
                .record_event(&event("e1"), "ingest", Ok(&job_task), now)
                .await
                .expect("record again"),
            EventOutcome::Duplicate
        );
        // The same event starts another bound job once too.
        let other = task("index", now);
        assert!(matches!(
            store
                .record_event(&event("e1"), "index", Ok(&other), now)
                .await
                .expect("record"),
            EventOutcome::Enqueued(_)
        ));
        assert_eq!(
            store
                .record_event(&event("e2"), "ingest", Err("field `path` is missing"), now)
                .await
                .expect("record"),
            EventOutcome::Refused
        );
        let recorded = store.events(10).await.expect("events");
        assert_eq!(recorded.len(), 3);
        let refused = recorded.iter().find(|e| e.event_id == "e2").expect("e2");
        assert_eq!(refused.task_id, None);
        assert_eq!(refused.error.as_deref(), Some("field `path` is missing"));
        assert_eq!(refused.fields["path"], "inbox/a.pdf");
        let taken = recorded
            .iter()
            .find(|e| e.event_id == "e1" && e.job == "ingest")
            .expect("e1");
        assert_eq!(taken.task_id, Some(id));
        assert_eq!(store.events(1).await.expect("events").len(), 1);
    })
    .await;
}
