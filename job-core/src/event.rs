//! Events that start jobs, and the trait a source of events implements.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::BoxFuture;

/// Something that happened in a source (a file landed, an object was uploaded), which
/// starts the jobs bound to the source with `#[job(on = "...")]`.
///
/// The event's `fields` become the job's arguments: a job bound to a folder can take
/// `struct Upload { path: String, size: u64 }`. Each event id starts each bound job once,
/// even when the source delivers it twice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Unique within the source; a second delivery with the same id changes nothing.
    pub id: String,
    /// The source's name.
    pub source: String,
    /// What happened, such as `file_written` or `ObjectCreated:Put`.
    pub kind: String,
    /// What the event carries, mapped by name onto the bound job's arguments.
    pub fields: serde_json::Map<String, serde_json::Value>,
}

/// Why an event was not taken.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct EventError(pub String);

/// Where a source delivers its events: the runner, which stores, for each job bound to the
/// source, the event and the job's task in one transaction.
pub trait EventSink: Send + Sync {
    /// Takes one event; returns once it is stored (or refused as a duplicate).
    fn deliver(&self, event: Event) -> BoxFuture<'_, Result<(), EventError>>;
}

/// A source of events. The runner starts each configured source and stops it at shutdown.
///
/// A source of your own (a message queue, a database table) is one implementation:
///
/// ```
/// use std::sync::Arc;
/// use job_core::{BoxFuture, Event, EventError, EventSink, EventSource};
///
/// /// Delivers one event a minute, for illustration.
/// struct Ticker;
///
/// impl EventSource for Ticker {
///     fn name(&self) -> &str {
///         "ticker"
///     }
///
///     fn run(self: Box<Self>, sink: Arc<dyn EventSink>, stop: BoxFuture<'static, ()>) -> BoxFuture<'static, Result<(), EventError>> {
///         Box::pin(async move {
///             tokio::pin!(stop);
///             for n in 0u64.. {
///                 let event = Event {
///                     id: n.to_string(),
///                     source: "ticker".into(),
///                     kind: "tick".into(),
///                     fields: serde_json::Map::new(),
///                 };
///                 sink.deliver(event).await?;
///                 tokio::select! {
///                     _ = tokio::time::sleep(std::time::Duration::from_secs(60)) => {}
///                     _ = &mut stop => break,
///                 }
///             }
///             Ok(())
///         })
///     }
/// }
/// ```
pub trait EventSource: Send + 'static {
    /// The name jobs bind to with `#[job(on = "...")]`.
    fn name(&self) -> &str;

    /// Delivers events to `sink` until `stop` completes.
    fn run(
        self: Box<Self>,
        sink: Arc<dyn EventSink>,
        stop: BoxFuture<'static, ()>,
    ) -> BoxFuture<'static, Result<(), EventError>>;
}
