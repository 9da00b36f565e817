//! The runner: starts the services and the workers, and stops them gracefully.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use apalis_core::monitor::Monitor;
use job_core::{
    BoxFuture, Clock, DuplicateJobs, EventSink, EventSource, JobClient, Registry, State,
};
use tokio::sync::{Semaphore, watch};

use crate::admin::{self, AdminConfig};
use crate::canceller::Canceller;
use crate::cleaner::Cleaner;
use crate::client::{Jobs, Wakers};
use crate::config::{Config, ConfigError};
use crate::control::Control;
use crate::events::EventRouter;
use crate::executor::{Executor, ExecutorParts};
use crate::heartbeat::{Fence, Health, Heartbeat};
use crate::in_flight::InFlight;
use crate::limits::{LimitsWatcher, LiveLimits};
use crate::listener::Listener;
use crate::plan::{JobSettings, Plan};
use crate::process::{host_name, runner_id, shutdown_signal};
use crate::reclaimer::{self, Reclaimer};
use crate::reporter::{REPORT_EVERY, Reporter};
use crate::rescuer::Rescuer;
use crate::scheduler::Scheduler;
use crate::sources::SourceConfig;
use crate::sources::folder::FolderSource;
use crate::startup::{Overrides, Schema, Startup};
use crate::storage::{RunnerRow, Store, StoreError};
use crate::{completer, scheduler};

/// Most tasks one claim takes for one job.
const CLAIM_BATCH: u32 = 256;

/// Why the runner cannot start.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    /// Two jobs share a name.
    #[error(transparent)]
    DuplicateJobs(#[from] DuplicateJobs),
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A job is bound to an event source that is not configured.
    #[error(
        "job `{job}` starts on events of source `{event_source}` (#[job(on = \"{event_source}\")]), but no such source is configured: add [sources.{event_source}] to jobs.toml (kind = \"folder\" or \"webhook\"), or give it to the runner builder"
    )]
    UnknownSource {
        /// The job.
        job: String,
        /// The source it names.
        event_source: String,
    },
    /// A running runner reads the system clock; a virtual clock drives a simulation.
    #[error(
        "a runner runs on the system clock; use `job_runner::testing::Simulation` for a virtual clock"
    )]
    VirtualClock,
    /// The admin server's settings are unsafe.
    #[error(transparent)]
    Admin(#[from] crate::admin::AdminError),
    /// Waiting for the shutdown signal failed.
    #[error("cannot listen for shutdown signals: {0}")]
    Signal(#[source] std::io::Error),
}

/// Builds a [`Runner`]: configuration, shared state for the jobs, clock, registry.
///
/// ```no_run
/// # async fn demo() -> Result<(), job_runner::RunnerError> {
/// use job_runner::{Config, Runner};
///
/// struct Mailer;
///
/// let config = Config::load(None, &job_runner::config::process_env)?;
/// let runner = Runner::builder(config).data(Mailer).build().await?;
/// runner.run().await // until SIGINT or SIGTERM
/// # }
/// ```
pub struct RunnerBuilder {
    config: Config,
    state: State,
    clock: Clock,
    registry: Option<Registry>,
    sources: Vec<Box<dyn EventSource>>,
}

impl RunnerBuilder {
    /// Registers a value that jobs read with `ctx.data::<T>()`.
    pub fn data<T: Send + Sync + 'static>(mut self, value: T) -> Self {
        self.state.insert(value);
        self
    }

    /// Uses `state` as the shared state (replacing values registered before).
    pub fn state(mut self, state: State) -> Self {
        self.state = state;
        self
    }

    /// Uses `clock` for every time the runner reads or waits on.
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Adds an event source of your own (see [`job_core::EventSource`]).
    pub fn source(self, source: impl EventSource) -> Self {
        self.boxed_source(Box::new(source))
    }

    /// Adds an event source that is already boxed.
    pub fn boxed_source(mut self, source: Box<dyn EventSource>) -> Self {
        self.sources.push(source);
        self
    }

    /// Runs the jobs of `registry` instead of every job linked into the program.
    pub fn registry(mut self, registry: Registry) -> Self {
        self.registry = Some(registry);
        self
    }

    /// Checks the jobs and the configuration, opens and migrates the database.
    pub async fn build(self) -> Result<Runner, RunnerError> {
        let registry = match self.registry {
            Some(registry) => registry,
            None => Registry::from_linked()?,
        };
        let startup = Startup::new(
            self.config,
            registry,
            Overrides::Refuse,
            &crate::config::process_env,
        )?;
        for settings in startup.plan.jobs().filter(|s| s.enabled) {
            if let Some(source) = settings.descriptor.options().on {
                let known = startup.config.sources.contains_key(source)
                    || self.sources.iter().any(|s| s.name() == source);
                if !known {
                    return Err(RunnerError::UnknownSource {
                        job: settings.name().to_owned(),
                        event_source: source.to_owned(),
                    });
                }
            }
        }
        let store = startup.open(Schema::Migrate).await?;
        let Startup { config, plan, .. } = startup;
        let id = runner_id();
        let wakers = Wakers::new(plan.jobs().map(|j| j.name().to_owned()));
        let jobs =
            Jobs::new(store.clone(), plan.clone(), self.clock.clone()).with_wakers(wakers.clone());
        Ok(Runner {
            config,
            store,
            plan,
            sources: std::sync::Mutex::new(self.sources),
            state: Arc::new(self.state),
            clock: self.clock,
            id,
            jobs,
            wakers,
        })
    }
}

