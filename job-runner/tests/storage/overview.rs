//! The overview: the per-minute rollup written with the history, the queues' counts and
//! pause, and what runners hold.

use job_runner::storage::{MinuteCounts, MinuteWindow, PausedQueue};

use super::*;

/// An instant at the start of a minute, an hour ago: the attempts below end in known
/// minutes.
fn hour_ago_aligned(now: DateTime<Utc>) -> DateTime<Utc> {
    let ms = now.timestamp_millis() - 3_600_000;
    DateTime::from_timestamp_millis(ms - ms.rem_euclid(300_000)).expect("an instant")
}

/// The end of attempt `attempt` of `task_id` with `status`, started at `started` and
/// ended 10 ms later, its task due `waited` before it started.
fn ended(
    task_id: i64,
    attempt: u32,
    status: ExecutionStatus,
    started: DateTime<Utc>,
    waited: TimeDelta,
) -> NewExecution {
    let mut e = execution(task_id, attempt, status, started);
    e.scheduled_at = started - waited;
    e.finished_at = started + TimeDelta::milliseconds(10);
    e
}

fn completion(
    e: NewExecution,
    next_state: TaskState,
    retry_at: Option<DateTime<Utc>>,
) -> Completion {
    Completion {
        task_id: e.task_id,
        attempt: e.attempt,
        next_state,
        retry_at,
        snoozed: e.status == ExecutionStatus::Snoozed,
        execution: e,
        chain: None,
        follow_up: None,
    }
}

fn window(since: DateTime<Utc>, minutes: i64, bucket_minutes: i64) -> MinuteWindow {
    MinuteWindow {
        since,
        until: since + TimeDelta::minutes(minutes),
        bucket_ms: bucket_minutes * 60_000,
        job: None,
        queue: None,
    }
}

#[tokio::test]
async fn every_history_row_counts_in_the_rollup_of_its_minute() {
    each_backend(async |store, now| {
        let base = hour_ago_aligned(now);
        let ids: Vec<i64> = store
            .insert_tasks(&(0..5).map(|_| task("a", now)).collect::<Vec<_>>(), now)
            .await
            .expect("insert")
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        assert_eq!(
            store
                .claim("a", "r1", now, 5, false)
                .await
                .expect("claim")
                .len(),
            5
        );
        let at = |minutes: i64| base + TimeDelta::minutes(minutes) + TimeDelta::seconds(1);
        let s = TimeDelta::seconds;
        let batch = vec![
            // Minute 1: a success that waited 2 s, a failure that waited none.
            completion(
                ended(ids[0], 1, ExecutionStatus::Succeeded, at(1), s(2)),
                TaskState::Succeeded,
                None,
            ),
            completion(
                ended(ids[1], 1, ExecutionStatus::Failed, at(1), s(0)),
                TaskState::Pending,
                Some(now + s(3600)),
            ),
            // Minute 7: a death that waited 5 s, a snooze that waited 1 s, a cancellation.
            completion(
                ended(ids[2], 1, ExecutionStatus::Dead, at(7), s(5)),
                TaskState::Dead,
                None,
            ),
            completion(
                ended(ids[3], 1, ExecutionStatus::Snoozed, at(7), s(1)),
                TaskState::Pending,
                Some(now),
            ),
            completion(
                ended(ids[4], 1, ExecutionStatus::Cancelled, at(7), s(0)),
                TaskState::Cancelled,
                None,
            ),
        ];
        assert!(
            store
                .complete("r1", &batch, now)
                .await
                .expect("complete")
                .is_empty()
        );
        // The snoozed task runs again: the same attempt, not a first start any more.
        let again = store.claim("a", "r1", now, 5, false).await.expect("claim");
        assert_eq!(again.iter().map(|t| t.id).collect::<Vec<_>>(), vec![ids[3]]);
        let rerun = ended(ids[3], 1, ExecutionStatus::Succeeded, at(8), s(30));
        store
            .complete("r1", &[completion(rerun, TaskState::Succeeded, None)], now)
            .await
            .expect("complete");
        // A pending task cancelled by hand: counted, never started.
        let pending = store
            .insert_tasks(&[task("a", now + s(600))], now)
            .await
            .expect("insert")[0]
            .0;
        let cancelled_at = base + TimeDelta::minutes(8);
        assert!(matches!(
            store
                .cancel(pending, "cli", cancelled_at)
                .await
                .expect("cancel"),
            Transition::Applied(_)
        ));

        let buckets = store.minutes(&window(base, 15, 5)).await.expect("minutes");
        let at_of = |b: &job_runner::storage::MinuteBucket| (b.at - base).num_minutes();
        assert_eq!(
            buckets.iter().map(at_of).collect::<Vec<_>>(),
            vec![0, 5],
            "{buckets:?}"
        );
        assert_eq!(
            buckets[0].counts,
            MinuteCounts {
                succeeded: 1,
                failed: 1,
                duration_ms: 20,
                started: 2,
                waited_ms: 2000,
                max_waited_ms: 2000,
                ..MinuteCounts::default()
            }
        );
        assert_eq!(
            buckets[1].counts,
            MinuteCounts {
                succeeded: 1,
                dead: 1,
                cancelled: 2,
                snoozed: 1,
                duration_ms: 40,
                started: 3,
                waited_ms: 6000,
                max_waited_ms: 5000,
                ..MinuteCounts::default()
            }
        );
        // One-minute buckets: minutes 1, 7 and 8; a window that ends before minute 7 holds
        // minute 1 only.
        let minutes = store.minutes(&window(base, 60, 1)).await.expect("minutes");
        assert_eq!(minutes.iter().map(at_of).collect::<Vec<_>>(), vec![1, 7, 8]);
        let early = store.minutes(&window(base, 7, 1)).await.expect("minutes");
        assert_eq!(early.iter().map(at_of).collect::<Vec<_>>(), vec![1]);

        // Totals per job over the window; filters by job and by queue.
        let totals = store
            .minute_totals(&window(base, 60, 1))
            .await
            .expect("totals");
        assert_eq!(totals.len(), 1);
        assert_eq!(
            (totals[0].job.as_str(), totals[0].queue.as_str()),
            ("a", "default")
        );
        assert_eq!(
            (
                totals[0].counts.succeeded,
                totals[0].counts.cancelled,
                totals[0].counts.started
            ),
            (2, 2, 5)
        );
        let mut other = window(base, 60, 1);
        other.job = Some("b".into());
        assert!(store.minutes(&other).await.expect("minutes").is_empty());
        assert!(
            store
                .minute_totals(&other)
                .await
                .expect("totals")
                .is_empty()
        );
        let mut queue = window(base, 60, 60);
        queue.queue = Some("default".into());
        let one = store.minutes(&queue).await.expect("minutes");
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].counts.succeeded, 2);
    })
    .await;
}

