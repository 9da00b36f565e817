//! The event-driven transfer: copy and verify, then index the checksum.

use examples::AuthDb;
use examples::TransferConfig;
use examples::ingest::{CopiedDocument, IndexDocument, IndexTransfer, IngestDocument, Upload};
use examples::transfer::Transferred;
use job_core::testing::TestContext;
use job_core::{Clock, Job};

async fn database() -> AuthDb {
    AuthDb::connect("sqlite::memory:")
        .await
        .expect("an in-memory database")
}

#[tokio::test]
async fn a_landed_document_is_copied_then_its_checksum_indexed() {
    let folders = tempfile::tempdir().expect("folders");
    let (inbox, outbox) = (folders.path().join("inbox"), folders.path().join("outbox"));
    std::fs::create_dir_all(&inbox).expect("inbox");
    std::fs::create_dir_all(&outbox).expect("outbox");
    std::fs::write(inbox.join("a.txt"), "hello").expect("a document");

    let copy = TestContext::new()
        .data(TransferConfig::new(&inbox, &outbox))
        .run(
            IngestDocument,
            Upload {
                name: "a.txt".into(),
                size: 5,
            },
        )
        .await
        .expect("the copy step");
    let copied: CopiedDocument = serde_json::from_value(copy.output().cloned().expect("an output"))
        .expect("the copy step passes a CopiedDocument on");
    assert_eq!(
        std::fs::read_to_string(outbox.join("a.txt")).expect("the copy"),
        "hello"
    );
    assert_eq!((copied.name.as_str(), copied.size), ("a.txt", 5));
    assert_eq!(
        IngestDocument::descriptor().options().then,
        Some("index_document")
    );
    assert_eq!(IngestDocument::descriptor().options().on, Some("uploads"));

    let db = database().await;
    let pool_db = db.clone();
    let outcome = TestContext::new()
        .data(db)
        .clock(Clock::virtual_at(
            "2026-11-28T10:00:00Z".parse().expect("an instant"),
        ))
        .run(IndexDocument, copied.clone())
        .await
        .expect("the index step");
    assert_eq!(outcome.records_processed(), Some(1));
    assert_eq!(
        pool_db.indexed_checksum("a.txt").await.expect("the index"),
        Some(format!("{:016x}", copied.checksum))
    );
}

#[tokio::test]
async fn a_document_that_vanished_fails_for_good() {
    let folders = tempfile::tempdir().expect("folders");
    let config = TransferConfig::new(folders.path().join("inbox"), folders.path().join("outbox"));
    std::fs::create_dir_all(&config.source_dir).expect("inbox");
    std::fs::create_dir_all(&config.destination_dir).expect("outbox");
    let error = TestContext::new()
        .data(config)
        .run(
            IngestDocument,
            Upload {
                name: "gone.txt".into(),
                size: 1,
            },
        )
        .await
        .expect_err("a missing document");
    assert!(error.is_permanent(), "{error}");
}

#[tokio::test]
async fn a_transferred_document_has_its_checksum_indexed() {
    let folders = tempfile::tempdir().expect("folders");
    let config = TransferConfig::new(folders.path().join("inbox"), folders.path().join("outbox"));
    std::fs::create_dir_all(config.destination_dir.join("2026")).expect("outbox");
    std::fs::write(config.destination_dir.join("2026/q3.txt"), "hello").expect("a copy");
    let db = database().await;
    let outcome = TestContext::new()
        .data(config)
        .data(db.clone())
        .run(
            IndexTransfer,
            Transferred {
                bytes: 5,
                destination: "2026/q3.txt".into(),
            },
        )
        .await
        .expect("the index step");
    assert_eq!(outcome.records_processed(), Some(1));
    // FNV-1a 64 of "hello".
    assert_eq!(
        db.indexed_checksum("2026/q3.txt").await.expect("the index"),
        Some("a430d84680aabd0b".to_owned())
    );
}
