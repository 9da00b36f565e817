//! A chain checked by the compiler, in code and at run time.
use job_core::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Copied {
    path: String,
    checksum: u64,
}

#[job(then = "index_document")]
async fn copy_document(path: String) -> JobResult<Copied> {
    Ok(Copied { checksum: path.len() as u64, path })
}

#[job(then = "announce")]
async fn index_document(copied: Copied) -> Result<u64, JobError> {
    let _ = copied.path;
    Ok(copied.checksum)
}

#[job(on = "uploads")]
async fn announce(checksum: u64) -> JobResult {
    Ok(Outcome::processed(checksum))
}

async fn start(jobs: &dyn JobClient) -> Result<(), EnqueueError> {
    CopyDocument::enqueue(jobs, "a.pdf".into())
        .then::<IndexDocument>()
        .then::<Announce>()
        .await?;
    Ok(())
}

fn main() {
    let _ = start;
    let registry = job_core::Registry::from_linked().unwrap();
    assert_eq!(registry.get("copy_document").unwrap().options().then, Some("index_document"));
    assert_eq!(registry.get("announce").unwrap().options().on, Some("uploads"));
}