#[tokio::test]
async fn a_rescued_attempt_counts_in_the_rollup() {
    each_backend(async |store, now| {
        let id = store
            .insert_tasks(&[task("a", now)], now)
            .await
            .expect("insert")[0]
            .0;
        store
            .register_runner(&runner("gone", now))
            .await
            .expect("register");
        assert_eq!(
            store
                .claim("a", "gone", now, 1, false)
                .await
                .expect("claim")
                .len(),
            1
        );
        let rescued = store
            .rescue(now, Duration::from_secs(30), "r2", Some("gone"), &AtOnce)
            .await
            .expect("rescue");
        assert_eq!(rescued.len(), 1);
        assert_eq!(rescued[0].task_id, id);
        let around = MinuteWindow {
            since: now - TimeDelta::hours(1),
            until: now + TimeDelta::hours(1),
            bucket_ms: 3_600_000 * 2,
            job: Some("a".into()),
            queue: None,
        };
        let totals = store.minute_totals(&around).await.expect("totals");
        assert_eq!(totals.len(), 1, "{totals:?}");
        let counts = &totals[0].counts;
        assert_eq!(counts.failed + counts.dead, 1, "{counts:?}");
        assert_eq!(counts.started, 1, "{counts:?}");
    })
    .await;
}

#[tokio::test]
async fn a_paused_queue_holds_its_tasks_from_every_claim_until_resumed() {
    each_backend(async |store, now| {
        let mut slow = task("s", now);
        slow.queue = "slow".into();
        let mut keyed = task("k", now);
        keyed.queue = "slow".into();
        keyed.partition_key = Some("x".into());
        store
            .insert_tasks(&[slow.clone(), slow, keyed, task("d", now)], now)
            .await
            .expect("insert");

        assert!(store.pause_queue("slow", now).await.expect("pause"));
        assert!(!store.pause_queue("slow", now).await.expect("pause again"));
        assert_eq!(
            store.paused_queues().await.expect("paused"),
            vec![PausedQueue {
                queue: "slow".into(),
                paused_at: now
            }]
        );
        let capped = Limits {
            concurrency: Some(5),
            ..Limits::default()
        };
        let rated = Limits {
            rate: Some((10, Duration::from_secs(60))),
            ..Limits::default()
        };
        let per_key = Limits {
            concurrency: Some(5),
            per_key: true,
            ..Limits::default()
        };
        assert!(
            store
                .claim("s", "r1", now, 5, false)
                .await
                .expect("claim")
                .is_empty()
        );
        assert!(
            store
                .claim_within("s", "r1", now, 5, &capped)
                .await
                .expect("claim")
                .is_empty()
        );
        assert!(
            store
                .claim_within("s", "r1", now, 5, &rated)
                .await
                .expect("claim")
                .is_empty()
        );
        assert!(
            store
                .claim_within("k", "r1", now, 5, &per_key)
                .await
                .expect("claim")
                .is_empty()
        );
        // Other queues run.
        assert_eq!(
            store
                .claim("d", "r1", now, 5, false)
                .await
                .expect("claim")
                .len(),
            1
        );

        assert!(store.resume_queue("slow").await.expect("resume"));
        assert!(!store.resume_queue("slow").await.expect("resume again"));
        assert!(store.paused_queues().await.expect("paused").is_empty());
        assert_eq!(
            store
                .claim_within("s", "r1", now, 1, &capped)
                .await
                .expect("claim")
                .len(),
            1
        );
        assert_eq!(
            store
                .claim("s", "r1", now, 5, false)
                .await
                .expect("claim")
                .len(),
            1
        );
        assert_eq!(
            store
                .claim_within("k", "r1", now, 5, &per_key)
                .await
                .expect("claim")
                .len(),
            1
        );
    })
    .await;
}

