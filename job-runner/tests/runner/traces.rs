//! Traces: the runners export their spans over OTLP/HTTP to a receiver of the test's own,
//! and one trace goes from the enqueue (or the HTTP request that enqueued) through every
//! attempt of every step of a chain.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use prost::Message;

use crate::Runs::Only;
use crate::Test;
use crate::examples::{app_command, free_port, transfer_api_binary};
use crate::support::{Backend, Site, task_id, wait_until};

/// This topic's tests.
pub const TESTS: &[Test] = tests![
    a_chains_attempts_continue_the_trace_of_its_enqueue,
    an_http_requests_trace_goes_on_through_both_steps_of_its_chain => Only(Backend::Sqlite),
];

/// A span as the receiver got it: ids in hex, attributes as text.
#[derive(Debug, Clone)]
struct Received {
    service: String,
    name: String,
    trace_id: String,
    span_id: String,
    parent: String,
    attributes: BTreeMap<String, String>,
}

impl Received {
    fn attr(&self, key: &str) -> &str {
        self.attributes.get(key).map_or("", String::as_str)
    }
}

/// An OTLP/HTTP (protobuf) receiver on 127.0.0.1, on a thread of its own; it stops when
/// dropped.
struct Receiver {
    url: String,
    spans: Arc<Mutex<Vec<Received>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Receiver {
    fn start() -> Receiver {
        let spans: Arc<Mutex<Vec<Received>>> = Arc::default();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
        listener.set_nonblocking(true).expect("non-blocking");
        let url = format!("http://{}", listener.local_addr().expect("its address"));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let sink = spans.clone();
        let thread = std::thread::spawn(move || {
            crate::support::block_on(async move {
                let app = axum::Router::new().route(
                    "/v1/traces",
                    axum::routing::post(move |body: axum::body::Bytes| {
                        let sink = sink.clone();
                        async move {
                            let Ok(request) = ExportTraceServiceRequest::decode(body) else {
                                return (axum::http::StatusCode::BAD_REQUEST, Vec::new());
                            };
                            let mut spans = sink.lock().unwrap_or_else(|e| e.into_inner());
                            spans.extend(received(request));
                            (
                                axum::http::StatusCode::OK,
                                ExportTraceServiceResponse::default().encode_to_vec(),
                            )
                        }
                    }),
                );
                let listener =
                    tokio::net::TcpListener::from_std(listener).expect("a Tokio listener");
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await;
            });
        });
        Receiver {
            url,
            spans,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn spans(&self) -> Vec<Received> {
        self.spans.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Waits until `condition` holds of the spans received; the spans then.
    fn wait_for(&self, what: &str, condition: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let held = wait_until(Duration::from_secs(20), || condition(&self.spans()));
        let spans = self.spans();
        assert!(held, "no {what} among the spans received: {spans:#?}");
        spans
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The spans of an export request.
fn received(request: ExportTraceServiceRequest) -> Vec<Received> {
    let mut out = Vec::new();
    for resource in request.resource_spans {
        let service = resource
            .resource
            .iter()
            .flat_map(|r| &r.attributes)
            .find(|kv| kv.key == "service.name")
            .map(|kv| text(kv.value.as_ref().and_then(|v| v.value.as_ref())))
            .unwrap_or_default();
        for scope in resource.scope_spans {
            for span in scope.spans {
                out.push(Received {
                    service: service.clone(),
                    name: span.name,
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent: hex(&span.parent_span_id),
                    attributes: span
                        .attributes
                        .into_iter()
                        .map(|kv| {
                            (
                                kv.key,
                                text(kv.value.as_ref().and_then(|v| v.value.as_ref())),
                            )
                        })
                        .collect(),
                });
            }
        }
    }
    out
}

fn text(value: Option<&AnyValue>) -> String {
    match value {
        Some(AnyValue::StringValue(s)) => s.clone(),
        Some(AnyValue::IntValue(n)) => n.to_string(),
        Some(AnyValue::BoolValue(b)) => b.to_string(),
        Some(AnyValue::DoubleValue(f)) => f.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The attempt spans of `job`.
fn attempts<'a>(spans: &'a [Received], job: &str) -> Vec<&'a Received> {
    spans
        .iter()
        .filter(|s| s.name == "attempt" && s.attr("job") == job)
        .collect()
}

/// The attempt spans of `job`, each checked to be in the trace of `parent` and its child,
/// and the one that succeeded (a loaded machine may retry an attempt: every attempt is a
/// child of the same parent, and a chain's next step a child of the attempt that
/// succeeded).
fn succeeded<'a>(spans: &'a [Received], job: &str, parent: &Received) -> &'a Received {
    let all = attempts(spans, job);
    for span in &all {
        assert_eq!(span.trace_id, parent.trace_id, "one trace: {span:#?}");
        assert_eq!(span.parent, parent.span_id, "the parent of {span:#?}");
        assert_eq!(
            span.attr("attempt")
                .parse::<usize>()
                .ok()
                .map(|n| n <= all.len()),
            Some(true)
        );
    }
    let won: Vec<_> = all
        .into_iter()
        .filter(|s| s.attr("outcome") == "succeeded")
        .collect();
    assert_eq!(won.len(), 1, "one attempt of {job} succeeded: {spans:#?}");
    won[0]
}

fn a_chains_attempts_continue_the_trace_of_its_enqueue(backend: Backend) {
    let receiver = Receiver::start();
    let mut site = Site::new(backend);
    site.env("OTEL_EXPORTER_OTLP_ENDPOINT", &receiver.url)
        .env("OTEL_SERVICE_NAME", "runner-under-test")
        // Exports soon after each span ends, not every 5 s.
        .env("OTEL_BSP_SCHEDULE_DELAY", "100");
    let runner = site.runner();
    // `job-runner trigger` enqueues in a span of its own, sent before it exits.
    let trigger = site.cli(&["trigger", "step_one", "--args", "5", "--json"]);
    let said = String::from_utf8_lossy(&trigger.stderr).into_owned();
    assert!(trigger.status.success(), "{said}");
    let first = task_id(&serde_json::from_slice(&trigger.stdout).expect("the task as JSON"));
    let exported = wait_until(Duration::from_secs(20), || {
        let spans = receiver.spans();
        attempts(&spans, "step_three")
            .iter()
            .any(|s| s.attr("outcome") == "succeeded")
            && spans.iter().any(|s| s.name == "enqueue")
    });
    let spans = receiver.spans();
    assert!(
        exported,
        "no enqueue or no attempt of step_three (trigger said: {said}): {spans:#?}"
    );
    let (stopped, log) = runner.terminate();
    assert!(stopped, "{log}");

    let enqueue = spans
        .iter()
        .find(|s| s.name == "enqueue" && s.attr("job") == "step_one")
        .unwrap_or_else(|| panic!("the enqueue's span (trigger said: {said}): {spans:#?}"));
    assert_eq!(enqueue.attr("task_id"), first.to_string());
    assert_eq!(enqueue.attr("queue"), "default");
    assert_eq!(enqueue.service, "runner-under-test");
    let one = succeeded(&spans, "step_one", enqueue);
    let two = succeeded(&spans, "step_two", one);
    let three = succeeded(&spans, "step_three", two);
    for (span, step) in [(one, "1"), (two, "2"), (three, "3")] {
        assert_eq!(span.attr("chain_step"), step);
        assert_eq!(span.attr("queue"), "default");
        assert_eq!(span.service, "runner-under-test");
    }
    assert_eq!(one.attr("task_id"), first.to_string());
    assert_ne!(two.attr("task_id"), one.attr("task_id"));
}

fn an_http_requests_trace_goes_on_through_both_steps_of_its_chain(_: Backend) {
    use crate::http::request;
    let receiver = Receiver::start();
    let dir = tempfile::tempdir().expect("a folder");
    // Both processes export to the receiver, each under a service name of its own.
    let command = |binary: &std::path::Path, service: &str| {
        let mut command = app_command(dir.path(), binary);
        command
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", &receiver.url)
            .env("OTEL_SERVICE_NAME", service)
            .env("OTEL_BSP_SCHEDULE_DELAY", "100");
        command
    };
    let api_binary = transfer_api_binary();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut runner = command(
        std::path::Path::new(env!("CARGO_BIN_EXE_job-runner")),
        "runner",
    )
    .spawn()
    .expect("start job-runner");
    let inbox = dir.path().join("transfers/inbox");
    let started = wait_until(Duration::from_secs(20), || inbox.exists());
    let mut api = command(&api_binary, "transfer-api")
        .env("EXAMPLES_HTTP_ADDR", format!("127.0.0.1:{port}"))
        .spawn()
        .expect("start the API");
    let listening = wait_until(Duration::from_secs(20), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    std::fs::create_dir_all(inbox.join("scans")).expect("a subfolder");
    std::fs::write(inbox.join("scans/q3.txt"), "quarterly figures\n").expect("a document");
    // The caller's own trace: the request continues it.
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller = "00f067aa0ba902b7";
    let created = if started && listening {
        Some(request(
            "POST",
            &base,
            "/transfers",
            &[
                ("content-type", "application/json"),
                ("traceparent", &format!("00-{trace_id}-{caller}-01")),
            ],
            br#"{"source": "scans/q3.txt", "destination": "2026/q3.txt"}"#,
        ))
    } else {
        None
    };
    let indexed = wait_until(Duration::from_secs(30), || {
        attempts(&receiver.spans(), "index_transfer")
            .iter()
            .any(|s| s.attr("outcome") == "succeeded")
    });
    // Stopped by SIGTERM, each process sends its last spans before it exits.
    for child in [&mut api, &mut runner] {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
    }
    let api_exited = api.wait().expect("wait for the API");
    let runner_exited = runner.wait().expect("wait for the runner");
    assert!(started, "the runner did not start");
    assert!(listening, "the API did not listen");
    let created = created.expect("a response");
    assert_eq!(created.status, 201, "{}", created.text());
    let spans = receiver.wait_for("request span", |spans| {
        spans.iter().any(|s| s.name == "POST /transfers")
    });
    assert!(
        indexed,
        "no attempt of index_transfer was exported: {spans:#?}"
    );
    assert!(api_exited.success() && runner_exited.success());

    let request_span = spans
        .iter()
        .find(|s| s.name == "POST /transfers")
        .expect("the request's span");
    assert_eq!(
        request_span.trace_id, trace_id,
        "the caller's trace goes on"
    );
    assert_eq!(request_span.parent, caller);
    assert_eq!(request_span.service, "transfer-api");
    assert_eq!(request_span.attr("http.response.status_code"), "201");
    let enqueue = spans
        .iter()
        .find(|s| s.name == "enqueue" && s.attr("job") == "transfer_document")
        .expect("the enqueue's span");
    assert_eq!(enqueue.parent, request_span.span_id);
    assert_eq!(enqueue.attr("queue"), "transfers");
    let task = created.json()["task"]
        .as_str()
        .expect("the task's id")
        .to_owned();
    assert_eq!(enqueue.attr("task_id"), task);
    let transfer = succeeded(&spans, "transfer_document", enqueue);
    let index = succeeded(&spans, "index_transfer", transfer);
    for span in [transfer, index] {
        assert_eq!(span.trace_id, trace_id, "one trace: {span:#?}");
        assert_eq!(span.service, "runner");
        assert_eq!(span.attr("queue"), "transfers");
    }
    assert_eq!(transfer.attr("task_id"), task);
    assert_eq!(index.attr("chain_step"), "2");
}
