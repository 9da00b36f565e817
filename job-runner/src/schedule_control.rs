//! The controls of schedules at run time: add, change, pause, resume and remove them without a
//! rebuild.
//!
//! One implementation serves the Rust API (`jobs.schedules()`), the CLI
//! (`job-runner schedules ...`) and the admin API. Every change is checked the way the macro
//! checks `#[job(cron = ...)]` (the same cron engine and zone names), and the arguments
//! against the job's argument type; nothing is stored on a refusal. Running runners pick a
//! change up within their poll interval (at once on PostgreSQL, which announces it).

use std::time::Duration;

use chrono::{DateTime, Utc};
use job_core::CatchUp;
use job_schedule::{Every, Recurrence, Schedule};
use serde::{Deserialize, Serialize};

use crate::client::Jobs;
use crate::storage::{ScheduleRow, StoreError, Transition};

/// What a schedule does, as given to [`Schedules::add`] or [`Schedules::set`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSpec {
    /// The job it runs.
    pub job: String,
    /// A cron expression (5 or 6 fields, `@daily`...); give this or `every`.
    #[serde(default)]
    pub cron: Option<String>,
    /// A rate such as `"15m"`, anchored to the Unix epoch; give this or `cron`.
    #[serde(default)]
    pub every: Option<String>,
    /// The IANA zone the cron expression is read in (default UTC).
    #[serde(default)]
    pub timezone: Option<String>,
    /// The arguments each tick passes to the job.
    #[serde(default)]
    pub args: serde_json::Value,
    /// `skip` (default) or `once`: what to do about ticks missed while no runner ran.
    #[serde(default)]
    pub catch_up: Option<String>,
}

/// A change to a schedule: the fields given replace the stored ones.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleChange {
    /// Another job.
    #[serde(default)]
    pub job: Option<String>,
    /// A new cron expression (replaces a rate).
    #[serde(default)]
    pub cron: Option<String>,
    /// A new rate (replaces a cron expression).
    #[serde(default)]
    pub every: Option<String>,
    /// A new zone.
    #[serde(default)]
    pub timezone: Option<String>,
    /// New arguments.
    #[serde(default)]
    pub args: Option<serde_json::Value>,
    /// A new catch-up policy.
    #[serde(default)]
    pub catch_up: Option<String>,
}

/// A schedule as listed: what is stored, with its next and last tick.
#[derive(Debug, Clone, Serialize)]
pub struct ScheduleStatus {
    /// The stored schedule.
    #[serde(flatten)]
    pub schedule: ScheduleRow,
    /// The next tick, in the schedule's zone (none while paused).
    pub next_run: Option<DateTime<job_schedule::Tz>>,
    /// The latest tick taken.
    pub last_run: Option<DateTime<Utc>>,
}

/// Why a schedule change was refused.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    /// No job of that name.
    #[error("no job named `{0}` is registered; `job-runner list` shows the registered jobs")]
    UnknownJob(String),
    /// No schedule with that id.
    #[error("no schedule has id `{0}`; `job-runner schedules list` shows them")]
    UnknownSchedule(String),
    /// The id is taken.
    #[error(
        "a schedule with id `{0}` exists already: change it with `job-runner schedules set {0} ...`, or pick another id"
    )]
    DuplicateId(String),
    /// The id is not usable.
    #[error("invalid schedule id `{id}`: {reason}")]
    InvalidId {
        /// The id.
        id: String,
        /// What is wrong.
        reason: String,
    },
    /// A schedule written in code cannot be changed at run time.
    #[error(
        "schedule `{0}` is defined in code (#[job(cron = ...)] or every = ...): it can be paused and resumed, not changed or removed; change it in code, or override its cron in jobs.toml"
    )]
    DefinedInCode(String),
    /// Someone else changed the schedule between its reading and this change.
    #[error(
        "schedule `{0}` was changed by someone else while this change was made; nothing was stored: read it again (`job-runner schedules list`) and repeat the change"
    )]
    ChangedMeanwhile(String),
    /// The timing is invalid.
    #[error("{0}")]
    Invalid(String),
    /// The arguments do not fit the job.
    #[error(transparent)]
    InvalidArgs(#[from] job_core::InvalidArgs),
    /// The storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The schedules of a database.
pub struct Schedules<'a> {
    jobs: &'a Jobs,
}

impl Jobs {
    /// Add, change, list, pause, resume and remove schedules.
    pub fn schedules(&self) -> Schedules<'_> {
        Schedules { jobs: self }
    }
}

