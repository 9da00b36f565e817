//! Runners, heartbeats and the rescue of lost claims.

use super::*;

#[tokio::test]
async fn claims_of_silent_runners_are_rescued_counting_the_attempt() {
    each_backend(async |store, now| {
        let lease = Duration::from_secs(10);
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

        let later = now + TimeDelta::seconds(5);
        assert!(
            store
                .rescue(later, lease, "alive", None)
                .await
                .expect("rescue")
                .is_empty(),
            "rescued within the lease"
        );

        let later = now + TimeDelta::seconds(11);
        assert!(store.heartbeat("alive", later).await.expect("heartbeat"));
        let rescued = store
            .rescue(later, lease, "alive", None)
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
        assert!(
            store
                .heartbeat("r1", now + TimeDelta::seconds(1))
                .await
                .expect("renew")
        );
        store.remove_runner("r2").await.expect("remove");
        let rows = store.runners().await.expect("runners");
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].id, "r1");
        assert_eq!(rows[0].heartbeat_at, now + TimeDelta::seconds(1));
        assert!(
            !store.heartbeat("r2", now).await.expect("renew"),
            "a removed runner's heartbeat finds no row"
        );
    })
    .await;
}
