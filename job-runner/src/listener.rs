//! The listener (PostgreSQL): wakes this runner's workers when any process stores a task
//! that is due now, through LISTEN/NOTIFY. Delayed tasks and retries are found by the
//! workers' own timers, and the poll interval covers notifications lost while the
//! connection was down.

use std::time::Duration;

use sqlx::postgres::PgListener;
use tokio::sync::watch;

use crate::client::Wakers;
use crate::storage::{Db, SCHEDULES_CHANNEL, Store, TASKS_CHANNEL};

/// Listens until `stop`; does nothing on SQLite.
pub(crate) async fn run(
    store: Store,
    wakers: Wakers,
    schedules_changed: std::sync::Arc<tokio::sync::Notify>,
    mut stop: watch::Receiver<bool>,
) {
    let Db::Postgres(pool) = &store.db else {
        return;
    };
    let retry = Duration::from_secs(1);
    loop {
        let listener = async {
            let mut listener = PgListener::connect_with(pool).await?;
            listener
                .listen_all([TASKS_CHANNEL, SCHEDULES_CHANNEL])
                .await?;
            Ok::<_, sqlx::Error>(listener)
        };
        let mut listener = tokio::select! {
            listener = listener => match listener {
                Ok(listener) => listener,
                Err(error) => {
                    tracing::warn!(%error, "cannot listen for new tasks; polling meanwhile");
                    tokio::select! {
                        _ = tokio::time::sleep(retry) => continue,
                        _ = stop.changed() => return,
                    }
                }
            },
            _ = stop.changed() => return,
        };
        // Tasks stored and schedules changed while not listening: let every worker and the
        // scheduler look once.
        wakers.wake_all();
        schedules_changed.notify_one();
        loop {
            tokio::select! {
                notification = listener.try_recv() => match notification {
                    Ok(Some(notification)) if notification.channel() == SCHEDULES_CHANNEL => schedules_changed.notify_one(),
                    Ok(Some(notification)) => wakers.wake(notification.payload()),
                    Ok(None) => {
                        tracing::warn!("lost the connection that listens for new tasks; reconnecting");
                        wakers.wake_all();
                    }
                    Err(error) => {
                        tracing::warn!(%error, "listening for new tasks failed; reconnecting");
                        break;
                    }
                },
                _ = stop.changed() => return,
            }
        }
    }
}
