//! The runner on a virtual clock, used as a user would: a year of schedules, backoff read
//! from the history, a crashed runner's claim recovered after the lease, and batches of
//! quiet ticks that leave the same history as one tick at a time. How long the simulations
//! take is measured by `cargo xtask bench`, not here.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Utc};
use job_core::Trigger;
use job_core::prelude::*;
use job_runner::Config;
use job_runner::schedule_control::ScheduleSpec;
use job_runner::storage::{Execution, ExecutionFilter, ExecutionStatus, TaskFilter};
use job_runner::testing::Simulation;
use job_schedule::Tz;

#[job(cron = "30 2 * * *", timezone = "America/New_York")]
async fn nightly_0230() -> JobResult {
    Ok(Outcome::none())
}

#[job(cron = "30 1 * * *", timezone = "America/New_York")]
async fn nightly_0130() -> JobResult {
    Ok(Outcome::none())
}

#[job(cron = "* * * * *")]
async fn every_minute() -> JobResult {
    Ok(Outcome::none())
}

/// Fails on its first two attempts, then succeeds.
struct Failures(AtomicU32);

#[job(retries = 5, backoff = "1m..1h")]
async fn flaky(ctx: JobContext) -> JobResult {
    let failures = ctx.data::<Failures>()?;
    if failures.0.fetch_add(1, Ordering::SeqCst) < 2 {
        return Err(JobError::msg("upstream unavailable"));
    }
    Ok(Outcome::processed(1_u8))
}

/// Counts the attempts of `picky`, which fails differently on each.
struct PickyRuns(AtomicU32);

/// Rate-limited responses wait two minutes, whatever the backoff; a missing document is
/// never retried; anything else follows the error's own delay or the backoff.
fn by_error(failure: &job_core::Failure<'_>) -> job_core::Retry {
    let text = failure.error.to_string();
    if text.contains("429") {
        job_core::Retry::In(Duration::from_secs(120))
    } else if text.contains("not found") {
        job_core::Retry::Never
    } else {
        job_core::Retry::Backoff
    }
}

/// Fails with a 429, then asks for 45 s itself, then fails plainly (backoff), then with a
/// missing document (never retried).
#[job(retries = 10, backoff = "1h", retry = by_error)]
async fn picky(ctx: JobContext) -> JobResult {
    let n = ctx.data::<PickyRuns>()?.0.fetch_add(1, Ordering::SeqCst);
    Err(match n {
        0 => JobError::msg("upstream answered 429"),
        1 => JobError::msg("upstream busy").retry_in(Duration::from_secs(45)),
        2 => JobError::msg("connection reset"),
        _ => JobError::msg("document 7 not found"),
    })
}

/// Snoozes twice for five minutes, then succeeds.
struct Snoozes(AtomicU32);

#[job(retries = 0)]
async fn waits_for_file(ctx: JobContext) -> JobResult {
    if ctx.data::<Snoozes>()?.0.fetch_add(1, Ordering::SeqCst) < 2 {
        return Ok(Outcome::snooze(Duration::from_secs(300)));
    }
    Ok(Outcome::processed(1_u8))
}

/// Takes ten virtual minutes.
#[job(retries = 2, backoff = "30s")]
async fn slow_report(ctx: JobContext) -> JobResult {
    ctx.clock().sleep(Duration::from_secs(600)).await;
    Ok(Outcome::none())
}

#[job(timeout = "5m", retries = 0)]
async fn too_slow(ctx: JobContext) -> JobResult {
    ctx.clock().sleep(Duration::from_secs(600)).await;
    Ok(Outcome::none())
}

/// Counts the runs of `mixed`, which behaves by its run's number.
struct MixedRuns(AtomicU32);

