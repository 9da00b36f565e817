//! Configuration: defaults, then `jobs.toml`, then environment variables, then flags.
//!
//! ```toml
//! # jobs.toml (every key is optional)
//! database_url = "sqlite://jobs.db"
//! enabled = true
//!
//! [runner]
//! pool_size = 8
//! heartbeat = "2s"          # how often a runner renews its claims
//! lease = "10s"             # a runner silent this long has lost its claims
//! poll_interval = "1s"      # how often idle workers look for work from other processes
//! shutdown_grace = "30s"    # how long running attempts may finish at shutdown
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
//! ```
//!
//! Environment variables override the file: `JOBS_DATABASE_URL`, `JOBS_ENABLED`,
//! `JOBS_ADMIN_ADDR`, `JOBS_ADMIN_TOKEN`,
//! `JOBS_CONFIG` (the file's path), `JOBS_POOL_SIZE`, `JOBS_HEARTBEAT`, `JOBS_LEASE`,
//! `JOBS_POLL_INTERVAL`, `JOBS_SHUTDOWN_GRACE`, `JOBS_HISTORY_RETENTION`, `JOBS_QUEUES`
//! (comma-separated), `JOBS_SQLITE_DURABILITY`, and per job
//! `JOBS_JOB_<NAME>_ENABLED`, `_CRON`, `_TIMEZONE`, `_RETRIES`, `_CONCURRENCY`, `_CATCH_UP`,
//! and per queue `JOBS_QUEUE_<NAME>_CONCURRENCY`, where
//! `<NAME>` is the job's name in upper case with every other character than a letter or a
//! digit written `_` (`cleanup_expired_sessions` is `CLEANUP_EXPIRED_SESSIONS`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::storage::SqliteDurability;

/// The default database: an SQLite file in the working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://jobs.db";

/// Where the admin API and dashboard listen unless told otherwise.
pub const DEFAULT_ADMIN_ADDR: &str = "127.0.0.1:8088";

/// The config file read when `JOBS_CONFIG` and `--config` name none, if it exists.
pub const DEFAULT_CONFIG_FILE: &str = "jobs.toml";

