//! The `job-runner` command line: run the jobs, and look at and control them.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand};
use job_core::{BoxFuture, Clock, EventSource, Registry, State};
use job_schedule::Schedule;

use crate::client::Jobs;
use crate::config::{Config, process_env};
use crate::control::Control;
use crate::plan::Plan;
use crate::runner::{Runner, connect_options};
use crate::schedules::{ScheduleChange, ScheduleSpec};
use crate::storage::{ExecutionFilter, ExecutionStatus, Store, TaskFilter, TaskState};

mod table;

use table::Table;

/// What an application registers before its jobs run: the shared state they read with
/// `ctx.data()` (pools, clients, settings), and event sources of its own.
#[derive(Default)]
pub struct AppSetup {
    state: State,
    sources: Vec<Box<dyn EventSource>>,
}

impl AppSetup {
    /// Registers a value that jobs read with `ctx.data::<T>()`.
    pub fn data<T: Send + Sync + 'static>(&mut self, value: T) -> &mut Self {
        self.state.insert(value);
        self
    }

    /// The shared state, to fill in place.
    pub fn state_mut(&mut self) -> &mut State {
        &mut self.state
    }

    /// Adds an event source; one of the same name in `jobs.toml` replaces it.
    pub fn source(&mut self, source: impl EventSource) -> &mut Self {
        self.sources.push(Box::new(source));
        self
    }
}

/// Fills an [`AppSetup`]; run before `run` and `exec`.
pub type Setup = for<'a> fn(
    &'a mut AppSetup,
) -> BoxFuture<'a, Result<(), Box<dyn std::error::Error + Send + Sync>>>;

const EXAMPLES: &str = "\
Examples:
  job-runner                                   run every registered job (same as `run`)
  job-runner list                              jobs, schedules, next and last runs
  job-runner trigger transfer_document --args '{\"source\":\"a.pdf\",\"destination\":\"a.pdf\"}'
  job-runner history --job expire_keys --status dead --since 24h
  job-runner pause cleanup_expired_sessions
  job-runner retry 42
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

#[derive(Debug, Subcommand)]
enum Command {
    /// Run every enabled job until SIGINT or SIGTERM (the default command).
    Run(RunArgs),
    /// List the registered jobs: queue, schedule, zone, next run, last run, paused.
    List(JsonFlag),
    /// Enqueue a job now; its arguments are checked against the job's argument type.
    #[command(
        after_help = "Example:\n  job-runner trigger transfer_document --args '{\"source\":\"a.pdf\",\"destination\":\"a.pdf\"}'"
    )]
    Trigger(TriggerArgs),
    /// Show the execution history, newest first: one row per attempt.
    #[command(
        after_help = "Examples:\n  job-runner history --job expire_keys --limit 5\n  job-runner history --status dead --since 24h --json"
    )]
    History(HistoryArgs),
    /// List stored tasks, newest first.
    Tasks(TasksArgs),
    /// List the latest events taken from the sources, with the task each started (or why
    /// none).
    Events(EventsArgs),
    /// Pause a job in every runner: its ticks are skipped, its tasks held.
    Pause(NameArg),
    /// Resume a paused job.
    Resume(NameArg),
    /// Run a dead (or cancelled) task again, with a fresh set of attempts.
    Retry(TaskArg),
    /// Cancel a pending task.
    Cancel(TaskArg),
    /// Create or upgrade the job tables (`run` does this at start).
    Migrate,
    /// Add, change, list, pause, resume and remove schedules, without a rebuild.
    #[command(subcommand)]
    Schedules(SchedulesCommand),
    /// Run one job once in this process, record its history row, and exit with its outcome
    /// (0: succeeded, 1: failed).
    #[command(after_help = EXEC_EXAMPLES)]
    Exec(ExecArgs),
    /// Before a deploy: compare the registered jobs with the database and the configuration
    /// (unknown jobs with stored tasks, stored arguments that no longer fit, bad overrides).
    #[command(after_help = "Exits with 1 when something would go wrong; --json for pipelines.")]
    Check(JsonFlag),
    /// Print the next fire times of a cron expression, to check it before using it.
    #[command(
        after_help = "Examples:\n  job-runner schedule '*/15 9-17 * * MON-FRI'\n  job-runner schedule '30 2 * * *' --timezone America/New_York --after 2026-03-07T00:00:00Z --count 3 --json"
    )]
    Schedule(ScheduleArgs),
}

