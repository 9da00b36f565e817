//! The history at scale: on PostgreSQL partitioned by day of `finished_at` (retention drops
//! whole days), on SQLite one table pruned in short batches; on both, a row of any time is
//! stored and read.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use sqlx::Connection;

use super::*;

const DAY: i64 = 86_400_000;

fn at(millis: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(millis).expect("a time")
}

/// Stores one finished attempt of job `h` per instant of `ends` (its `finished_at` is the
/// instant): the tasks' ids, in order.
async fn finish_at(store: &Store, ends: &[DateTime<Utc>], now: DateTime<Utc>) -> Vec<i64> {
    let tasks: Vec<NewTask> = ends.iter().map(|_| task("h", now)).collect();
    let ids: Vec<i64> = store
        .insert_tasks(&tasks, now)
        .await
        .expect("insert")
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let claimed = store
        .claim("h", "r1", now, ends.len() as u32, false)
        .await
        .expect("claim");
    assert_eq!(claimed.len(), ends.len());
    let completions: Vec<Completion> = ids
        .iter()
        .zip(ends)
        .map(|(&id, &end)| {
            let mut execution = execution(id, 1, ExecutionStatus::Succeeded, end);
            execution.job = "h".into();
            execution.finished_at = end;
            Completion {
                task_id: id,
                attempt: 1,
                next_state: TaskState::Succeeded,
                retry_at: None,
                snoozed: false,
                execution,
                chain: None,
                follow_up: None,
            }
        })
        .collect();
    store
        .complete("r1", &completions, now)
        .await
        .expect("complete");
    ids
}

/// The `finished_at` of each task's history rows, in the order of `ids` (`None` for a task
/// with no row left).
async fn ends_of(store: &Store, ids: &[i64]) -> Vec<Option<DateTime<Utc>>> {
    let mut ends = Vec::new();
    for &id in ids {
        let rows = store
            .executions(&ExecutionFilter {
                task_id: Some(id),
                limit: 10,
                ..ExecutionFilter::default()
            })
            .await
            .expect("history");
        assert!(rows.len() <= 1, "task {id} has {} history rows", rows.len());
        ends.push(rows.first().map(|row| row.finished_at));
    }
    ends
}

/// The history's partitions on PostgreSQL, by name.
async fn partitions(store: &Store) -> Vec<String> {
    let mut c = postgres(store).await;
    sqlx::query_scalar(
        "SELECT partition::text FROM jobs_executions_partitions ORDER BY partition::text",
    )
    .fetch_all(&mut c)
    .await
    .expect("the partitions")
}

fn day_name(millis: i64) -> String {
    format!("jobs_executions_p{}", at(millis).format("%Y%m%d"))
}

/// A clock far behind or far ahead (the simulation's virtual clock runs years ahead) never
/// fails a completion: the row is stored and read, and stays readable when its day's
/// partition is made later and the row moves into it.
#[tokio::test]
async fn history_rows_of_any_finish_time_are_stored_and_stay_readable() {
    each_backend(async |store, now| {
        let ends = [
            at(0),
            now - TimeDelta::days(400),
            now,
            now + TimeDelta::days(3),
            now + TimeDelta::days(400),
            at(7_258_118_400_000), // 2200-01-01
        ];
        let ids = finish_at(&store, &ends, now).await;
        let expected: Vec<Option<DateTime<Utc>>> = ends.iter().copied().map(Some).collect();
        assert_eq!(ends_of(&store, &ids).await, expected);
        // The days around the far-future rows get their place: those rows move.
        let prepared = store
            .prepare_history(now + TimeDelta::days(400))
            .await
            .expect("prepare");
        let prepared_again = store
            .prepare_history(now + TimeDelta::days(400))
            .await
            .expect("prepare again");
        assert_eq!(ends_of(&store, &ids).await, expected);
        assert_eq!(history(&store).await.len(), ends.len());
        match store.backend() {
            Backend::Sqlite => assert_eq!((prepared, prepared_again), (0, 0)),
            Backend::Postgres => {
                assert_eq!((prepared, prepared_again), (8, 0));
                let names = partitions(&store).await;
                let far = millis_of(ends[4]);
                assert!(names.contains(&day_name(far)), "{names:?}");
                let mut c = postgres(&store).await;
                let in_default: i64 =
                    sqlx::query_scalar("SELECT COUNT(*) FROM jobs_executions_default")
                        .fetch_one(&mut c)
                        .await
                        .expect("count");
                // The row of 2200 has no day of its own (those of the past are in the
                // partition of the history from before version 8).
                assert_eq!(in_default, 1, "rows left in the default partition");
            }
        }
    })
    .await;
}

