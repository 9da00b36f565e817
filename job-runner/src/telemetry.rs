//! Traces: OpenTelemetry spans from the code that enqueued a task to each of its attempts.
//!
//! The runner's spans are `tracing` spans (`enqueue`, `attempt`), bridged to OpenTelemetry
//! by `tracing-opentelemetry` when its layer is installed ([`Telemetry::layer`]; the CLI
//! installs it when export is configured, see [`crate::config::TelemetryConfig`]). An
//! enqueue stores the current span's context with the task (`jobs_tasks.trace_context`:
//! the W3C `traceparent`, then `tracestate` after a newline when there is one), and each
//! attempt's span is a child of it. A chain's next step is stored from inside the previous
//! step's attempt, so it carries that attempt's context: one trace shows the request, the
//! enqueue, and every step's attempts.
//!
//! With no OpenTelemetry layer installed, no context is read or written: a task stores
//! `NULL`, and an attempt sets no parent.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_http::{Bytes, HttpError, Request, Response};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::config::TelemetryConfig;

/// The W3C header that carries the trace and the parent span.
const TRACEPARENT: &str = "traceparent";

/// The W3C header that carries vendors' trace state.
const TRACESTATE: &str = "tracestate";

/// How long one export request may take.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// The trace export of a process: the OpenTelemetry provider that batches spans and sends
/// them to the collector over OTLP/HTTP (protobuf). Shut it down
/// ([`shutdown`](Telemetry::shutdown)) before the process exits, so that the last spans
/// are sent.
#[derive(Debug, Clone)]
pub struct Telemetry {
    provider: SdkTracerProvider,
}

/// Why the trace export could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot export traces to {endpoint}: {message}")]
pub struct TelemetryError {
    endpoint: String,
    message: String,
}

impl Telemetry {
    /// Starts exporting per `config`; `None` when export is off (no endpoint). Exports
    /// run on `runtime`, which must outlive the export (until [`shutdown`](Self::shutdown)).
    pub fn start(
        config: &TelemetryConfig,
        runtime: tokio::runtime::Handle,
    ) -> Result<Option<Telemetry>, TelemetryError> {
        let Some(endpoint) = &config.traces_endpoint else {
            return Ok(None);
        };
        let client = OnRuntime {
            client: hyper_util::client::legacy::Client::builder(
                hyper_util::rt::TokioExecutor::new(),
            )
            .build_http(),
            runtime,
            endpoint: endpoint.clone(),
            failing: AtomicBool::new(false),
        };
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_http_client(client)
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(endpoint.clone())
            .with_timeout(EXPORT_TIMEOUT)
            .build()
            .map_err(|e| TelemetryError {
                endpoint: endpoint.clone(),
                message: e.to_string(),
            })?;
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(
                Resource::builder()
                    .with_service_name(config.service_name.clone())
                    .build(),
            )
            .build();
        Ok(Some(Telemetry { provider }))
    }

    /// The `tracing` layer that turns spans into OpenTelemetry spans sent by this export;
    /// add it to the process's subscriber.
    pub fn layer<S>(&self) -> tracing_opentelemetry::OpenTelemetryLayer<S, SdkTracer>
    where
        S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
    {
        tracing_opentelemetry::layer().with_tracer(self.provider.tracer("job-runner"))
    }

    /// Sends the spans not sent yet and stops the export. Call it while the runtime given
    /// to [`start`](Self::start) still runs.
    pub async fn shutdown(self) {
        let provider = self.provider;
        // The flush blocks until the exports (which run on the runtime) are done.
        let flushed = tokio::task::spawn_blocking(move || provider.shutdown()).await;
        if let Ok(Err(error)) = flushed {
            tracing::warn!(%error, "the last spans may not have been exported");
        }
    }
}

/// Installs the process's tracing subscriber (once; later calls do nothing): logs to stderr,
/// filtered by `JOBS_LOG`, else `RUST_LOG`, else `info,sqlx=warn`; and, with `telemetry`,
/// spans at `info` and above sent to it, whatever the log filter.
pub fn init_tracing(telemetry: Option<&Telemetry>) {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter = tracing_subscriber::EnvFilter::try_from_env("JOBS_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let logs = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_filter(filter);
    let spans = telemetry.map(|t| {
        t.layer()
            .with_filter(tracing_subscriber::filter::LevelFilter::INFO)
    });
    let _ = tracing_subscriber::registry()
        .with(logs)
        .with(spans)
        .try_init();
}

/// The largest collector answer read (an OTLP answer is a few bytes).
const ANSWER_MAX_BYTES: usize = 64 * 1024;

/// An HTTP/1.1 client (hyper's) that sends on a Tokio runtime. The batch span processor
/// exports from a thread of its own, outside any runtime, where hyper cannot run: each
/// request is handed to the runtime, and its answer awaited from there.
#[derive(Debug)]
struct OnRuntime {
    client: hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        http_body_util::Full<Bytes>,
    >,
    runtime: tokio::runtime::Handle,
    /// Where the spans go, for the warnings.
    endpoint: String,
    /// Whether the last export failed: a failure is logged when exports start failing,
    /// not at every batch.
    failing: AtomicBool,
}

impl OnRuntime {
    /// Logs the first failure of a run of them, and the first success after one.
    fn note(&self, failure: Option<String>) {
        match failure {
            Some(error) if !self.failing.swap(true, Ordering::Relaxed) => tracing::warn!(
                endpoint = %self.endpoint,
                %error,
                "cannot export spans; they are dropped until the collector takes them"
            ),
            None if self.failing.swap(false, Ordering::Relaxed) => {
                tracing::info!(endpoint = %self.endpoint, "exporting spans again");
            }
            _ => {}
        }
    }
}

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for OnRuntime {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let sent = self.send(request).await;
        self.note(match &sent {
            Ok(response) if response.status().is_success() => None,
            Ok(response) => Some(format!("the collector answered {}", response.status())),
            Err(error) => Some(error.to_string()),
        });
        sent
    }
}

