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

/// What `job-runner run --help` says about stopping a runner.
pub(super) const STOPS: &str = "\
Stopping, and deploying without running a job twice:
  SIGTERM or SIGINT   claims nothing more; running attempts finish within shutdown_grace
                      (30s), the runner's lease renewed meanwhile; attempts still running
                      after it are interrupted and run again elsewhere, after their backoff.
  SIGKILL or a crash  running attempts are lost; another runner runs them again once the
                      lease (10s) has passed without a renewal.
  cut off from the database
                      the runner stops its own attempts before its lease ends, and claims
                      nothing until it can renew the lease again.
  Deploy: send SIGTERM, and wait at least shutdown_grace before SIGKILL. Set shutdown_grace
  above the longest job; the lease need not be (it is renewed while an attempt runs).";

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
