//! Chains: a step's place in its chain, and the next step that its success stores.
//!
//! Chains are the runner's own rather than apalis-workflow 1.0's: a workflow there is one
//! worker running closures composed in one type, whose next step is pushed through the
//! backend's sink after the step's acknowledgement, as a second write. Here each step is a
//! registered job with its own options and history, and the next step's task is stored in
//! the same transaction as the previous step's success (see `Completions::complete`), so a
//! step's end is recorded once with its next step, or not at all. A chain started at run
//! time is stored as a task that knows the jobs still to come (`NewTask::then`).

use chrono::{DateTime, Utc};
use job_core::{EnqueueOptions, EnqueueRequest, Trigger};

use crate::client::Jobs;
use crate::plan::JobSettings;
use crate::storage::{ChainLink, ClaimedTask, FollowUp};

/// The place of `task` in a chain: its own, or step 1 of a chain its job starts
/// (`#[job(then = ...)]`).
pub(crate) fn link_of(task: &ClaimedTask, settings: &JobSettings) -> Option<ChainLink> {
    match &task.chain {
        Some(link) => Some(link.clone()),
        None if settings.descriptor.options().then.is_some() => Some(ChainLink {
            id: task.id,
            step: 1,
            rest: Vec::new(),
        }),
        None => None,
    }
}

/// The next step of the chain `task` belongs to, with `output` as its arguments: the steps
/// left of a chain started at run time, or the job's `#[job(then = ...)]`. An error says
/// why the next step cannot start (its arguments do not fit, its job is unknown).
pub(crate) fn next_step(
    jobs: &Jobs,
    settings: &JobSettings,
    task: &ClaimedTask,
    output: Option<&serde_json::Value>,
    now: DateTime<Utc>,
) -> Result<Option<FollowUp>, String> {
    let (next, rest) = match task.chain.as_ref().filter(|l| !l.rest.is_empty()) {
        Some(link) => (link.rest[0].clone(), link.rest[1..].to_vec()),
        None => match settings.descriptor.options().then {
            Some(then) => (then.to_owned(), Vec::new()),
            None => return Ok(None),
        },
    };
    let request = EnqueueRequest {
        job: next.clone(),
        args: output.cloned().unwrap_or(serde_json::Value::Null),
        options: EnqueueOptions::default(),
        trigger: Trigger::Chain,
        then: Vec::new(),
    };
    // The one typed enqueue path checks the step's arguments, as for any enqueue.
    let next_task = jobs
        .task_for(&request, now)
        .map_err(|e| format!("the next step of the chain, `{next}`, cannot start: {e}"))?;
    let link = ChainLink {
        id: task.chain.as_ref().map_or(task.id, |l| l.id),
        step: task.chain.as_ref().map_or(1, |l| l.step) + 1,
        rest,
    };
    Ok(Some(FollowUp {
        task: next_task,
        link,
    }))
}
