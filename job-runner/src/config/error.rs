//! What makes a configuration unusable, with where the bad value came from.

use std::path::PathBuf;

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
