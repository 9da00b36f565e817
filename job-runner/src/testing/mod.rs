//! Simulate the runner on a virtual clock: a year of schedules in a second.
//!
//! A [`Simulation`] runs the runner's own parts (the storage on a temporary SQLite file,
//! the scheduler's ticks, claims, attempts with their timeouts and retry decisions, the
//! rescue of lost claims, the history) on a [`Clock::virtual_at`] clock, one event after
//! another: [`run_until`](Simulation::run_until) jumps from each tick, due retry or lease
//! expiry to the next, runs everything that falls due, and returns when nothing more is due.
//! Tasks run one at a time, in the order a runner would claim them, so a simulation gives
//! the same history at every run. The stretches where only ticks fall due run in batches
//! (see [`SimulationBuilder::tick_by_tick`]), with the same history as one tick at a time.
//!
//! Job code follows the virtual clock when it reads the time with `ctx.now()` and waits
//! with `ctx.clock().sleep(..)`: such a wait moves the clock forward, and counts against the
//! job's timeout. Jobs enqueue through their context (`ctx.jobs()`); a job that reaches the
//! store some other way (a [`Control`] kept in its state, say) belongs in a simulation built
//! with [`tick_by_tick`](SimulationBuilder::tick_by_tick).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use job_core::prelude::*;
//! use job_runner::storage::ExecutionFilter;
//! use job_runner::testing::Simulation;
//!
//! #[job(cron = "30 2 * * *", timezone = "America/New_York")]
//! async fn nightly() -> JobResult { Ok(Outcome::none()) }
//!
//! let mut sim = Simulation::builder("2026-01-01T00:00:00Z".parse()?)
//!     .jobs([Nightly::descriptor()])
//!     .start()
//!     .await?;
//! sim.run_until("2027-01-01T00:00:00Z".parse()?).await?;
//! let runs = sim.history(&ExecutionFilter { job: Some("nightly".into()), limit: 1000, ..Default::default() }).await?;
//! assert_eq!(runs.len(), 365);
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use job_core::{Clock, JobClient, JobDescriptor, Registry, State};

mod quiet;

use quiet::WatchedClient;

use crate::attempt::Attempt;
use crate::client::Jobs;
use crate::config::Config;
use crate::control::{Control, ControlError};
use crate::heartbeat::Fence;
use crate::limits;
use crate::plan::{JobSettings, Plan};
use crate::runner::RunnerError;
use crate::scheduler::{self, Entry};
use crate::storage::{
    ConnectOptions, Execution, ExecutionFilter, RunnerRow, SqliteDurability, Store, StoreError,
};

/// The runner id a simulation runs under.
pub const RUNNER_ID: &str = "simulation";

/// The most tasks of one job that a simulation claims at once.
const CLAIM_LIMIT: u32 = 64;

/// The most ticks in the first batch of quiet ticks (see [`quiet`]).
const FIRST_BATCH: usize = 64;

/// Builds a [`Simulation`].
pub struct SimulationBuilder {
    start: DateTime<Utc>,
    registry: Option<Result<Registry, job_core::DuplicateJobs>>,
    config: Config,
    state: State,
    batching: bool,
}

impl SimulationBuilder {
    /// Simulates only these jobs (default: every job linked into the program).
    pub fn jobs(mut self, jobs: impl IntoIterator<Item = &'static JobDescriptor>) -> Self {
        self.registry = Some(Registry::from_descriptors(jobs));
        self
    }

    /// Uses this configuration's job overrides and timings (lease, retention...).
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Runs every tick on its own, as a runner does, instead of running the quiet stretches
    /// between other events in batches. The history is the same either way, only slower;
    /// this is for comparing the two.
    pub fn tick_by_tick(mut self) -> Self {
        self.batching = false;
        self
    }

