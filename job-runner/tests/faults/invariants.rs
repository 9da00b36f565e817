//! The invariants, read from the tables after an iteration has drained.
//!
//! - Every task is finished: it succeeded, with exactly one `succeeded` history row (its
//!   last attempt's), or it is dead, its last attempt's row `dead`; none is left pending or
//!   running. Either way every attempt it counted has exactly one history row: attempts
//!   1 to N each once, none twice, none missing. An attempt lost with its runner is run
//!   again (at least once), and its row says so (`lost`, `interrupted`, `stopped`).
//! - Every cron tick between the first and the last taken exists once and has exactly one
//!   task, of the cron job, due at the tick; every task of the cron job is a tick's.
//! - Every file dropped into the watched folder is one event, which started its job
//!   exactly once (one task); no other event was taken.
//! - Every chain has each step exactly once, in order, and no step after a dead one; a
//!   chain whose steps all succeeded passed each output on.
//! - Every task was stored by someone the suite knows: the workload, a tick, an event or a
//!   chain's previous step.

use std::collections::{BTreeMap, BTreeSet};

use job_core::Trigger;
use job_runner::storage::{Execution, ExecutionStatus, TaskRow, TaskState};

use crate::database::Database;
use crate::workload::{Kind, Workload};

/// The cron schedule of the workload (the job's own name, for a schedule written in code).
pub const CRON_JOB: &str = "every_second";

/// The job started by the files of the watched folder.
const EVENT_JOB: &str = "file_landed";

/// What the invariants looked at.
#[derive(Debug, Default, Clone, Copy)]
pub struct Checked {
    /// Tasks.
    pub tasks: u64,
    /// History rows (attempts).
    pub attempts: u64,
    /// Attempts lost to a fault (the runner killed, cut off or stopped) and recorded so.
    pub lost: u64,
    /// Tasks that ended dead.
    pub dead: u64,
    /// Cron ticks.
    pub ticks: u64,
    /// Events (files).
    pub events: u64,
    /// Chains.
    pub chains: u64,
}

impl Checked {
    /// Adds `other`'s counts.
    pub fn add(&mut self, other: &Checked) {
        self.tasks += other.tasks;
        self.attempts += other.attempts;
        self.lost += other.lost;
        self.dead += other.dead;
        self.ticks += other.ticks;
        self.events += other.events;
        self.chains += other.chains;
    }
}

/// Whether a history row records an attempt lost to a fault rather than the job's own end.
fn lost(row: &Execution) -> bool {
    let error = row.error.as_deref().unwrap_or_default();
    ["lost:", "interrupted:", "stopped:"]
        .iter()
        .any(|p| error.starts_with(p))
}

/// Checks every invariant; returns what was checked and the violations found.
pub fn check(database: &Database, workload: &Workload) -> (Checked, Vec<String>) {
    let tasks: BTreeMap<i64, TaskRow> = database.tasks().into_iter().map(|t| (t.id, t)).collect();
    let executions = database.executions();
    let mut violations = Vec::new();
    let mut checked = Checked {
        tasks: tasks.len() as u64,
        attempts: executions.len() as u64,
        lost: executions.iter().filter(|e| lost(e)).count() as u64,
        ..Checked::default()
    };
    let mut rows: BTreeMap<i64, Vec<&Execution>> = BTreeMap::new();
    for row in &executions {
        if !tasks.contains_key(&row.task_id) {
            violations.push(format!(
                "history row {} names task {}, which does not exist",
                row.id, row.task_id
            ));
        }
        rows.entry(row.task_id).or_default().push(row);
    }
    for task in tasks.values() {
        let mut of_task = rows.remove(&task.id).unwrap_or_default();
        of_task.sort_by_key(|r| (r.attempt, r.id));
        violations.extend(task_violations(task, &of_task));
        checked.dead += u64::from(task.state == TaskState::Dead);
    }

    let mut known: BTreeSet<i64> = BTreeSet::new();
    let (ticks, tick_violations) = ticks(database, &tasks, &mut known);
    checked.ticks = ticks;
    violations.extend(tick_violations);
    let (events, event_violations) = events(database, workload, &tasks, &mut known);
    checked.events = events;
    violations.extend(event_violations);

    for enqueued in &workload.tasks {
        known.insert(enqueued.id);
        let Some(task) = tasks.get(&enqueued.id) else {
            violations.push(format!("enqueued task {} is gone", enqueued.id));
            continue;
        };
        violations.extend(kind_violations(task, enqueued.kind, &executions));
        if let Some(steps) = enqueued.kind.steps() {
            checked.chains += 1;
            violations.extend(chain_violations(
                task,
                enqueued.kind,
                steps,
                &tasks,
                &executions,
                &mut known,
            ));
        }
    }
    for task in tasks.values().filter(|t| !known.contains(&t.id)) {
        violations.push(format!(
            "task {} ({}, trigger {}) was stored by neither the workload, a tick, an event nor a chain",
            task.id,
            task.job,
            task.trigger.as_str()
        ));
    }
    (checked, violations)
}

