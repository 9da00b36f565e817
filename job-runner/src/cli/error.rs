//! What a command fails with: any error, printed on stderr; the process exits with 1.

/// The error of a command.
pub(super) type CliError = Box<dyn std::error::Error + Send + Sync>;