/// Runs every enabled job: workers, schedules, retries, recovery and history.
pub struct Runner {
    config: Config,
    store: Store,
    plan: Arc<Plan>,
    sources: std::sync::Mutex<Vec<Box<dyn EventSource>>>,
    state: Arc<State>,
    clock: Clock,
    id: String,
    jobs: Jobs,
    wakers: Wakers,
}

impl Runner {
    /// Starts building a runner with `config`.
    pub fn builder(config: Config) -> RunnerBuilder {
        RunnerBuilder {
            config,
            state: State::new(),
            clock: Clock::system(),
            registry: None,
            sources: Vec::new(),
        }
    }

    /// The client for enqueueing jobs (wakes this runner's workers at once).
    pub fn jobs(&self) -> &Jobs {
        &self.jobs
    }

    /// The storage.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The jobs' effective settings.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// This runner's id, as stored in claims and history rows.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Runs until SIGINT (Ctrl-C) or SIGTERM, then stops gracefully.
    pub async fn run(self) -> Result<(), RunnerError> {
        let signal = shutdown_signal().map_err(RunnerError::Signal)?;
        self.run_until(signal).await
    }

    /// Runs until `shutdown` completes, then stops claiming, lets running attempts finish
    /// within the grace period, stores their results and exits.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), RunnerError> {
        if self.clock.is_virtual() {
            return Err(RunnerError::VirtualClock);
        }
        if !self.config.enabled {
            tracing::info!(
                "jobs are disabled (JOBS_ENABLED=false or `enabled = false`): starting nothing"
            );
            return Ok(());
        }
        let clock = self.clock.clone();
        let now = clock.now();
        let row = RunnerRow {
            id: self.id.clone(),
            host: host_name(),
            pid: i64::from(std::process::id()),
            queues: self
                .config
                .queues
                .as_ref()
                .map(|q| q.join(","))
                .unwrap_or_default(),
            started_at: now,
            heartbeat_at: now,
        };
        self.store.register_runner(&row).await?;
        let known: Vec<crate::storage::KnownJob> = self.plan.jobs().map(Into::into).collect();
        self.store.record_jobs(&known, now).await?;
        scheduler::sync_code(&self.store, &self.plan, now).await?;
        self.report_start().await;
        let health = Health::new(now);
        let schedules_changed = Arc::new(tokio::sync::Notify::new());
        let schedules_touched = Arc::new(tokio::sync::Notify::new());

