//! Jobs started by events: files in a watched folder and webhook notifications each start
//! their job once; a job bound to a source that is not configured stops the runner.

use std::time::Duration;

use serde_json::Value;

use crate::Test;
use crate::support::{Backend, Site, TOKEN, wait_until};

/// This topic's tests.
pub const TESTS: &[Test] = tests![
    files_in_a_watched_folder_each_start_their_job_once,
    a_webhook_notification_sent_twice_runs_its_job_once,
    a_job_bound_to_a_missing_source_stops_the_runner_at_start,
];

/// Writes a complete test file at once.
fn drop_file(dir: &std::path::Path, name: &str, body: &str) {
    std::fs::write(dir.join(name), format!("{body}\nEND\n")).expect("write a file");
}

fn landed_names(site: &Site) -> Vec<String> {
    site.history(&["--job", "file_landed", "--status", "succeeded"])
        .iter()
        .map(|r| r["records_processed"].to_string())
        .collect()
}

fn files_in_a_watched_folder_each_start_their_job_once(backend: Backend) {
    let mut site = Site::new(backend);
    site.env("JOBS_JOB_FILE_LANDED_ENABLED", "true");
    std::fs::write(
        site.path("jobs.toml"),
        "[sources.inbox]\nkind = \"folder\"\npath = \"inbox\"\n",
    )
    .expect("jobs.toml");
    let inbox = site.path("inbox");
    std::fs::create_dir_all(&inbox).expect("the inbox");
    // Dropped while no runner runs.
    for i in 0..5 {
        drop_file(&inbox, &format!("early-{i}.txt"), &"x".repeat(i));
    }
    let runner = site.runner();
    let writers: Vec<_> = (0..5)
        .map(|w| {
            let inbox = inbox.clone();
            std::thread::spawn(move || {
                for i in 0..19 {
                    let name = format!("w{w}-{i:02}.txt");
                    match i % 4 {
                        // Slowly, in pieces, through one open handle.
                        0 => {
                            use std::io::Write;
                            let mut file =
                                std::fs::File::create(inbox.join(&name)).expect("create");
                            for piece in 0..5 {
                                file.write_all(format!("piece {piece}\n").as_bytes())
                                    .expect("write");
                                file.flush().expect("flush");
                                std::thread::sleep(Duration::from_millis(60));
                            }
                            file.write_all(b"END\n").expect("write the end");
                        }
                        // Written elsewhere, then moved in.
                        1 => {
                            let hidden = inbox.join(format!(".{name}.partial"));
                            std::fs::write(&hidden, format!("moved {i}\nEND\n")).expect("write");
                            std::fs::rename(&hidden, inbox.join(&name)).expect("move in");
                        }
                        _ => drop_file(&inbox, &name, &format!("file {w} {i}")),
                    }
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().expect("a writer");
    }
    let all = wait_until(Duration::from_secs(30), || {
        site.history(&["--job", "file_landed"]).len() >= 100
    });
    assert!(all, "not every file started its job:\n{}", runner.log());
    std::thread::sleep(Duration::from_millis(1000));
    let rows = site.history(&["--job", "file_landed"]);
    if rows.len() != 100 {
        eprintln!("{}", site.ok(&["events", "--limit", "1000"]));
        eprintln!("{rows:#?}");
    }
    assert_eq!(
        rows.len(),
        100,
        "a file started its job twice, or a partial file started one"
    );
    assert!(
        rows.iter()
            .all(|r| r["status"] == "succeeded" && r["trigger"] == "event"),
        "{rows:#?}"
    );
    let events: Vec<Value> =
        serde_json::from_str(&site.ok(&["events", "--json", "--limit", "1000"]))
            .expect("events as JSON");
    let names: std::collections::BTreeSet<String> = events
        .iter()
        .filter_map(|e| e["fields"]["name"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(names.len(), 100, "each file is its own event");
    assert!(
        names.contains("early-0.txt"),
        "a file dropped while no runner ran was not picked up"
    );
    drop(runner);

    // Dropped while stopped, picked up at the next start; the others are not run again.
    drop_file(&inbox, "late.txt", "late");
    let runner = site.runner();
    assert!(
        wait_until(Duration::from_secs(15), || site
            .history(&["--job", "file_landed"])
            .len()
            >= 101),
        "{}",
        runner.log()
    );
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(site.history(&["--job", "file_landed"]).len(), 101);
    let _ = landed_names;
}

fn a_webhook_notification_sent_twice_runs_its_job_once(backend: Backend) {
    let mut site = Site::new(backend);
    site.env("JOBS_JOB_OBJECT_UPLOADED_ENABLED", "true");
    site.env("JOBS_ADMIN_ADDR", "127.0.0.1:0");
    site.env("JOBS_ADMIN_TOKEN", TOKEN);
    let secret = "webhook-secret-0123456789";
    std::fs::write(
        site.path("jobs.toml"),
        format!("[sources.s3]\nkind = \"webhook\"\nsecret = \"{secret}\"\n"),
    )
    .expect("jobs.toml");
    let runner = site.runner();
    let url = runner.admin_url();
    let body = r#"{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"documents"},"object":{"key":"inbox/report+2026.pdf","size":1024,"eTag":"e1","sequencer":"00A1"}}}]}"#;
    let signature = job_runner::sources::webhook::sign(secret, body.as_bytes());
    let post = |headers: &[(&str, &str)], body: &str| {
        crate::http::request("POST", &url, "/hooks/s3", headers, body.as_bytes())
    };

    let first = post(&[("X-Jobs-Signature", &signature)], body);
    assert_eq!(first.status, 200, "{}", first.text());
    assert_eq!(first.json()["enqueued"], 1);
    let second = post(&[("X-Jobs-Signature", &signature)], body);
    assert_eq!(second.json()["duplicates"], 1);
    assert_eq!(second.json()["enqueued"], 0);
    let bearer = format!("Bearer {secret}");
    assert_eq!(
        post(&[("Authorization", &bearer)], body).json()["duplicates"],
        1
    );

    let other = body.replace("00A1", "00A2");
    let forged = job_runner::sources::webhook::sign("not-the-secret", other.as_bytes());
    for headers in [
        vec![("X-Jobs-Signature", forged.as_str())],
        vec![("Authorization", "Bearer nope")],
        vec![],
    ] {
        let refused = post(&headers, &other);
        assert_eq!(refused.status, 401, "{headers:?}");
    }
    assert_eq!(
        post(&[("X-Jobs-Signature", &signature)], "{not json").status,
        401,
        "the signature covers the body"
    );
    let signed_bad = job_runner::sources::webhook::sign(secret, b"{}");
    assert_eq!(post(&[("X-Jobs-Signature", &signed_bad)], "{}").status, 400);

    assert!(
        wait_until(Duration::from_secs(10), || !site
            .history(&["--job", "object_uploaded"])
            .is_empty()),
        "{}",
        runner.log()
    );
    std::thread::sleep(Duration::from_millis(800));
    let rows = site.history(&["--job", "object_uploaded"]);
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0]["trigger"], "event");
    assert_eq!(
        rows[0]["records_processed"],
        "inbox/report 2026.pdf".len() + "documents".len()
    );
}

fn a_job_bound_to_a_missing_source_stops_the_runner_at_start(backend: Backend) {
    let mut site = Site::new(backend);
    site.env("JOBS_JOB_FILE_LANDED_ENABLED", "true");
    let output = site.cli(&["run"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("job `file_landed` starts on events of source `inbox`"),
        "{stderr}"
    );
    assert!(stderr.contains("[sources.inbox]"), "{stderr}");
}