fn millis_of(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// Retention keeps every row that finished at or after the cut-off and removes every older
/// one; on PostgreSQL the partitions wholly before the cut-off are dropped (the history of
/// before version 8 among them), and the day that straddles it loses only its older rows.
#[tokio::test]
async fn pruning_keeps_every_row_after_the_cut_off() {
    each_backend(async |store, now| {
        let tomorrow = (millis_of(now) / DAY + 1) * DAY;
        let ends = [
            now - TimeDelta::days(2),
            now,
            at(tomorrow + 3_600_000),
            at(tomorrow + DAY + 3_600_000),
            at(tomorrow + DAY + 20 * 3_600_000),
            at(tomorrow + 2 * DAY + 3_600_000),
        ];
        let ids = finish_at(&store, &ends, now).await;
        let before = at(tomorrow + DAY + 10 * 3_600_000);
        let pruned = store.prune(before, 1000).await.expect("prune");
        assert_eq!(pruned.executions, 4);
        assert_eq!(
            ends_of(&store, &ids).await,
            [None, None, None, None, Some(ends[4]), Some(ends[5])]
        );
        let again = store.prune(before, 1000).await.expect("prune again");
        assert_eq!(again.executions, 0);
        if store.backend() == Backend::Postgres {
            let names = partitions(&store).await;
            for gone in ["jobs_executions_legacy".to_owned(), day_name(tomorrow)] {
                assert!(!names.contains(&gone), "{gone} is still there: {names:?}");
            }
            for kept in [day_name(tomorrow + DAY), day_name(tomorrow + 2 * DAY)] {
                assert!(names.contains(&kept), "{kept} went: {names:?}");
            }
        }
    })
    .await;
}

/// On PostgreSQL, the partitions of the days ahead exist before their rows arrive: the
/// migration makes the next ones, and each preparation those from its day on, once.
#[tokio::test]
async fn postgres_partitions_are_made_ahead_once() {
    each_backend(async |store, now| {
        if store.backend() != Backend::Postgres {
            return;
        }
        let today = millis_of(now) / DAY * DAY;
        let names = partitions(&store).await;
        for day in 1..8 {
            let name = day_name(today + day * DAY);
            assert!(names.contains(&name), "{name} is missing: {names:?}");
        }
        let later = now + TimeDelta::days(30);
        assert_eq!(store.prepare_history(later).await.expect("prepare"), 8);
        assert_eq!(store.prepare_history(later).await.expect("prepare"), 0);
        let names = partitions(&store).await;
        for day in 30..38 {
            let name = day_name(today + day * DAY);
            assert!(names.contains(&name), "{name} is missing: {names:?}");
        }
    })
    .await;
}

/// Two runners preparing and pruning at once (each runner's cleaner does both every hour)
/// never fail, make each day once, and lose no row of the days they prepare.
#[tokio::test]
async fn concurrent_maintenance_from_two_runners_does_not_fail() {
    each_backend(async |store, now| {
        let other = Store::connect(&store.display_url(), &Default::default())
            .await
            .expect("a second runner's store");
        let ahead = now + TimeDelta::days(100);
        // Rows of the days to prepare, stored before their partitions exist.
        let ends: Vec<DateTime<Utc>> = (0..8).map(|d| ahead + TimeDelta::days(d)).collect();
        let ids = finish_at(&store, &ends, now).await;
        let work = |store: Store| async move {
            let mut made = 0;
            for round in 0..4 {
                made += store
                    .prepare_history(ahead + TimeDelta::days(round))
                    .await
                    .expect("prepare");
                store
                    .prune(now - TimeDelta::days(30), 100)
                    .await
                    .expect("prune");
            }
            made
        };
        let (a, b) = tokio::join!(work(store.clone()), work(other.clone()));
        let expected: Vec<Option<DateTime<Utc>>> = ends.iter().copied().map(Some).collect();
        assert_eq!(ends_of(&store, &ids).await, expected);
        match store.backend() {
            Backend::Sqlite => assert_eq!(a + b, 0),
            // Days 100 to 110 made once each, by one runner or the other.
            Backend::Postgres => assert_eq!(a + b, 11),
        }
        other.close().await;
    })
    .await;
}

/// Pruning a large backlog of old history does not hold the runners up: while it goes (in
/// batches), a task is enqueued, claimed and completed, and the prune is still not done
/// when they are.
#[tokio::test]
async fn claims_and_completions_go_through_while_a_large_backlog_is_pruned() {
    const OLD_ROWS: i64 = 200_000;
    const BATCH: u32 = 1000;
    each_backend(async |store, now| {
        let old = millis_of(now - TimeDelta::days(60));
        let fill = format!(
            "INSERT INTO jobs_executions (task_id, job, attempt, trigger, scheduled_at, \
                 started_at, finished_at, duration_ms, status, runner_id) \
             SELECT i, 'old', 1, 'enqueue', {old}, {old}, {old} + i, 1, 'succeeded', 'r0' \
             FROM {series}",
            series = match store.backend() {
                Backend::Postgres => format!("generate_series(1, {OLD_ROWS}) AS i"),
                Backend::Sqlite => format!(
                    "(WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s \
                      WHERE i < {OLD_ROWS}) SELECT i FROM s)"
                ),
            }
        );
        match store.backend() {
            Backend::Postgres => {
                sqlx::raw_sql(sqlx::AssertSqlSafe(fill))
                    .execute(&mut postgres(&store).await)
                    .await
                    .expect("fill");
            }
            Backend::Sqlite => {
                let mut c = sqlx::SqliteConnection::connect(&store.display_url())
                    .await
                    .expect("connect");
                sqlx::raw_sql(sqlx::AssertSqlSafe(fill))
                    .execute(&mut c)
                    .await
                    .expect("fill");
            }
        }
        let batches = Arc::new(AtomicU64::new(0));
        let done = Arc::new(AtomicBool::new(false));
        let (started, mut first_batch) = tokio::sync::watch::channel(false);
        // The cleaner's loop: batch after batch until one is not full.
        let pruning = tokio::spawn({
            let (store, batches, done) = (store.clone(), batches.clone(), done.clone());
            async move {
                let mut total = 0;
                loop {
                    let pruned = store
                        .prune(now - TimeDelta::days(30), BATCH)
                        .await
                        .expect("prune");
                    total += pruned.executions;
                    batches.fetch_add(1, Ordering::SeqCst);
                    started.send_replace(true);
                    if !pruned.filled(BATCH) {
                        break;
                    }
                }
                done.store(true, Ordering::SeqCst);
                total
            }
        });
        first_batch
            .wait_for(|&started| started)
            .await
            .expect("the first batch");
        let ids = finish_at(&store, &[now], now).await;
        let prune_was_done = done.load(Ordering::SeqCst);
        let at_batch = batches.load(Ordering::SeqCst);
        let total = pruning.await.expect("the prune");
        let all = batches.load(Ordering::SeqCst);
        assert!(
            !prune_was_done,
            "the task was claimed and completed only after the prune's {all} batches ended"
        );
        eprintln!("claimed and completed after batch {at_batch} of {all}");
        assert_eq!(total, OLD_ROWS as u64);
        assert_eq!(ends_of(&store, &ids).await, [Some(now)]);
    })
    .await;
}

/// On PostgreSQL, every read of the history (by id, by job, by task, the newest) reaches
/// its rows through the partitions' indexes, never by a scan of a partition: the history is
/// filled across several day partitions and analysed, and the plans read.
#[tokio::test]
async fn postgres_history_reads_use_indexes_across_partitions() {
    let Some(base) = backends::postgres_url() else {
        return;
    };
    let (schema, url) = backends::fresh_schema(&base).await;
    let store = Store::connect(&url, &Default::default())
        .await
        .expect("open");
    store.migrate().await.expect("migrate");
    let mut c = postgres(&store).await;
    let now = Utc::now().timestamp_millis();
    for statement in [
        // Today (the partition from before version 8), the seven days ahead, and a day
        // far ahead, which has no partition (the default one).
        format!(
            "INSERT INTO jobs_executions (task_id, job, attempt, trigger, scheduled_at, \
                 started_at, finished_at, duration_ms, status, runner_id) \
             SELECT i, 'job' || (i % 20), 1, 'enqueue', {now}, {now}, \
                 {now} + (CASE WHEN i % 9 = 8 THEN 400 ELSE i % 9 END)::BIGINT * {DAY} + i, 5, \
                 CASE WHEN i % 50 = 0 THEN 'failed' ELSE 'succeeded' END, 'runner0' \
             FROM generate_series(1, 90000) AS i"
        ),
        "ANALYZE jobs_executions".to_owned(),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(statement))
            .execute(&mut c)
            .await
            .expect("fill");
    }
    for (statement, parameters) in job_runner::storage::postgres_history_queries() {
        super::overview::assert_reads_through_indexes(&mut c, &statement, &parameters).await;
    }
    drop(c);
    store.close().await;
    backends::drop_schema(&base, &schema).await;
}
