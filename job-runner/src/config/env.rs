//! The environment: `JOBS_*` variables, and how they apply over the file.

use super::error::ConfigError;
use super::values::{
    admin_addr, boolean, number, pool_mode, positive, secret, set_duration, sqlite_durability,
};
use super::{Config, Env, JobOverride};

impl Config {
    /// Applies the variables that name no job or queue.
    pub(super) fn apply_env(&mut self, env: Env<'_>) -> Result<(), ConfigError> {
        if let Some(url) = env("JOBS_DATABASE_URL") {
            self.database_url = url;
        }
        if let Some(mode) = env("JOBS_DATABASE_POOL_MODE") {
            self.pool_mode = pool_mode(&mode, "JOBS_DATABASE_POOL_MODE")?;
        }
        if let Some(url) = env("JOBS_LISTEN_URL") {
            // Empty: none, as when it is not set.
            self.listen_url = Some(url).filter(|u| !u.is_empty());
        }
        if let Some(value) = env("JOBS_ENABLED") {
            self.enabled = boolean(&value, "JOBS_ENABLED")?;
        }
        if let Some(addr) = env("JOBS_ADMIN_ADDR") {
            self.admin_addr = admin_addr(&addr, "JOBS_ADMIN_ADDR")?;
        }
        if let Some(token) = env("JOBS_ADMIN_TOKEN").filter(|t| !t.is_empty()) {
            self.admin_token = Some(secret(token, "JOBS_ADMIN_TOKEN")?);
        }
        if let Some(value) = env("JOBS_POOL_SIZE") {
            self.pool_size = positive(number(&value, "JOBS_POOL_SIZE")?, "JOBS_POOL_SIZE")?;
        }
        for (var, field) in [
            ("JOBS_HEARTBEAT", &mut self.heartbeat),
            ("JOBS_LEASE", &mut self.lease),
            ("JOBS_POLL_INTERVAL", &mut self.poll_interval),
            ("JOBS_SHUTDOWN_GRACE", &mut self.shutdown_grace),
            ("JOBS_CANCEL_GRACE", &mut self.cancel_grace),
            ("JOBS_HISTORY_RETENTION", &mut self.history_retention),
        ] {
            set_duration(field, env(var), var)?;
        }
        if let Some(value) = env("JOBS_QUEUES") {
            self.queues = Some(
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|q| !q.is_empty())
                    .map(str::to_owned)
                    .collect(),
            );
        }
        if let Some(value) = env("JOBS_SQLITE_DURABILITY") {
            self.sqlite_durability = sqlite_durability(&value, "JOBS_SQLITE_DURABILITY")?;
        }
        self.telemetry.apply_env(env)?;
        self.check_timing("JOBS_HEARTBEAT / JOBS_LEASE")
    }

    /// Applies `JOBS_QUEUE_<NAME>_CONCURRENCY` and `JOBS_QUEUE_<NAME>_LIMIT` variables for
    /// the given queue names.
    pub fn apply_queue_env<'n>(
        &mut self,
        queues: impl IntoIterator<Item = &'n str>,
        env: Env<'_>,
    ) -> Result<(), ConfigError> {
        for queue in queues {
            let var = format!("JOBS_QUEUE_{}_CONCURRENCY", env_name(queue));
            if let Some(value) = env(&var) {
                let n = positive(number(&value, &var)?, &var)?;
                self.queue_concurrency.insert(queue.to_owned(), n);
            }
            let var = format!("JOBS_QUEUE_{}_LIMIT", env_name(queue));
            if let Some(value) = env(&var) {
                let n = positive(number(&value, &var)?, &var)?;
                self.queue_limits.insert(queue.to_owned(), n);
            }
        }
        Ok(())
    }

    /// Applies `JOBS_JOB_<NAME>_<FIELD>` variables for the given job names.
    pub fn apply_job_env<'n>(
        &mut self,
        names: impl IntoIterator<Item = &'n str>,
        env: Env<'_>,
    ) -> Result<(), ConfigError> {
        for name in names {
            let prefix = format!("JOBS_JOB_{}_", env_name(name));
            let var = |field: &str| format!("{prefix}{field}");
            let mut touched = false;
            let entry = self.jobs.entry(name.to_owned()).or_default();
            if let Some(value) = env(&var("ENABLED")) {
                entry.enabled = Some(boolean(&value, &var("ENABLED"))?);
                touched = true;
            }
            if let Some(value) = env(&var("CRON")) {
                entry.cron = Some(value);
                touched = true;
            }
            if let Some(value) = env(&var("TIMEZONE")) {
                entry.timezone = Some(value);
                touched = true;
            }
            if let Some(value) = env(&var("RETRIES")) {
                entry.retries = Some(number(&value, &var("RETRIES"))?);
                touched = true;
            }
            if let Some(value) = env(&var("CONCURRENCY")) {
                let n = number(&value, &var("CONCURRENCY"))?;
                entry.concurrency = Some(positive(n, &var("CONCURRENCY"))?);
                touched = true;
            }
            if let Some(value) = env(&var("CATCH_UP")) {
                entry.catch_up = Some(value);
                touched = true;
            }
            if let Some(value) = env(&var("LIMIT")) {
                let n = number(&value, &var("LIMIT"))?;
                entry.limit = Some(positive(n, &var("LIMIT"))?);
                touched = true;
            }
            if let Some(value) = env(&var("RATE")) {
                entry.rate = Some(value);
                touched = true;
            }
            if touched {
                self.job_origins
                    .insert(name.to_owned(), format!("{prefix}* environment variables"));
            } else if *entry == JobOverride::default() {
                self.jobs.remove(name);
            }
        }
        Ok(())
    }
}

/// A job name as it appears in environment variable names.
pub fn env_name(job: &str) -> String {
    job.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}
