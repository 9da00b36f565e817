//! Configuration: defaults, then `jobs.toml`, then environment variables, then flags.
//!
//! ```toml
//! # jobs.toml (every key is optional)
//! database_url = "sqlite://jobs.db"
//! database_pool_mode = "session"  # PostgreSQL: "transaction" behind PgBouncer's pool_mode = transaction
//! listen_url = "postgres://jobs@db:5432/jobs"  # PostgreSQL: LISTEN on this direct connection
//! enabled = true
//!
//! [runner]
//! pool_size = 8
//! heartbeat = "2s"          # how often a runner renews its claims
//! lease = "10s"             # a runner silent this long has lost its claims
//! poll_interval = "1s"      # how often idle workers look for work from other processes
//! shutdown_grace = "30s"    # how long running attempts may finish at shutdown
//! cancel_grace = "5s"       # how long a cancelled attempt may take to stop by itself
//! history_retention = "30d" # history rows and finished tasks older than this are pruned
//! queues = ["default"]      # run only these queues (default: all)
//! sqlite_durability = "full"  # or "normal"
//!
//! [admin]
//! addr = "127.0.0.1:8088"   # the admin API and dashboard; "off" to run none
//! token = "..."             # at least 16 characters; default: generated at start and printed (loopback only)
//!
//! [jobs.cleanup_expired_challenges]
//! enabled = true
//! cron = "*/10 * * * *"
//! timezone = "UTC"
//! retries = 3
//! concurrency = 2
//! catch_up = "once"       # run once at start-up for ticks missed while no runner ran
//!
//! [queues.transfers]
//! concurrency = 4         # at most 4 tasks of this queue at once per runner, all jobs together
//! limit = 10              # at most 10 at once across every runner, all jobs together
//!
//! [telemetry]
//! endpoint = "http://127.0.0.1:4318"  # export traces over OTLP/HTTP (default: no export)
//! service_name = "job-runner"         # the spans' service.name
//! ```
//!
//! Environment variables override the file: `JOBS_DATABASE_URL`,
//! `JOBS_DATABASE_POOL_MODE`, `JOBS_LISTEN_URL`, `JOBS_ENABLED`,
//! `JOBS_ADMIN_ADDR`, `JOBS_ADMIN_TOKEN`,
//! `JOBS_CONFIG` (the file's path), `JOBS_POOL_SIZE`, `JOBS_HEARTBEAT`, `JOBS_LEASE`,
//! `JOBS_POLL_INTERVAL`, `JOBS_SHUTDOWN_GRACE`, `JOBS_HISTORY_RETENTION`, `JOBS_QUEUES`
//! (comma-separated), `JOBS_SQLITE_DURABILITY`, and per job
//! `JOBS_JOB_<NAME>_ENABLED`, `_CRON`, `_TIMEZONE`, `_RETRIES`, `_CONCURRENCY`, `_CATCH_UP`,
//! and per queue `JOBS_QUEUE_<NAME>_CONCURRENCY` and `JOBS_QUEUE_<NAME>_LIMIT`, where
//! `<NAME>` is the job's name in upper case with every other character than a letter or a
//! digit written `_` (`cleanup_expired_sessions` is `CLEANUP_EXPIRED_SESSIONS`).
//!
//! Traces also follow the standard variables `OTEL_EXPORTER_OTLP_ENDPOINT`,
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, `OTEL_SERVICE_NAME` and `OTEL_TRACES_EXPORTER`
//! (`otlp` or `none`), which override the `[telemetry]` section.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::storage::{PoolMode, SqliteDurability};

mod env;
mod error;
mod file;
mod telemetry;
mod values;

pub use env::env_name;
pub use error::ConfigError;
pub use telemetry::{DEFAULT_OTLP_ENDPOINT, DEFAULT_SERVICE_NAME, TelemetryConfig};
pub use values::admin_addr;

/// The default database: an SQLite file in the working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://jobs.db";

/// Where the admin API and dashboard listen unless told otherwise.
pub const DEFAULT_ADMIN_ADDR: &str = "127.0.0.1:8088";

/// The config file read when `JOBS_CONFIG` and `--config` name none, if it exists.
pub const DEFAULT_CONFIG_FILE: &str = "jobs.toml";