impl OnRuntime {
    async fn send(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        use http_body_util::BodyExt as _;
        let client = self.client.clone();
        let (parts, body) = request.into_parts();
        let request = Request::from_parts(parts, http_body_util::Full::new(body));
        let exchange = async move {
            let response = client.request(request).await?;
            let (parts, body) = response.into_parts();
            let body = http_body_util::Limited::new(body, ANSWER_MAX_BYTES)
                .collect()
                .await?
                .to_bytes();
            Ok::<_, HttpError>(Response::from_parts(parts, body))
        };
        // The timer too is made on the runtime: this thread has none.
        let sent = self
            .runtime
            .spawn(async move { tokio::time::timeout(EXPORT_TIMEOUT, exchange).await })
            .await?;
        sent.map_err(|_| {
            format!(
                "the collector did not answer within {}",
                job_schedule::format_duration(EXPORT_TIMEOUT)
            )
        })?
    }
}

/// The current span's trace context as stored with a task (`traceparent`, then
/// `"\n" + tracestate` when there is one); `None` when no OpenTelemetry span is current
/// (no layer installed, or no span entered).
pub(crate) fn current_context() -> Option<String> {
    let span = tracing::Span::current();
    if span.is_disabled() {
        return None;
    }
    let context = span.context();
    if !context.span().span_context().is_valid() {
        return None;
    }
    let mut headers: HashMap<String, String> = HashMap::with_capacity(2);
    TraceContextPropagator::new().inject_context(&context, &mut headers);
    let parent = headers.remove(TRACEPARENT)?;
    Some(match headers.remove(TRACESTATE).filter(|s| !s.is_empty()) {
        Some(state) => format!("{parent}\n{state}"),
        None => parent,
    })
}

/// Makes `span` a child of the stored trace context `stored` (as [`current_context`]
/// writes it). Nothing happens when it cannot be read or no OpenTelemetry layer is
/// installed.
pub(crate) fn continue_stored(span: &tracing::Span, stored: &str) {
    let (parent, state) = match stored.split_once('\n') {
        Some((parent, state)) => (parent, Some(state)),
        None => (stored, None),
    };
    continue_trace(span, Some(parent), state);
}

/// Makes `span` a child of the remote span that W3C headers name (`traceparent`, and
/// `tracestate` if any): an HTTP server calls it with a request's headers, before it
/// enters the request's span, so that the request's trace goes on in the jobs it
/// enqueues. Nothing happens without a valid `traceparent`, or when no OpenTelemetry layer
/// is installed.
pub fn continue_trace(span: &tracing::Span, traceparent: Option<&str>, tracestate: Option<&str>) {
    let Some(parent) = traceparent else {
        return;
    };
    let mut headers: HashMap<String, String> = HashMap::with_capacity(2);
    headers.insert(TRACEPARENT.to_owned(), parent.trim().to_owned());
    if let Some(state) = tracestate {
        headers.insert(TRACESTATE.to_owned(), state.trim().to_owned());
    }
    let context = TraceContextPropagator::new().extract(&headers);
    if context.span().span_context().is_valid() {
        // An error means no layer, or a span already started: it keeps its own parent.
        let _ = span.set_parent(context);
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::TracerProvider as _;
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    #[test]
    fn no_context_is_stored_without_an_opentelemetry_layer() {
        let subscriber = tracing_subscriber::registry();
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("enqueue");
            let _entered = span.enter();
            assert_eq!(current_context(), None);
        });
    }

    #[test]
    fn a_stored_context_is_the_parent_of_the_next_span() {
        let provider = SdkTracerProvider::builder().build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        tracing::subscriber::with_default(subscriber, || {
            let traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
            let request = tracing::info_span!("request");
            continue_trace(&request, Some(traceparent), Some("congo=t61rcWkgMzE"));
            let stored = {
                let _entered = request.enter();
                current_context().expect("a context")
            };
            let (parent, state) = stored
                .split_once('\n')
                .expect("traceparent, then tracestate");
            assert!(
                parent.starts_with("00-0af7651916cd43dd8448eb211c80319c-"),
                "{parent}"
            );
            assert_ne!(parent, traceparent, "the request's own span is the parent");
            assert_eq!(state, "congo=t61rcWkgMzE");
            let attempt = tracing::info_span!("attempt");
            continue_stored(&attempt, &stored);
            let _entered = attempt.enter();
            let own = current_context().expect("a context");
            assert!(
                own.starts_with("00-0af7651916cd43dd8448eb211c80319c-"),
                "{own}"
            );
        });
    }
}