/// A task's own invariants: finished, one history row per attempt, one success at most.
fn task_violations(task: &TaskRow, rows: &[&Execution]) -> Vec<String> {
    let mut violations = Vec::new();
    let name = format!("task {} ({})", task.id, task.job);
    let attempts: Vec<u32> = rows.iter().map(|r| r.attempt).collect();
    let expected: Vec<u32> = (1..=task.attempt).collect();
    if attempts != expected {
        violations.push(format!(
            "{name} counted {} attempts, but its history rows are of attempts {attempts:?}: {}",
            task.attempt,
            describe(rows)
        ));
    }
    let succeeded = rows
        .iter()
        .filter(|r| r.status == ExecutionStatus::Succeeded)
        .count();
    let last = rows.last().map(|r| r.status);
    match task.state {
        TaskState::Succeeded => {
            if succeeded != 1 || last != Some(ExecutionStatus::Succeeded) {
                violations.push(format!(
                    "{name} succeeded, but its history has {succeeded} `succeeded` rows, the last attempt's being {last:?}: {}",
                    describe(rows)
                ));
            }
        }
        TaskState::Dead => {
            if succeeded != 0 || last != Some(ExecutionStatus::Dead) {
                violations.push(format!(
                    "{name} is dead, but its history has {succeeded} `succeeded` rows, the last attempt's being {last:?}: {}",
                    describe(rows)
                ));
            }
        }
        state => violations.push(format!(
            "{name} is left {state} after the drain: {}",
            describe(rows)
        )),
    }
    let early_end = rows
        .iter()
        .rev()
        .skip(1)
        .any(|r| matches!(r.status, ExecutionStatus::Succeeded | ExecutionStatus::Dead));
    if early_end {
        violations.push(format!(
            "{name} has an attempt after one that ended it: {}",
            describe(rows)
        ));
    }
    violations
}

/// The cron ticks: whole, each once with one task of the cron job due at the tick.
fn ticks(
    database: &Database,
    tasks: &BTreeMap<i64, TaskRow>,
    known: &mut BTreeSet<i64>,
) -> (u64, Vec<String>) {
    let mut violations = Vec::new();
    let ticks = database.ticks(CRON_JOB);
    if ticks.is_empty() {
        violations.push(format!("no tick of `{CRON_JOB}` was taken"));
    }
    for pair in ticks.windows(2) {
        let (before, after) = (pair[0].0, pair[1].0);
        if after - before != 1000 {
            violations.push(format!(
                "ticks of `{CRON_JOB}` missing between {} and {}: {} s",
                instant(before),
                instant(after),
                (after - before) / 1000 - 1
            ));
        }
    }
    let mut tick_tasks = BTreeSet::new();
    for &(tick, task_id) in &ticks {
        let Some(task_id) = task_id else {
            violations.push(format!("the tick at {} has no task", instant(tick)));
            continue;
        };
        if !tick_tasks.insert(task_id) {
            violations.push(format!("task {task_id} is the task of two ticks"));
        }
        known.insert(task_id);
        match tasks.get(&task_id) {
            None => violations.push(format!(
                "the tick at {}'s task {task_id} does not exist",
                instant(tick)
            )),
            Some(task) => {
                if task.job != CRON_JOB
                    || task.trigger != Trigger::Cron
                    || task.scheduled_at.timestamp_millis() != tick
                {
                    violations.push(format!(
                        "the tick at {}'s task {task_id} is of `{}`, trigger {}, scheduled at {}",
                        instant(tick),
                        task.job,
                        task.trigger.as_str(),
                        task.scheduled_at.to_rfc3339()
                    ));
                }
            }
        }
    }
    for task in tasks
        .values()
        .filter(|t| t.job == CRON_JOB && !tick_tasks.contains(&t.id))
    {
        violations.push(format!(
            "task {} of `{CRON_JOB}` (scheduled at {}) is no tick's task",
            task.id,
            task.scheduled_at.to_rfc3339()
        ));
    }
    (ticks.len() as u64, violations)
}