/// Every minute: sometimes fails, sometimes enqueues `notify` (due at once or after the
/// next tick), sometimes runs past the next two ticks.
#[job(cron = "* * * * *", retries = 2, backoff = "30s")]
async fn mixed(ctx: JobContext) -> JobResult {
    let n = ctx.data::<MixedRuns>()?.0.fetch_add(1, Ordering::SeqCst);
    if n % 13 == 12 {
        ctx.clock().sleep(Duration::from_secs(150)).await;
    }
    let jobs = ctx.jobs().ok_or_else(|| JobError::msg("no client"))?;
    if n % 11 == 5 {
        Notify::enqueue(jobs).await.map_err(JobError::msg)?;
    }
    if n % 7 == 1 {
        Notify::enqueue(jobs)
            .delay(Duration::from_secs(90))
            .await
            .map_err(JobError::msg)?;
    }
    if n % 7 == 3 {
        return Err(JobError::msg("flaky"));
    }
    Ok(Outcome::none())
}

/// Enqueued by others; after `mixed` in a runner's claiming order.
#[job]
async fn notify() -> JobResult {
    Ok(Outcome::none())
}

/// Two schedules (its own and one added at run time) tick it together: each run takes ten
/// seconds, enqueues `notify` and hands its result on to `tally`.
#[job(cron = "*/5 * * * *", then = "tally")]
async fn pair(ctx: JobContext) -> JobResult<u32> {
    ctx.clock().sleep(Duration::from_secs(10)).await;
    let jobs = ctx.jobs().ok_or_else(|| JobError::msg("no client"))?;
    Notify::enqueue(jobs).await.map_err(JobError::msg)?;
    Ok(ctx.now().timestamp() as u32 % 1000)
}

#[job(cron = "*/10 * * * *", then = "tally")]
async fn count_up(ctx: JobContext) -> JobResult<u32> {
    Ok(ctx.now().timestamp() as u32 % 1000)
}

#[job]
async fn tally(n: u32) -> JobResult {
    Ok(Outcome::processed(u64::from(n)))
}

#[job(cron = "*/3 * * * *", overlap = "skip")]
async fn sweep() -> JobResult {
    Ok(Outcome::none())
}

#[job(cron = "0 * * * *")]
async fn hourly() -> JobResult {
    Ok(Outcome::none())
}

/// Every five minutes, after the others in a runner's claiming order.
#[job(cron = "*/5 * * * *")]
async fn wrap_up() -> JobResult {
    Ok(Outcome::none())
}

fn at(text: &str) -> DateTime<Utc> {
    text.parse().expect("an instant")
}

/// The executions of `job` (of every job for `None`), oldest first.
async fn history(sim: &Simulation, job: Option<&str>) -> Vec<Execution> {
    let mut rows = sim
        .history(&ExecutionFilter {
            job: job.map(Into::into),
            limit: 100_000,
            ..ExecutionFilter::default()
        })
        .await
        .expect("the history");
    rows.reverse();
    rows
}

fn local_dates(rows: &[Execution]) -> Vec<(NaiveDate, String)> {
    let zone: Tz = "America/New_York".parse().expect("a zone");
    rows.iter()
        .map(|e| {
            let local = e.started_at.with_timezone(&zone);
            (local.date_naive(), local.format("%H:%M%:z").to_string())
        })
        .collect()
}

