use job_core::prelude::*;

#[job]
async fn count_words(text: String) -> JobResult<u64> {
    Ok(text.split_whitespace().count() as u64)
}

#[job]
async fn shout(text: String) -> JobResult {
    let _ = text;
    Ok(Outcome::none())
}

async fn start(jobs: &dyn JobClient) -> Result<(), EnqueueError> {
    CountWords::enqueue(jobs, "a b c".into()).then::<Shout>().await?;
    Ok(())
}

fn main() {
    let _ = start;
}
