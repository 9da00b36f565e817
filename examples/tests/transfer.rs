//! The document transfer job, on real folders.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use examples::transfer::{TransferDocument, TransferRequest, Transferred};
use examples::{TransferConfig, TransferError};
use job_core::testing::{RecordingClient, TestContext};
use job_core::{Backoff, Job, JobError};
use tempfile::TempDir;

/// A temporary `inbox` and `outbox`, and a context that transfers between them.
struct Folders {
    root: TempDir,
    config: TransferConfig,
}

impl Folders {
    fn new() -> Folders {
        let root = tempfile::tempdir().expect("a temporary folder");
        let config = TransferConfig::new(root.path().join("inbox"), root.path().join("outbox"));
        std::fs::create_dir(&config.source_dir).expect("create the inbox");
        std::fs::create_dir(&config.destination_dir).expect("create the outbox");
        Folders { root, config }
    }

    fn context(&self) -> TestContext {
        TestContext::new().data(self.config.clone())
    }

    fn inbox(&self, name: &str) -> PathBuf {
        self.config.source_dir.join(name)
    }

    fn outbox(&self, name: &str) -> PathBuf {
        self.config.destination_dir.join(name)
    }

    /// Runs a transfer; returns the bytes its result says it copied.
    async fn transfer(&self, source: &str, destination: &str) -> Result<u64, JobError> {
        let outcome = self
            .context()
            .run(TransferDocument, TransferRequest::new(source, destination))
            .await?;
        let result = outcome.output().cloned().unwrap_or_default();
        let transferred: Transferred = serde_json::from_value(result).map_err(JobError::from)?;
        assert_eq!(transferred.destination, PathBuf::from(destination));
        Ok(transferred.bytes)
    }
}

/// Bytes that span several read chunks and are not all alike.
fn document(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

/// Every file under `dir`, recursively, as paths relative to it.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).expect("read a folder") {
            let path = entry.expect("a folder entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                found.push(path.strip_prefix(dir).expect("under dir").to_owned());
            }
        }
    }
    found.sort();
    found
}

#[tokio::test]
async fn copies_a_document_and_verifies_it() {
    let folders = Folders::new();
    let content = document(200_000);
    std::fs::write(folders.inbox("invoice-42.pdf"), &content).expect("write the source");

    let copied = folders
        .transfer("invoice-42.pdf", "2026/03/invoice-42.pdf")
        .await
        .expect("the transfer succeeds");

    assert_eq!(copied, 200_000);
    let copy = std::fs::read(folders.outbox("2026/03/invoice-42.pdf")).expect("the copy exists");
    assert_eq!(copy, content);
    // No temporary file is left behind, and the source stays where it was.
    assert_eq!(
        files(&folders.config.destination_dir),
        [PathBuf::from("2026/03/invoice-42.pdf")]
    );
    assert_eq!(
        std::fs::read(folders.inbox("invoice-42.pdf")).expect("source"),
        content
    );
}

#[tokio::test]
async fn copies_an_empty_document() {
    let folders = Folders::new();
    std::fs::write(folders.inbox("empty.txt"), b"").expect("write the source");

    folders
        .transfer("./empty.txt", "empty.txt")
        .await
        .expect("succeeds");

    assert_eq!(
        std::fs::read(folders.outbox("empty.txt")).expect("copy"),
        b""
    );
}

#[tokio::test]
async fn a_retry_replaces_an_earlier_copy() {
    let folders = Folders::new();
    std::fs::write(folders.outbox("report.txt"), b"stale half-written copy").expect("write");
    std::fs::write(folders.inbox("report.txt"), b"the report").expect("write the source");

    folders
        .transfer("report.txt", "report.txt")
        .await
        .expect("succeeds");

    assert_eq!(
        std::fs::read(folders.outbox("report.txt")).expect("copy"),
        b"the report"
    );
}

#[tokio::test]
async fn a_missing_destination_folder_fails_and_is_retried() {
    let folders = Folders::new();
    std::fs::write(folders.inbox("scan.png"), document(1000)).expect("write the source");
    std::fs::remove_dir(&folders.config.destination_dir).expect("unmount the destination");

    let error = folders
        .transfer("scan.png", "scan.png")
        .await
        .expect_err("no destination");

    assert!(
        !error.is_permanent(),
        "a retry may find the destination back: {error}"
    );
    assert!(error.to_string().contains("destination folder"), "{error}");
    assert!(
        !folders.config.destination_dir.exists(),
        "the job must not invent the folder"
    );

    // The destination comes back; the next attempt succeeds.
    std::fs::create_dir(&folders.config.destination_dir).expect("remount");
    folders
        .transfer("scan.png", "scan.png")
        .await
        .expect("the retry succeeds");
    assert_eq!(
        std::fs::read(folders.outbox("scan.png")).expect("copy"),
        document(1000)
    );
}

