//! Runners, heartbeats and the rescue of lost claims.

use super::*;

/// Leases are judged on the store's clock (the server's, on PostgreSQL): these tests wait
/// for a short lease to pass in real time.
const LEASE: Duration = Duration::from_millis(1000);

async fn past_the_lease() {
    tokio::time::sleep(LEASE + Duration::from_millis(200)).await;
}

#[tokio::test]
async fn claims_of_silent_runners_are_rescued_counting_the_attempt() {
    each_backend(async |store, now| {
        let lease = LEASE;
        let mut last_chance = task("a", now);
        last_chance.max_attempts = 1;
        let ids = store
            .insert_tasks(&[task("a", now), last_chance], now)
            .await
            .expect("insert");
        store
            .register_runner(&runner("dead", now))
            .await
            .expect("register");
        store
            .register_runner(&runner("alive", now))
            .await
            .expect("register");
        assert_eq!(
            store
                .claim("a", "dead", now, 2, false)
                .await
                .expect("claim")
                .len(),
            2
        );

        assert!(
            store
                .rescue(Utc::now(), lease, "alive", None, &AtOnce)
                .await
                .expect("rescue")
                .is_empty(),
            "rescued within the lease"
        );

        past_the_lease().await;
        let later = Utc::now();
        assert!(store.heartbeat("alive", later).await.expect("heartbeat"));
        let rescued = store
            .rescue(later, lease, "alive", None, &AtOnce)
            .await
            .expect("rescue");
        assert_eq!(rescued.len(), 2);
        let first = store.task(ids[0].0).await.expect("read").expect("exists");
        assert_eq!((first.state, first.attempt), (TaskState::Pending, 1));
        let last = store.task(ids[1].0).await.expect("read").expect("exists");
        assert_eq!(
            last.state,
            TaskState::Dead,
            "a lost last attempt is not retried"
        );
        let history = history(&store).await;
        assert_eq!(history.len(), 2);
        assert!(history.iter().all(|e| {
            e.error
                .as_deref()
                .unwrap_or_default()
                .contains("stopped heartbeating")
        }));
        let runners: Vec<String> = store
            .runners()
            .await
            .expect("runners")
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(runners, ["alive"], "the silent runner is unregistered");
        assert!(
            !store.heartbeat("dead", later).await.expect("heartbeat"),
            "a rescued runner is told so"
        );
    })
    .await;
}

#[tokio::test]
async fn runners_register_renew_and_leave() {
    each_backend(async |store, now| {
        store
            .register_runner(&runner("r1", now))
            .await
            .expect("register");
        store
            .register_runner(&runner("r2", now))
            .await
            .expect("register");
        let registered = store.runners().await.expect("runners")[0].heartbeat_at;
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(store.heartbeat("r1", Utc::now()).await.expect("renew"));
        store.remove_runner("r2").await.expect("remove");
        let rows = store.runners().await.expect("runners");
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].id, "r1");
        assert!(
            rows[0].heartbeat_at > registered,
            "a heartbeat moves the lease forward"
        );
        assert!(
            !store.heartbeat("r2", now).await.expect("renew"),
            "a removed runner's heartbeat finds no row"
        );
    })
    .await;
}

#[tokio::test]
async fn a_claim_whose_runner_was_declared_dead_is_rescued_after_the_lease_not_at_once() {
    each_backend(async |store, now| {
        store
            .insert_tasks(&[task("a", now)], now)
            .await
            .expect("insert");
        store
            .register_runner(&runner("r1", now))
            .await
            .expect("register");
        store
            .register_runner(&runner("alive", now))
            .await
            .expect("register");
        assert_eq!(
            store
                .claim("a", "r1", now, 1, false)
                .await
                .expect("claim")
                .len(),
            1
        );
        // Declared dead (its row removed) but alive: it claimed again before registering
        // anew. Its claim is as young as it is: rescued only once the lease has passed.
        store.remove_runner("r1").await.expect("remove");
        assert!(
            store
                .rescue(Utc::now(), LEASE, "alive", None, &AtOnce)
                .await
                .expect("rescue")
                .is_empty(),
            "a fresh claim of an unregistered runner was rescued at once"
        );
        past_the_lease().await;
        store
            .heartbeat("alive", Utc::now())
            .await
            .expect("heartbeat");
        let rescued = store
            .rescue(Utc::now(), LEASE, "alive", None, &AtOnce)
            .await
            .expect("rescue");
        assert_eq!(rescued.len(), 1);
        assert!(
            history(&store).await[0]
                .error
                .as_deref()
                .unwrap_or_default()
                .contains("is gone")
        );
    })
    .await;
}

