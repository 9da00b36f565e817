//! Callers waiting for tasks to end: one subscription to the store's announcements of ended
//! tasks per client, shared by every wait, started by the first and stopped when no one has
//! waited for a while. Where the store has no announcements (SQLite), callers poll.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, broadcast};

use crate::storage::{Announcement, Listener, Store};

/// How long the subscription stays open with no one waiting.
const IDLE: Duration = Duration::from_secs(30);

/// What waiters receive: the id of an ended task, or [`ANY`] (look again: announcements may
/// have been missed).
pub(crate) const ANY: i64 = -1;

/// The shared subscription of a client.
#[derive(Clone, Default)]
pub(crate) struct Ends {
    sender: Arc<Mutex<Option<broadcast::Sender<i64>>>>,
}

impl Ends {
    /// A receiver of the ids of ended tasks, starting the subscription if none is open;
    /// `None` where the store has none (or it cannot be opened: the caller polls).
    pub(crate) async fn subscribe(&self, store: &Store) -> Option<broadcast::Receiver<i64>> {
        let mut slot = self.sender.lock().await;
        if let Some(sender) = slot.as_ref() {
            return Some(sender.subscribe());
        }
        let listener = match store.listen_ends().await {
            Ok(listener) => listener?,
            Err(error) => {
                tracing::warn!(%error, "cannot listen for the ends of tasks; waiting by polling");
                return None;
            }
        };
        let (sender, receiver) = broadcast::channel(1024);
        tokio::spawn(forward(listener, sender.clone(), self.sender.clone()));
        *slot = Some(sender);
        Some(receiver)
    }
}

/// Passes the announcements on until the subscription fails or no one waits.
async fn forward(
    mut listener: Box<dyn Listener>,
    sender: broadcast::Sender<i64>,
    slot: Arc<Mutex<Option<broadcast::Sender<i64>>>>,
) {
    loop {
        match tokio::time::timeout(IDLE, listener.next()).await {
            Err(_) if sender.receiver_count() == 0 => break,
            Err(_) => {}
            Ok(Ok(Announcement::TaskEnded(id))) => {
                let _ = sender.send(id);
            }
            Ok(Ok(Announcement::Missed)) => {
                let _ = sender.send(ANY);
            }
            Ok(Ok(_)) => {}
            Ok(Err(error)) => {
                tracing::warn!(%error, "listening for the ends of tasks failed");
                break;
            }
        }
    }
    // Waiters still subscribed see the channel close, and poll.
    let mut slot = slot.lock().await;
    if slot.as_ref().is_some_and(|s| s.same_channel(&sender)) {
        *slot = None;
    }
}
