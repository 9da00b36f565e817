//! The parsers of setting values, with errors that name where the value came from.

use std::net::SocketAddr;
use std::time::Duration;

use super::error::ConfigError;
use crate::storage::{PoolMode, SqliteDurability};

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

/// How durable SQLite commits are: `full` or `normal`, in any case. (`off`, which may
/// corrupt the file on an OS crash, is for throwaway databases and is not offered here.)
pub(super) fn sqlite_durability(text: &str, origin: &str) -> Result<SqliteDurability, ConfigError> {
    match text.trim().to_ascii_lowercase().as_str() {
        "full" => Ok(SqliteDurability::Full),
        "normal" => Ok(SqliteDurability::Normal),
        _ => Err(ConfigError::Value {
            origin: origin.to_owned(),
            message: format!("sqlite_durability is `full` (the default) or `normal`, not `{text}`"),
        }),
    }
}

/// How the pooler in front of PostgreSQL pools: `session` or `transaction`, in any case.
pub(super) fn pool_mode(text: &str, origin: &str) -> Result<PoolMode, ConfigError> {
    match text.trim().to_ascii_lowercase().as_str() {
        "session" => Ok(PoolMode::Session),
        "transaction" => Ok(PoolMode::Transaction),
        _ => Err(ConfigError::Value {
            origin: origin.to_owned(),
            message: format!(
                "database_pool_mode is `session` (the default: PostgreSQL itself, or a pooler in session mode) or `transaction` (PgBouncer's `pool_mode = transaction`), not `{text}`"
            ),
        }),
    }
}

/// Sets `field` to the duration `value` (such as `30s`) when one is given; 0 is refused.
pub(super) fn set_duration(
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

/// `true`, `1`, `yes`, `on` or `false`, `0`, `no`, `off`, in any case.
/// A configured secret, refused when shorter than [`crate::secret::MIN_LEN`] characters.
pub(super) fn secret(value: String, origin: &str) -> Result<String, ConfigError> {
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

pub(super) fn boolean(value: &str, origin: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(ConfigError::Value {
            origin: origin.to_owned(),
            message: format!("`{value}` is not a boolean; use `true` or `false`"),
        }),
    }
}

/// A whole number.
pub(super) fn number(value: &str, origin: &str) -> Result<u32, ConfigError> {
    value.trim().parse().map_err(|_| ConfigError::Value {
        origin: origin.to_owned(),
        message: format!("`{value}` is not a whole number"),
    })
}

/// `n`, unless it is 0.
pub(super) fn positive(n: u32, origin: &str) -> Result<u32, ConfigError> {
    if n == 0 {
        Err(ConfigError::Value {
            origin: origin.to_owned(),
            message: "must be at least 1".into(),
        })
    } else {
        Ok(n)
    }
}
