//! The `Job` trait that `#[job]` implements, and the descriptor it registers.

use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{BoxFuture, Enqueue, JobClient, JobContext, JobError, JobOptions, Outcome};

/// A background job. `#[job]` implements it on a unit struct named after the function in
/// PascalCase (`transfer_document` becomes `TransferDocument`); there is no reason to
/// implement it by hand.
pub trait Job: Sized + Send + Sync + 'static {
    /// What the job takes: the type of its arguments parameter, or `()`.
    type Args: Serialize + DeserializeOwned + Send + 'static;

    /// What the job returns on success: what the next step of a chain takes.
    type Output;

    /// The job's registration: name, options, source location and handler.
    fn descriptor() -> &'static JobDescriptor;

    /// The job's name.
    fn name() -> &'static str {
        Self::descriptor().name()
    }

    /// Starts an enqueue of this job with `args` through `client`; set options on the
    /// returned builder, then `.await` it. `#[job]` also generates an inherent `enqueue`
    /// with the same effect, which needs no import.
    fn enqueue_with<'c>(client: &'c dyn JobClient, args: Self::Args) -> Enqueue<'c, Self> {
        Enqueue::new(client, args)
    }
}

/// The type-erased entry point of a job: decodes the arguments and runs one attempt.
pub type RunFn = fn(JobContext, serde_json::Value) -> BoxFuture<'static, Result<Outcome, JobError>>;

/// Where a job is defined, for messages that must point at it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceLocation {
    /// The source file.
    pub file: &'static str,
    /// The line of the `#[job]` attribute.
    pub line: u32,
    /// The module path of the function.
    pub module_path: &'static str,
}

impl fmt::Display for SourceLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// Everything the runner knows about a job, registered by `#[job]` through `inventory`.
pub struct JobDescriptor {
    name: &'static str,
    options: JobOptions,
    args_type: fn() -> &'static str,
    takes_args: bool,
    location: SourceLocation,
    run: RunFn,
    check_args: fn(&serde_json::Value) -> Result<(), serde_json::Error>,
}

impl JobDescriptor {
    #[doc(hidden)]
    #[allow(clippy::too_many_arguments)]
    pub const fn __new(
        name: &'static str,
        options: JobOptions,
        args_type: fn() -> &'static str,
        takes_args: bool,
        location: SourceLocation,
        run: RunFn,
        check_args: fn(&serde_json::Value) -> Result<(), serde_json::Error>,
    ) -> JobDescriptor {
        JobDescriptor {
            name,
            options,
            args_type,
            takes_args,
            location,
            run,
            check_args,
        }
    }

    /// The job's name (the function's name unless `#[job(name = "...")]` says otherwise).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The options written in `#[job(...)]`.
    pub fn options(&self) -> &JobOptions {
        &self.options
    }

    /// The Rust type of the job's arguments (`()` when it takes none).
    pub fn args_type(&self) -> &'static str {
        (self.args_type)()
    }

    /// Whether the job takes arguments.
    pub fn takes_args(&self) -> bool {
        self.takes_args
    }

    /// Where the job is defined.
    pub fn location(&self) -> SourceLocation {
        self.location
    }

    /// Runs one attempt with arguments as JSON.
    pub fn run(
        &self,
        ctx: JobContext,
        args: serde_json::Value,
    ) -> BoxFuture<'static, Result<Outcome, JobError>> {
        (self.run)(ctx, args)
    }

    /// Checks that `args` decode into the job's argument type, with an error that names the
    /// type and what is wrong.
    pub fn check_args(&self, args: &serde_json::Value) -> Result<(), InvalidArgs> {
        let reason = if !self.takes_args && !args.is_null() {
            "it takes no arguments; leave them out (or pass null)".to_owned()
        } else {
            match (self.check_args)(args) {
                Ok(()) => return Ok(()),
                Err(error) => error.to_string(),
            }
        };
        Err(InvalidArgs {
            job: self.name.to_owned(),
            expected: self.args_type().to_owned(),
            reason,
        })
    }
}

impl fmt::Debug for JobDescriptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobDescriptor")
            .field("name", &self.name)
            .field("args_type", &self.args_type())
            .field("options", &self.options)
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

/// Arguments that do not decode into a job's argument type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("job `{job}` takes `{expected}`, and the arguments given do not fit: {reason}")]
pub struct InvalidArgs {
    /// The job.
    pub job: String,
    /// The Rust type of its arguments.
    pub expected: String,
    /// What serde found wrong.
    pub reason: String,
}
