//! The event router: takes events from the sources and starts, for each job bound to the
//! event's source, one task, recording the event in the same transaction so that a second
//! delivery changes nothing.

use std::sync::Arc;

use job_core::{BoxFuture, EnqueueOptions, EnqueueRequest, Event, EventError, EventSink, Trigger};

use crate::client::Jobs;
use crate::storage::EventOutcome;
use crate::storage::text::storable;

/// Routes events to the jobs bound to their source.
pub struct EventRouter {
    jobs: Jobs,
}

/// What one delivery did, for each bound job.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Delivery {
    /// Tasks started.
    pub enqueued: usize,
    /// Jobs for which the event was taken before.
    pub duplicates: usize,
    /// Jobs whose arguments the event's fields do not fit (recorded with the error).
    pub refused: usize,
}

impl EventRouter {
    /// A router over `jobs`.
    pub fn new(jobs: Jobs) -> Arc<EventRouter> {
        Arc::new(EventRouter { jobs })
    }

    /// Starts the jobs bound to `event.source`, once per event id.
    pub async fn dispatch(&self, event: &Event) -> Result<Delivery, EventError> {
        let mut delivery = Delivery::default();
        let now = self.jobs.clock().now();
        let bound: Vec<_> = self
            .jobs
            .plan()
            .jobs()
            .filter(|s| s.enabled && s.descriptor.options().on == Some(event.source.as_str()))
            .collect();
        for settings in bound {
            let request = EnqueueRequest {
                job: settings.name().to_owned(),
                args: serde_json::Value::Object(event.fields.clone()),
                options: EnqueueOptions::default(),
                trigger: Trigger::Event,
                then: Vec::new(),
            };
            let task = self.jobs.task_for(&request, now).map_err(|e| {
                storable(format!(
                    "event {} of source `{}` does not fit: {e}",
                    event.id, event.source
                ))
            });
            let outcome = self
                .jobs
                .store()
                .record_event(
                    event,
                    settings.name(),
                    task.as_ref().map_err(String::as_str),
                    now,
                )
                .await
                .map_err(|e| EventError(e.to_string()))?;
            match outcome {
                EventOutcome::Enqueued(task_id) => {
                    tracing::info!(
                        source = event.source,
                        event = event.id,
                        job = settings.name(),
                        task_id,
                        "event started a task"
                    );
                    self.jobs.wake(settings.name());
                    delivery.enqueued += 1;
                }
                EventOutcome::Duplicate => delivery.duplicates += 1,
                EventOutcome::Refused => {
                    if let Err(error) = &task {
                        tracing::warn!(
                            source = event.source,
                            event = event.id,
                            job = settings.name(),
                            error,
                            "event refused"
                        );
                    }
                    delivery.refused += 1;
                }
            }
        }
        Ok(delivery)
    }
}

impl EventSink for EventRouter {
    fn deliver(&self, event: Event) -> BoxFuture<'_, Result<(), EventError>> {
        Box::pin(async move { self.dispatch(&event).await.map(drop) })
    }
}
