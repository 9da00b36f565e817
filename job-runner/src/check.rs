//! `job-runner check`: what would go wrong after a deploy, found before it.
//!
//! Compares the registered jobs with the database and the configuration, without running
//! anything: stored tasks whose job no longer exists (renamed or deleted), stored arguments
//! that no longer decode into the job's argument type, stored schedules that would not tick
//! (unknown job, arguments that no longer fit, removed from the code), configuration
//! overrides that name unknown jobs or hold invalid values. The runner logs the same report
//! at start.

use std::fmt;

use serde::Serialize;

use crate::config::ConfigError;
use crate::plan::Plan;
use crate::storage::{Store, StoreError};

/// Stored tasks read per job when checking arguments.
const SAMPLE: u32 = 10_000;

/// What kind of problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// Tasks are stored for a job that no registered job handles.
    UnknownJob,
    /// Stored arguments no longer fit the job's argument type.
    ArgsMismatch,
    /// A configuration override is invalid.
    Config,
    /// A stored schedule would not tick: its job is unknown, its arguments no longer fit,
    /// or the code no longer defines it.
    Schedule,
}

/// One problem found.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// What kind.
    pub kind: ProblemKind,
    /// The job concerned, if one.
    pub job: Option<String>,
    /// How many stored tasks it concerns.
    pub count: u64,
    /// One task that shows it.
    pub sample_task: Option<i64>,
    /// That task's arguments.
    pub sample_args: Option<serde_json::Value>,
    /// What is wrong and what to do.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The findings of a check.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// True when nothing is wrong.
    pub ok: bool,
    /// What is wrong.
    pub problems: Vec<Problem>,
}

/// Checks `plan` (with `config_problems`, from [`Plan::checked`]) against `store`.
pub async fn check(
    store: &Store,
    plan: &Plan,
    config_problems: &[ConfigError],
) -> Result<Report, StoreError> {
    let mut problems: Vec<Problem> = config_problems
        .iter()
        .map(|problem| Problem {
            kind: ProblemKind::Config,
            job: None,
            count: 0,
            sample_task: None,
            sample_args: None,
            message: problem.to_string(),
        })
        .collect();
    for (job, active) in store.stored_jobs().await? {
        if plan.get(&job).is_some() || active == 0 {
            continue;
        }
        problems.push(Problem {
            kind: ProblemKind::UnknownJob,
            count: active as u64,
            sample_task: None,
            sample_args: None,
            message: format!(
                "{active} pending, running or dead task(s) of job `{job}` are stored, but no registered job has that name (renamed or deleted?): register it again, or cancel them (`job-runner tasks --job {job}`)"
            ),
            job: Some(job),
        });
    }
    for settings in plan.jobs() {
        let descriptor = settings.descriptor;
        let mut bad = 0u64;
        let mut first: Option<(i64, serde_json::Value, String)> = None;
        for (id, args) in store.stored_args(descriptor.name(), SAMPLE).await? {
            if let Err(invalid) = descriptor.check_args(&args) {
                bad += 1;
                if first.is_none() {
                    first = Some((id, args, invalid.reason));
                }
            }
        }
        if let Some((id, args, reason)) = first {
            problems.push(Problem {
                kind: ProblemKind::ArgsMismatch,
                job: Some(descriptor.name().to_owned()),
                count: bad,
                sample_task: Some(id),
                sample_args: Some(args.clone()),
                message: format!(
                    "{bad} stored task(s) of job `{}` have arguments that no longer fit `{}` (task {id}: {args}: {reason}); they would fail for good: migrate them, make the type accept them (e.g. #[serde(default)]), or cancel them",
                    descriptor.name(),
                    descriptor.args_type()
                ),
            });
        }
    }
    problems.extend(schedule_problems(store, plan).await?);
    Ok(Report {
        ok: problems.is_empty(),
        problems,
    })
}

/// The stored schedules that would not tick as stored.
async fn schedule_problems(store: &Store, plan: &Plan) -> Result<Vec<Problem>, StoreError> {
    let in_code: Vec<String> = crate::scheduler::code_schedules(plan, chrono::Utc::now())
        .into_iter()
        .map(|row| row.id)
        .collect();
    let mut problems = Vec::new();
    for row in store.schedules().await? {
        let message = match plan.get(&row.job) {
            _ if row.in_code && !in_code.contains(&row.id) => format!(
                "schedule `{}` was defined in code for job `{}`, and the code no longer defines it: the next `job-runner run` removes it (its history stays)",
                row.id, row.job
            ),
            None => format!(
                "schedule `{}` runs job `{}`, but no registered job has that name: its ticks are skipped; remove it (`job-runner schedules remove {}`) or register the job again",
                row.id, row.job, row.id
            ),
            Some(settings) => match settings.descriptor.check_args(&row.args) {
                Ok(()) => continue,
                Err(invalid) => format!(
                    "schedule `{}` passes arguments that no longer fit `{}` ({}: {}): its ticks are skipped; change them (`job-runner schedules set {} --args ...`) or remove it",
                    row.id,
                    settings.descriptor.args_type(),
                    row.args,
                    invalid.reason,
                    row.id
                ),
            },
        };
        problems.push(Problem {
            kind: ProblemKind::Schedule,
            job: Some(row.job.clone()),
            count: 0,
            sample_task: None,
            sample_args: Some(row.args.clone()),
            message,
        });
    }
    Ok(problems)
}