    /// Registers shared state for the jobs.
    pub fn data<T: Send + Sync + 'static>(mut self, value: T) -> Self {
        self.state.insert(value);
        self
    }

    /// Creates the temporary database and starts the simulation at the start instant.
    pub async fn start(self) -> Result<Simulation, RunnerError> {
        let registry = match self.registry {
            Some(registry) => registry?,
            None => Registry::from_linked()?,
        };
        let plan = Arc::new(Plan::new(registry, &self.config)?);
        let dir = tempfile_dir()?;
        let url = format!("sqlite://{}", dir.join("simulation.db").display());
        let options = ConnectOptions {
            pool_size: 1,
            // A throwaway database: no fsync.
            sqlite_durability: SqliteDurability::Off,
            ..ConnectOptions::default()
        };
        let store = Store::connect(&url, &options).await?;
        store.migrate().await?;
        let clock = Clock::virtual_at(self.start);
        let jobs = Jobs::new(store.clone(), plan.clone(), clock.clone());
        store
            .register_runner(&RunnerRow {
                id: RUNNER_ID.into(),
                host: "simulation".into(),
                pid: 0,
                queues: String::new(),
                started_at: self.start,
                heartbeat_at: self.start,
            })
            .await?;
        scheduler::sync_code(&store, &plan, self.start).await?;
        let watched = Arc::new(WatchedClient::new(jobs.clone()));
        let running_order = plan.jobs().filter(|s| s.enabled).cloned().collect();
        Ok(Simulation {
            jobs,
            plan,
            running_order,
            clock,
            state: Arc::new(self.state),
            client: watched.clone(),
            watched,
            pass_after: None,
            batching: self.batching,
            batch: FIRST_BATCH,
            schedules: Vec::new(),
            lease: self.config.lease,
            poll_interval: self.config.poll_interval,
            crashed: false,
            fence: Fence::default(),
            dir,
        })
    }
}

/// A runner on a virtual clock; see the [module documentation](self).
pub struct Simulation {
    jobs: Jobs,
    plan: Arc<Plan>,
    /// The enabled jobs in the order a runner claims them, one pass after another.
    running_order: Arc<[JobSettings]>,
    clock: Clock,
    state: Arc<State>,
    /// What jobs enqueue with: `watched`.
    client: Arc<dyn JobClient>,
    /// Never raised: a simulation has no lease to lose.
    fence: Fence,
    watched: Arc<WatchedClient>,
    /// The pass over the jobs that a batch left under way: it goes on after this job (its
    /// place in `running_order`).
    pass_after: Option<usize>,
    /// Whether quiet stretches of ticks run in batches (see [`quiet`]).
    batching: bool,
    /// How many ticks the next batch takes, give or take the rest of its last instant.
    batch: usize,
    schedules: Vec<(Entry, Option<DateTime<Utc>>)>,
    lease: Duration,
    /// How often a job held back by its rate looks again.
    poll_interval: Duration,
    /// Whether a runner crashed mid-job, so that the rescue has work.
    crashed: bool,
    dir: std::path::PathBuf,
}

impl Drop for Simulation {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn tempfile_dir() -> Result<std::path::PathBuf, RunnerError> {
    use std::hash::{BuildHasher, Hasher};
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    let dir =
        std::env::temp_dir().join(format!("job-simulation-{}-{random:x}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| {
        RunnerError::Store(StoreError::Corrupt {
            doing: "creating the simulation's folder",
            detail: e.to_string(),
        })
    })?;
    Ok(dir)
}

impl Simulation {
    /// A simulation starting at `start`.
    pub fn builder(start: DateTime<Utc>) -> SimulationBuilder {
        SimulationBuilder {
            start,
            registry: None,
            config: Config::default(),
            state: State::new(),
            batching: true,
        }
    }

    /// The client to enqueue tasks with (typed `enqueue` functions take `&sim.jobs()`... as
    /// `&dyn JobClient`).
    pub fn jobs(&self) -> &Jobs {
        &self.jobs
    }

    /// The controls (pause, resume, retry, cancel, history), as the CLI has them.
    pub fn control(&self) -> Control {
        Control::new(self.jobs.clone(), "simulation")
    }

    /// The virtual clock.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The virtual now.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The history, as `job-runner history` reads it.
    pub async fn history(&self, filter: &ExecutionFilter) -> Result<Vec<Execution>, ControlError> {
        self.control().history(filter).await
    }

    /// Moves the clock `by` forward, running everything that falls due.
    pub async fn advance(&mut self, by: Duration) -> Result<(), RunnerError> {
        let target = job_schedule::add_saturating(self.now(), by);
        self.run_until(target).await
    }

    /// Moves the clock to `target`, running every tick, retry and delay that falls due, in
    /// order; returns when nothing more is due at `target`.
    pub async fn run_until(&mut self, target: DateTime<Utc>) -> Result<(), RunnerError> {
        self.reload_schedules().await?;
        loop {
            self.settle().await?;
            if self.run_quiet_ticks(target).await? {
                continue;
            }
            match self.next_event().await? {
                Some(next) if next <= target => self.clock.advance_to(next),
                _ => {
                    self.clock.advance_to(target);
                    self.settle().await?;
                    return Ok(());
                }
            }
        }
    }

