//! `cargo run -p job-runner`: runs every job linked into this binary (the examples) on
//! `jobs.db`, or the database that `JOBS_DATABASE_URL` names.

use std::process::ExitCode;

use job_runner::sources::folder::FolderSource;

fn main() -> ExitCode {
    job_runner::cli::main(|app| {
        Box::pin(async move {
            let settings = examples::Settings::from_env()?;
            examples::register_with(app.state_mut(), &settings).await?;
            // Documents dropped in the transfer inbox start `ingest_document`.
            app.source(FolderSource::new(
                "uploads",
                settings.transfer_source.clone(),
            ));
            Ok(())
        })
    })
}