        let (stop, stopped) = watch::channel(false);
        // The heartbeat stops last, once every attempt has ended and its end is stored: a
        // runner draining its attempts at shutdown keeps its lease while they run.
        let (stop_heartbeat, heartbeat_stopped) = watch::channel(false);
        let fence = Fence::default();
        let heartbeat = tokio::spawn(
            Heartbeat {
                store: self.store.clone(),
                runner: row,
                clock: clock.clone(),
                every: self.config.heartbeat,
                lease: self.config.lease,
                health: health.clone(),
                fence: fence.clone(),
            }
            .run(heartbeat_stopped.clone()),
        );
        // The limits set at run time, read before the first claim.
        let live_limits = LiveLimits::default();
        live_limits.replace(self.store.limit_overrides().await?);
        let in_flight = InFlight::default();
        let cancel_requested = Arc::new(tokio::sync::Notify::new());
        let services = vec![
            tokio::spawn(
                LimitsWatcher {
                    store: self.store.clone(),
                    live: live_limits.clone(),
                    every: self.config.poll_interval,
                }
                .run(stopped.clone()),
            ),
            tokio::spawn(
                Rescuer {
                    store: self.store.clone(),
                    runner_id: self.id.clone(),
                    clock: clock.clone(),
                    lease: self.config.lease,
                    every: self.config.heartbeat,
                    wakers: self.wakers.clone(),
                    health,
                    plan: self.plan.clone(),
                }
                .run(stopped.clone()),
            ),
            tokio::spawn(
                Listener {
                    store: self.store.clone(),
                    wakers: self.wakers.clone(),
                    schedules_changed: schedules_changed.clone(),
                    schedules_touched: schedules_touched.clone(),
                    cancel_requested: cancel_requested.clone(),
                }
                .run(stopped.clone()),
            ),
            tokio::spawn(
                Reporter {
                    store: self.store.clone(),
                    runner_id: self.id.clone(),
                    in_flight: in_flight.clone(),
                    every: REPORT_EVERY,
                }
                .run(heartbeat_stopped.clone()),
            ),
            tokio::spawn(
                Canceller {
                    store: self.store.clone(),
                    runner_id: self.id.clone(),
                    in_flight: in_flight.clone(),
                    every: self.config.poll_interval,
                    wake: cancel_requested.clone(),
                }
                .run(heartbeat_stopped.clone()),
            ),
            tokio::spawn(
                Cleaner {
                    store: self.store.clone(),
                    clock: clock.clone(),
                    retention: self.config.history_retention,
                    every: Duration::from_secs(3600),
                }
                .run(stopped.clone()),
            ),
            tokio::spawn(
                Reclaimer {
                    store: self.store.clone(),
                    clock: clock.clone(),
                    every: reclaimer::EVERY,
                }
                .run(stopped.clone()),
            ),
            tokio::spawn(
                Scheduler {
                    jobs: self.jobs.clone(),
                    clock: clock.clone(),
                    poll: self.config.poll_interval,
                    changed: schedules_changed.clone(),
                    touched: schedules_touched,
                }
                .run(stopped.clone()),
            ),
        ];
        let (completer, completer_task) = completer::start(
            self.store.clone(),
            self.id.clone(),
            clock.clone(),
            self.jobs.metrics().clone(),
        );
        let client: Arc<dyn JobClient> = Arc::new(self.jobs.clone());
        let queue_slots: HashMap<&str, Arc<Semaphore>> = self
            .config
            .queue_concurrency
            .iter()
            .map(|(queue, n)| (queue.as_str(), Arc::new(Semaphore::new(*n as usize))))
            .collect();
        let mut monitor = Monitor::new();
        let mut fetchers = Vec::new();
        for settings in self.runnable() {
            let Some(wake) = self.wakers.get(settings.name()) else {
                continue;
            };
            let executor = Executor::new(ExecutorParts {
                settings: settings.clone(),
                jobs: self.jobs.clone(),
                store: self.store.clone(),
                state: self.state.clone(),
                clock: clock.clone(),
                client: client.clone(),
                completer: completer.clone(),
                runner_id: self.id.clone(),
                wake,
                queue_slots: queue_slots.get(settings.queue.as_str()).cloned(),
                poll_interval: self.config.poll_interval,
                claim_batch: CLAIM_BATCH,
                fence: fence.clone(),
                limits: live_limits.clone(),
                in_flight: in_flight.clone(),
                cancel_grace: self.config.cancel_grace,
            });
            let (fetcher, source) = executor.start(stopped.clone());
            fetchers.push(fetcher);
            monitor = monitor.register(move |_restarts| executor.worker(source.clone()));
        }
        drop(completer);
        let workers = tokio::spawn(monitor.run());
        let router = EventRouter::new(self.jobs.clone());
        let sources = self.start_sources(&router, &stopped);
        let admin = self.start_admin(router, stopped.clone()).await?;

