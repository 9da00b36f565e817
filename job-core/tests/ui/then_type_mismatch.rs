use job_core::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Copied {
    path: String,
}

#[derive(Serialize, Deserialize)]
struct IndexRequest {
    path: String,
    checksum: u64,
}

#[job(then = "index_document")]
async fn copy_document(path: String) -> JobResult<Copied> {
    Ok(Copied { path })
}

#[job]
async fn index_document(request: IndexRequest) -> JobResult {
    let _ = (request.path, request.checksum);
    Ok(Outcome::none())
}

fn main() {}
