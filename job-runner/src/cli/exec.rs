//! `job-runner exec NAME`: one job, once, in this process, with its history row, for
//! platforms that start a container or a Kubernetes Job per run.

use std::sync::Arc;

use clap::Args;
use job_core::{Clock, EnqueueOptions, EnqueueRequest, JobClient, Registry, State, Trigger};
use tracing::Instrument;

use super::app::{AppSetup, Setup};
use super::args::json_arg;
use super::error::CliError;
use crate::attempt::Attempt;
use crate::client::Jobs;
use crate::config::{Config, process_env};
use crate::heartbeat::{Fence, Health, Heartbeat};
use crate::startup::{Overrides, Schema, Startup};
use crate::storage::{ExecutionStatus, RunnerRow};

/// The help of `exec`: how platforms start one run per process.
pub(super) const EXAMPLES: &str = "\
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

#[derive(Debug, Args)]
pub(super) struct ExecArgs {
    /// The job's name.
    name: String,
    /// The job's arguments as JSON.
    #[arg(long, value_name = "JSON")]
    args: Option<String>,
}

/// `exec NAME`: runs the job once with the application's registrations.
pub(super) async fn exec(config: Config, args: ExecArgs, setup: Setup) -> Result<(), CliError> {
    let json = json_arg(args.args.as_deref())?;
    let app = AppSetup::filled(setup).await?;
    run_once(config, app.state, &args.name, json).await
}

/// Why `exec` failed: the job's own failure, or something before it ran.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The attempt failed.
    #[error("job `{job}` failed (task {task}): {error}")]
    Failed {
        /// The job.
        job: String,
        /// The task recorded for the run.
        task: i64,
        /// What the attempt reported.
        error: String,
    },
    /// The job could not start.
    #[error(transparent)]
    Setup(#[from] Box<dyn std::error::Error + Send + Sync>),
}

/// Runs `name` once with `args`, as trigger `exec`; the history row is written to the
/// configured database.
pub async fn run_once(
    config: Config,
    state: State,
    name: &str,
    args: Option<serde_json::Value>,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let startup = Startup::new(
        config,
        Registry::from_linked()?,
        Overrides::Refuse,
        &process_env,
    )?;
    let store = startup.open(Schema::Migrate).await?;
    let Startup { config, plan, .. } = startup;
    let clock = Clock::system();
    let jobs = Jobs::new(store.clone(), plan.clone(), clock.clone());
    let settings = plan.get(name).ok_or_else(|| {
        format!("no job named `{name}` is registered; `job-runner list` shows the registered jobs")
    })?;
    let now = clock.now();
    let request = EnqueueRequest {
        job: name.to_owned(),
        args: args.unwrap_or(serde_json::Value::Null),
        options: EnqueueOptions::default(),
        trigger: Trigger::Exec,
        then: Vec::new(),
    };
    let mut task = jobs.task_for(&request, now)?;
    // One attempt: the platform that started this process decides about retries.
    task.max_attempts = 1;
    let runner = format!("exec-{}", crate::process::runner_id());
    let row = RunnerRow {
        id: runner.clone(),
        host: crate::process::host_name(),
        pid: i64::from(std::process::id()),
        queues: String::new(),
        started_at: now,
        heartbeat_at: now,
    };
    store.register_runner(&row).await?;
    let claimed = store.insert_running_task(&task, &runner, now).await?;
    // The same lease as a runner's: renewed while the attempt runs, and the attempt stops
    // if it cannot be.
    let fence = Fence::default();
    let (stop_heartbeat, heartbeat_stopped) = tokio::sync::watch::channel(false);
    let heartbeat = tokio::spawn(
        Heartbeat {
            store: store.clone(),
            runner: row,
            clock: clock.clone(),
            every: config.heartbeat,
            lease: config.lease,
            health: Health::new(now),
            fence: fence.clone(),
        }
        .run(heartbeat_stopped),
    );
    let client: Arc<dyn JobClient> = Arc::new(jobs.clone());
    let attempt = Attempt {
        settings,
        jobs: &jobs,
        state: &Arc::new(state),
        clock: &clock,
        client: &client,
        runner_id: &runner,
        fence: &fence,
        // `exec` runs one attempt in the foreground: Ctrl-C stops it.
        live: Arc::default(),
        cancel_grace: config.cancel_grace,
    };
    let span = crate::attempt::span(&claimed, settings);
    let completion = attempt.run(&claimed).instrument(span.clone()).await;
    crate::attempt::record_outcome(&span, completion.execution.status);
    drop(span);
    let outcome = (
        completion.execution.status,
        completion.execution.error.clone(),
    );
    store.complete(&runner, &[completion], clock.now()).await?;
    let _ = stop_heartbeat.send(true);
    let _ = heartbeat.await;
    store.remove_runner(&runner).await?;
    store.close().await;
    match outcome {
        (ExecutionStatus::Succeeded, _) => {
            tracing::info!(job = name, task = claimed.id, "succeeded");
            Ok(())
        }
        (_, error) => Err(Box::new(ExecError::Failed {
            job: name.to_owned(),
            task: claimed.id,
            error: error.unwrap_or_default(),
        })),
    }
}