#[tokio::test]
async fn a_year_of_a_new_york_nightly_job_respects_daylight_saving() {
    let mut sim = Simulation::builder(at("2026-01-01T00:00:00Z"))
        .jobs([Nightly0230::descriptor(), Nightly0130::descriptor()])
        .start()
        .await
        .expect("a simulation");
    sim.run_until(at("2027-01-01T05:00:00Z"))
        .await
        .expect("a year");

    let runs = history(&sim, Some("nightly_0230")).await;
    assert_eq!(runs.len(), 365);
    assert!(
        runs.iter()
            .all(|e| e.status == ExecutionStatus::Succeeded && e.trigger == Trigger::Cron)
    );
    let days = local_dates(&runs);
    let distinct: std::collections::BTreeSet<_> = days.iter().map(|(d, _)| *d).collect();
    assert_eq!(distinct.len(), 365, "one run per day");
    let on = |date: &str| -> Vec<String> {
        let date: NaiveDate = date.parse().expect("a date");
        days.iter()
            .filter(|(d, _)| *d == date)
            .map(|(_, t)| t.clone())
            .collect()
    };
    assert_eq!(
        on("2026-03-08"),
        ["03:00-04:00"],
        "02:30 does not exist: it runs once at 03:00"
    );
    assert_eq!(on("2026-03-09"), ["02:30-04:00"]);
    assert_eq!(on("2026-11-01"), ["02:30-05:00"]);
    assert_eq!(on("2026-06-15"), ["02:30-04:00"]);
    assert_eq!(on("2026-12-15"), ["02:30-05:00"]);

    let early = local_dates(&history(&sim, Some("nightly_0130")).await);
    let fall_back: Vec<_> = early
        .iter()
        .filter(|(d, _)| d.month() == 11 && d.day() == 1)
        .collect();
    assert_eq!(
        fall_back.len(),
        1,
        "01:30 happens twice on the fall-back day but runs once"
    );
    assert_eq!(fall_back[0].1, "01:30-04:00");
}

#[tokio::test]
async fn a_week_of_an_every_minute_job() {
    let mut sim = Simulation::builder(at("2026-03-02T00:00:00Z"))
        .jobs([EveryMinute::descriptor()])
        .start()
        .await
        .expect("a simulation");
    sim.advance(Duration::from_secs(7 * 86_400))
        .await
        .expect("a week");
    let runs = history(&sim, Some("every_minute")).await;
    assert_eq!(runs.len(), 7 * 24 * 60);
    assert!(
        runs.windows(2)
            .all(|w| w[1].scheduled_at - w[0].scheduled_at == TimeDelta::minutes(1))
    );
}

#[tokio::test]
async fn a_delay_past_the_last_instant_is_refused_not_a_panic() {
    let sim = Simulation::builder(at("2026-05-01T12:00:00Z"))
        .jobs([Notify::descriptor()])
        .start()
        .await
        .expect("a simulation");
    // 100,000,000 days: a duration chrono can hold, an instant it cannot.
    let error = Notify::enqueue(sim.jobs())
        .delay(Duration::from_secs(86_400 * 100_000_000))
        .await
        .expect_err("the delay is refused");
    assert!(error.to_string().contains("is too long"), "{error}");
    let tasks = sim
        .jobs()
        .store()
        .tasks(&TaskFilter {
            limit: 100,
            ..TaskFilter::default()
        })
        .await
        .expect("the tasks");
    assert!(tasks.is_empty(), "a refused enqueue stored a task");
}

#[tokio::test]
async fn a_retry_policy_decides_each_failure_by_its_error() {
    let start = at("2026-05-01T12:00:00Z");
    let mut sim = Simulation::builder(start)
        .jobs([Picky::descriptor()])
        .data(PickyRuns(AtomicU32::new(0)))
        .start()
        .await
        .expect("a simulation");
    Picky::enqueue(sim.jobs()).await.expect("enqueue");
    sim.advance(Duration::from_secs(3 * 3600))
        .await
        .expect("three hours");
    let runs = history(&sim, Some("picky")).await;
    let statuses: Vec<ExecutionStatus> = runs.iter().map(|e| e.status).collect();
    assert_eq!(
        statuses,
        [
            ExecutionStatus::Failed,
            ExecutionStatus::Failed,
            ExecutionStatus::Failed,
            ExecutionStatus::Dead
        ],
        "the missing document ends the task with 7 retries left"
    );
    let gaps: Vec<i64> = runs
        .windows(2)
        .map(|w| (w[1].started_at - w[0].finished_at).num_seconds())
        .collect();
    // 429: the policy's 2 minutes; then the error's own 45 s; then the backoff's hour (±10%).
    assert_eq!(gaps[..2], [120, 45]);
    assert!((3240..=3960).contains(&gaps[2]), "backoff gap {}", gaps[2]);
    assert!(
        runs[3]
            .error
            .as_deref()
            .is_some_and(|e| e.contains("not found")),
        "{runs:#?}"
    );
}