impl Schedules<'_> {
    /// Adds a schedule with id `id`.
    pub async fn add(&self, id: &str, spec: ScheduleSpec) -> Result<ScheduleRow, ScheduleError> {
        check_id(id)?;
        let now = self.jobs.clock().now();
        let row = self.validated(id, spec, true, now)?;
        if !self.jobs.store().insert_schedule(&row).await? {
            return Err(ScheduleError::DuplicateId(id.to_owned()));
        }
        Ok(row)
    }

    /// Adds the schedule or replaces what it does.
    pub async fn upsert(&self, id: &str, spec: ScheduleSpec) -> Result<ScheduleRow, ScheduleError> {
        match self.jobs.store().schedule(id).await? {
            None => self.add(id, spec).await,
            Some(current) if current.in_code => Err(ScheduleError::DefinedInCode(id.to_owned())),
            Some(current) => {
                let row = self.validated(id, spec, current.enabled, self.stamp(&current))?;
                self.replace(row, &current).await
            }
        }
    }

    /// Changes the fields of `change` in schedule `id`.
    pub async fn set(
        &self,
        id: &str,
        change: ScheduleChange,
    ) -> Result<ScheduleRow, ScheduleError> {
        let current = self.existing(id).await?;
        if current.in_code {
            return Err(ScheduleError::DefinedInCode(id.to_owned()));
        }
        let switching_to_rate = change.every.is_some();
        let switching_to_cron = change.cron.is_some();
        let spec = ScheduleSpec {
            job: change.job.unwrap_or(current.job.clone()),
            cron: if switching_to_rate {
                change.cron
            } else {
                change.cron.or(current.cron.clone())
            },
            every: if switching_to_cron {
                change.every
            } else {
                change.every.or(current
                    .every_ms
                    .map(|ms| job_schedule::format_duration(Duration::from_millis(ms as u64))))
            },
            timezone: change
                .timezone
                .or(Some(current.timezone.clone()))
                .filter(|_| !switching_to_rate),
            args: change.args.unwrap_or(current.args.clone()),
            catch_up: change.catch_up.or(Some(current.catch_up.clone())),
        };
        let row = self.validated(id, spec, current.enabled, self.stamp(&current))?;
        self.replace(row, &current).await
    }

    /// When a change of `current` is made: now, or just after its last change (so that
    /// two changes within one millisecond still tell apart).
    fn stamp(&self, current: &ScheduleRow) -> DateTime<Utc> {
        let next = current.updated_at + chrono::TimeDelta::milliseconds(1);
        self.jobs.clock().now().max(next)
    }

    /// Stores `row` in place of `current`, unless someone changed it meanwhile.
    async fn replace(
        &self,
        mut row: ScheduleRow,
        current: &ScheduleRow,
    ) -> Result<ScheduleRow, ScheduleError> {
        row.created_at = current.created_at;
        match self
            .jobs
            .store()
            .update_schedule(&row, current.updated_at)
            .await?
        {
            Transition::Applied(row) => Ok(row),
            Transition::Refused(found) if found.in_code => {
                Err(ScheduleError::DefinedInCode(row.id))
            }
            Transition::Refused(_) => Err(ScheduleError::ChangedMeanwhile(row.id)),
            Transition::NotFound => Err(ScheduleError::UnknownSchedule(row.id)),
        }
    }

    /// One schedule with its next and last tick.
    pub async fn get(&self, id: &str) -> Result<ScheduleStatus, ScheduleError> {
        let row = self.existing(id).await?;
        let last = self.jobs.store().last_tick(id).await?;
        Ok(self.status(row, last))
    }

    /// Every schedule, with its next and last tick.
    pub async fn list(&self) -> Result<Vec<ScheduleStatus>, ScheduleError> {
        let last = self.jobs.store().last_ticks().await?;
        Ok(self
            .jobs
            .store()
            .schedules()
            .await?
            .into_iter()
            .map(|row| {
                let last = last.iter().find(|(id, _)| *id == row.id).map(|(_, t)| *t);
                self.status(row, last)
            })
            .collect())
    }

    /// Removes a schedule: its future ticks stop, its history stays.
    pub async fn remove(&self, id: &str) -> Result<(), ScheduleError> {
        match self.jobs.store().delete_schedule(id).await? {
            Transition::Applied(_) => {}
            Transition::Refused(_) => return Err(ScheduleError::DefinedInCode(id.to_owned())),
            Transition::NotFound => return Err(ScheduleError::UnknownSchedule(id.to_owned())),
        }
        Ok(())
    }

    /// Pauses a schedule (in code or not): its ticks are skipped until it is resumed.
    pub async fn pause(&self, id: &str) -> Result<ScheduleRow, ScheduleError> {
        self.set_enabled(id, false).await
    }

    /// Resumes a paused schedule.
    pub async fn resume(&self, id: &str) -> Result<ScheduleRow, ScheduleError> {
        self.set_enabled(id, true).await
    }

    async fn set_enabled(&self, id: &str, enabled: bool) -> Result<ScheduleRow, ScheduleError> {
        let now = self.jobs.clock().now();
        let row = self
            .jobs
            .store()
            .set_schedule_enabled(id, enabled, now)
            .await?
            .ok_or_else(|| ScheduleError::UnknownSchedule(id.to_owned()))?;
        Ok(row)
    }

    async fn existing(&self, id: &str) -> Result<ScheduleRow, ScheduleError> {
        self.jobs
            .store()
            .schedule(id)
            .await?
            .ok_or_else(|| ScheduleError::UnknownSchedule(id.to_owned()))
    }

    fn status(&self, row: ScheduleRow, last_run: Option<DateTime<Utc>>) -> ScheduleStatus {
        let now = self.jobs.clock().now();
        let next_run = recurrence_of(&row)
            .ok()
            .filter(|_| row.enabled)
            .and_then(|r| r.next_after(now).map(|t| r.local(t)));
        ScheduleStatus {
            schedule: row,
            next_run,
            last_run,
        }
    }

    /// Checks a spec as the macro checks `#[job(...)]`, and the arguments against the job.
    fn validated(
        &self,
        id: &str,
        spec: ScheduleSpec,
        enabled: bool,
        now: DateTime<Utc>,
    ) -> Result<ScheduleRow, ScheduleError> {
        let settings = self
            .jobs
            .plan()
            .get(&spec.job)
            .ok_or_else(|| ScheduleError::UnknownJob(spec.job.clone()))?;
        let options = settings.descriptor.options();
        if (options.cron.is_some() || options.every.is_some()) && !spec.args.is_null() {
            return Err(ScheduleError::Invalid(format!(
                "job `{}` is scheduled in code, so it takes no arguments; leave the arguments out",
                spec.job
            )));
        }
        settings.descriptor.check_args(&spec.args)?;
        let (cron, every_ms, timezone) = match (&spec.cron, &spec.every) {
            (Some(_), Some(_)) => {
                return Err(ScheduleError::Invalid(
                    "give a cron expression or a rate (`every`), not both".into(),
                ));
            }
            (None, None) => {
                return Err(ScheduleError::Invalid(
                    "give a cron expression (`--cron \"0 9 * * MON-FRI\"`) or a rate (`--every 15m`)".into(),
                ));
            }
            (Some(cron), None) => {
                let zone = spec.timezone.clone().unwrap_or_else(|| "UTC".into());
                Schedule::new(cron, &zone).map_err(|e| ScheduleError::Invalid(e.to_string()))?;
                (Some(cron.clone()), None, zone)
            }
            (None, Some(every)) => {
                if spec.timezone.as_deref().is_some_and(|z| z != "UTC") {
                    return Err(ScheduleError::Invalid(
                        "a rate (`every`) is the same in every zone: leave the time zone out"
                            .into(),
                    ));
                }
                let every =
                    Every::parse(every).map_err(|e| ScheduleError::Invalid(e.to_string()))?;
                (
                    None,
                    Some(every.period().as_millis() as i64),
                    "UTC".to_owned(),
                )
            }
        };
        let catch_up = spec.catch_up.unwrap_or_else(|| "skip".into());
        if CatchUp::from_name(&catch_up).is_none() {
            return Err(ScheduleError::Invalid(format!(
                "unknown catch-up policy `{catch_up}`: use `skip` or `once`"
            )));
        }
        Ok(ScheduleRow {
            id: id.to_owned(),
            job: spec.job,
            cron,
            every_ms,
            timezone,
            args: spec.args,
            enabled,
            catch_up,
            in_code: false,
            created_at: now,
            updated_at: now,
        })
    }
}

/// The recurrence of a stored schedule.
pub(crate) fn recurrence_of(row: &ScheduleRow) -> Result<Recurrence, String> {
    match (&row.cron, row.every_ms) {
        (Some(cron), _) => Schedule::new(cron, &row.timezone)
            .map(Recurrence::Cron)
            .map_err(|e| e.to_string()),
        (None, Some(ms)) => Every::new(Duration::from_millis(ms.max(0) as u64))
            .map(Recurrence::Every)
            .map_err(|e| e.to_string()),
        (None, None) => Err("neither a cron expression nor a rate".into()),
    }
}

/// Schedule ids take the characters of a job name, up to 200 of them.
fn check_id(id: &str) -> Result<(), ScheduleError> {
    job_schedule::check_name(id, 200).map_err(|problem| ScheduleError::InvalidId {
        id: id.to_owned(),
        reason: problem.to_string(),
    })
}
