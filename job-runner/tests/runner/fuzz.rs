//! A schema-driven fuzzer of the admin API: every operation of the OpenAPI document the
//! runner serves is called with requests generated from the document's own parameters and
//! body schemas, half of them fitting the schema and half of them not (wrong types, values
//! out of range, unknown fields, broken JSON, strange path segments). Every answer must be a
//! status the document lists for that operation, never a 5xx, and every refusal must say
//! what was wrong (a JSON error with a message).
//!
//! The choices come from one seeded generator: the seed is printed, and
//! `JOBS_FUZZ_SEED=<seed>` replays a run. New endpoints are fuzzed as soon as they are
//! documented, with no change here.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{Map, Value, json};

use crate::Test;
use crate::rng::Rng;
use crate::support::{Backend, Site, TOKEN};

/// This topic's tests.
pub const TESTS: &[Test] = tests![the_admin_api_answers_generated_requests_as_documented];

/// Requests per operation.
const ROUNDS: usize = 40;

/// Strings that have broken servers before: empty, long, non-ASCII, encoded separators,
/// numbers at and past the edges of 64 bits, JSON and SQL fragments.
const NASTY: &[&str] = &[
    "",
    " ",
    "a",
    "0",
    "-1",
    "1.5",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775809",
    "1e400",
    "NaN",
    "null",
    "true",
    "{}",
    "[]",
    "\"",
    "ü🦀",
    "\u{0}",
    "../../etc/passwd",
    "%2F",
    "' OR 1=1 --",
    "<script>alert(1)</script>",
    "2026-13-45T99:99:99Z",
    "1970-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "-infinity",
];

/// What the site holds, for values that find something (a task that exists, a job by its
/// name) as well as values that do not.
struct Known {
    jobs: Vec<String>,
    tasks: Vec<i64>,
    schedules: Vec<String>,
    queues: Vec<String>,
}

/// One generated request.
struct Request {
    method: String,
    path: String,
    content_type: Option<String>,
    body: Vec<u8>,
    token: Option<String>,
}