/// Per-job settings that override `#[job(...)]` without a rebuild.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobOverride {
    /// `false` starts no worker and no schedule for the job.
    pub enabled: Option<bool>,
    /// Replaces the cron expression (only for jobs that take no arguments).
    pub cron: Option<String>,
    /// Replaces the time zone of the schedule.
    pub timezone: Option<String>,
    /// Replaces the number of retries.
    pub retries: Option<u32>,
    /// Replaces how many tasks of the job one runner runs at once.
    pub concurrency: Option<u32>,
    /// Replaces the catch-up policy of a cron job: `skip` or `once`.
    pub catch_up: Option<String>,
    /// Replaces how many attempts of the job run at once across all runners (per key when
    /// the job has `per`).
    pub limit: Option<u32>,
    /// Replaces the job's rate, written `"100/1m"` (per key when the job has `per`).
    pub rate: Option<String>,
}

/// The runner's configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where tasks and history are stored.
    pub database_url: String,
    /// PostgreSQL only: how the pooler between the runner and the server, if any, pools
    /// (`transaction` for PgBouncer's `pool_mode = transaction`).
    pub pool_mode: PoolMode,
    /// PostgreSQL only: a direct connection to the same database, for LISTEN. Without it,
    /// a runner behind a pooler in transaction mode polls (every `poll_interval`).
    pub listen_url: Option<String>,
    /// `false` (`JOBS_ENABLED=false`) runs nothing.
    pub enabled: bool,
    /// Largest number of pooled database connections.
    pub pool_size: u32,
    /// SQLite only: how durable commits are.
    pub sqlite_durability: SqliteDurability,
    /// How often a runner renews its claims.
    pub heartbeat: Duration,
    /// A runner whose heartbeat is older than this has lost its claims, which another
    /// runner recovers.
    pub lease: Duration,
    /// How often idle workers look for tasks stored by other processes.
    pub poll_interval: Duration,
    /// How long running attempts may finish after a shutdown signal.
    pub shutdown_grace: Duration,
    /// How long an attempt whose task was cancelled may take to stop by itself (its
    /// `ctx.cancelled()` resolved) before the runner stops it.
    pub cancel_grace: Duration,
    /// History rows and finished tasks older than this are pruned.
    pub history_retention: Duration,
    /// Run only these queues (`None`: all).
    pub queues: Option<Vec<String>>,
    /// Per-job overrides, by job name.
    pub jobs: BTreeMap<String, JobOverride>,
    /// Per-queue limits: at most this many tasks of the queue at once per runner.
    pub queue_concurrency: BTreeMap<String, u32>,
    /// Per-queue limits across every runner: at most this many attempts of the queue's
    /// jobs together at once.
    pub queue_limits: BTreeMap<String, u32>,
    /// Where the per-job overrides came from, by job name (for error messages).
    pub job_origins: BTreeMap<String, String>,
    /// The event sources, by name (see [`crate::sources::SourceConfig`]).
    pub sources: BTreeMap<String, crate::sources::SourceConfig>,
    /// Where the admin API and dashboard listen; `None` runs none.
    pub admin_addr: Option<SocketAddr>,
    /// The admin token; generated at start when `None`.
    pub admin_token: Option<String>,
    /// Where traces are exported (OpenTelemetry over OTLP/HTTP); off by default.
    pub telemetry: TelemetryConfig,
    /// The config file that was read, if any.
    pub file: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            database_url: DEFAULT_DATABASE_URL.to_owned(),
            pool_mode: PoolMode::Session,
            listen_url: None,
            enabled: true,
            pool_size: 8,
            sqlite_durability: SqliteDurability::Full,
            heartbeat: Duration::from_secs(2),
            lease: Duration::from_secs(10),
            poll_interval: Duration::from_secs(1),
            shutdown_grace: Duration::from_secs(30),
            cancel_grace: Duration::from_secs(5),
            history_retention: Duration::from_secs(30 * 86_400),
            queues: None,
            jobs: BTreeMap::new(),
            queue_concurrency: BTreeMap::new(),
            queue_limits: BTreeMap::new(),
            job_origins: BTreeMap::new(),
            sources: BTreeMap::new(),
            admin_addr: DEFAULT_ADMIN_ADDR.parse().ok(),
            admin_token: None,
            telemetry: TelemetryConfig::default(),
            file: None,
        }
    }
}

/// Reads environment variables; a closure so that tests need not touch the process's.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process's environment.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

