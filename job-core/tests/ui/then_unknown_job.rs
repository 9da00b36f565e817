use job_core::prelude::*;

#[job(then = "index_documnet")]
async fn copy_document(path: String) -> JobResult<String> {
    Ok(path)
}

fn main() {}
