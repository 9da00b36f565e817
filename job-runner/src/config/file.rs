//! The `jobs.toml` file: a mirror of its keys, and how they apply over the defaults.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::error::ConfigError;
use super::values::{admin_addr, pool_mode, positive, secret, set_duration, sqlite_durability};
use super::{Config, JobOverride};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    database_url: Option<String>,
    database_pool_mode: Option<String>,
    listen_url: Option<String>,
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
    #[serde(default)]
    telemetry: super::telemetry::TelemetryFile,
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
    limit: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RunnerFile {
    pool_size: Option<u32>,
    heartbeat: Option<String>,
    lease: Option<String>,
    poll_interval: Option<String>,
    shutdown_grace: Option<String>,
    cancel_grace: Option<String>,
    history_retention: Option<String>,
    queues: Option<Vec<String>>,
    sqlite_durability: Option<String>,
}

impl Config {
    /// Applies the file at `path`, whose contents are `text`.
    pub(super) fn apply_file(&mut self, path: &Path, text: &str) -> Result<(), ConfigError> {
        let file: FileConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        let origin = |key: &str| format!("`{key}` in {}", path.display());
        if let Some(url) = file.database_url {
            self.database_url = url;
        }
        if let Some(mode) = file.database_pool_mode {
            self.pool_mode = pool_mode(&mode, &origin("database_pool_mode"))?;
        }
        if let Some(url) = file.listen_url {
            self.listen_url = Some(url);
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
            &mut self.cancel_grace,
            r.cancel_grace,
            &origin("runner.cancel_grace"),
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
            self.sqlite_durability =
                sqlite_durability(&durability, &origin("runner.sqlite_durability"))?;
        }
        if let Some(addr) = file.admin.addr {
            self.admin_addr = admin_addr(&addr, &origin("admin.addr"))?;
        }
        if let Some(token) = file.admin.token {
            self.admin_token = Some(secret(token, &origin("admin.token"))?);
        }
        self.telemetry.apply_file(file.telemetry, &origin)?;
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
                self.queue_concurrency.insert(name.clone(), n);
            }
            if let Some(n) = queue.limit {
                let n = positive(n, &origin(&format!("queues.{name}.limit")))?;
                self.queue_limits.insert(name, n);
            }
        }
        for (name, job) in file.jobs {
            self.job_origins
                .insert(name.clone(), format!("[jobs.{name}] in {}", path.display()));
            self.jobs.insert(name, job);
        }
        self.check_timing(&origin("runner"))
    }
}