/// On a store shared by many hosts, leases are judged on the store's own clock: runners
/// whose clocks are 30 s apart never take over each other's live claims. (On SQLite every
/// runner reads one host's clock.)
#[tokio::test]
async fn runners_whose_clocks_disagree_rescue_nothing_that_is_alive() {
    each_backend(async |store, now| {
        if store.backend() == Backend::Sqlite {
            return;
        }
        let behind = now - TimeDelta::seconds(30);
        let ahead = now + TimeDelta::seconds(30);
        store
            .insert_tasks(&[task("a", behind)], now)
            .await
            .expect("insert");
        store
            .register_runner(&runner("slow", behind))
            .await
            .expect("register");
        store
            .register_runner(&runner("fast", ahead))
            .await
            .expect("register");
        assert_eq!(
            store
                .claim("a", "slow", behind, 1, false)
                .await
                .expect("claim")
                .len(),
            1
        );
        assert!(store.heartbeat("slow", behind).await.expect("heartbeat"));
        let lease = Duration::from_secs(10);
        assert!(
            store
                .rescue(ahead, lease, "fast", None, &AtOnce)
                .await
                .expect("rescue")
                .is_empty(),
            "a runner 30 s ahead took over a live claim"
        );
        assert!(
            store
                .rescue(behind, lease, "slow", None, &AtOnce)
                .await
                .expect("rescue")
                .is_empty()
        );
        assert_eq!(store.runners().await.expect("runners").len(), 2);
    })
    .await;
}

/// A lost attempt's task runs again when the retry policy says, as a failed one does.
#[tokio::test]
async fn a_lost_attempt_is_retried_when_the_policy_says() {
    struct InAMinute;
    impl RetryPolicy for InAMinute {
        fn retry_at(&self, failed: &FailedAttempt<'_>) -> Option<DateTime<Utc>> {
            assert_eq!(
                (failed.job, failed.attempt, failed.error.is_permanent()),
                ("a", 1, false)
            );
            Some(failed.at + TimeDelta::minutes(1))
        }
    }
    each_backend(async |store, now| {
        let id = store
            .insert_tasks(&[task("a", now)], now)
            .await
            .expect("insert")[0]
            .0;
        store
            .claim("a", "leaving", now, 1, false)
            .await
            .expect("claim");
        let rescued = store
            .rescue(now, LEASE, "other", Some("leaving"), &InAMinute)
            .await
            .expect("rescue");
        assert_eq!(rescued.len(), 1);
        let task = store.task(id).await.expect("read").expect("stored");
        assert_eq!(
            (task.state, task.run_at),
            (TaskState::Pending, now + TimeDelta::minutes(1))
        );
        assert!(
            store
                .claim("a", "other", now, 1, false)
                .await
                .expect("claim")
                .is_empty()
        );
    })
    .await;
}

#[tokio::test]
async fn the_jobs_runners_run_are_recorded_and_the_newest_settings_win() {
    each_backend(async |store, now| {
        let job = |name: &str, queue: &str, keyed| KnownJob {
            job: name.into(),
            queue: queue.into(),
            priority: 3,
            max_attempts: 11,
            exclusive: false,
            keyed,
        };
        assert!(store.known_jobs().await.expect("read").is_empty());
        store
            .record_jobs(&[job("b", "default", false), job("a", "mail", true)], now)
            .await
            .expect("record");
        // Another runner, with a newer build: its settings replace those of its jobs, and
        // the jobs it does not have are kept.
        store
            .record_jobs(&[job("b", "reports", false)], now)
            .await
            .expect("record");
        store
            .record_jobs(&[], now)
            .await
            .expect("nothing to record");
        assert_eq!(
            store.known_jobs().await.expect("read"),
            [job("a", "mail", true), job("b", "reports", false)]
        );
    })
    .await;
}
