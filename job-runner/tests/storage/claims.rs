//! Claiming due tasks.

use super::*;

#[tokio::test]
async fn claims_take_due_tasks_by_priority_then_age_and_count_the_attempt() {
    each_backend(async |store, now| {
        let mut low = task("a", now - TimeDelta::seconds(10));
        low.priority = 0;
        let mut high = task("a", now - TimeDelta::seconds(1));
        high.priority = 5;
        let later = task("a", now + TimeDelta::seconds(60));
        let other = task("b", now);
        let ids = store
            .insert_tasks(&[low, high, later, other], now)
            .await
            .expect("insert");
        assert_eq!(ids.len(), 4);
        assert!(ids.iter().all(|(_, existing)| !existing));

        let claimed = store.claim("a", "r1", now, 10, false).await.expect("claim");
        let claimed_ids: Vec<i64> = claimed.iter().map(|t| t.id).collect();
        assert_eq!(
            claimed_ids,
            [ids[1].0, ids[0].0],
            "priority first, then the oldest"
        );
        assert!(
            claimed
                .iter()
                .all(|t| t.attempt == 1 && t.max_attempts == 3)
        );
        assert_eq!(claimed[0].args, r#"{"n":1}"#);
        assert!(
            store
                .claim("a", "r1", now, 10, false)
                .await
                .expect("claim")
                .is_empty(),
            "claimed twice"
        );
        assert_eq!(
            store.next_due("a").await.expect("next due"),
            Some(now + TimeDelta::seconds(60))
        );
        let row = store.task(ids[0].0).await.expect("read").expect("exists");
        assert_eq!(row.state, TaskState::Running);
        assert_eq!(row.locked_by.as_deref(), Some("r1"));
    })
    .await;
}

#[tokio::test]
async fn concurrent_claimers_never_share_a_task() {
    each_backend(async |store, now| {
        let tasks: Vec<NewTask> = (0..400).map(|_| task("a", now)).collect();
        store.insert_tasks(&tasks, now).await.expect("insert");
        let claimers = (0..4).map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let batch = store
                        .claim("a", &format!("r{i}"), now, 7, false)
                        .await
                        .expect("claim");
                    if batch.is_empty() {
                        return mine;
                    }
                    mine.extend(batch.into_iter().map(|t| t.id));
                }
            })
        });
        let mut seen = HashSet::new();
        let mut total = 0;
        for claimer in claimers {
            for id in claimer.await.expect("a claimer") {
                total += 1;
                assert!(seen.insert(id), "task {id} was claimed twice");
            }
        }
        assert_eq!(total, 400);
    })
    .await;
}

#[tokio::test]
async fn paused_jobs_hold_their_tasks_and_exclusive_jobs_run_one_at_a_time() {
    each_backend(async |store, now| {
        store
            .insert_tasks(&[task("a", now)], now)
            .await
            .expect("insert");
        assert!(store.pause("a", now).await.expect("pause"));
        assert!(!store.pause("a", now).await.expect("pause again"));
        assert!(
            store
                .claim("a", "r1", now, 10, false)
                .await
                .expect("claim")
                .is_empty()
        );
        assert_eq!(store.paused().await.expect("paused"), ["a"]);
        assert!(store.resume("a").await.expect("resume"));
        assert_eq!(
            store
                .claim("a", "r1", now, 10, false)
                .await
                .expect("claim")
                .len(),
            1
        );

        let mut one = task("x", now);
        one.exclusive = true;
        store
            .insert_tasks(&[one.clone(), one], now)
            .await
            .expect("insert");
        assert_eq!(
            store
                .claim("x", "r1", now, 10, true)
                .await
                .expect("claim")
                .len(),
            1
        );
        assert!(
            store
                .claim("x", "r2", now, 10, true)
                .await
                .expect("claim")
                .is_empty(),
            "two exclusive runs at once"
        );
    })
    .await;
}