#[tokio::test]
async fn a_snooze_waits_without_counting_an_attempt() {
    let start = at("2026-05-01T12:00:00Z");
    let mut sim = Simulation::builder(start)
        .jobs([WaitsForFile::descriptor()])
        .data(Snoozes(AtomicU32::new(0)))
        .start()
        .await
        .expect("a simulation");
    WaitsForFile::enqueue(sim.jobs()).await.expect("enqueue");
    sim.advance(Duration::from_secs(3600))
        .await
        .expect("an hour");
    let runs = history(&sim, Some("waits_for_file")).await;
    let seen: Vec<(ExecutionStatus, u32, DateTime<Utc>)> = runs
        .iter()
        .map(|e| (e.status, e.attempt, e.started_at))
        .collect();
    // No retry left (`retries = 0`), yet the two snoozes did not use the one attempt.
    assert_eq!(
        seen,
        [
            (ExecutionStatus::Snoozed, 1, start),
            (ExecutionStatus::Snoozed, 1, start + TimeDelta::minutes(5)),
            (
                ExecutionStatus::Succeeded,
                1,
                start + TimeDelta::minutes(10)
            ),
        ]
    );
    let tasks = sim
        .jobs()
        .store()
        .tasks(&TaskFilter {
            job: Some("waits_for_file".into()),
            limit: 10,
            ..TaskFilter::default()
        })
        .await
        .expect("tasks");
    assert_eq!((tasks[0].attempt, tasks[0].snoozes), (1, 2));
}

#[tokio::test]
async fn failures_are_retried_at_the_configured_backoff() {
    let mut sim = Simulation::builder(at("2026-05-01T12:00:00Z"))
        .jobs([Flaky::descriptor()])
        .data(Failures(AtomicU32::new(0)))
        .start()
        .await
        .expect("a simulation");
    Flaky::enqueue(sim.jobs()).await.expect("enqueue");
    sim.advance(Duration::from_secs(3600))
        .await
        .expect("an hour");
    let runs = history(&sim, Some("flaky")).await;
    let statuses: Vec<ExecutionStatus> = runs.iter().map(|e| e.status).collect();
    assert_eq!(
        statuses,
        [
            ExecutionStatus::Failed,
            ExecutionStatus::Failed,
            ExecutionStatus::Succeeded
        ]
    );
    assert_eq!(
        runs[0].started_at,
        at("2026-05-01T12:00:00Z"),
        "the first attempt runs at once"
    );
    // Backoff from 1 minute, doubling, ±10% jitter.
    for (i, base) in [(1, 60.0), (2, 120.0)] {
        let gap = (runs[i].started_at - runs[i - 1].finished_at).num_milliseconds() as f64 / 1000.0;
        assert!(
            (base * 0.9..=base * 1.1).contains(&gap),
            "retry {i} came {gap}s after, not about {base}s"
        );
    }
    assert_eq!(
        runs.iter().map(|e| e.attempt).collect::<Vec<_>>(),
        [1, 2, 3]
    );
}

#[tokio::test]
async fn jobs_that_wait_on_the_clock_take_virtual_time_and_time_out_by_it() {
    let mut sim = Simulation::builder(at("2026-05-01T12:00:00Z"))
        .jobs([SlowReport::descriptor(), TooSlow::descriptor()])
        .start()
        .await
        .expect("a simulation");
    SlowReport::enqueue(sim.jobs()).await.expect("enqueue");
    TooSlow::enqueue(sim.jobs()).await.expect("enqueue");
    sim.advance(Duration::from_secs(3600))
        .await
        .expect("an hour");
    let slow = history(&sim, Some("slow_report")).await;
    assert_eq!(slow.len(), 1);
    assert_eq!(slow[0].status, ExecutionStatus::Succeeded);
    assert_eq!(slow[0].duration_ms, 600_000);
    let too_slow = history(&sim, Some("too_slow")).await;
    assert_eq!(too_slow[0].status, ExecutionStatus::Dead);
    assert!(
        too_slow[0]
            .error
            .as_deref()
            .unwrap_or_default()
            .starts_with("timed out after 5m")
    );
}