const EXEC_EXAMPLES: &str = "\
Examples:
  job-runner exec expire_keys
  job-runner exec transfer_document --args '{\"source\":\"a.pdf\",\"destination\":\"a.pdf\"}'

A Kubernetes CronJob that runs one job per pod:
  apiVersion: batch/v1
  kind: CronJob
  metadata: { name: expire-keys }
  spec:
    schedule: \"0 0 * * *\"
    jobTemplate:
      spec:
        backoffLimit: 0
        template:
          spec:
            restartPolicy: Never
            containers:
              - name: job
                image: registry.example.com/app:latest
                args: [\"job-runner\", \"exec\", \"expire_keys\"]
                env: [{ name: JOBS_DATABASE_URL, value: \"postgres://jobs@db/jobs\" }]

A plain crontab line:
  0 0 * * *  cd /srv/app && JOBS_DATABASE_URL=postgres://jobs@db/jobs job-runner exec expire_keys";

#[derive(Debug, Subcommand)]
enum SchedulesCommand {
    /// Add a schedule: a job, a cron expression or a rate, and the job's arguments.
    #[command(
        after_help = "Examples:\n  job-runner schedules add report-acme --job build_report --cron '0 7 * * MON-FRI' --timezone Europe/Paris --args '{\"customer\":42}'\n  job-runner schedules add sync-acme --job sync_account --every 15m --args '{\"account\":7}'"
    )]
    Add(ScheduleAddArgs),
    /// Change a schedule (the options given replace the stored ones).
    Set(ScheduleSetArgs),
    /// List the schedules with their next and last run.
    List(JsonFlag),
    /// Remove a schedule: its future ticks stop, its history stays.
    Remove(ScheduleIdArg),
    /// Pause a schedule: its ticks are skipped until it is resumed.
    Pause(ScheduleIdArg),
    /// Resume a paused schedule.
    Resume(ScheduleIdArg),
}

#[derive(Debug, Args)]
struct ScheduleIdArg {
    /// The schedule's id.
    id: String,
}

#[derive(Debug, Args)]
struct ScheduleAddArgs {
    /// The schedule's id (letters, digits, `_`, `-`, `.`, `:`).
    id: String,
    /// The job it runs.
    #[arg(long)]
    job: String,
    /// A cron expression.
    #[arg(long, conflicts_with = "every")]
    cron: Option<String>,
    /// A rate such as 15m, anchored to the Unix epoch.
    #[arg(long)]
    every: Option<String>,
    /// The IANA zone of the cron expression (default UTC).
    #[arg(long, value_name = "TZ")]
    timezone: Option<String>,
    /// The job's arguments as JSON.
    #[arg(long, value_name = "JSON")]
    args: Option<String>,
    /// skip (default) or once: what to do about ticks missed while no runner ran.
    #[arg(long)]
    catch_up: Option<String>,
}

#[derive(Debug, Args)]
struct ScheduleSetArgs {
    /// The schedule's id.
    id: String,
    /// Another job.
    #[arg(long)]
    job: Option<String>,
    /// A new cron expression (replaces a rate).
    #[arg(long, conflicts_with = "every")]
    cron: Option<String>,
    /// A new rate (replaces a cron expression).
    #[arg(long)]
    every: Option<String>,
    /// A new zone.
    #[arg(long, value_name = "TZ")]
    timezone: Option<String>,
    /// New arguments as JSON.
    #[arg(long, value_name = "JSON")]
    args: Option<String>,
    /// skip or once.
    #[arg(long)]
    catch_up: Option<String>,
}

#[derive(Debug, Args)]
struct ExecArgs {
    /// The job's name.
    name: String,
    /// The job's arguments as JSON.
    #[arg(long, value_name = "JSON")]
    args: Option<String>,
}

fn json_arg(text: Option<&str>) -> Result<Option<serde_json::Value>, String> {
    text.map(|text| {
        serde_json::from_str(text).map_err(|e| {
            format!("--args is not valid JSON ({e}); quote it for the shell, e.g. --args '{{\"id\": 42}}'")
        })
    })
    .transpose()
}

#[derive(Debug, Args)]
struct RunArgs {
    /// Run only the jobs of these queues (comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "QUEUES")]
    queues: Option<Vec<String>>,
    /// Serve the admin API and dashboard here (default 127.0.0.1:8088; `off` for none).
    #[arg(long, value_name = "ADDR")]
    admin_addr: Option<String>,
}

#[derive(Debug, Args)]
struct JsonFlag {
    /// Print JSON for scripts.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct NameArg {
    /// The job's name.
    name: String,
}

#[derive(Debug, Args)]
struct TaskArg {
    /// The task's id (see `history` or `tasks`).
    task: i64,
}

#[derive(Debug, Args)]
struct TriggerArgs {
    /// The job's name.
    name: String,
    /// The job's arguments as JSON.
    #[arg(long, value_name = "JSON")]
    args: Option<String>,
    /// Print the stored task as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct HistoryArgs {
    /// Only this job.
    #[arg(long)]
    job: Option<String>,
    /// Only this status: succeeded, failed, panicked, timed_out, dead, cancelled.
    #[arg(long, value_parser = parse_status)]
    status: Option<ExecutionStatus>,
    /// Only attempts that started since this instant (RFC 3339) or this long ago (`24h`).
    #[arg(long, value_parser = parse_since)]
    since: Option<DateTime<Utc>>,
    /// Only this task.
    #[arg(long)]
    task: Option<i64>,
    /// At most this many rows.
    #[arg(long, default_value_t = 50)]
    limit: u32,
    /// Print JSON for scripts.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct EventsArgs {
    /// At most this many rows.
    #[arg(long, default_value_t = 50)]
    limit: u32,
    /// Print JSON for scripts.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct TasksArgs {
    /// Only in this state: pending, running, succeeded, dead, cancelled.
    #[arg(long, value_parser = parse_state)]
    state: Option<TaskState>,
    /// Only in this queue.
    #[arg(long)]
    queue: Option<String>,
    /// Only of this job.
    #[arg(long)]
    job: Option<String>,
    /// At most this many rows.
    #[arg(long, default_value_t = 50)]
    limit: u32,
    /// Print JSON for scripts.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct ScheduleArgs {
    /// A cron expression: 5 fields (minute hour day-of-month month day-of-week), 6 with
    /// leading seconds, or @hourly, @daily, @weekly, @monthly, @yearly.
    expression: String,
    /// The IANA time zone the expression is read in.
    #[arg(long, default_value = "UTC", value_name = "TZ")]
    timezone: String,
    /// Start strictly after this instant (RFC 3339); default now.
    #[arg(long, value_name = "RFC3339", value_parser = parse_instant)]
    after: Option<DateTime<Utc>>,
    /// How many fire times.
    #[arg(long, default_value_t = 10)]
    count: usize,
    /// Print a JSON array of RFC 3339 timestamps with their offset.
    #[arg(long)]
    json: bool,
}

fn parse_status(text: &str) -> Result<ExecutionStatus, String> {
    ExecutionStatus::from_name(text).ok_or_else(|| {
        format!(
            "unknown status `{text}`; use one of {}",
            ExecutionStatus::ALL.map(|s| s.as_str()).join(", ")
        )
    })
}

fn parse_state(text: &str) -> Result<TaskState, String> {
    TaskState::from_name(text).ok_or_else(|| {
        format!(
            "unknown state `{text}`; use one of {}",
            TaskState::ALL.map(|s| s.as_str()).join(", ")
        )
    })
}

fn parse_instant(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            format!("`{text}` is not an RFC 3339 instant such as 2026-03-08T02:30:00Z ({e})")
        })
}

