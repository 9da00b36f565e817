//! Announcements on PostgreSQL: LISTEN on one connection of its own, from the driver's
//! pool, or from a pool of direct connections (`listen_url`) when the driver's connections
//! go through a pooler in transaction mode, which cannot carry a session's LISTEN.

use async_trait::async_trait;
use sqlx::PgPool;
use sqlx::postgres::PgListener;

use super::{CANCELS_CHANNEL, ENDS_CHANNEL, SCHEDULES_CHANNEL, TASKS_CHANNEL};
use crate::storage::{Announcement, Doing, Listener, StoreError};

/// A subscription to the task, schedule and cancel channels.
pub(super) struct Announcements {
    listener: PgListener,
}

impl Announcements {
    /// Opens a connection and listens on both channels.
    pub(super) async fn subscribe(pool: &PgPool) -> Result<Announcements, StoreError> {
        const DOING: &str = "listening for new tasks";
        let mut listener = PgListener::connect_with(pool).await.doing(DOING)?;
        listener
            .listen_all([TASKS_CHANNEL, SCHEDULES_CHANNEL, CANCELS_CHANNEL])
            .await
            .doing(DOING)?;
        Ok(Announcements { listener })
    }

    /// Opens a connection and listens for the ends of awaited tasks.
    pub(super) async fn ends(pool: &PgPool) -> Result<Announcements, StoreError> {
        const DOING: &str = "listening for the ends of tasks";
        let mut listener = PgListener::connect_with(pool).await.doing(DOING)?;
        listener.listen(ENDS_CHANNEL).await.doing(DOING)?;
        Ok(Announcements { listener })
    }
}

#[async_trait]
impl Listener for Announcements {
    async fn next(&mut self) -> Result<Announcement, StoreError> {
        let notification = self
            .listener
            .try_recv()
            .await
            .doing("listening for new tasks")?;
        Ok(match notification {
            // The connection was lost; the next call reconnects. What was announced
            // meanwhile is lost.
            None => Announcement::Missed,
            Some(n) if n.channel() == SCHEDULES_CHANNEL => {
                Announcement::SchedulesChanged(n.payload().to_owned())
            }
            Some(n) if n.channel() == ENDS_CHANNEL => match n.payload().parse() {
                Ok(id) => Announcement::TaskEnded(id),
                Err(_) => Announcement::Missed,
            },
            Some(n) if n.channel() == CANCELS_CHANNEL => match n.payload().parse() {
                Ok(id) => Announcement::CancelRequested(id),
                // Not sent by this runner's code: look at everything once.
                Err(_) => Announcement::Missed,
            },
            Some(n) => Announcement::TaskDue(n.payload().to_owned()),
        })
    }
}