#[tokio::test]
async fn a_crashed_runners_claim_is_recovered_after_the_lease() {
    let config = Config {
        lease: Duration::from_secs(45),
        ..Config::default()
    };
    let mut sim = Simulation::builder(at("2026-05-01T12:00:00Z"))
        .jobs([SlowReport::descriptor()])
        .config(config)
        .start()
        .await
        .expect("a simulation");
    SlowReport::enqueue(sim.jobs()).await.expect("enqueue");
    let crashed_at = sim.now();
    let task = sim
        .crash_runner_mid_job("slow_report", "crashed-runner")
        .await
        .expect("a claim")
        .expect("a due task");
    sim.advance(Duration::from_secs(44))
        .await
        .expect("within the lease");
    assert!(
        history(&sim, Some("slow_report")).await.is_empty(),
        "recovered before the lease ran out"
    );
    sim.advance(Duration::from_secs(3600))
        .await
        .expect("an hour");
    let runs = history(&sim, Some("slow_report")).await;
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0].task_id, task);
    assert_eq!(
        (runs[0].attempt, runs[0].status),
        (1, ExecutionStatus::Failed)
    );
    assert!(
        runs[0]
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("crashed-runner stopped heartbeating")
    );
    // After the lease, the lost attempt's task waits its job's backoff, as a failed one
    // does: 30 s ±10% (`backoff = "30s"`).
    let recovered_after = runs[1].started_at - crashed_at;
    assert!(
        recovered_after > TimeDelta::seconds(45 + 27)
            && recovered_after < TimeDelta::seconds(45 + 33 + 1),
        "{recovered_after}"
    );
    assert_eq!(
        (runs[1].attempt, runs[1].status),
        (2, ExecutionStatus::Succeeded)
    );
}

/// Six hours of a mix: failures and retries, jobs that enqueue others, one that runs past
/// its next ticks, chains, two schedules of one job, an exclusive job, a paused one.
async fn six_hours_of_a_mix(tick_by_tick: bool) -> (Vec<Execution>, Vec<String>) {
    let mut builder = Simulation::builder(at("2026-05-01T00:00:00Z"))
        .jobs([
            Mixed::descriptor(),
            Notify::descriptor(),
            Pair::descriptor(),
            CountUp::descriptor(),
            Tally::descriptor(),
            Sweep::descriptor(),
            Hourly::descriptor(),
            WrapUp::descriptor(),
        ])
        .data(MixedRuns(AtomicU32::new(0)));
    if tick_by_tick {
        builder = builder.tick_by_tick();
    }
    let mut sim = builder.start().await.expect("a simulation");
    sim.jobs()
        .schedules()
        .add(
            "pair-again",
            ScheduleSpec {
                job: "pair".into(),
                cron: Some("*/5 * * * *".into()),
                ..ScheduleSpec::default()
            },
        )
        .await
        .expect("a second schedule");
    sim.control().pause("hourly").await.expect("pause");
    Hourly::enqueue(sim.jobs())
        .await
        .expect("a task held by the pause");
    sim.run_until(at("2026-05-01T03:00:00Z"))
        .await
        .expect("three hours");
    sim.control().resume("hourly").await.expect("resume");
    sim.run_until(at("2026-05-01T06:00:00Z"))
        .await
        .expect("six hours");
    let runs = history(&sim, None).await;
    let tasks = sim
        .jobs()
        .store()
        .tasks(&TaskFilter {
            limit: 100_000,
            ..TaskFilter::default()
        })
        .await
        .expect("the tasks")
        .into_iter()
        .map(|t| {
            format!(
                "{} {} {} run at {} created {} finished {:?} attempt {}",
                t.id, t.job, t.state, t.run_at, t.created_at, t.finished_at, t.attempt
            )
        })
        .collect();
    (runs, tasks)
}