fn parse_since(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(ago) = job_schedule::parse_duration(text) {
        // At most `job_schedule::MAX_DURATION` ago: far from the earliest instant there is.
        return Ok(job_schedule::sub_saturating(Utc::now(), ago));
    }
    parse_instant(text).map_err(|_| {
        format!("`{text}` is neither an RFC 3339 instant (2026-11-28T00:00:00Z) nor a duration ago (24h)")
    })
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
    init_tracing();
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
    match runtime.block_on(cli.execute(setup)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("JOBS_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

type CliError = Box<dyn std::error::Error + Send + Sync>;

impl Cli {
    async fn execute(self, setup: Setup) -> Result<(), CliError> {
        let command = self.command.unwrap_or(Command::Run(RunArgs {
            queues: None,
            admin_addr: None,
        }));
        if let Command::Schedule(args) = &command {
            return schedule(args);
        }
        let mut config = Config::load(self.global.config.as_deref(), &process_env)?;
        if let Some(url) = self.global.database_url {
            config.database_url = url;
        }
        match command {
            Command::Run(args) => {
                if let Some(queues) = args.queues {
                    config.queues = Some(queues);
                }
                if let Some(addr) = args.admin_addr {
                    config.admin_addr = crate::config::admin_addr(&addr, "--admin-addr")?;
                }
                let mut app = AppSetup::default();
                setup(&mut app).await?;
                let mut builder = Runner::builder(config.clone()).state(app.state);
                for source in app.sources {
                    if !config.sources.contains_key(source.name()) {
                        builder = builder.boxed_source(source);
                    }
                }
                let runner = builder.build().await?;
                runner.run().await?;
                Ok(())
            }
            Command::Migrate => {
                let store = Store::connect(&config.database_url, &connect_options(&config)).await?;
                store.migrate().await?;
                println!("migrated {}", store.display_url());
                Ok(())
            }
            Command::Check(flag) => check(config, flag.json).await,
            Command::Exec(args) => {
                let json = json_arg(args.args.as_deref())?;
                let mut app = AppSetup::default();
                setup(&mut app).await?;
                crate::exec::exec(config, app.state, &args.name, json).await
            }
            command => {
                let control = control(config).await?;
                command.control(&control).await
            }
        }
    }
}

/// Controls over the configured database, for the commands that do not run jobs. The
/// schema must exist; these commands never create it.
async fn control(mut config: Config) -> Result<Control, CliError> {
    let registry = Registry::from_linked()?;
    config.apply_job_env(registry.iter().map(|d| d.name()), &process_env)?;
    let plan = Arc::new(Plan::new(registry, &config)?);
    let store = Store::connect(&config.database_url, &connect_options(&config)).await?;
    store.check_schema().await?;
    Ok(Control::new(Jobs::new(store, plan, Clock::system()), "cli"))
}

impl Command {
    async fn control(self, control: &Control) -> Result<(), CliError> {
        match self {
            Command::List(flag) => {
                let jobs = control.jobs().await?;
                if flag.json {
                    println!("{}", serde_json::to_string_pretty(&jobs)?);
                    return Ok(());
                }
                let mut table = Table::new(&[
                    "JOB",
                    "QUEUE",
                    "SCHEDULE",
                    "ZONE",
                    "NEXT RUN",
                    "LAST RUN",
                    "LAST STATUS",
                    "PAUSED",
                ]);
                for job in jobs {
                    table.row(vec![
                        if job.enabled {
                            job.name
                        } else {
                            format!("{} (disabled)", job.name)
                        },
                        job.queue,
                        job.schedule.unwrap_or_else(|| "-".into()),
                        job.timezone.unwrap_or_else(|| "-".into()),
                        job.next_run.map_or_else(|| "-".into(), |t| t.to_rfc3339()),
                        job.last_run
                            .as_ref()
                            .map_or_else(|| "-".into(), |e| e.started_at.to_rfc3339()),
                        job.last_run
                            .as_ref()
                            .map_or_else(|| "-".into(), |e| e.status.to_string()),
                        if job.paused {
                            "yes".into()
                        } else {
                            "no".into()
                        },
                    ]);
                }
                print!("{}", table.render());
                Ok(())
            }
            Command::Trigger(args) => {
                let json = json_arg(args.args.as_deref())?;
                let task = control.trigger(&args.name, json).await?;
                if args.json {
                    println!("{}", serde_json::to_string_pretty(&task)?);
                } else {
                    println!(
                        "enqueued task {} of job `{}` (queue {})",
                        task.id, task.job, task.queue
                    );
                }
                Ok(())
            }
            Command::History(args) => {
                let filter = ExecutionFilter {
                    job: args.job,
                    status: args.status,
                    task_id: args.task,
                    since: args.since,
                    limit: args.limit,
                    ..ExecutionFilter::default()
                };
                let rows = control.history(&filter).await?;
                if args.json {
                    println!("{}", serde_json::to_string_pretty(&rows)?);
                    return Ok(());
                }
                let mut table = Table::new(&[
                    "ID", "JOB", "TASK", "ATTEMPT", "TRIGGER", "STARTED", "DURATION", "STATUS",
                    "RECORDS", "ERROR",
                ]);
                for e in rows {
                    table.row(vec![
                        e.id.to_string(),
                        e.job,
                        e.task_id.to_string(),
                        e.attempt.to_string(),
                        e.trigger.to_string(),
                        e.started_at.to_rfc3339(),
                        format!("{}ms", e.duration_ms),
                        e.status.to_string(),
                        e.records_processed
                            .map_or_else(|| "-".into(), |n| n.to_string()),
                        e.error.unwrap_or_default(),
                    ]);
                }
                if table.is_empty() {
                    println!("no executions match");
                } else {
                    print!("{}", table.render());
                }
                Ok(())
            }
            Command::Tasks(args) => {
                let filter = TaskFilter {
                    state: args.state,
                    queue: args.queue,
                    job: args.job,
                    before_id: None,
                    limit: args.limit,
                };
                let rows = control.tasks(&filter).await?;
                if args.json {
                    println!("{}", serde_json::to_string_pretty(&rows)?);
                    return Ok(());
                }
                let mut table = Table::new(&[
                    "ID",
                    "JOB",
                    "QUEUE",
                    "STATE",
                    "ATTEMPT",
                    "RUN AT",
                    "LAST ERROR",
                ]);
                for t in rows {
                    table.row(vec![
                        t.id.to_string(),
                        t.job,
                        t.queue,
                        t.state.to_string(),
                        format!("{}/{}", t.attempt, t.max_attempts),
                        t.run_at.to_rfc3339(),
                        t.last_error.unwrap_or_default(),
                    ]);
                }
                print!("{}", table.render());
                Ok(())
            }
            Command::Events(args) => {
                let events = control.events(args.limit).await?;
                if args.json {
                    println!("{}", serde_json::to_string_pretty(&events)?);
                    return Ok(());
                }
                let mut table =
                    Table::new(&["RECEIVED", "SOURCE", "EVENT", "JOB", "TASK", "ERROR"]);
                for e in events {
                    table.row(vec![
                        e.received_at.to_rfc3339(),
                        e.source,
                        e.event_id,
                        e.job,
                        e.task_id.map_or_else(|| "-".into(), |t| t.to_string()),
                        e.error.unwrap_or_default(),
                    ]);
                }
                print!("{}", table.render());
                Ok(())
            }
            Command::Pause(arg) => {
                if control.pause(&arg.name).await? {
                    println!(
                        "paused `{}`: its ticks are skipped and its tasks held until `job-runner resume {}`",
                        arg.name, arg.name
                    );
                } else {
                    println!("`{}` was already paused", arg.name);
                }
                Ok(())
            }
            Command::Resume(arg) => {
                if control.resume(&arg.name).await? {
                    println!("resumed `{}`", arg.name);
                } else {
                    println!("`{}` was not paused", arg.name);
                }
                Ok(())
            }
            Command::Retry(arg) => {
                let task = control.retry(arg.task).await?;
                println!(
                    "task {} of job `{}` is pending again ({} more attempts allowed)",
                    task.id,
                    task.job,
                    task.max_attempts - task.attempt
                );
                Ok(())
            }
            Command::Cancel(arg) => {
                let task = control.cancel(arg.task).await?;
                println!("cancelled task {} of job `{}`", task.id, task.job);
                Ok(())
            }
            Command::Schedules(command) => schedules(control, command).await,
            Command::Run(_)
            | Command::Migrate
            | Command::Schedule(_)
            | Command::Check(_)
            | Command::Exec(_) => Ok(()),
        }
    }
}

async fn schedules(control: &Control, command: SchedulesCommand) -> Result<(), CliError> {
    let schedules = control.client().schedules();
    match command {
        SchedulesCommand::Add(args) => {
            let spec = ScheduleSpec {
                job: args.job,
                cron: args.cron,
                every: args.every,
                timezone: args.timezone,
                args: json_arg(args.args.as_deref())?.unwrap_or(serde_json::Value::Null),
                catch_up: args.catch_up,
            };
            let row = schedules.add(&args.id, spec).await?;
            println!("added schedule `{}` of job `{}`", row.id, row.job);
        }
        SchedulesCommand::Set(args) => {
            let change = ScheduleChange {
                job: args.job,
                cron: args.cron,
                every: args.every,
                timezone: args.timezone,
                args: json_arg(args.args.as_deref())?,
                catch_up: args.catch_up,
            };
            let row = schedules.set(&args.id, change).await?;
            println!("changed schedule `{}`", row.id);
        }
        SchedulesCommand::List(flag) => {
            let list = schedules.list().await?;
            if flag.json {
                println!("{}", serde_json::to_string_pretty(&list)?);
                return Ok(());
            }
            let mut table = Table::new(&[
                "ID", "JOB", "SCHEDULE", "ZONE", "ARGS", "NEXT RUN", "LAST RUN", "STATE", "DEFINED",
            ]);
            for s in list {
                let row = &s.schedule;
                let timing = match (&row.cron, row.every_ms) {
                    (Some(cron), _) => cron.clone(),
                    (None, Some(ms)) => format!(
                        "every {}",
                        job_schedule::format_duration(std::time::Duration::from_millis(ms as u64))
                    ),
                    (None, None) => "-".into(),
                };
                table.row(vec![
                    row.id.clone(),
                    row.job.clone(),
                    timing,
                    row.timezone.clone(),
                    row.args.to_string(),
                    s.next_run.map_or_else(|| "-".into(), |t| t.to_rfc3339()),
                    s.last_run.map_or_else(|| "-".into(), |t| t.to_rfc3339()),
                    if row.enabled {
                        "active".into()
                    } else {
                        "paused".into()
                    },
                    if row.in_code {
                        "in code".into()
                    } else {
                        "at run time".into()
                    },
                ]);
            }
            print!("{}", table.render());
        }
        SchedulesCommand::Remove(arg) => {
            schedules.remove(&arg.id).await?;
            println!("removed schedule `{}`; its history stays", arg.id);
        }
        SchedulesCommand::Pause(arg) => {
            schedules.pause(&arg.id).await?;
            println!("paused schedule `{}`", arg.id);
        }
        SchedulesCommand::Resume(arg) => {
            schedules.resume(&arg.id).await?;
            println!("resumed schedule `{}`", arg.id);
        }
    }
    Ok(())
}

/// The problems `check` found, as an error that makes the command exit non-zero.
#[derive(Debug, thiserror::Error)]
#[error("check found {0} problem(s)")]
struct CheckFailed(usize);

async fn check(mut config: Config, json: bool) -> Result<(), CliError> {
    let registry = Registry::from_linked()?;
    config.apply_job_env(registry.iter().map(|d| d.name()), &process_env)?;
    let (plan, config_problems) = Plan::checked(registry, &config);
    let store = Store::connect(&config.database_url, &connect_options(&config)).await?;
    store.check_schema().await?;
    let report = crate::check::check(&store, &plan, &config_problems).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else if report.ok {
        println!(
            "ok: {} jobs, no stored task or override that would fail",
            plan.jobs().count()
        );
    } else {
        for problem in &report.problems {
            println!("- {problem}");
        }
    }
    match report.problems.len() {
        0 => Ok(()),
        n => Err(Box::new(CheckFailed(n))),
    }
}

fn schedule(args: &ScheduleArgs) -> Result<(), CliError> {
    let schedule = Schedule::new(&args.expression, &args.timezone)?;
    let after = args.after.unwrap_or_else(Utc::now);
    let fires: Vec<String> = schedule
        .upcoming(after)
        .take(args.count)
        .map(|t| schedule.local(t).to_rfc3339())
        .collect();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&fires)?);
    } else {
        for (fire, instant) in fires.iter().zip(schedule.upcoming(after)) {
            println!("{fire}  {}", schedule.local(instant).format("%a"));
        }
    }
    Ok(())
}
