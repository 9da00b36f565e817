//! The connection itself: backend, ping, announcements, close.

use super::*;

#[tokio::test]
async fn a_driver_answers_announces_and_closes() {
    each_backend(async |store, now| {
        store.ping().await.expect("ping");
        match store.backend() {
            // Every commit to the file is announced: see the tests below.
            Backend::Sqlite => {}
            Backend::Postgres => {
                let mut listener = store.listen().await.expect("listen").expect("a listener");
                store
                    .insert_tasks(&[task("due_now", now)], now)
                    .await
                    .expect("insert");
                // Channels are the database's: other tests' announcements arrive too.
                heard(&mut *listener, Announcement::TaskDue("due_now".into())).await;
                let row = ScheduleRow {
                    id: "listened".into(),
                    job: "due_now".into(),
                    cron: Some("* * * * *".into()),
                    every_ms: None,
                    timezone: "UTC".into(),
                    args: serde_json::Value::Null,
                    enabled: true,
                    catch_up: "skip".into(),
                    in_code: false,
                    created_at: now,
                    updated_at: now,
                };
                store.insert_schedule(&row).await.expect("schedule");
                heard(
                    &mut *listener,
                    Announcement::SchedulesChanged("listened".into()),
                )
                .await;
            }
        }
        store.close().await;
        assert!(
            store.ping().await.is_err(),
            "a closed store answers no more"
        );
    })
    .await;
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn sqlite_announces_what_another_process_commits_to_the_same_file() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let url = format!("sqlite://{}", dir.path().join("jobs.db").display());
    let runner = Store::connect(&url, &job_runner::storage::ConnectOptions::default())
        .await
        .expect("open SQLite");
    runner.migrate().await.expect("migrate");
    let mut listener = runner.listen().await.expect("listen").expect("a listener");
    // Another process: connections of its own on the same file.
    let web = Store::connect(&url, &job_runner::storage::ConnectOptions::default())
        .await
        .expect("open SQLite again");
    let now = DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).expect("now");
    web.insert_tasks(&[task("due_now", now)], now)
        .await
        .expect("insert");
    heard(&mut *listener, Announcement::Changed).await;
    web.close().await;
    runner.close().await;
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn sqlite_in_memory_has_no_announcements() {
    let store = Store::connect(
        "sqlite::memory:",
        &job_runner::storage::ConnectOptions::default(),
    )
    .await
    .expect("open SQLite in memory");
    assert!(store.listen().await.expect("listen").is_none());
    store.close().await;
}

/// Waits up to 10 s for `expected` among the announcements.
async fn heard(listener: &mut dyn Listener, expected: Announcement) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let next = tokio::time::timeout_at(deadline, listener.next())
            .await
            .unwrap_or_else(|_| panic!("{expected:?} was not announced within 10 s"))
            .expect("an announcement");
        if next == expected {
            return;
        }
    }
}

/// The suite calls every method of the driver's traits: a method added to the interface
/// without a test here fails this test.
#[test]
fn every_driver_method_is_tested() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let interface = std::fs::read_to_string(root.join("src/storage/driver.rs")).expect("driver.rs");
    let suite: String = std::fs::read_dir(root.join("tests/storage"))
        .expect("the suite's folder")
        .map(|entry| std::fs::read_to_string(entry.expect("an entry").path()).expect("a file"))
        .collect();
    let methods: Vec<&str> = interface
        .split("fn ")
        .skip(1)
        .filter_map(|rest| rest.split(['(', '<']).next())
        .filter(|name| !name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        .collect();
    assert!(methods.len() > 40, "the interface's methods: {methods:?}");
    let untested: Vec<&&str> = methods
        .iter()
        .filter(|name| !suite.contains(&format!(".{name}(")))
        .collect();
    assert!(
        untested.is_empty(),
        "driver methods with no test in tests/storage: {untested:?}"
    );
}

/// Logs and panics show a store's URL: never its password.
#[tokio::test]
async fn a_store_never_shows_its_password() {
    let Some(base) = backends::postgres_url() else {
        return;
    };
    let Some((scheme, rest)) = base.split_once("://") else {
        return;
    };
    let Some((user, host)) = rest.split_once('@') else {
        return;
    };
    let user = user.split(':').next().unwrap_or(user);
    // The test server trusts local connections: the password is not checked.
    let url = format!("{scheme}://{user}:hunter2-secret@{host}");
    let store = Store::connect(&url, &Default::default())
        .await
        .expect("open");
    for shown in [format!("{store:?}"), store.display_url()] {
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains(":***@"), "{shown}");
    }
    store.close().await;
}
