//! Start-up, the same for every command: the configuration completed for the registered
//! jobs, the plan of jobs, and the database opened.
//!
//! A command loads its [`Config`] (defaults, `jobs.toml`, the environment) and applies its
//! flags; [`Startup::new`] then applies the environment variables that name a job or a queue
//! (`JOBS_JOB_<NAME>_*`, `JOBS_QUEUE_<NAME>_CONCURRENCY`), which only the registry can list,
//! and makes the plan; [`Startup::open`] opens the database, migrating it or only checking
//! its schema. `run` (through [`crate::RunnerBuilder::build`]), `exec`, `check` and the
//! commands that look at or control the jobs all start here, so they read the same settings.

use std::sync::Arc;

use job_core::Registry;

use crate::config::{Config, ConfigError, Env};
use crate::plan::Plan;
use crate::storage::{ConnectOptions, Store, StoreError};

/// What opening the database does with its schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schema {
    /// Creates or upgrades the job tables (`run`, `exec`, `migrate`).
    Migrate,
    /// Requires the tables to be current and creates nothing (the commands that only look
    /// at or control the jobs, and `check`).
    Require,
}

/// What an invalid override of a job in the configuration does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overrides {
    /// Stops the start-up with the first one.
    Refuse,
    /// Leaves the job as `#[job(...)]` wrote it and lists the problem (`check`).
    Report,
}

/// The configuration completed for the registered jobs, and the plan made from it.
pub struct Startup {
    /// The configuration, with the per-job and per-queue environment variables applied.
    pub config: Config,
    /// The jobs' effective settings.
    pub plan: Arc<Plan>,
    /// The invalid overrides, with [`Overrides::Report`] (none with [`Overrides::Refuse`]).
    pub problems: Vec<ConfigError>,
}

impl Startup {
    /// Applies `env`'s variables for the jobs of `registry` and their queues to `config`,
    /// and makes the plan of those jobs.
    pub fn new(
        mut config: Config,
        registry: Registry,
        overrides: Overrides,
        env: Env<'_>,
    ) -> Result<Startup, ConfigError> {
        config.apply_job_env(registry.iter().map(|d| d.name()), env)?;
        config.apply_queue_env(registry.iter().map(|d| d.options().queue), env)?;
        let (plan, problems) = match overrides {
            Overrides::Refuse => (Plan::new(registry, &config)?, Vec::new()),
            Overrides::Report => Plan::checked(registry, &config),
        };
        Ok(Startup {
            config,
            plan: Arc::new(plan),
            problems,
        })
    }

    /// Opens the configured database.
    pub async fn open(&self, schema: Schema) -> Result<Store, StoreError> {
        open_store(&self.config, schema).await
    }
}

/// Opens the database that `config` names, with its connection settings.
pub async fn open_store(config: &Config, schema: Schema) -> Result<Store, StoreError> {
    let store = Store::connect(&config.database_url, &connect_options(config)).await?;
    match schema {
        Schema::Migrate => store.migrate().await?,
        Schema::Require => store.check_schema().await?,
    }
    Ok(store)
}

/// The connection settings a configuration asks for.
pub fn connect_options(config: &Config) -> ConnectOptions {
    ConnectOptions {
        pool_size: config.pool_size,
        sqlite_durability: config.sqlite_durability,
        pool_mode: config.pool_mode,
        listen_url: config.listen_url.clone(),
        ..ConnectOptions::default()
    }
}

#[cfg(test)]
mod tests {
    use job_core::prelude::*;

    use super::*;
    use crate::config::JobOverride;
    use crate::config::tests::env_of;

    /// Sends the mail, in the `mail` queue.
    #[job(queue = "mail")]
    async fn send_mail() -> JobResult {
        Ok(Outcome::processed(1))
    }

    fn registry() -> Registry {
        Registry::from_descriptors([SendMail::descriptor()]).unwrap()
    }

    #[test]
    fn the_variables_of_the_registered_jobs_and_their_queues_apply() {
        let env = env_of(&[
            ("JOBS_QUEUE_MAIL_CONCURRENCY", "3"),
            ("JOBS_QUEUE_MAIL_LIMIT", "7"),
            ("JOBS_JOB_SEND_MAIL_RETRIES", "2"),
        ]);
        let startup = Startup::new(Config::default(), registry(), Overrides::Refuse, &env).unwrap();
        assert_eq!(startup.config.queue_concurrency.get("mail"), Some(&3));
        assert_eq!(startup.plan.get("send_mail").map(|s| s.retries), Some(2));
        let queue = startup.plan.get("send_mail").and_then(|s| s.limits().queue);
        assert_eq!(queue.map(|q| (q.queue, q.limit)), Some(("mail".into(), 7)));

        let env = env_of(&[("JOBS_QUEUE_MAIL_CONCURRENCY", "0")]);
        let error = Startup::new(Config::default(), registry(), Overrides::Report, &env)
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            error.as_deref(),
            Some("invalid JOBS_QUEUE_MAIL_CONCURRENCY: must be at least 1")
        );
    }

    #[test]
    fn a_limit_of_a_queue_no_job_runs_in_is_refused() {
        let mut config = Config::default();
        config.queue_limits.insert("mails".into(), 3);
        let refused = Startup::new(config, registry(), Overrides::Refuse, &env_of(&[]))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            refused.contains("[queues.mails] limit")
                && refused.contains("no registered job runs in queue `mails`"),
            "{refused}"
        );
    }

    #[test]
    fn an_override_of_an_unknown_job_is_refused_or_reported() {
        let mut config = Config::default();
        let ghost = JobOverride {
            enabled: Some(false),
            ..JobOverride::default()
        };
        config.jobs.insert("ghost".into(), ghost);
        let no_env = env_of(&[]);
        let refused = Startup::new(config.clone(), registry(), Overrides::Refuse, &no_env)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(refused.contains("no job named `ghost`"), "{refused}");
        let reported = Startup::new(config, registry(), Overrides::Report, &no_env).unwrap();
        assert_eq!(reported.problems.len(), 1);
        assert!(reported.plan.get("send_mail").is_some());
    }
}
