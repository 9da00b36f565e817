use job_core::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct TransferRequest {
    source: String,
}

#[job]
async fn transfer_document(request: TransferRequest) -> JobResult {
    let _ = request.source;
    Ok(Outcome::none())
}

async fn on_upload(jobs: &dyn JobClient) -> Result<(), EnqueueError> {
    TransferDocument::enqueue(jobs, "in/report.pdf".to_string()).await?;
    Ok(())
}

fn main() {
    let _ = on_upload;
}