/// A configuration that cannot be used, with where the bad value came from.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file `{path}`: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML or has unknown keys.
    #[error("invalid config file `{path}`: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the parser said, with the line.
        message: String,
    },
    /// A value is invalid.
    #[error("invalid {origin}: {message}")]
    Value {
        /// Where it came from: a file key or an environment variable.
        origin: String,
        /// What is wrong and what is accepted.
        message: String,
    },
}

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
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    database_url: Option<String>,
    enabled: Option<bool>,
    #[serde(default)]
    runner: RunnerFile,
    #[serde(default)]
    jobs: BTreeMap<String, JobOverride>,
    #[serde(default)]
    queues: BTreeMap<String, QueueFile>,
    #[serde(default)]
    admin: AdminFile,
    #[serde(default)]
    sources: BTreeMap<String, crate::sources::SourceConfig>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AdminFile {
    addr: Option<String>,
    token: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct QueueFile {
    concurrency: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RunnerFile {
    pool_size: Option<u32>,
    heartbeat: Option<String>,
    lease: Option<String>,
    poll_interval: Option<String>,
    shutdown_grace: Option<String>,
    history_retention: Option<String>,
    queues: Option<Vec<String>>,
    sqlite_durability: Option<SqliteDurability>,
}

/// The runner's configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where tasks and history are stored.
    pub database_url: String,
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
    /// History rows and finished tasks older than this are pruned.
    pub history_retention: Duration,
    /// Run only these queues (`None`: all).
    pub queues: Option<Vec<String>>,
    /// Per-job overrides, by job name.
    pub jobs: BTreeMap<String, JobOverride>,
    /// Per-queue limits: at most this many tasks of the queue at once per runner.
    pub queue_concurrency: BTreeMap<String, u32>,
    /// Where the per-job overrides came from, by job name (for error messages).
    pub job_origins: BTreeMap<String, String>,
    /// The event sources, by name (see [`crate::sources::SourceConfig`]).
    pub sources: BTreeMap<String, crate::sources::SourceConfig>,
    /// Where the admin API and dashboard listen; `None` runs none.
    pub admin_addr: Option<SocketAddr>,
    /// The admin token; generated at start when `None`.
    pub admin_token: Option<String>,
    /// The config file that was read, if any.
    pub file: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            database_url: DEFAULT_DATABASE_URL.to_owned(),
            enabled: true,
            pool_size: 8,
            sqlite_durability: SqliteDurability::Full,
            heartbeat: Duration::from_secs(2),
            lease: Duration::from_secs(10),
            poll_interval: Duration::from_secs(1),
            shutdown_grace: Duration::from_secs(30),
            history_retention: Duration::from_secs(30 * 86_400),
            queues: None,
            jobs: BTreeMap::new(),
            queue_concurrency: BTreeMap::new(),
            job_origins: BTreeMap::new(),
            sources: BTreeMap::new(),
            admin_addr: DEFAULT_ADMIN_ADDR.parse().ok(),
            admin_token: None,
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

    fn apply_file(&mut self, path: &Path, text: &str) -> Result<(), ConfigError> {
        let file: FileConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        let origin = |key: &str| format!("`{key}` in {}", path.display());
        if let Some(url) = file.database_url {
            self.database_url = url;
        }
        if let Some(enabled) = file.enabled {
            self.enabled = enabled;
        }
        let r = file.runner;
        if let Some(n) = r.pool_size {
            self.pool_size = positive(n, &origin("runner.pool_size"))?;
        }
        set_duration(
            &mut self.heartbeat,
            r.heartbeat,
            &origin("runner.heartbeat"),
        )?;
        set_duration(&mut self.lease, r.lease, &origin("runner.lease"))?;
        set_duration(
            &mut self.poll_interval,
            r.poll_interval,
            &origin("runner.poll_interval"),
        )?;
        set_duration(
            &mut self.shutdown_grace,
            r.shutdown_grace,
            &origin("runner.shutdown_grace"),
        )?;
        set_duration(
            &mut self.history_retention,
            r.history_retention,
            &origin("runner.history_retention"),
        )?;
        if let Some(queues) = r.queues {
            self.queues = Some(queues);
        }
        if let Some(durability) = r.sqlite_durability {
            self.sqlite_durability = durability;
        }
        if let Some(addr) = file.admin.addr {
            self.admin_addr = admin_addr(&addr, &origin("admin.addr"))?;
        }
        if let Some(token) = file.admin.token {
            self.admin_token = Some(secret(token, &origin("admin.token"))?);
        }
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        for (name, source) in file.sources {
            let source = match source {
                // A relative folder is relative to the config file.
                crate::sources::SourceConfig::Folder { path: folder } if folder.is_relative() => {
                    crate::sources::SourceConfig::Folder {
                        path: base.join(folder),
                    }
                }
                crate::sources::SourceConfig::Webhook { secret: text } => {
                    let origin = origin(&format!("sources.{name}.secret"));
                    crate::sources::SourceConfig::Webhook {
                        secret: secret(text, &origin)?,
                    }
                }
                other => other,
            };
            self.sources.insert(name, source);
        }
        for (name, queue) in file.queues {
            if let Some(n) = queue.concurrency {
                let n = positive(n, &origin(&format!("queues.{name}.concurrency")))?;
                self.queue_concurrency.insert(name, n);
            }
        }
        for (name, job) in file.jobs {
            self.job_origins
                .insert(name.clone(), format!("[jobs.{name}] in {}", path.display()));
            self.jobs.insert(name, job);
        }
        self.check_timing(&origin("runner"))
    }

    fn apply_env(&mut self, env: Env<'_>) -> Result<(), ConfigError> {
        if let Some(url) = env("JOBS_DATABASE_URL") {
            self.database_url = url;
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
            self.sqlite_durability = match value.to_ascii_lowercase().as_str() {
                "full" => SqliteDurability::Full,
                "normal" => SqliteDurability::Normal,
                _ => {
                    return Err(ConfigError::Value {
                        origin: "JOBS_SQLITE_DURABILITY".into(),
                        message: format!("`{value}` is neither `full` nor `normal`"),
                    });
                }
            };
        }
        self.check_timing("JOBS_HEARTBEAT / JOBS_LEASE")
    }

    /// Applies `JOBS_QUEUE_<NAME>_CONCURRENCY` variables for the given queue names.
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
            if touched {
                self.job_origins
                    .insert(name.to_owned(), format!("{prefix}* environment variables"));
            } else if *entry == JobOverride::default() {
                self.jobs.remove(name);
            }
        }
        Ok(())
    }

    fn check_timing(&self, origin: &str) -> Result<(), ConfigError> {
        if self.lease <= self.heartbeat {
            return Err(ConfigError::Value {
                origin: origin.to_owned(),
                message: format!(
                    "the lease ({}) must be longer than the heartbeat ({}), or runners would lose their claims while alive; a lease of 3 to 5 heartbeats is usual",
                    job_schedule::format_duration(self.lease),
                    job_schedule::format_duration(self.heartbeat)
                ),
            });
        }
        Ok(())
    }
}

