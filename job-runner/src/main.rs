//! `cargo run -p job-runner`: runs every job linked into this binary (the examples) on
//! `jobs.db`, or the database that `JOBS_DATABASE_URL` names.

use std::process::ExitCode;

fn main() -> ExitCode {
    job_runner::cli::main(|state| {
        Box::pin(async move { examples::register(state).await.map_err(Into::into) })
    })
}
