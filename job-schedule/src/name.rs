//! Names of jobs, queues and schedules, and the job type `#[job]` derives from a function.
//!
//! The macro, the scaffolder (`cargo xtask new-job`) and the runner all check names here, so
//! a name one of them accepts is never refused by another.

use thiserror::Error;

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NameError {
    /// The name has no characters.
    #[error("it is empty")]
    Empty,
    /// The name is longer than allowed.
    #[error("it is longer than {max} characters")]
    TooLong {
        /// The most characters allowed.
        max: usize,
    },
    /// The name holds a character outside the allowed set.
    #[error("`{0}` is not allowed; use letters, digits, `_`, `-`, `.` and `:`")]
    Character(char),
}

/// The longest job or queue name, in characters.
pub const NAME_MAX: usize = 100;

/// Checks a job, queue or schedule name: ASCII letters, digits, `_`, `-`, `.` and `:`, at
/// most `max` characters. Such a name fits in a URL path, a log line and a metric label.
///
/// ```
/// use job_schedule::{NameError, check_name};
///
/// assert_eq!(check_name("billing.emails", 100), Ok(()));
/// assert_eq!(check_name("billing emails", 100), Err(NameError::Character(' ')));
/// ```
pub fn check_name(name: &str, max: usize) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > max {
        return Err(NameError::TooLong { max });
    }
    match name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':')))
    {
        Some(c) => Err(NameError::Character(c)),
        None => Ok(()),
    }
}

/// The job type `#[job]` generates for a function: `transfer_document` becomes
/// `TransferDocument` (a raw identifier's `r#` is dropped).
///
/// ```
/// assert_eq!(job_schedule::job_type_name("sync2fa_keys"), "Sync2faKeys");
/// ```
pub fn job_type_name(function: &str) -> String {
    function
        .trim_start_matches("r#")
        .split('_')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|first| first.to_uppercase().chain(chars).collect::<String>())
                .unwrap_or_default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_say_what_is_wrong() {
        assert_eq!(check_name("", 100).unwrap_err().to_string(), "it is empty");
        assert_eq!(
            check_name(&"a".repeat(101), 100).unwrap_err().to_string(),
            "it is longer than 100 characters"
        );
        assert_eq!(check_name(&"a".repeat(100), 100), Ok(()));
        assert_eq!(
            check_name("a/b", 100).unwrap_err().to_string(),
            "`/` is not allowed; use letters, digits, `_`, `-`, `.` and `:`"
        );
        assert_eq!(check_name("tenant-7:emails.v2", 100), Ok(()));
    }

    #[test]
    fn job_types_are_pascal_case() {
        assert_eq!(job_type_name("transfer_document"), "TransferDocument");
        assert_eq!(job_type_name("sync2fa_keys"), "Sync2faKeys");
        assert_eq!(job_type_name("a_1"), "A1");
        assert_eq!(job_type_name("r#loop"), "Loop");
        assert_eq!(job_type_name("a__b_"), "AB");
    }
}
