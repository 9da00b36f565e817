//! The controls: cancel, retry, pause, resume.

use super::*;

#[tokio::test]
async fn cancel_and_retry_move_only_tasks_in_the_right_state() {
    each_backend(async |store, now| {
        let ids = store
            .insert_tasks(&[task("a", now), task("a", now)], now)
            .await
            .expect("insert");
        let applied = |transition: Transition| match transition {
            Transition::Applied(task) => task,
            other => panic!("not applied: {other:?}"),
        };
        let refused = |transition: Transition| match transition {
            Transition::Refused(task) => task,
            other => panic!("not refused: {other:?}"),
        };
        let cancelled = applied(store.cancel(ids[0].0, "cli", now).await.expect("cancel"));
        assert_eq!(cancelled.state, TaskState::Cancelled);
        // Refused, with the task as found.
        let again = refused(store.cancel(ids[0].0, "cli", now).await.expect("cancel"));
        assert_eq!(again.state, TaskState::Cancelled);
        let pending = refused(store.retry(ids[1].0, 3, now).await.expect("retry"));
        assert_eq!(pending.state, TaskState::Pending);
        let retried = applied(store.retry(ids[0].0, 3, now).await.expect("retry"));
        assert_eq!(
            (retried.state, retried.max_attempts),
            (TaskState::Pending, 3)
        );
        assert!(matches!(
            store.cancel(999_999, "cli", now).await.expect("cancel"),
            Transition::NotFound
        ));
    })
    .await;
}