/// An admin address: `HOST:PORT`, or `off`.
pub fn admin_addr(text: &str, origin: &str) -> Result<Option<SocketAddr>, ConfigError> {
    if text.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    text.parse().map(Some).map_err(|_| ConfigError::Value {
        origin: origin.to_owned(),
        message: format!("`{text}` is not an address such as 127.0.0.1:8088 (or `off`)"),
    })
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

fn set_duration(
    field: &mut Duration,
    value: Option<String>,
    origin: &str,
) -> Result<(), ConfigError> {
    if let Some(text) = value {
        let duration = job_schedule::parse_duration(&text).map_err(|e| ConfigError::Value {
            origin: origin.to_owned(),
            message: e.to_string(),
        })?;
        if duration.is_zero() {
            return Err(ConfigError::Value {
                origin: origin.to_owned(),
                message: "a duration of 0 is not allowed here".into(),
            });
        }
        *field = duration;
    }
    Ok(())
}

/// A configured secret, refused when shorter than [`crate::secret::MIN_LEN`] characters.
fn secret(value: String, origin: &str) -> Result<String, ConfigError> {
    if crate::secret::long_enough(&value) {
        return Ok(value);
    }
    Err(ConfigError::Value {
        origin: origin.to_owned(),
        message: format!(
            "a secret of {} characters is too short: use at least {} (random ones, such as the output of `openssl rand -hex 32`)",
            value.chars().count(),
            crate::secret::MIN_LEN
        ),
    })
}

fn boolean(value: &str, origin: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(ConfigError::Value {
            origin: origin.to_owned(),
            message: format!("`{value}` is not a boolean; use `true` or `false`"),
        }),
    }
}

fn number(value: &str, origin: &str) -> Result<u32, ConfigError> {
    value.trim().parse().map_err(|_| ConfigError::Value {
        origin: origin.to_owned(),
        message: format!("`{value}` is not a whole number"),
    })
}

fn positive(n: u32, origin: &str) -> Result<u32, ConfigError> {
    if n == 0 {
        Err(ConfigError::Value {
            origin: origin.to_owned(),
            message: "must be at least 1".into(),
        })
    } else {
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
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
            "database_url = \"sqlite://a.db\"\n[runner]\nlease = \"20s\"\n[jobs.nightly]\nretries = 2\n",
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

        let error = Config::load(None, &env_of(&[("JOBS_LEASE", "1s")]))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("must be longer than the heartbeat"),
            "{error}"
        );
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
