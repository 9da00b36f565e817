//! What the runner will do with each registered job: `#[job(...)]` options with the
//! configuration's overrides applied and checked.

use std::collections::BTreeMap;
use std::time::Duration;

use job_core::{Backoff, CatchUp, JobDescriptor, Overlap, Rate, Registry};
use job_schedule::{Every, Recurrence, Schedule};

use crate::config::{Config, ConfigError, JobOverride};
use crate::storage::{Limits, QueueLimit};

/// One job's effective settings.
#[derive(Debug, Clone)]
pub struct JobSettings {
    /// The job's registration.
    pub descriptor: &'static JobDescriptor,
    /// Its queue.
    pub queue: String,
    /// Its schedule, for a job scheduled in code (`cron` or `every`).
    pub schedule: Option<Recurrence>,
    /// Retries after a failed attempt.
    pub retries: u32,
    /// Delays between retries.
    pub backoff: Backoff,
    /// Longest time one attempt may run.
    pub timeout: Option<Duration>,
    /// Tasks one runner runs at once.
    pub concurrency: u32,
    /// Default priority of its tasks.
    pub priority: i32,
    /// A scheduled job whose ticks are skipped while its previous run is still pending or
    /// running (`overlap = "skip"`): its tasks are claimed one at a time.
    pub exclusive: bool,
    /// What a cron job does about ticks missed while no runner ran.
    pub catch_up: CatchUp,
    /// `false`: no worker and no schedule.
    pub enabled: bool,
    /// At most this many attempts at once across all runners (per key when `per_key`).
    pub limit: Option<u32>,
    /// At most this many attempts start in any window (per key when `per_key`).
    pub rate: Option<Rate>,
    /// Whether its tasks have keys (`per`): limits and rates apply per key, and claims take
    /// keys in turn.
    pub per_key: bool,
    /// At most this many attempts of its queue's jobs together at once across all runners
    /// (`[queues.NAME] limit` in `jobs.toml`).
    pub queue_limit: Option<u32>,
}

impl JobSettings {
    /// The job's name.
    pub fn name(&self) -> &'static str {
        self.descriptor.name()
    }

    /// Attempts a task of this job may have in all.
    pub fn max_attempts(&self) -> u32 {
        self.retries.saturating_add(1)
    }

    /// The limits its claims obey, as written in code and configuration.
    pub fn limits(&self) -> Limits {
        Limits {
            concurrency: self.limit,
            rate: self.rate.map(|rate| (rate.count, rate.per)),
            per_key: self.per_key,
            queue: self.queue_limit.map(|limit| QueueLimit {
                queue: self.queue.clone(),
                limit,
            }),
        }
    }
}

/// Every registered job's effective settings.
#[derive(Debug, Clone)]
pub struct Plan {
    jobs: BTreeMap<&'static str, JobSettings>,
    registry: Registry,
}

impl Plan {
    /// Applies `config`'s overrides to the jobs of `registry`, refusing overrides for jobs
    /// that do not exist and values that are invalid.
    pub fn new(registry: Registry, config: &Config) -> Result<Plan, ConfigError> {
        let (plan, mut problems) = Plan::checked(registry, config);
        match problems.is_empty() {
            true => Ok(plan),
            false => Err(problems.remove(0)),
        }
    }

    /// The plan with every valid override applied, and every invalid one reported (an
    /// invalid override leaves the job as `#[job(...)]` wrote it).
    pub fn checked(registry: Registry, config: &Config) -> (Plan, Vec<ConfigError>) {
        let mut problems = Vec::new();
        let origin_of = |name: &str| {
            config
                .job_origins
                .get(name)
                .cloned()
                .unwrap_or_else(|| format!("[jobs.{name}]"))
        };
        for unknown in config
            .jobs
            .keys()
            .filter(|name| registry.get(name).is_none())
        {
            problems.push(ConfigError::Value {
                origin: origin_of(unknown),
                message: format!(
                    "no job named `{unknown}` is registered (known: {}); remove the override or fix its name",
                    registry.iter().map(|d| d.name()).collect::<Vec<_>>().join(", ")
                ),
            });
        }
        let mut jobs = BTreeMap::new();
        for descriptor in registry.iter() {
            let empty = JobOverride::default();
            let overrides = config.jobs.get(descriptor.name()).unwrap_or(&empty);
            let settings = match settings(descriptor, overrides, &origin_of(descriptor.name())) {
                Ok(settings) => settings,
                Err(problem) => {
                    problems.push(problem);
                    // Invariant: the options of #[job] were checked at compile time.
                    match settings(descriptor, &empty, "") {
                        Ok(settings) => settings,
                        Err(_) => continue,
                    }
                }
            };
            let mut settings = settings;
            settings.queue_limit = config.queue_limits.get(&settings.queue).copied();
            jobs.insert(descriptor.name(), settings);
        }
        for queue in config
            .queue_limits
            .keys()
            .filter(|queue| !jobs.values().any(|job| &job.queue == *queue))
        {
            problems.push(ConfigError::Value {
                origin: format!("[queues.{queue}] limit"),
                message: format!(
                    "no registered job runs in queue `{queue}`; remove the limit or fix the queue's name"
                ),
            });
        }
        (Plan { jobs, registry }, problems)
    }

