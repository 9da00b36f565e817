//! Live updates: `GET /api/stream` sends `event: change` with the tasks per state, the
//! latest history row's id and the paused queues, at connect and whenever they change.
//!
//! One watcher per server reads them (one grouped count, a `max(id)` and the paused
//! queues), however many consoles listen: once a second, and at once when the database
//! announces a change (a task stored, a cancel asked; on SQLite, any commit), at most four
//! times a second. When a read takes long (a very large table), the next waits four times
//! as long, so the watcher never keeps the database busy. It stops when the last console
//! goes.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use tokio::sync::watch;
use tokio::time::Instant;

use super::AppState;
use crate::control::Control;
use crate::task_control::Change;

/// How often the watcher reads, when nothing is announced.
const EVERY: Duration = Duration::from_secs(1);

/// The least time between two reads, however often changes are announced.
const AT_MOST: Duration = Duration::from_millis(250);

/// How often a quiet stream sends a keep-alive comment.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The watcher shared by the server's streams: its channel while it runs.
#[derive(Clone, Default)]
pub(crate) struct Changes {
    watcher: Arc<Mutex<Option<watch::Sender<Option<Change>>>>>,
    /// The server's stop: every stream ends there.
    stop: Arc<Mutex<Option<watch::Receiver<bool>>>>,
}

impl Changes {
    /// Ends every stream when `stop` changes.
    pub(crate) fn end_at(&self, stop: watch::Receiver<bool>) {
        *self
            .stop
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(stop);
    }

    /// The server's stop, if it has one.
    fn stop(&self) -> Option<watch::Receiver<bool>> {
        self.stop
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// A subscription to the changes, starting the watcher if none runs.
    fn subscribe(&self, control: &Control) -> watch::Receiver<Option<Change>> {
        // Held briefly, never across an await: a poisoned lock only means a panic elsewhere
        // while it was held, and the slot is still a valid Option.
        let mut slot = self
            .watcher
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(sender) = slot.as_ref() {
            return sender.subscribe();
        }
        let (sender, receiver) = watch::channel(None);
        *slot = Some(sender.clone());
        tokio::spawn(watch_changes(self.clone(), control.clone(), sender));
        receiver
    }

    /// Ends the watcher if no stream listens any more; `false` if one does.
    fn retire(&self, sender: &watch::Sender<Option<Change>>) -> bool {
        let mut slot = self
            .watcher
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if sender.receiver_count() > 0 {
            return false;
        }
        *slot = None;
        true
    }
}

/// Reads the changes and sends each one that differs from the last, until no stream
/// listens.
async fn watch_changes(changes: Changes, control: Control, sender: watch::Sender<Option<Change>>) {
    let mut listener = control.store().listen().await.ok().flatten();
    loop {
        let started = Instant::now();
        match control.change().await {
            Ok(change) => {
                sender.send_if_modified(|last| match last {
                    Some(last) if last.same_as(&change) => false,
                    _ => {
                        *last = Some(change);
                        true
                    }
                });
            }
            Err(error) => {
                tracing::warn!(%error, "the console's live updates cannot read the tasks")
            }
        }
        if changes.retire(&sender) {
            return;
        }
        let spent = started.elapsed();
        let quiet = EVERY.max(spent * 4);
        let soonest = AT_MOST.max(spent * 4);
        let deadline = started + quiet;
        // An announcement brings the next read forward (not before `soonest`).
        match listener.as_mut() {
            Some(heard) => {
                tokio::select! {
                    _ = tokio::time::sleep_until(deadline) => {}
                    result = heard.next() => {
                        if result.is_err() {
                            listener = None;
                        }
                        tokio::time::sleep_until(started + soonest).await;
                    }
                }
            }
            None => tokio::time::sleep_until(deadline).await,
        }
    }
}

/// `GET /api/stream`: the changes as server-sent events.
pub(super) async fn stream(
    State(state): State<AppState>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let receiver = state.changes.subscribe(&state.control);
    let stop = state.changes.stop();
    let events = futures_util::stream::unfold(
        (receiver, stop, true),
        |(mut receiver, mut stop, first)| async move {
            let next = async {
                if !first {
                    receiver.changed().await.ok()?;
                }
                loop {
                    let change = receiver.borrow_and_update().clone();
                    if let Some(change) = change {
                        return Some(change);
                    }
                    receiver.changed().await.ok()?;
                }
            };
            let stopped = async {
                match stop.as_mut() {
                    Some(stop) => {
                        let _ = stop.wait_for(|stopped| *stopped).await;
                    }
                    None => std::future::pending().await,
                }
            };
            let change = tokio::select! {
                change = next => change?,
                () = stopped => return None,
            };
            let event = Event::default()
                .event("change")
                .json_data(&change)
                .unwrap_or_else(|_| Event::default().comment("unreadable change"));
            Some((Ok(event), (receiver, stop, false)))
        },
    );
    Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
}