impl Config {
    /// Defaults, then the config file (`file`, else `JOBS_CONFIG`, else `./jobs.toml` if it
    /// exists), then the environment.
    pub fn load(file: Option<&Path>, env: Env<'_>) -> Result<Config, ConfigError> {
        let mut config = Config::default();
        let explicit = file
            .map(Path::to_path_buf)
            .or_else(|| env("JOBS_CONFIG").map(PathBuf::from));
        let path = match explicit {
            Some(path) => Some(path),
            None => {
                let default = PathBuf::from(DEFAULT_CONFIG_FILE);
                default.exists().then_some(default)
            }
        };
        if let Some(path) = path {
            let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
                path: path.clone(),
                source,
            })?;
            config.apply_file(&path, &text)?;
            config.file = Some(path);
        }
        config.apply_env(env)?;
        Ok(config)
    }

    fn check_timing(&self, origin: &str) -> Result<(), ConfigError> {
        if self.lease < self.heartbeat * 3 {
            return Err(ConfigError::Value {
                origin: origin.to_owned(),
                message: format!(
                    "the lease ({}) must be at least 3 heartbeats ({}): a runner stops its attempts when no renewal has succeeded for two heartbeats short of the lease (one, at 3 heartbeats), and runners would lose their claims while alive; a lease of 3 to 5 heartbeats is usual",
                    job_schedule::format_duration(self.lease),
                    job_schedule::format_duration(self.heartbeat)
                ),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An environment of these variables only.
    pub(crate) fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn file_then_environment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jobs.toml");
        std::fs::write(
            &path,
            "database_url = \"sqlite://a.db\"\n[runner]\nlease = \"20s\"\n[jobs.nightly]\nretries = 2\n[queues.exports]\nconcurrency = 2\nlimit = 10\n",
        )
        .unwrap();
        let env = env_of(&[
            ("JOBS_DATABASE_URL", "sqlite://b.db"),
            ("JOBS_ENABLED", "false"),
        ]);
        let config = Config::load(Some(&path), &env).unwrap();
        assert_eq!(config.database_url, "sqlite://b.db");
        assert!(!config.enabled);
        assert_eq!(config.lease, Duration::from_secs(20));
        assert_eq!(config.jobs["nightly"].retries, Some(2));
        assert_eq!(config.queue_concurrency["exports"], 2);
        assert_eq!(config.queue_limits["exports"], 10);
    }

    #[test]
    fn the_pool_mode_and_the_listen_url_from_file_and_environment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jobs.toml");
        std::fs::write(
            &path,
            "database_url = \"postgres://jobs@pgbouncer:6432/jobs\"\ndatabase_pool_mode = \"transaction\"\nlisten_url = \"postgres://jobs@db:5432/jobs\"\n",
        )
        .unwrap();
        let config = Config::load(Some(&path), &env_of(&[])).unwrap();
        assert_eq!(config.pool_mode, PoolMode::Transaction);
        assert_eq!(
            config.listen_url.as_deref(),
            Some("postgres://jobs@db:5432/jobs")
        );
        let env = env_of(&[
            ("JOBS_DATABASE_POOL_MODE", "Session"),
            ("JOBS_LISTEN_URL", ""),
        ]);
        let config = Config::load(Some(&path), &env).unwrap();
        assert_eq!(config.pool_mode, PoolMode::Session);
        assert_eq!(config.listen_url, None);

        let error = Config::load(None, &env_of(&[("JOBS_DATABASE_POOL_MODE", "statement")]))
            .unwrap_err()
            .to_string();
        assert!(error.contains("JOBS_DATABASE_POOL_MODE"), "{error}");
        assert!(error.contains("`transaction`"), "{error}");
    }

    #[test]
    fn job_variables_by_normalized_name() {
        let env = env_of(&[
            ("JOBS_JOB_REPORTS_NIGHTLY_ENABLED", "false"),
            ("JOBS_JOB_REPORTS_NIGHTLY_CRON", "0 3 * * *"),
        ]);
        let mut config = Config::load(None, &env_of(&[])).unwrap();
        config
            .apply_job_env(["reports.nightly", "other"], &env)
            .unwrap();
        let job = &config.jobs["reports.nightly"];
        assert_eq!(job.enabled, Some(false));
        assert_eq!(job.cron.as_deref(), Some("0 3 * * *"));
        assert!(!config.jobs.contains_key("other"));
    }

    #[test]
    fn bad_values_name_their_origin() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jobs.toml");
        std::fs::write(&path, "[runner]\nheartbeat = \"2 seconds\"\n").unwrap();
        let error = Config::load(Some(&path), &env_of(&[]))
            .unwrap_err()
            .to_string();
        assert!(error.contains("runner.heartbeat"), "{error}");
        assert!(error.contains("invalid duration `2 seconds`"), "{error}");

        std::fs::write(&path, "[runner]\nheartbeats = \"2s\"\n").unwrap();
        let error = Config::load(Some(&path), &env_of(&[]))
            .unwrap_err()
            .to_string();
        assert!(error.contains("unknown field `heartbeats`"), "{error}");

        let error = Config::load(None, &env_of(&[("JOBS_ENABLED", "maybe")]))
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "invalid JOBS_ENABLED: `maybe` is not a boolean; use `true` or `false`"
        );

        // 100,000,000 days ago lies before the first instant there is.
        let error = Config::load(None, &env_of(&[("JOBS_HISTORY_RETENTION", "100000000d")]))
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "invalid JOBS_HISTORY_RETENTION: the duration `100000000d` is too long: the longest accepted is \"36500d\" (about 100 years)"
        );

        // The default heartbeat is 2 s: a lease under 6 s leaves no time to stop attempts.
        let error = Config::load(None, &env_of(&[("JOBS_LEASE", "5s")]))
            .unwrap_err()
            .to_string();
        assert!(error.contains("must be at least 3 heartbeats"), "{error}");
        assert!(Config::load(None, &env_of(&[("JOBS_LEASE", "6s")])).is_ok());
    }

    /// The error of a refused value, without its origin (which differs by design).
    fn refusal(result: Result<Config, ConfigError>) -> Option<String> {
        match result {
            Ok(_) => None,
            Err(ConfigError::Value { message, .. }) => Some(message),
            Err(other) => Some(other.to_string()),
        }
    }

    #[test]
    fn file_and_environment_accept_and_refuse_the_same_sqlite_durability() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jobs.toml");
        for value in ["full", "normal", "NORMAL", "Full", "off", "fast", ""] {
            std::fs::write(
                &path,
                format!("[runner]\nsqlite_durability = \"{value}\"\n"),
            )
            .unwrap();
            let from_file = Config::load(Some(&path), &env_of(&[]));
            let from_env = Config::load(None, &env_of(&[("JOBS_SQLITE_DURABILITY", value)]));
            match (&from_file, &from_env) {
                (Ok(file), Ok(env)) => {
                    assert_eq!(file.sqlite_durability, env.sqlite_durability, "`{value}`")
                }
                _ => {
                    let (file, env) = (refusal(from_file), refusal(from_env));
                    assert_eq!(file, env, "`{value}` is not treated alike");
                    let message = file.unwrap_or_default();
                    assert!(
                        message.contains("sqlite_durability")
                            && message.contains("`full`")
                            && message.contains("`normal`"),
                        "{message}"
                    );
                }
            }
        }
        let config = Config::load(None, &env_of(&[("JOBS_SQLITE_DURABILITY", "normal")])).unwrap();
        assert_eq!(config.sqlite_durability, SqliteDurability::Normal);
        let error = Config::load(None, &env_of(&[("JOBS_SQLITE_DURABILITY", "off")]))
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("invalid JOBS_SQLITE_DURABILITY: "),
            "{error}"
        );
        std::fs::write(&path, "[runner]\nsqlite_durability = \"off\"\n").unwrap();
        let error = Config::load(Some(&path), &env_of(&[]))
            .unwrap_err()
            .to_string();
        assert!(error.contains("`runner.sqlite_durability` in"), "{error}");
    }

    #[test]
    fn secrets_shorter_than_16_characters_are_refused() {
        let error = Config::load(None, &env_of(&[("JOBS_ADMIN_TOKEN", "changeme")]))
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "invalid JOBS_ADMIN_TOKEN: a secret of 8 characters is too short: use at least 16 (random ones, such as the output of `openssl rand -hex 32`)"
        );
        let token = "0123456789abcdef";
        let config = Config::load(None, &env_of(&[("JOBS_ADMIN_TOKEN", token)])).unwrap();
        assert_eq!(config.admin_token.as_deref(), Some(token));

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jobs.toml");
        std::fs::write(&path, "[admin]\ntoken = \"short\"\n").unwrap();
        let error = Config::load(Some(&path), &env_of(&[]))
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("invalid `admin.token` in "), "{error}");
        assert!(error.contains("use at least 16"), "{error}");

        for secret in ["", "0123456789abcde"] {
            std::fs::write(
                &path,
                format!("[sources.s3]\nkind = \"webhook\"\nsecret = \"{secret}\"\n"),
            )
            .unwrap();
            let error = Config::load(Some(&path), &env_of(&[]))
                .unwrap_err()
                .to_string();
            assert!(
                error.starts_with("invalid `sources.s3.secret` in "),
                "{error}"
            );
            assert!(error.contains("use at least 16"), "{error}");
        }
        std::fs::write(
            &path,
            "[sources.s3]\nkind = \"webhook\"\nsecret = \"0123456789abcdef\"\n",
        )
        .unwrap();
        assert!(Config::load(Some(&path), &env_of(&[])).is_ok());
    }
}
