//! `job-runner run` (the default command): every enabled job until SIGINT or SIGTERM.

use clap::Args;

use super::app::{AppSetup, Setup};
use super::error::CliError;
use crate::config::Config;
use crate::runner::Runner;

#[derive(Debug, Default, Args)]
pub(super) struct RunArgs {
    /// Run only the jobs of these queues (comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "QUEUES")]
    queues: Option<Vec<String>>,
    /// Serve the admin API and dashboard here (default 127.0.0.1:8088; `off` for none).
    #[arg(long, value_name = "ADDR")]
    admin_addr: Option<String>,
}

/// Applies the flags of `run` over `config`, then runs the jobs.
pub(super) async fn run(mut config: Config, args: RunArgs, setup: Setup) -> Result<(), CliError> {
    if let Some(queues) = args.queues {
        config.queues = Some(queues);
    }
    if let Some(addr) = args.admin_addr {
        config.admin_addr = crate::config::admin_addr(&addr, "--admin-addr")?;
    }
    let app = AppSetup::filled(setup).await?;
    let mut builder = Runner::builder(config.clone()).state(app.state);
    if let Some(clock) = app.clock {
        builder = builder.clock(clock);
    }
    for source in app.sources {
        if !config.sources.contains_key(source.name()) {
            builder = builder.boxed_source(source);
        }
    }
    let runner = builder.build().await?;
    runner.run().await?;
    Ok(())
}