    /// Follows the stored schedules as they are now; one already followed keeps its place.
    async fn reload_schedules(&mut self) -> Result<(), RunnerError> {
        let now = self.now();
        let loaded = scheduler::load(&self.jobs).await?;
        self.schedules = scheduler::follow(&self.schedules, loaded, now);
        Ok(())
    }

    /// Claims one due task of `job` for a runner that then "crashes": it never finishes the
    /// attempt nor renews its heartbeat. Returns the task's id, if one was due.
    pub async fn crash_runner_mid_job(
        &mut self,
        job: &str,
        runner: &str,
    ) -> Result<Option<i64>, RunnerError> {
        let now = self.now();
        let store = self.jobs.store();
        store
            .register_runner(&RunnerRow {
                id: runner.into(),
                host: "simulation".into(),
                pid: 0,
                queues: String::new(),
                started_at: now,
                heartbeat_at: now,
            })
            .await?;
        self.crashed = true;
        let exclusive = self.plan.get(job).is_some_and(|s| s.exclusive);
        let claimed = store.claim(job, runner, now, 1, exclusive).await?;
        Ok(claimed.first().map(|t| t.id))
    }

    /// An attempt of a task of `settings`'s job, run by the simulation.
    fn attempt<'a>(&'a self, settings: &'a JobSettings) -> Attempt<'a> {
        Attempt {
            settings,
            jobs: &self.jobs,
            state: &self.state,
            clock: &self.clock,
            client: &self.client,
            runner_id: RUNNER_ID,
            fence: &self.fence,
            // Nothing cancels a simulated attempt while it runs.
            live: Arc::default(),
            cancel_grace: std::time::Duration::ZERO,
        }
    }

    /// Runs everything due at the current instant.
    async fn settle(&mut self) -> Result<(), RunnerError> {
        let store = self.jobs.store().clone();
        let jobs = self.running_order.clone();
        loop {
            let now = self.now();
            // A pass that a batch left under way goes on first, with the jobs after the
            // one it stopped at; the next pass starts over.
            let pass_after = self.pass_after.take();
            let mut progressed = pass_after.is_some();
            if pass_after.is_none() {
                for (entry, next) in &mut self.schedules {
                    while let Some(tick) = *next {
                        if tick > now {
                            break;
                        }
                        scheduler::take(&self.jobs, entry, tick, now).await?;
                        *next = entry.schedule.next_after(tick);
                        progressed = true;
                    }
                }
                // Only crashed runners (crash_runner_mid_job) ever hold claims between
                // steps.
                if self.crashed
                    && !store
                        .rescue(now, self.lease, RUNNER_ID, None, self.jobs.plan())
                        .await?
                        .is_empty()
                {
                    progressed = true;
                }
            }
            if store.next_due_any().await?.is_some_and(|due| due <= now) {
                for settings in jobs.iter().skip(pass_after.map_or(0, |job| job + 1)) {
                    let claimed = limits::claim(
                        &store,
                        settings,
                        &settings.limits(),
                        RUNNER_ID,
                        self.now(),
                        CLAIM_LIMIT,
                    )
                    .await?;
                    for task in claimed {
                        progressed = true;
                        let completion = self.attempt(settings).run(&task).await;
                        store.complete(RUNNER_ID, &[completion], self.now()).await?;
                    }
                }
            }
            if !progressed {
                return Ok(());
            }
        }
    }

    /// The next instant at which something falls due: a tick, a pending task, the lease
    /// expiry of another runner's claims.
    async fn next_event(&self) -> Result<Option<DateTime<Utc>>, RunnerError> {
        let store = self.jobs.store();
        let mut next: Vec<DateTime<Utc>> = self.schedules.iter().filter_map(|(_, t)| *t).collect();
        next.extend(store.next_due_any().await?);
        if self.crashed {
            let runners: BTreeMap<String, DateTime<Utc>> = store
                .runners()
                .await?
                .into_iter()
                .filter(|r| r.id != RUNNER_ID)
                .map(|r| (r.id, r.heartbeat_at))
                .collect();
            for heartbeat in runners.values() {
                let expiry = job_schedule::add_saturating(*heartbeat, self.lease);
                next.push(job_schedule::add_saturating(
                    expiry,
                    Duration::from_millis(1),
                ));
            }
        }
        let now = self.now();
        // A job held back by its rate looks again a poll later, as a runner does.
        for settings in self
            .running_order
            .iter()
            .filter(|s| s.limits().rate.is_some())
        {
            if store
                .next_due(settings.name())
                .await?
                .is_some_and(|due| due <= now)
            {
                next.push(job_schedule::add_saturating(now, self.poll_interval));
            }
        }
        Ok(next.into_iter().filter(|t| *t > now).min())
    }
}