        shutdown.await;
        let grace = self.config.shutdown_grace;
        tracing::info!(grace = %job_schedule::format_duration(grace), "shutting down: claiming no new tasks, letting running attempts finish");
        let _ = stop.send(true);
        let abort = workers.abort_handle();
        let drained = tokio::time::timeout(grace, async {
            for fetcher in fetchers {
                let _ = fetcher.await;
            }
            workers.await
        })
        .await;
        // Past the grace period the attempts still running are dropped with the workers.
        abort.abort();
        let interrupted = drained.is_err();
        match drained {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(error))) => tracing::error!(%error, "a worker stopped with an error"),
            Ok(Err(error)) => tracing::error!(%error, "the workers' task failed"),
            Err(_) => tracing::warn!("grace period over: interrupting the attempts still running"),
        }
        // Every executor is gone (or going, with the workers): the completer stores the ends
        // it was given, and stops.
        let mut completer_task = completer_task;
        if tokio::time::timeout(Duration::from_secs(10), &mut completer_task)
            .await
            .is_err()
        {
            completer_task.abort();
            tracing::error!(
                "could not store the last finished attempts within 10s; another runner will recover them after the lease"
            );
        }
        // Only then are the claims still held given back: an attempt that ended just before
        // the grace ran out is recorded as it ended, not run again.
        if interrupted {
            match self
                .store
                .rescue(
                    clock.now(),
                    self.config.lease,
                    &self.id,
                    Some(&self.id),
                    &*self.plan,
                )
                .await
            {
                Ok(given_back) => tracing::warn!(
                    tasks = given_back.len(),
                    "attempts interrupted by the shutdown will run again"
                ),
                Err(error) => {
                    tracing::error!(%error, "cannot give back running attempts; another runner will recover them after the lease")
                }
            }
        }
        let _ = stop_heartbeat.send(true);
        for service in services
            .into_iter()
            .chain([heartbeat])
            .chain(sources)
            .chain(admin)
        {
            let _ = service.await;
        }
        if let Err(error) = self.store.remove_runner(&self.id).await {
            tracing::warn!(%error, "cannot unregister the runner");
        }
        self.store.close().await;
        tracing::info!("stopped");
        Ok(())
    }

    /// Starts the admin server, unless disabled; a port already taken (another runner on
    /// this machine) is reported, not fatal.
    /// Starts the folder sources of the configuration and the sources given to the builder.
    fn start_sources(
        &self,
        router: &Arc<EventRouter>,
        stopped: &watch::Receiver<bool>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        let mut sources: Vec<Box<dyn EventSource>> = self
            .sources
            .lock()
            .map(|mut s| std::mem::take(&mut *s))
            .unwrap_or_default();
        for (name, config) in &self.config.sources {
            if let SourceConfig::Folder { path } = config {
                sources.push(Box::new(FolderSource::new(name.clone(), path.clone())));
            }
        }
        sources
            .into_iter()
            .map(|source| {
                let name = source.name().to_owned();
                let sink: Arc<dyn EventSink> = router.clone();
                let mut stop = stopped.clone();
                let stop: BoxFuture<'static, ()> = Box::pin(async move {
                    let _ = stop.changed().await;
                });
                tokio::spawn(async move {
                    if let Err(error) = source.run(sink, stop).await {
                        tracing::error!(source = name, %error, "an event source stopped");
                    }
                })
            })
            .collect()
    }

    async fn start_admin(
        &self,
        router: Arc<EventRouter>,
        stop: watch::Receiver<bool>,
    ) -> Result<Option<tokio::task::JoinHandle<()>>, RunnerError> {
        let config = AdminConfig {
            addr: self.config.admin_addr,
            token: self.config.admin_token.clone(),
        };
        let Some((token, generated)) = admin::token_for(&config)? else {
            return Ok(None);
        };
        let Some(addr) = config.addr else {
            return Ok(None);
        };
        let listener = match tokio::net::TcpListener::bind(addr).await {
            Ok(listener) => listener,
            Err(error) => {
                tracing::warn!(%addr, %error, "cannot serve the admin API there (another runner on this machine?); running without it — set JOBS_ADMIN_ADDR to another address, or `off`");
                return Ok(None);
            }
        };
        let bound = listener.local_addr().unwrap_or(addr);
        if generated {
            tracing::info!(
                url = %format!("http://{bound}/"),
                token = token.as_str(),
                "admin API and dashboard listening; the token was generated for this run (set JOBS_ADMIN_TOKEN to choose one), send it as `Authorization: Bearer <token>`"
            );
        } else {
            tracing::info!(url = %format!("http://{bound}/"), "admin API and dashboard listening");
        }
        let webhooks = self
            .config
            .sources
            .iter()
            .filter_map(|(name, config)| match config {
                SourceConfig::Webhook { secret } => Some((name.clone(), secret.clone())),
                SourceConfig::Folder { .. } => None,
            })
            .collect();
        let state = admin::AppState {
            control: Control::new(self.jobs.clone(), "api").with_lease(self.config.lease),
            token,
            sessions: Default::default(),
            events: router,
            webhooks: Arc::new(webhooks),
            changes: Default::default(),
        };
        Ok(Some(tokio::spawn(admin::serve(listener, state, stop))))
    }

    /// Enabled jobs in this runner's queues.
    fn runnable(&self) -> impl Iterator<Item = &JobSettings> {
        self.plan.jobs().filter(|s| {
            s.enabled
                && self
                    .config
                    .queues
                    .as_ref()
                    .is_none_or(|queues| queues.iter().any(|q| q == &s.queue))
        })
    }

    async fn report_start(&self) {
        let now = self.clock.now();
        tracing::info!(
            runner = self.id,
            database = %self.store.display_url(),
            backend = %self.store.backend(),
            "runner started"
        );
        let runnable: Vec<&str> = self.runnable().map(|s| s.name()).collect();
        for settings in self.plan.jobs() {
            let next = settings
                .schedule
                .as_ref()
                .and_then(|s| s.next_after(now).map(|t| s.local(t).to_rfc3339()));
            let schedule = settings.schedule.as_ref().map(|s| s.to_string());
            let status = if !settings.enabled {
                "disabled"
            } else if runnable.contains(&settings.name()) {
                "running"
            } else {
                "not in this runner's queues"
            };
            tracing::info!(
                job = settings.name(),
                queue = settings.queue,
                schedule,
                next_run = next,
                concurrency = settings.concurrency,
                status,
                "found job"
            );
        }
        match crate::check::check(&self.store, &self.plan, &[]).await {
            Ok(report) => {
                for problem in &report.problems {
                    tracing::warn!(
                        job = problem.job,
                        count = problem.count,
                        "{}",
                        problem.message
                    );
                }
            }
            Err(error) => tracing::warn!(%error, "cannot check the stored tasks"),
        }
    }
}