#[tokio::test]
async fn batches_of_quiet_ticks_give_the_same_history_as_one_tick_at_a_time() {
    let (batched, batched_tasks) = six_hours_of_a_mix(false).await;
    let (one_by_one, one_by_one_tasks) = six_hours_of_a_mix(true).await;

    // The mix did what it is for.
    let count = |job: &str, status: ExecutionStatus| {
        one_by_one
            .iter()
            .filter(|e| e.job == job && e.status == status)
            .count()
    };
    assert!(count("mixed", ExecutionStatus::Failed) > 10, "retries");
    assert!(
        count("notify", ExecutionStatus::Succeeded) > 150,
        "enqueued from jobs"
    );
    assert_eq!(
        count("pair", ExecutionStatus::Succeeded),
        2 * 72,
        "two schedules"
    );
    assert_eq!(
        count("tally", ExecutionStatus::Succeeded),
        36 + 2 * 72,
        "chain steps"
    );
    assert!(
        count("sweep", ExecutionStatus::Succeeded) >= 100,
        "exclusive ticks"
    );
    assert_eq!(
        count("hourly", ExecutionStatus::Succeeded),
        4,
        "paused for three hours, then the task it held and three ticks"
    );
    let late = one_by_one
        .iter()
        .filter(|e| e.job == "mixed" && e.started_at > e.scheduled_at && e.attempt == 1)
        .count();
    assert!(late > 5, "ticks run late after a long run: {late}");

    assert_eq!(batched.len(), one_by_one.len());
    for (a, b) in batched.iter().zip(&one_by_one) {
        assert_eq!(a, b, "the histories part here");
    }
    assert_eq!(batched_tasks, one_by_one_tasks);
}

/// Counts its runs.
#[job(cron = "0 * * * *")]
async fn fan() -> JobResult {
    Ok(Outcome::none())
}

/// More ticks of one job at one instant than a runner claims at once (64), beside another
/// job's: the batched history is still the one-at-a-time one.
async fn two_hours_of_a_wide_instant(tick_by_tick: bool) -> Vec<Execution> {
    let mut builder = Simulation::builder(at("2026-05-01T00:30:00Z"))
        .jobs([Fan::descriptor(), WrapUp::descriptor()]);
    if tick_by_tick {
        builder = builder.tick_by_tick();
    }
    let mut sim = builder.start().await.expect("a simulation");
    for i in 0..70 {
        sim.jobs()
            .schedules()
            .add(
                &format!("fan-{i}"),
                ScheduleSpec {
                    job: "fan".into(),
                    cron: Some("0 * * * *".into()),
                    ..ScheduleSpec::default()
                },
            )
            .await
            .expect("a schedule");
    }
    sim.run_until(at("2026-05-01T02:30:00Z"))
        .await
        .expect("two hours");
    history(&sim, None).await
}

#[tokio::test]
async fn an_instant_wider_than_a_claim_runs_as_one_tick_at_a_time() {
    let batched = two_hours_of_a_wide_instant(false).await;
    let one_by_one = two_hours_of_a_wide_instant(true).await;
    assert_eq!(one_by_one.len(), 2 * 71 + 24);
    assert_eq!(batched, one_by_one);
}

#[tokio::test]
async fn a_paused_job_skips_its_ticks_and_runs_again_once_resumed() {
    let mut sim = Simulation::builder(at("2026-05-01T00:00:00Z"))
        .jobs([EveryMinute::descriptor()])
        .start()
        .await
        .expect("a simulation");
    sim.control().pause("every_minute").await.expect("pause");
    sim.advance(Duration::from_secs(3 * 3600))
        .await
        .expect("three paused hours");
    assert!(history(&sim, Some("every_minute")).await.is_empty());
    sim.control().resume("every_minute").await.expect("resume");
    sim.advance(Duration::from_secs(3600))
        .await
        .expect("an hour");
    let runs = history(&sim, Some("every_minute")).await;
    assert_eq!(runs.len(), 60);
    assert_eq!(runs[0].scheduled_at, at("2026-05-01T03:01:00Z"));
}