#[tokio::test]
async fn queues_count_their_tasks_and_runners_show_what_they_hold() {
    each_backend(async |store, now| {
        let mut later = task("s", now + TimeDelta::minutes(5));
        later.queue = "slow".into();
        let mut due = task("s", now - TimeDelta::seconds(30));
        due.queue = "slow".into();
        let ids = store
            .insert_tasks(&[task("d", now), task("d", now), later, due], now)
            .await
            .expect("insert");
        let claimed = store.claim("d", "r1", now, 1, false).await.expect("claim");
        assert_eq!(claimed.len(), 1);

        let queues = store.queue_counts(now).await.expect("queues");
        let shown: Vec<_> = queues
            .iter()
            .map(|q| (q.queue.as_str(), q.pending, q.due, q.running, q.oldest_due))
            .collect();
        assert_eq!(
            shown,
            vec![
                ("default", 1, 1, 1, Some(now)),
                ("slow", 2, 1, 0, Some(now - TimeDelta::seconds(30))),
            ]
        );

        let held = store.holdings().await.expect("holdings");
        assert_eq!(held.len(), 1);
        assert_eq!(
            (
                held[0].runner.as_str(),
                held[0].task_id,
                held[0].job.as_str(),
                held[0].attempt
            ),
            ("r1", ids[0].0, "d", 1)
        );
        assert!(store.queue_counts(now).await.expect("queues").len() == 2);
    })
    .await;
}

