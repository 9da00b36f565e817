//! Cron ticks.

use super::*;

#[tokio::test]
async fn each_tick_is_taken_once() {
    each_backend(async |store, now| {
        let tick = now + TimeDelta::seconds(1);
        let mut cron = task("nightly", tick);
        cron.trigger = Trigger::Cron;
        let outcomes = futures_util::future::join_all(
            (0..5).map(|_| store.take_tick("nightly", tick, &cron, now)),
        )
        .await;
        let enqueued = outcomes
            .iter()
            .filter(|o| matches!(o, Ok(TickOutcome::Enqueued(_))))
            .count();
        assert_eq!(enqueued, 1, "{outcomes:?}");
        assert!(
            outcomes
                .iter()
                .all(|o| matches!(o, Ok(TickOutcome::Enqueued(_) | TickOutcome::AlreadyTaken)))
        );

        store.pause("nightly", now).await.expect("pause");
        let next = tick + TimeDelta::seconds(1);
        assert_eq!(
            store
                .take_tick("nightly", next, &cron, now)
                .await
                .expect("tick"),
            TickOutcome::Paused
        );
        store.resume("nightly").await.expect("resume");

        cron.exclusive = true;
        let after = next + TimeDelta::seconds(1);
        assert_eq!(
            store
                .take_tick("nightly", after, &cron, now)
                .await
                .expect("tick"),
            TickOutcome::StillRunning
        );
    })
    .await;
}

#[tokio::test]
async fn ticks_taken_in_a_batch_are_claimed_at_their_instants_and_can_be_given_back() {
    each_backend(async |store, now| {
        let tick = |job: &str, seconds: i64| {
            let at = now + TimeDelta::seconds(seconds);
            let mut cron = task(job, at);
            cron.trigger = Trigger::Cron;
            TickTask {
                schedule_id: job.into(),
                tick_at: at,
                task: cron,
            }
        };
        store.pause("paused", now).await.expect("pause");
        let ticks = [
            tick("minutely", 60),
            tick("paused", 60),
            tick("minutely", 120),
            tick("minutely", 180),
        ];
        let taken = store
            .take_ticks(&ticks, "sim")
            .await
            .expect("take")
            .expect("none taken before");
        assert!(taken[1].is_none(), "a paused job's tick is skipped");
        let ids: Vec<i64> = taken.iter().flatten().map(|t| t.id).collect();
        assert_eq!(ids.len(), 3);
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids in taking order");
        for (claimed, seconds) in taken.iter().flatten().zip([60, 120, 180]) {
            assert_eq!(claimed.attempt, 1);
            let row = store.task(claimed.id).await.expect("read").expect("stored");
            assert_eq!(row.state, TaskState::Running);
            assert_eq!(row.locked_by.as_deref(), Some("sim"));
            assert_eq!(
                row.created_at,
                now + TimeDelta::seconds(seconds),
                "taken at its tick"
            );
        }

        assert!(
            store
                .take_ticks(&ticks[2..], "sim")
                .await
                .expect("take")
                .is_none(),
            "ticks already taken: nothing stored"
        );
        let mut exclusive = tick("single", 60);
        exclusive.task.exclusive = true;
        assert!(
            store
                .take_ticks(&[exclusive], "sim")
                .await
                .expect("take")
                .is_none(),
            "an exclusive job's ticks are taken one by one"
        );
        let stored = store
            .tasks(&TaskFilter {
                limit: 100,
                ..TaskFilter::default()
            })
            .await
            .expect("tasks");
        assert_eq!(stored.len(), 3, "refused batches store nothing");

        // The second tick's task goes back to pending; the third tick is given back whole.
        let third = TakenTick {
            schedule_id: "minutely".into(),
            tick_at: ticks[3].tick_at,
            task_id: ids[2],
        };
        store
            .release_ticks(&[third], &[ids[1]])
            .await
            .expect("release");
        assert!(store.task(ids[2]).await.expect("read").is_none());
        let back = store.task(ids[1]).await.expect("read").expect("kept");
        assert_eq!(
            (back.state, back.attempt, back.locked_by),
            (TaskState::Pending, 0, None)
        );
        let again = store
            .take_tick(
                "minutely",
                ticks[3].tick_at,
                &ticks[3].task,
                ticks[3].tick_at,
            )
            .await
            .expect("tick");
        let TickOutcome::Enqueued(id) = again else {
            panic!("a tick given back is taken again: {again:?}");
        };
        if store.backend() == Backend::Sqlite {
            assert_eq!(id, ids[2], "SQLite hands the id out again");
        }
        let claimed = store
            .claim("minutely", "r1", now + TimeDelta::seconds(120), 10, false)
            .await
            .expect("claim");
        assert_eq!(
            claimed
                .iter()
                .map(|t| (t.id, t.attempt))
                .collect::<Vec<_>>(),
            [(ids[1], 1)]
        );
    })
    .await;
}

#[tokio::test]
async fn the_last_tick_of_each_schedule_is_known() {
    each_backend(async |store, now| {
        assert_eq!(store.last_tick("s1").await.expect("last"), None);
        for (schedule, at) in [
            ("s1", now),
            ("s1", now + TimeDelta::minutes(1)),
            ("s2", now),
        ] {
            let outcome = store
                .take_tick(schedule, at, &task("a", at), at)
                .await
                .expect("tick");
            assert!(matches!(outcome, TickOutcome::Enqueued(_)), "{outcome:?}");
        }
        assert_eq!(
            store.last_tick("s1").await.expect("last"),
            Some(now + TimeDelta::minutes(1))
        );
        let mut all = store.last_ticks().await.expect("last ticks");
        all.sort();
        assert_eq!(
            all,
            vec![
                ("s1".to_owned(), now + TimeDelta::minutes(1)),
                ("s2".to_owned(), now)
            ]
        );
    })
    .await;
}