fn the_admin_api_answers_generated_requests_as_documented(backend: Backend) {
    let mut site = Site::new(backend);
    site.env("JOBS_ADMIN_ADDR", "127.0.0.1:0");
    site.env("JOBS_ADMIN_TOKEN", TOKEN);
    let runner = site.runner();
    let url = runner.admin_url();
    let seed = std::env::var("JOBS_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    println!("the admin API fuzzer's seed: {seed} (JOBS_FUZZ_SEED={seed} replays it)");
    let mut rng = Rng::new(seed);

    let get = |path: &str| send(&url, &Request::get(path));
    let doc = get("/api/openapi.json").json();
    // Something to find: a task of each kind of end, and a schedule.
    site.trigger("echo", Some(r#"{"text":"fuzz"}"#));
    let known = Known {
        jobs: names(&get("/api/jobs").json(), "name"),
        tasks: get("/api/tasks?limit=100").json()["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["id"].as_i64())
            .collect(),
        schedules: names(&get("/api/schedules").json(), "id"),
        queues: names(&get("/api/jobs").json(), "queue"),
    };
    assert!(!known.jobs.is_empty(), "the site has jobs to aim at");

    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    // Failures by operation, status and problem, each with its first example.
    let mut failures: BTreeMap<(String, String, u16, String), (usize, String)> = BTreeMap::new();
    let mut operations = 0;
    for (template, item) in doc["paths"].as_object().expect("the document's paths") {
        for (method, operation) in item.as_object().expect("a path item") {
            if streams(operation) {
                // An event stream answers for as long as the client listens: its refusals
                // are covered by the admin tests, and its events by its own test.
                continue;
            }
            operations += 1;
            let allowed: Vec<u16> = operation["responses"]
                .as_object()
                .into_iter()
                .flatten()
                .filter_map(|(status, _)| status.parse().ok())
                .collect();
            for _ in 0..ROUNDS {
                let request = generate(&mut rng, &doc, template, method, operation, &known);
                let response = send(&url, &request);
                *statuses.entry(response.status).or_default() += 1;
                let problem = if response.status >= 500 {
                    Some("a server error".to_owned())
                } else if !allowed.contains(&response.status) {
                    Some(format!("a status the document does not list ({allowed:?})"))
                } else if response.status >= 400 && !says_why(&response) {
                    Some("a refusal without a JSON error message".to_owned())
                } else {
                    None
                };
                if let Some(problem) = problem {
                    let key = (method.clone(), template.clone(), response.status, problem);
                    let example = || {
                        format!(
                            "e.g. {} {} ({})\n    body sent: {}\n    answer: {}",
                            request.method,
                            request.path,
                            request.token.as_deref().map_or("no token", |_| "a token"),
                            shorten(&String::from_utf8_lossy(&request.body)),
                            shorten(&response.text()),
                        )
                    };
                    failures.entry(key).or_insert_with(|| (0, example())).0 += 1;
                }
            }
        }
    }
    println!("fuzzed {operations} operations, {ROUNDS} requests each; statuses: {statuses:?}");
    assert!(
        operations >= 20,
        "only {operations} operations are documented"
    );
    // The generator reaches both sides of the line: answers and refusals.
    assert!(
        statuses.keys().any(|s| (200..300).contains(s)),
        "{statuses:?}"
    );
    assert!(
        statuses.keys().any(|s| (400..500).contains(s)),
        "{statuses:?}"
    );
    if !failures.is_empty() {
        let mut report =
            format!("generated requests got answers the document does not allow (seed {seed}):\n");
        for ((method, template, status, problem), (count, example)) in &failures {
            let _ = writeln!(
                report,
                "- {} {template} answered {status} ({problem}), {count} times; {example}",
                method.to_uppercase()
            );
        }
        panic!("{report}");
    }
    // The runner took all of that and still answers.
    assert_eq!(get("/healthz").status, 200);
    drop(runner);
}

impl Request {
    fn get(path: &str) -> Request {
        Request {
            method: "GET".into(),
            path: path.into(),
            content_type: None,
            body: Vec::new(),
            token: Some(TOKEN.into()),
        }
    }
}

fn send(url: &str, request: &Request) -> crate::http::Response {
    let auth = request.token.as_ref().map(|t| format!("Bearer {t}"));
    let mut headers: Vec<(&str, &str)> = Vec::new();
    if let Some(auth) = &auth {
        headers.push(("Authorization", auth));
    }
    if let Some(content_type) = &request.content_type {
        headers.push(("Content-Type", content_type));
    }
    crate::http::request(&request.method, url, &request.path, &headers, &request.body)
}

/// The values of `field` in a JSON array of objects, without repeats.
fn names(list: &Value, field: &str) -> Vec<String> {
    let mut names: Vec<String> = list
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|item| item[field].as_str().map(str::to_owned))
        .collect();
    names.dedup();
    names
}

/// Whether the operation answers with an event stream.
fn streams(operation: &Value) -> bool {
    operation["responses"]
        .as_object()
        .into_iter()
        .flatten()
        .any(|(_, response)| response["content"]["text/event-stream"].is_object())
}

/// Whether a refusal says what was wrong: a JSON error with a message.
fn says_why(response: &crate::http::Response) -> bool {
    let Ok(body) = serde_json::from_slice::<Value>(&response.body) else {
        return false;
    };
    body["error"]["message"]
        .as_str()
        .is_some_and(|m| !m.trim().is_empty())
}

fn shorten(text: &str) -> String {
    let mut short: String = text.chars().take(200).collect();
    if short.len() < text.len() {
        short.push('…');
    }
    short
}

/// A request for `method template`: its path parameters, query and body generated from the
/// operation's schemas, each fitting more often than not.
fn generate(
    rng: &mut Rng,
    doc: &Value,
    template: &str,
    method: &str,
    operation: &Value,
    known: &Known,
) -> Request {
    let parameters: Vec<&Value> = operation["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    let mut path = String::new();
    for segment in template.split('/').skip(1) {
        path.push('/');
        match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(name) => {
                let schema = parameters
                    .iter()
                    .find(|p| p["name"] == name && p["in"] == "path")
                    .map_or(Value::Null, |p| resolve(doc, &p["schema"]).clone());
                let value = path_value(rng, template, name, &schema, known);
                path.push_str(&encode(&value));
            }
            None => path.push_str(segment),
        }
    }
    let mut query = Vec::new();
    for parameter in parameters.iter().filter(|p| p["in"] == "query") {
        if rng.percent(50) {
            let name = parameter["name"].as_str().unwrap_or_default();
            let value = match name {
                "job" if rng.percent(60) => pick(rng, &known.jobs),
                "queue" if rng.percent(60) => pick(rng, &known.queues),
                _ => text_of(&value_for(rng, doc, &parameter["schema"], 0)),
            };
            query.push(format!("{}={}", encode(name), encode(&value)));
        }
    }
    if rng.percent(10) {
        query.push(format!("{}={}", encode(nasty(rng)), encode(nasty(rng))));
    }
    if !query.is_empty() {
        path.push('?');
        path.push_str(&query.join("&"));
    }
    let (content_type, body) = match operation["requestBody"]["content"].as_object() {
        Some(content) => {
            let (media, item) = content.iter().next().expect("a media type");
            let value = value_for(rng, doc, &item["schema"], 0);
            let body = match rng.below(10) {
                0 => b"{not json".to_vec(),
                1 => Vec::new(),
                _ if media == "application/x-www-form-urlencoded" => form(&value).into_bytes(),
                _ => value.to_string().into_bytes(),
            };
            let media = if rng.percent(5) {
                "text/plain".to_owned()
            } else {
                media.clone()
            };
            (Some(media), body)
        }
        None if rng.percent(10) => (Some("application/json".to_owned()), b"{}".to_vec()),
        None => (None, Vec::new()),
    };
    let token = match rng.below(20) {
        0 => None,
        1 => Some("a-wrong-token-of-plausible-length".to_owned()),
        _ => Some(TOKEN.to_owned()),
    };
    Request {
        method: method.to_uppercase(),
        path,
        content_type,
        body,
        token,
    }
}

/// A path parameter: often one that finds something, else anything the schema allows or
/// does not.
fn path_value(rng: &mut Rng, template: &str, name: &str, schema: &Value, known: &Known) -> String {
    if rng.percent(60) {
        let found = match name {
            "name" if template.starts_with("/api/queues") => pick(rng, &known.queues),
            "name" => pick(rng, &known.jobs),
            "queue" => pick(rng, &known.queues),
            "id" if template.starts_with("/api/tasks") => known
                .tasks
                .get(rng.below(known.tasks.len().max(1) as u64) as usize)
                .map_or_else(|| "1".to_owned(), i64::to_string),
            "id" if template.starts_with("/api/schedules") => pick(rng, &known.schedules),
            _ => String::new(),
        };
        if !found.is_empty() {
            return found;
        }
    }
    match rng.below(3) {
        0 => nasty(rng).to_owned(),
        _ => text_of(&value_for(rng, &Value::Null, schema, 0)),
    }
}

fn pick(rng: &mut Rng, from: &[String]) -> String {
    if from.is_empty() {
        return String::new();
    }
    from[rng.below(from.len() as u64) as usize].clone()
}

fn nasty(rng: &mut Rng) -> &'static str {
    NASTY[rng.below(NASTY.len() as u64) as usize]
}

/// Follows a `$ref` into the document.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str().and_then(|r| r.strip_prefix('#')) {
        Some(pointer) => doc.pointer(pointer).map_or(schema, |s| resolve(doc, s)),
        None => schema,
    }
}