/// Counts the runs of `lead`.
struct LeadRuns(AtomicU32);

/// First run: enqueues `notify` for 90 seconds later; second run: takes 150 seconds.
#[job(cron = "* * * * *")]
async fn lead(ctx: JobContext) -> JobResult {
    match ctx.data::<LeadRuns>()?.0.fetch_add(1, Ordering::SeqCst) {
        0 => {
            let jobs = ctx.jobs().ok_or_else(|| JobError::msg("no client"))?;
            Notify::enqueue(jobs)
                .delay(Duration::from_secs(90))
                .await
                .map_err(JobError::msg)?;
        }
        1 => ctx.clock().sleep(Duration::from_secs(150)).await,
        _ => {}
    }
    Ok(Outcome::none())
}

async fn ten_minutes_of_a_long_run_past_a_due_task(tick_by_tick: bool) -> Vec<Execution> {
    let mut builder = Simulation::builder(at("2026-05-01T00:00:30Z"))
        .jobs([Lead::descriptor(), Notify::descriptor()])
        .data(LeadRuns(AtomicU32::new(0)));
    if tick_by_tick {
        builder = builder.tick_by_tick();
    }
    let mut sim = builder.start().await.expect("a simulation");
    sim.advance(Duration::from_secs(600))
        .await
        .expect("ten minutes");
    history(&sim, None).await
}

#[tokio::test]
async fn a_task_that_falls_due_during_a_long_run_joins_the_pass_as_one_tick_at_a_time() {
    let batched = ten_minutes_of_a_long_run_past_a_due_task(false).await;
    let one_by_one = ten_minutes_of_a_long_run_past_a_due_task(true).await;
    let order: Vec<(&str, String)> = one_by_one
        .iter()
        .map(|e| {
            (
                e.job.as_str(),
                e.scheduled_at.format("%H:%M:%S").to_string(),
            )
        })
        .take(4)
        .collect();
    assert_eq!(
        order,
        [
            ("lead", "00:01:00".into()),
            ("lead", "00:02:00".into()),
            ("notify", "00:02:30".into()),
            ("lead", "00:03:00".into()),
        ],
        "the task due at 00:02:30 runs right after the long run, before the ticks it ran past"
    );
    assert_eq!(batched, one_by_one);
}

/// Calls a partner's API, which allows 100 calls a minute.
#[job(rate = "100/1m")]
async fn call_partner(n: u32) -> JobResult {
    Ok(Outcome::processed(u64::from(n)))
}

/// A rate holds on the virtual clock too: 1,000 tasks at 100 a minute take ten minutes (and
/// the rate's second of margin per window), never more than 100 starts in any minute.
#[tokio::test]
async fn a_rate_of_100_a_minute_spreads_1000_tasks_over_ten_minutes() {
    let start = at("2026-06-01T00:00:00Z");
    let mut sim = Simulation::builder(start)
        .jobs([CallPartner::descriptor()])
        .start()
        .await
        .expect("a simulation");
    for n in 0..1000 {
        CallPartner::enqueue(sim.jobs(), n).await.expect("enqueue");
    }
    sim.run_until(start + TimeDelta::minutes(15))
        .await
        .expect("run");
    let runs = history(&sim, Some("call_partner")).await;
    assert_eq!(runs.len(), 1000);
    assert!(runs.iter().all(|r| r.status == ExecutionStatus::Succeeded));
    let last = runs.iter().map(|r| r.started_at).max().expect("runs") - start;
    assert!(
        last >= TimeDelta::minutes(9) && last < TimeDelta::minutes(10),
        "the last started {last} after the first"
    );
    let starts: Vec<DateTime<Utc>> = runs.iter().map(|r| r.started_at).collect();
    for (i, first) in starts.iter().enumerate() {
        let in_window = starts[i..]
            .iter()
            .take_while(|s| **s - *first < TimeDelta::minutes(1))
            .count();
        assert!(
            in_window <= 100,
            "{in_window} starts in the minute from {first}"
        );
    }
}