/// The events: each file dropped is one event that started its job once.
fn events(
    database: &Database,
    workload: &Workload,
    tasks: &BTreeMap<i64, TaskRow>,
    known: &mut BTreeSet<i64>,
) -> (u64, Vec<String>) {
    let mut violations = Vec::new();
    let events = match database.events() {
        Ok(events) => events,
        Err(error) => return (0, vec![format!("cannot read the events: {error}")]),
    };
    let mut by_name: BTreeMap<String, Vec<_>> = BTreeMap::new();
    for event in &events {
        let name = event.fields["name"].as_str().unwrap_or_default().to_owned();
        by_name.entry(name).or_default().push(event);
    }
    let dropped: BTreeSet<&String> = workload.files.iter().collect();
    for name in by_name.keys().filter(|n| !dropped.contains(n)) {
        violations.push(format!(
            "an event was taken for `{name}`, which was never dropped"
        ));
    }
    let mut event_tasks = BTreeSet::new();
    for name in &workload.files {
        let taken = by_name.get(name).map(Vec::as_slice).unwrap_or_default();
        let [event] = taken else {
            violations.push(format!(
                "file `{name}` is {} events for `{EVENT_JOB}`: {taken:?}",
                taken.len()
            ));
            continue;
        };
        if event.job != EVENT_JOB || event.error.is_some() {
            violations.push(format!("file `{name}`'s event is refused: {event:?}"));
        }
        let Some(task_id) = event.task_id else {
            violations.push(format!("file `{name}`'s event started no task: {event:?}"));
            continue;
        };
        event_tasks.insert(task_id);
        known.insert(task_id);
        match tasks.get(&task_id) {
            Some(task) if task.job == EVENT_JOB && task.trigger == Trigger::Event => {}
            other => violations.push(format!(
                "file `{name}`'s event started task {task_id}, which is {other:?}"
            )),
        }
    }
    for task in tasks
        .values()
        .filter(|t| t.job == EVENT_JOB && !event_tasks.contains(&t.id))
    {
        violations.push(format!(
            "task {} of `{EVENT_JOB}` is no event's task (a file started its job twice)",
            task.id
        ));
    }
    (events.len() as u64, violations)
}

/// What a kind of task must end as, whatever the faults.
fn kind_violations(task: &TaskRow, kind: Kind, executions: &[Execution]) -> Vec<String> {
    let mut violations = Vec::new();
    match kind {
        Kind::Fails if task.state != TaskState::Dead => violations.push(format!(
            "task {} of `always_fails` ended {}",
            task.id, task.state
        )),
        Kind::Flaky { failures } if task.state == TaskState::Succeeded => {
            let success = executions
                .iter()
                .find(|e| e.task_id == task.id && e.status == ExecutionStatus::Succeeded);
            if let Some(success) = success
                && success.attempt <= failures
            {
                violations.push(format!(
                    "task {} of `flaky` succeeded on attempt {}, though it fails its first {failures}",
                    task.id, success.attempt
                ));
            }
        }
        _ => {}
    }
    violations
}

