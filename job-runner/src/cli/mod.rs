//! The `job-runner` command line: run the jobs, and look at and control them.
//!
//! This file holds the commands' list and sends each to its file:
//! `run.rs` (`run`, the default), `jobs.rs` (`list`, `trigger`, `pause`, `resume`),
//! `tasks.rs` (`tasks`, `history`, `retry`, `cancel`), `events.rs` (`events`),
//! `schedules.rs` (`schedules ...` and `schedule EXPR`), `queues.rs` (`queues ...`,
//! `runners`), `exec.rs` (`exec`), `check.rs`
//! (`check`) and `migrate.rs` (`migrate`). `app.rs` holds what an application registers
//! before its jobs run, `args.rs` the arguments several commands share, `error.rs` what a
//! command fails with, `table.rs` the tables printed for people.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use job_core::{Clock, Registry};

use crate::client::Jobs;
use crate::config::{Config, ConfigError, TelemetryConfig, process_env};
use crate::control::Control;
use crate::startup::{Overrides, Schema, Startup};
use crate::telemetry::Telemetry;

mod app;
mod args;
mod check;
mod error;
mod events;
mod exec;
mod jobs;
mod limits;
mod migrate;
mod queues;
mod run;
mod schedules;
mod table;
mod tasks;

pub use app::{AppSetup, Setup};
use args::{JsonFlag, NameArg, TaskArg};
use error::CliError;

const EXAMPLES: &str = "\
Examples:
  job-runner                                   run every registered job (same as `run`)
  job-runner list                              jobs, schedules, next and last runs
  job-runner trigger transfer_document --args '{\"source\":\"a.pdf\",\"destination\":\"a.pdf\"}'
  job-runner history --job expire_keys --status dead --since 24h
  job-runner pause cleanup_expired_sessions
  job-runner retry 42
  job-runner tasks retry --state dead --job send_email --since 2026-11-28T02:00:00Z
  job-runner schedule '30 2 * * *' --timezone America/New_York --count 3

The database is `sqlite://jobs.db` unless --database-url, JOBS_DATABASE_URL or jobs.toml says otherwise.";

/// The command line: runs background jobs defined with `#[job]`, and controls them.
#[derive(Debug, Parser)]
#[command(
    name = "job-runner",
    version,
    about = "Runs background jobs defined with #[job], and controls them.",
    after_help = EXAMPLES
)]
pub struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Args)]
struct Global {
    /// Database URL: `sqlite://jobs.db` (default), a file path, or `postgres://...`.
    #[arg(long, global = true, env = "JOBS_DATABASE_URL", value_name = "URL")]
    database_url: Option<String>,
    /// Config file (default: ./jobs.toml when it exists).
    #[arg(long, global = true, env = "JOBS_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
}

impl Global {
    /// Defaults, then `jobs.toml`, then the environment, then `--database-url`.
    fn config(&self) -> Result<Config, ConfigError> {
        let mut config = Config::load(self.config.as_deref(), &process_env)?;
        if let Some(url) = &self.database_url {
            config.database_url = url.clone();
        }
        Ok(config)
    }

    /// Controls over the configured database, for the commands that do not run jobs. The
    /// schema must exist; these commands never create it.
    async fn control(&self) -> Result<Control, CliError> {
        let startup = Startup::new(
            self.config()?,
            Registry::from_linked()?,
            Overrides::Refuse,
            &process_env,
        )?;
        let store = startup.open(Schema::Require).await?;
        let lease = startup.config.lease;
        Ok(Control::new(Jobs::new(store, startup.plan, Clock::system()), "cli").with_lease(lease))
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run every enabled job until SIGINT or SIGTERM (the default command).
    #[command(after_help = run::STOPS)]
    Run(run::RunArgs),
    /// List the registered jobs: queue, schedule, zone, next run, last run, paused.
    List(JsonFlag),
    /// Enqueue a job now; its arguments are checked against the job's argument type.
    #[command(
        after_help = "Example:\n  job-runner trigger transfer_document --args '{\"source\":\"a.pdf\",\"destination\":\"a.pdf\"}'"
    )]
    Trigger(jobs::TriggerArgs),
    /// Show the execution history, newest first: one row per attempt.
    #[command(
        after_help = "Examples:\n  job-runner history --job expire_keys --limit 5\n  job-runner history --status dead --since 24h --json"
    )]
    History(tasks::HistoryArgs),
    /// List stored tasks, newest first; or retry, cancel or delete every task a filter
    /// matches (`tasks retry --state dead --job J --since 2h`).
    Tasks(tasks::TasksArgs),
    /// List the latest events taken from the sources, with the task each started (or why
    /// none).
    Events(events::EventsArgs),
    /// Pause a job in every runner: its ticks are skipped, its tasks held.
    Pause(NameArg),
    /// Resume a paused job.
    Resume(NameArg),
    /// Run a dead (or cancelled) task again, with a fresh set of attempts.
    Retry(TaskArg),
    /// Cancel a pending task, or ask a running one to stop (it ends as cancelled).
    Cancel(TaskArg),
    /// Create or upgrade the job tables (`run` does this at start).
    Migrate,
    /// Add, change, list, pause, resume and remove schedules, without a rebuild.
    #[command(subcommand)]
    Schedules(schedules::SchedulesCommand),
    /// List jobs' limits and what they hold back; set or clear limits at run time.
    #[command(subcommand)]
    Limits(limits::LimitsCommand),
    /// List the queues (tasks pending, due and running, pause state, jobs); pause or resume
    /// a queue in every runner.
    #[command(
        after_help = "Examples:\n  job-runner queues\n  job-runner queues pause exports\n  job-runner queues resume exports"
    )]
    Queues(queues::QueuesArgs),
    /// List the registered runners: alive or not (heartbeat within the lease), and the
    /// tasks each runs.
    Runners(JsonFlag),
    /// Run one job once in this process, record its history row, and exit with its outcome
    /// (0: succeeded, 1: failed).
    #[command(after_help = exec::EXAMPLES)]
    Exec(exec::ExecArgs),
    /// Before a deploy: compare the registered jobs with the database and the configuration
    /// (unknown jobs with stored tasks, stored arguments that no longer fit, bad overrides).
    #[command(after_help = "Exits with 1 when something would go wrong; --json for pipelines.")]
    Check(JsonFlag),
    /// Print the next fire times of a cron expression, to check it before using it.
    #[command(
        after_help = "Examples:\n  job-runner schedule '*/15 9-17 * * MON-FRI'\n  job-runner schedule '30 2 * * *' --timezone America/New_York --after 2026-03-07T00:00:00Z --count 3 --json"
    )]
    Schedule(schedules::ScheduleArgs),
}

