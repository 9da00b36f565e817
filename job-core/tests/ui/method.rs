use job_core::prelude::*;

struct Mailer;

impl Mailer {
    #[job]
    async fn send(&self) -> JobResult {
        Ok(Outcome::none())
    }
}

fn main() {}