#[tokio::test]
async fn a_destination_that_cannot_be_written_fails() {
    let folders = Folders::new();
    std::fs::write(folders.inbox("a.txt"), b"a").expect("write the source");
    // A file where the request wants a folder: writing under it fails whoever runs the test
    // (permissions would not stop root).
    std::fs::write(folders.outbox("blocked"), b"").expect("write the blocker");

    let error = folders
        .transfer("a.txt", "blocked/a.txt")
        .await
        .expect_err("cannot write");

    assert!(!error.is_permanent(), "{error}");
    assert!(error.to_string().contains("cannot write"), "{error}");
}

#[tokio::test]
async fn paths_that_escape_their_folder_are_refused_for_good() {
    let folders = Folders::new();
    std::fs::write(folders.root.path().join("secret.txt"), b"secret").expect("write");
    std::fs::write(folders.inbox("a.txt"), b"a").expect("write the source");
    let escape = folders.root.path().join("escaped.txt");

    for (source, destination) in [
        ("../secret.txt", "secret.txt"),
        ("a/../../secret.txt", "secret.txt"),
        ("a.txt", "../escaped.txt"),
        ("a.txt", escape.to_str().expect("a UTF-8 path")),
        ("", "a.txt"),
        ("a.txt", "."),
    ] {
        let error = folders
            .transfer(source, destination)
            .await
            .expect_err("refused");
        assert!(error.is_permanent(), "{source} -> {destination}: {error}");
        assert!(error.to_string().contains("stay inside"), "{error}");
    }
    assert!(!escape.exists());
    assert!(files(&folders.config.destination_dir).is_empty());
}

#[cfg(unix)]
#[tokio::test]
async fn links_that_lead_outside_the_folder_are_refused() {
    let folders = Folders::new();
    let secret = folders.root.path().join("secret.txt");
    std::fs::write(&secret, b"secret").expect("write");
    std::os::unix::fs::symlink(&secret, folders.inbox("innocent.txt")).expect("link");
    std::os::unix::fs::symlink(folders.root.path(), folders.outbox("up")).expect("link");

    let error = folders
        .transfer("innocent.txt", "a.txt")
        .await
        .expect_err("refused");
    assert!(error.is_permanent(), "{error}");

    std::fs::write(folders.inbox("a.txt"), b"a").expect("write the source");
    let error = folders
        .transfer("a.txt", "up/a.txt")
        .await
        .expect_err("refused");
    assert!(error.is_permanent(), "{error}");
    assert!(!folders.root.path().join("a.txt").exists());
}

#[tokio::test]
async fn a_missing_source_fails_for_good() {
    let folders = Folders::new();
    std::fs::create_dir(folders.inbox("folder")).expect("create a folder");

    let error = folders
        .transfer("nowhere.pdf", "x.pdf")
        .await
        .expect_err("missing");
    assert!(error.is_permanent(), "{error}");
    assert!(error.to_string().contains("does not exist"), "{error}");

    let error = folders
        .transfer("folder", "x.pdf")
        .await
        .expect_err("a folder");
    assert!(error.is_permanent(), "{error}");
}

#[tokio::test]
async fn the_library_call_reports_the_bytes_and_a_typed_error() {
    let folders = Folders::new();
    std::fs::write(folders.inbox("a.bin"), document(70_000)).expect("write the source");

    let bytes = folders
        .config
        .transfer(&TransferRequest::new("a.bin", "b.bin"))
        .await
        .expect("succeeds");
    assert_eq!(bytes, 70_000);

    let error = folders
        .config
        .transfer(&TransferRequest::new("a.bin", "../b.bin"))
        .await
        .expect_err("refused");
    assert!(
        matches!(error, TransferError::OutsideFolder { .. }),
        "{error}"
    );
}

#[tokio::test]
async fn the_job_is_enqueued_on_the_transfers_queue_with_its_request() {
    let client = Arc::new(RecordingClient::new());
    TransferDocument::enqueue(
        client.as_ref(),
        TransferRequest::new("in.pdf", "out/in.pdf"),
    )
    .await
    .expect("enqueued");

    let requests = client.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].job, "transfer_document");
    assert_eq!(requests[0].args["source"], "in.pdf");
    assert_eq!(requests[0].args["destination"], "out/in.pdf");

    let options = TransferDocument::descriptor().options();
    assert_eq!(options.queue, "transfers");
    assert_eq!(options.retries, 8);
    assert_eq!(
        options.backoff,
        Backoff {
            initial: Duration::from_secs(5),
            max: Duration::from_secs(600)
        }
    );
    assert_eq!(options.timeout, Some(Duration::from_secs(300)));
    assert_eq!(options.cron, None);
}