    /// The job named `name`.
    pub fn get(&self, name: &str) -> Option<&JobSettings> {
        self.jobs.get(name)
    }

    /// Every job, by name.
    pub fn jobs(&self) -> impl Iterator<Item = &JobSettings> {
        self.jobs.values()
    }

    /// The queues its jobs run in, each once, in order.
    pub fn queues(&self) -> Vec<&str> {
        let mut queues: Vec<&str> = self.jobs().map(|job| job.queue.as_str()).collect();
        queues.sort_unstable();
        queues.dedup();
        queues
    }

    /// The registry the plan was made from.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }
}

fn settings(
    descriptor: &'static JobDescriptor,
    overrides: &JobOverride,
    origin: &str,
) -> Result<JobSettings, ConfigError> {
    let options = descriptor.options();
    let fail = |message: String| ConfigError::Value {
        origin: origin.to_owned(),
        message,
    };
    let cron = overrides.cron.as_deref().or(options.cron);
    let zone = overrides.timezone.as_deref().unwrap_or(options.timezone);
    if overrides.cron.is_some() && descriptor.takes_args() {
        return Err(fail(format!(
            "job `{}` takes arguments (`{}`), so it cannot run on a schedule; remove `cron`",
            descriptor.name(),
            descriptor.args_type()
        )));
    }
    if overrides.timezone.is_some() && cron.is_none() {
        return Err(fail(format!(
            "job `{}` has no schedule, so `timezone` does not apply; add `cron` or remove `timezone`",
            descriptor.name()
        )));
    }
    let catch_up = match &overrides.catch_up {
        None => options.catch_up,
        Some(name) => CatchUp::from_name(name).ok_or_else(|| {
            fail(format!(
                "job `{}`: unknown catch-up policy `{name}`; use `skip` or `once`",
                descriptor.name()
            ))
        })?,
    };
    let schedule = match (cron, options.every) {
        (Some(cron), _) => Some(Recurrence::Cron(
            Schedule::new(cron, zone)
                .map_err(|e| fail(format!("job `{}`: {e}", descriptor.name())))?,
        )),
        (None, Some(period)) => {
            Some(Recurrence::Every(Every::new(period).map_err(|e| {
                fail(format!("job `{}`: {e}", descriptor.name()))
            })?))
        }
        (None, None) => None,
    };
    let rate = match &overrides.rate {
        None => options.rate,
        Some(text) => Some(
            Rate::parse(text)
                .map_err(|e| fail(format!("job `{}`: invalid rate: {e}", descriptor.name())))?,
        ),
    };
    if overrides.limit == Some(0) {
        return Err(fail(format!(
            "job `{}`: a limit of 0 would never run it; use `enabled = false` to stop a job",
            descriptor.name()
        )));
    }
    Ok(JobSettings {
        descriptor,
        queue: options.queue.to_owned(),
        schedule,
        retries: overrides.retries.unwrap_or(options.retries),
        backoff: options.backoff,
        timeout: options.timeout,
        concurrency: overrides.concurrency.unwrap_or(options.concurrency).max(1),
        priority: options.priority,
        exclusive: options.overlap == Overlap::Skip,
        catch_up,
        enabled: overrides.enabled.unwrap_or(true),
        limit: overrides.limit.or(options.limit),
        rate,
        per_key: !options.per.is_empty(),
        queue_limit: None,
    })
}

impl From<&JobSettings> for crate::storage::KnownJob {
    fn from(settings: &JobSettings) -> crate::storage::KnownJob {
        let options = settings.descriptor.options();
        crate::storage::KnownJob {
            job: settings.name().to_owned(),
            queue: settings.queue.clone(),
            priority: settings.priority,
            max_attempts: settings.max_attempts(),
            exclusive: settings.exclusive,
            keyed: options.unique.is_some() || !options.per.is_empty(),
        }
    }
}