/// A value for `schema`: three times in four one that fits it, else one that does not.
fn value_for(rng: &mut Rng, doc: &Value, schema: &Value, depth: u32) -> Value {
    let schema = resolve(doc, schema);
    if depth > 4 || rng.percent(25) {
        return misfit(rng);
    }
    for alternatives in ["oneOf", "anyOf"] {
        if let Some(options) = schema[alternatives].as_array().filter(|o| !o.is_empty()) {
            let option = &options[rng.below(options.len() as u64) as usize];
            return value_for(rng, doc, option, depth + 1);
        }
    }
    if let Some(options) = schema["enum"].as_array().filter(|o| !o.is_empty()) {
        return options[rng.below(options.len() as u64) as usize].clone();
    }
    let kind = match &schema["type"] {
        Value::Array(kinds) => kinds
            .iter()
            .filter_map(Value::as_str)
            .find(|k| *k != "null")
            .unwrap_or("string"),
        kind => kind
            .as_str()
            .unwrap_or(if schema["properties"].is_object() {
                "object"
            } else {
                "string"
            }),
    };
    match kind {
        "integer" | "number" => {
            let low = schema["minimum"].as_i64().unwrap_or(-1000);
            let high = schema["maximum"].as_i64().unwrap_or(1_000_000).max(low);
            match rng.below(6) {
                0 => json!(low - 1),
                1 => json!(high.saturating_add(1)),
                2 => json!(low),
                3 => json!(high),
                _ => json!(rng.between(low, high.min(low.saturating_add(1_000_000)))),
            }
        }
        "boolean" => json!(rng.percent(50)),
        "array" => {
            let n = rng.below(4);
            Value::Array(
                (0..n)
                    .map(|_| value_for(rng, doc, &schema["items"], depth + 1))
                    .collect(),
            )
        }
        "object" => {
            let required: Vec<&str> = schema["required"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let mut object = Map::new();
            for (name, property) in schema["properties"].as_object().into_iter().flatten() {
                let wanted = if required.contains(&name.as_str()) {
                    rng.percent(90)
                } else {
                    rng.percent(50)
                };
                if wanted {
                    object.insert(name.clone(), value_for(rng, doc, property, depth + 1));
                }
            }
            if rng.percent(10) {
                object.insert(nasty(rng).to_owned(), misfit(rng));
            }
            Value::Object(object)
        }
        _ => match schema["format"].as_str() {
            Some("date-time") => {
                let seconds = 1_700_000_000 + rng.between(0, 200_000_000);
                json!(
                    chrono::DateTime::from_timestamp(seconds, 0)
                        .map(|t| t.to_rfc3339())
                        .unwrap_or_default()
                )
            }
            _ => match rng.below(4) {
                0 => json!(nasty(rng)),
                _ => json!(format!("fuzz-{}", rng.below(1000))),
            },
        },
    }
}

/// A value of the wrong kind.
fn misfit(rng: &mut Rng) -> Value {
    match rng.below(7) {
        0 => Value::Null,
        1 => json!(-1),
        2 => json!(u64::MAX),
        3 => json!(1.5),
        4 => json!([nasty(rng)]),
        5 => json!({ "x": nasty(rng) }),
        _ => json!(nasty(rng)),
    }
}

/// A value as it goes into a path or a query string.
fn text_of(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// A form body of an object's fields.
fn form(value: &Value) -> String {
    match value.as_object() {
        Some(fields) => fields
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(&text_of(v))))
            .collect::<Vec<_>>()
            .join("&"),
        None => encode(&text_of(value)),
    }
}

/// Percent-encodes everything but the unreserved characters.
fn encode(text: &str) -> String {
    let mut encoded = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            encoded.push(byte as char);
        } else {
            let _ = write!(encoded, "%{byte:02X}");
        }
    }
    encoded
}