/// A chain's steps: each once, in order, none after a dead one, the outputs passed on.
fn chain_violations(
    first: &TaskRow,
    kind: Kind,
    steps: [&str; 3],
    tasks: &BTreeMap<i64, TaskRow>,
    executions: &[Execution],
    known: &mut BTreeSet<i64>,
) -> Vec<String> {
    let mut violations = Vec::new();
    let chain = first.id;
    let mut by_step: BTreeMap<i64, Vec<&TaskRow>> = BTreeMap::new();
    by_step.entry(1).or_default().push(first);
    for task in tasks
        .values()
        .filter(|t| t.chain_id == Some(chain) && t.id != chain)
    {
        known.insert(task.id);
        by_step
            .entry(task.chain_step.unwrap_or(0))
            .or_default()
            .push(task);
    }
    let describe_chain = || {
        by_step
            .iter()
            .map(|(step, tasks)| {
                let tasks: Vec<String> = tasks
                    .iter()
                    .map(|t| format!("{} {} {}", t.id, t.job, t.state))
                    .collect();
                format!("step {step}: {}", tasks.join(", "))
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    let mut ended = None;
    for (step, jobs) in (1i64..).zip(steps) {
        let Some(at_step) = by_step.get(&step) else {
            if ended.is_none() {
                violations.push(format!(
                    "chain {chain} lacks step {step} ({jobs}) after a success: {}",
                    describe_chain()
                ));
            }
            break;
        };
        let [task] = at_step.as_slice() else {
            violations.push(format!(
                "chain {chain} has step {step} {} times: {}",
                at_step.len(),
                describe_chain()
            ));
            break;
        };
        if let Some(dead_step) = ended {
            violations.push(format!(
                "chain {chain} has step {step} after step {dead_step} died: {}",
                describe_chain()
            ));
            break;
        }
        if task.job != jobs {
            violations.push(format!(
                "chain {chain}'s step {step} is `{}`, not `{jobs}`: {}",
                task.job,
                describe_chain()
            ));
        }
        if task.state != TaskState::Succeeded {
            ended = Some(step);
        }
    }
    if by_step.keys().any(|&s| s < 1 || s > steps.len() as i64) {
        violations.push(format!(
            "chain {chain} has a step out of its range: {}",
            describe_chain()
        ));
    }
    // Every step succeeded: the last one got what the steps before made of `n`.
    let last = by_step.get(&(steps.len() as i64)).and_then(|t| t.first());
    if let Some(last) = last.filter(|t| t.state == TaskState::Succeeded) {
        let got = executions
            .iter()
            .find(|e| e.task_id == last.id && e.status == ExecutionStatus::Succeeded)
            .and_then(|e| e.records_processed);
        if got != kind.chain_result() {
            violations.push(format!(
                "chain {chain} ({kind:?}) ended with {got:?}, not {:?}",
                kind.chain_result()
            ));
        }
    }
    // 12 + 1 is refused by step_two for good: such a chain never reaches step 3.
    if kind.chain_result().is_none() && by_step.contains_key(&3) {
        violations.push(format!(
            "chain {chain} ({kind:?}) went past the step that refuses 13: {}",
            describe_chain()
        ));
    }
    violations
}

/// History rows, briefly.
fn describe(rows: &[&Execution]) -> String {
    let rows: Vec<String> = rows
        .iter()
        .map(|r| {
            format!(
                "[#{} attempt {} {} by {}{}]",
                r.id,
                r.attempt,
                r.status,
                r.runner_id,
                r.error
                    .as_deref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            )
        })
        .collect();
    if rows.is_empty() {
        "no history rows".into()
    } else {
        rows.join(" ")
    }
}

/// Unix milliseconds as RFC 3339.
fn instant(millis: i64) -> String {
    chrono::DateTime::from_timestamp_millis(millis)
        .map(|t| t.to_rfc3339())
        .unwrap_or_else(|| millis.to_string())
}
