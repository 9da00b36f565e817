//! The `Job` trait that `#[job]` implements, and the descriptor it registers.

use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::key::canonical_json;
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
    key_fields: KeyFieldsFn,
}

/// Decodes arguments into the job's argument type and returns the listed fields' values, as
/// JSON, in a JSON array (or, for no field, the whole decoded arguments).
type KeyFieldsFn = fn(&serde_json::Value, &[&str]) -> Result<serde_json::Value, serde_json::Error>;

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
        key_fields: fn(&serde_json::Value, &[&str]) -> Result<serde_json::Value, serde_json::Error>,
    ) -> JobDescriptor {
        JobDescriptor {
            name,
            options,
            args_type,
            takes_args,
            location,
            run,
            check_args,
            key_fields,
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
        self.refuse_args_of_a_job_without(args)?;
        (self.check_args)(args).map_err(|error| self.invalid_args(error.to_string()))
    }

    /// The uniqueness key of a task with arguments `args`: `None` when the job has no
    /// [`unique`](JobOptions::unique) option. The key is canonical JSON text (no spaces,
    /// object keys sorted by their UTF-8 bytes at every depth): a JSON array of the values
    /// of the fields listed in `by`, in the order listed, or, when `by` is empty, the whole
    /// arguments. The values are those of the Rust fields once `args` are decoded into the
    /// argument type and encoded again, so that a field's `#[serde(rename)]`, defaults, and
    /// the order of the keys in `args` make no difference.
    ///
    /// ```
    /// use job_core::prelude::*;
    /// use serde::{Deserialize, Serialize};
    ///
    /// #[derive(Serialize, Deserialize)]
    /// struct Invoice { customer_id: u64, month: String, note: Option<String> }
    ///
    /// #[job(unique(by = [customer_id, month], for = "1d"))]
    /// async fn send_invoice(invoice: Invoice) -> JobResult {
    ///     Ok(Outcome::none())
    /// }
    ///
    /// let args = serde_json::json!({"month": "2026-03", "customer_id": 7, "note": "late"});
    /// let key = SendInvoice::descriptor().unique_key(&args)?;
    /// assert_eq!(key.as_deref(), Some(r#"[7,"2026-03"]"#));
    /// # Ok::<(), job_core::InvalidArgs>(())
    /// ```
    pub fn unique_key(&self, args: &serde_json::Value) -> Result<Option<String>, InvalidArgs> {
        match &self.options.unique {
            None => Ok(None),
            Some(unique) => self.key(args, unique.by).map(Some),
        }
    }

    /// The key of a task with arguments `args` that [`limit`](JobOptions::limit) and
    /// [`rate`](JobOptions::rate) apply to and that claims take in turn: `None` when the
    /// job has no [`per`](JobOptions::per) option; otherwise a JSON array of the values of
    /// the `per` fields, in the order listed, in the canonical form of
    /// [`unique_key`](JobDescriptor::unique_key).
    pub fn partition_key(&self, args: &serde_json::Value) -> Result<Option<String>, InvalidArgs> {
        if self.options.per.is_empty() {
            return Ok(None);
        }
        self.key(args, self.options.per).map(Some)
    }

    /// The canonical text of `fields` of `args` (all of `args` for no field).
    fn key(&self, args: &serde_json::Value, fields: &[&str]) -> Result<String, InvalidArgs> {
        self.refuse_args_of_a_job_without(args)?;
        (self.key_fields)(args, fields)
            .map(|value| canonical_json(&value))
            .map_err(|error| self.invalid_args(error.to_string()))
    }

    /// A job that takes no arguments is given `null` (or nothing).
    fn refuse_args_of_a_job_without(&self, args: &serde_json::Value) -> Result<(), InvalidArgs> {
        if !self.takes_args && !args.is_null() {
            return Err(self
                .invalid_args("it takes no arguments; leave them out (or pass null)".to_owned()));
        }
        Ok(())
    }

    fn invalid_args(&self, reason: String) -> InvalidArgs {
        InvalidArgs {
            job: self.name.to_owned(),
            expected: self.args_type().to_owned(),
            reason,
        }
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