/// On PostgreSQL, every statement of the overview and of the queue listing reads its rows
/// through an index, never by a scan of the tasks, the history or the rollup: the tables
/// are filled (50,000 tasks, mostly finished; 50,000 rows of rollup) and analysed, and the
/// plans read.
#[tokio::test]
async fn postgres_overview_statements_use_indexes() {
    let Some(base) = backends::postgres_url() else {
        return;
    };
    let (schema, url) = backends::fresh_schema(&base).await;
    let store = Store::connect(&url, &Default::default())
        .await
        .expect("open");
    store.migrate().await.expect("migrate");
    let mut connection = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
        .await
        .expect("connect");
    for statement in [
        "INSERT INTO jobs_tasks (job, queue, args, state, run_at, scheduled_at, max_attempts, \
             trigger, created_at, finished_at, locked_by, locked_at, attempt) \
         SELECT 'job' || (i % 20), 'queue' || (i % 5), '{}', \
             CASE WHEN i % 100 = 0 THEN 'pending' WHEN i % 100 = 1 THEN 'running' \
                  WHEN i % 100 = 2 THEN 'dead' ELSE 'succeeded' END, \
             i * 1000, i * 1000, 3, 'enqueue', i * 1000, \
             CASE WHEN i % 100 > 1 THEN i * 1000 + 5 END, \
             CASE WHEN i % 100 = 1 THEN 'runner' || (i % 3) END, \
             CASE WHEN i % 100 = 1 THEN i * 1000 END, 1 \
         FROM generate_series(1, 50000) AS i",
        "INSERT INTO jobs_executions (task_id, job, attempt, trigger, scheduled_at, started_at, \
             finished_at, duration_ms, status, runner_id) \
         SELECT i, 'job' || (i % 20), 1, 'enqueue', i * 1000, i * 1000, i * 1000 + 5, 5, \
             'succeeded', 'runner0' FROM generate_series(1, 50000) AS i",
        "INSERT INTO jobs_minutes (minute, job, queue, succeeded, started) \
         SELECT (i / 4) * 60000, 'job' || (i % 4), 'queue' || (i % 4), 1, 1 \
         FROM generate_series(1, 50000) AS i",
        "ANALYZE jobs_tasks",
        "ANALYZE jobs_executions",
        "ANALYZE jobs_minutes",
    ] {
        sqlx::query(statement)
            .execute(&mut connection)
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
    for (statement, parameters) in job_runner::storage::POSTGRES_OVERVIEW_QUERIES {
        assert_reads_through_indexes(&mut connection, statement, parameters).await;
    }
    store.close().await;
    backends::drop_schema(&base, &schema).await;
}

/// Asserts that `statement`, with `parameters` (a number is bound as a `bigint`, other text
/// as text, `None` as NULL), reads through an index and scans no table that grows.
pub(crate) async fn assert_reads_through_indexes(
    connection: &mut sqlx::PgConnection,
    statement: &str,
    parameters: &[Option<&str>],
) {
    let explain = format!("EXPLAIN (FORMAT JSON) {statement}");
    // Not kept prepared: the same statement may come again with NULLs of other types.
    let mut query = sqlx::query(sqlx::AssertSqlSafe(explain)).persistent(false);
    for parameter in parameters {
        query = match parameter.map(|p| p.parse::<i64>()) {
            Some(Ok(number)) => query.bind(number),
            Some(Err(_)) => query.bind(parameter.map(str::to_owned)),
            None => query.bind(None::<String>),
        };
    }
    let row = query
        .fetch_one(connection)
        .await
        .unwrap_or_else(|e| panic!("EXPLAIN {statement}: {e}"));
    // A `json` value, whose wire form is its text.
    let text: String = sqlx::Row::try_get_unchecked(&row, 0).expect("the plan's text");
    let plan: serde_json::Value = serde_json::from_str(&text).expect("the plan as JSON");
    assert!(text.contains("Index"), "{statement}: no index in {text}");
    let mut scans = Vec::new();
    seq_scans(&plan, &mut scans);
    assert!(
        scans.is_empty(),
        "{statement}\nscans {scans:?} whole:\n{}",
        serde_json::to_string_pretty(&plan).unwrap_or_default()
    );
}

/// The tables a plan reads with a `Seq Scan`, of those that grow (the history's partitions
/// among them: `jobs_executions_*`).
fn seq_scans(plan: &serde_json::Value, out: &mut Vec<String>) {
    match plan {
        serde_json::Value::Object(node) => {
            if node.get("Node Type").and_then(|t| t.as_str()) == Some("Seq Scan")
                && let Some(table) = node.get("Relation Name").and_then(|t| t.as_str())
                && (["jobs_tasks", "jobs_minutes"].contains(&table)
                    || table.starts_with("jobs_executions"))
            {
                out.push(table.to_owned());
            }
            node.values().for_each(|v| seq_scans(v, out));
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| seq_scans(v, out)),
        _ => {}
    }
}

#[tokio::test]
async fn a_batch_with_a_chain_step_counts_each_attempt_once() {
    each_backend(async |store, now| {
        let ids: Vec<i64> = store
            .insert_tasks(&[task("a", now), task("a", now)], now)
            .await
            .expect("insert")
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        assert_eq!(
            store
                .claim("a", "r1", now, 2, false)
                .await
                .expect("claim")
                .len(),
            2
        );
        let plain = completion(
            ended(
                ids[0],
                1,
                ExecutionStatus::Succeeded,
                now,
                TimeDelta::zero(),
            ),
            TaskState::Succeeded,
            None,
        );
        let mut step = completion(
            ended(ids[1], 1, ExecutionStatus::Dead, now, TimeDelta::zero()),
            TaskState::Dead,
            None,
        );
        step.chain = Some(job_runner::storage::ChainLink {
            id: ids[1],
            step: 1,
            rest: Vec::new(),
        });
        // A stale end of the step's task: not counted.
        let stale = completion(
            ended(ids[1], 1, ExecutionStatus::Dead, now, TimeDelta::zero()),
            TaskState::Dead,
            None,
        );
        assert!(
            store
                .complete("r1", &[plain, step], now)
                .await
                .expect("complete")
                .is_empty()
        );
        assert_eq!(
            store.complete("r1", &[stale], now).await.expect("complete"),
            vec![ids[1]]
        );
        let around = MinuteWindow {
            since: now - TimeDelta::hours(1),
            until: now + TimeDelta::hours(1),
            bucket_ms: 7_200_000,
            job: None,
            queue: None,
        };
        let totals = store.minute_totals(&around).await.expect("totals");
        assert_eq!(totals.len(), 1, "{totals:?}");
        let counts = &totals[0].counts;
        assert_eq!(
            (counts.succeeded, counts.dead, counts.started),
            (1, 1, 2),
            "{counts:?}"
        );
    })
    .await;
}