/// Parses the process's arguments and runs the command; `setup` registers the jobs'
/// shared state before they run.
pub fn main(setup: Setup) -> ExitCode {
    main_from(std::env::args_os(), setup)
}

/// Like [`main`], with the arguments given.
pub fn main_from(
    args: impl IntoIterator<Item = impl Into<OsString> + Clone>,
    setup: Setup,
) -> ExitCode {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return if error.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let telemetry = match cli
        .telemetry()
        .map(|config| Telemetry::start(&config, runtime.handle().clone()))
        .transpose()
    {
        Ok(telemetry) => telemetry.flatten(),
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    crate::telemetry::init_tracing(telemetry.as_ref());
    let ended = runtime.block_on(cli.execute(setup));
    // The last spans are sent before the process exits.
    if let Some(telemetry) = telemetry {
        runtime.block_on(telemetry.shutdown());
    }
    match ended {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

impl Cli {
    /// Where the command exports traces: the commands that run or enqueue jobs, when the
    /// configuration asks for export. A configuration that cannot be read exports nothing
    /// here (the command itself reports the error).
    fn telemetry(&self) -> Option<TelemetryConfig> {
        let traced = matches!(
            self.command,
            None | Some(Command::Run(_) | Command::Exec(_) | Command::Trigger(_))
        );
        if !traced {
            return None;
        }
        self.global.config().ok().map(|config| config.telemetry)
    }

    async fn execute(self, setup: Setup) -> Result<(), CliError> {
        let global = self.global;
        match self.command.unwrap_or_default() {
            // Reads no configuration: it works before there is any.
            Command::Schedule(args) => schedules::preview(&args),
            Command::Run(args) => run::run(global.config()?, args, setup).await,
            Command::Exec(args) => exec::exec(global.config()?, args, setup).await,
            Command::Check(flag) => check::check(global.config()?, flag.json).await,
            Command::Migrate => migrate::migrate(global.config()?).await,
            Command::List(flag) => jobs::list(&global.control().await?, flag.json).await,
            Command::Trigger(args) => jobs::trigger(&global.control().await?, args).await,
            Command::Pause(arg) => jobs::pause(&global.control().await?, arg).await,
            Command::Resume(arg) => jobs::resume(&global.control().await?, arg).await,
            Command::Tasks(args) => tasks::tasks(&global.control().await?, args).await,
            Command::History(args) => tasks::history(&global.control().await?, args).await,
            Command::Retry(arg) => tasks::retry(&global.control().await?, arg).await,
            Command::Cancel(arg) => tasks::cancel(&global.control().await?, arg).await,
            Command::Events(args) => events::events(&global.control().await?, args).await,
            Command::Schedules(command) => {
                schedules::schedules(&global.control().await?, command).await
            }
            Command::Limits(command) => limits::limits(&global.control().await?, command).await,
            Command::Queues(args) => queues::queues(&global.control().await?, args).await,
            Command::Runners(flag) => queues::runners(&global.control().await?, flag).await,
        }
    }
}

impl Default for Command {
    /// `job-runner` alone is `job-runner run`.
    fn default() -> Self {
        Command::Run(run::RunArgs::default())
    }
}
