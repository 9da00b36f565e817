//! `register_with` prepares the database and folders and registers the jobs' state.

use examples::{AuthDb, Settings, TransferConfig};
use job_core::State;

#[tokio::test]
async fn register_creates_the_tables_and_folders_and_is_idempotent() {
    let root = tempfile::tempdir().expect("a temporary folder");
    let settings = Settings {
        database_url: format!("sqlite://{}?mode=rwc", root.path().join("app.db").display()),
        transfer_source: root.path().join("transfers/inbox"),
        transfer_destination: root.path().join("transfers/outbox"),
    };

    let mut state = State::new();
    examples::register_with(&mut state, &settings)
        .await
        .expect("registers");

    assert!(settings.transfer_source.is_dir() && settings.transfer_destination.is_dir());
    let config = state.get::<TransferConfig>().expect("a TransferConfig");
    assert_eq!(config.source_dir, settings.transfer_source);
    assert_eq!(config.destination_dir, settings.transfer_destination);
    let db = state.get::<AuthDb>().expect("an AuthDb");
    sqlx::query(
        "INSERT INTO sessions (id, user_id, created_at, expires_at) VALUES ('s', 'u', 0, 1)",
    )
    .execute(db.pool())
    .await
    .expect("the tables exist");
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .fetch_all(db.pool())
            .await
            .expect("list the tables");
    assert_eq!(
        tables,
        [
            "auth_keys",
            "device_codes",
            "document_index",
            "refresh_tokens",
            "sessions",
            "webauthn_challenges"
        ]
    );

    // A second start on the same database keeps its rows.
    let mut again = State::new();
    examples::register_with(&mut again, &settings)
        .await
        .expect("registers again");
    let db = again.get::<AuthDb>().expect("an AuthDb");
    let sessions: i64 = sqlx::query_scalar("SELECT count(*) FROM sessions")
        .fetch_one(db.pool())
        .await
        .expect("count");
    assert_eq!(sessions, 1);
}

#[tokio::test]
async fn an_unusable_database_is_reported_with_its_url() {
    let root = tempfile::tempdir().expect("a temporary folder");
    let settings = Settings {
        database_url: format!(
            "sqlite://{}?mode=rw",
            root.path().join("missing/app.db").display()
        ),
        transfer_source: root.path().join("in"),
        transfer_destination: root.path().join("out"),
    };
    let error = examples::register_with(&mut State::new(), &settings)
        .await
        .expect_err("no such database");
    assert!(format!("{error:#}").contains("missing/app.db"), "{error:#}");
}

#[test]
fn every_example_job_is_registered() {
    let registry = job_core::Registry::from_linked().expect("no duplicate names");
    for name in [
        "expire_keys",
        "cleanup_expired_sessions",
        "cleanup_expired_refresh_tokens",
        "cleanup_expired_challenges",
        "cleanup_expired_device_codes",
        "transfer_document",
    ] {
        assert!(registry.get(name).is_some(), "{name} is not registered");
    }
}

#[test]
fn the_defaults_are_documented_ones() {
    let settings = Settings::default();
    assert_eq!(settings.database_url, "sqlite://examples.db?mode=rwc");
    assert_eq!(
        settings.transfer_source,
        std::path::Path::new("transfers/inbox")
    );
    assert_eq!(
        settings.transfer_destination,
        std::path::Path::new("transfers/outbox")
    );
}
