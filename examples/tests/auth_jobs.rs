//! The key-expiry and cleanup jobs against a real SQLite database, on a virtual clock.

use chrono::{DateTime, TimeDelta, Utc};
use examples::AuthDb;
use examples::cleanup::{
    CleanupExpiredChallenges, CleanupExpiredDeviceCodes, CleanupExpiredRefreshTokens,
    CleanupExpiredSessions,
};
use examples::keys::ExpireKeys;
use job_core::testing::TestContext;
use job_core::{Clock, Job};

/// The instant every test treats as "now".
fn now() -> DateTime<Utc> {
    "2026-03-01T00:00:00Z".parse().expect("a valid instant")
}

/// A job context with `db` on a virtual clock that reads `at`.
fn context(db: &AuthDb, at: DateTime<Utc>) -> TestContext {
    TestContext::new()
        .data(db.clone())
        .clock(Clock::virtual_at(at))
}

async fn memory_db() -> AuthDb {
    AuthDb::connect("sqlite::memory:")
        .await
        .expect("an in-memory database")
}

async fn ids(db: &AuthDb, sql: &'static str) -> Vec<String> {
    sqlx::query_scalar(sql)
        .fetch_all(db.pool())
        .await
        .expect("the query runs")
}

async fn insert_key(db: &AuthDb, name: &str, active: bool, expires_at: Option<DateTime<Utc>>) {
    sqlx::query(
        "INSERT INTO auth_keys (name, active, created_at, expires_at, deactivated_at)
         VALUES (?, ?, ?, ?, ?)",
    )
    .bind(name.to_owned())
    .bind(active)
    .bind((now() - TimeDelta::days(30)).timestamp())
    .bind(expires_at.map(|t| t.timestamp()))
    .bind((!active).then(|| (now() - TimeDelta::days(3)).timestamp()))
    .execute(db.pool())
    .await
    .expect("insert a key");
}

#[tokio::test]
async fn expire_keys_deactivates_expired_active_keys_only() {
    let db = memory_db().await;
    insert_key(
        &db,
        "expired-yesterday",
        true,
        Some(now() - TimeDelta::days(1)),
    )
    .await;
    insert_key(&db, "expires-now", true, Some(now())).await;
    insert_key(
        &db,
        "expires-in-a-second",
        true,
        Some(now() + TimeDelta::seconds(1)),
    )
    .await;
    insert_key(
        &db,
        "expires-tomorrow",
        true,
        Some(now() + TimeDelta::days(1)),
    )
    .await;
    insert_key(&db, "never-expires", true, None).await;
    insert_key(
        &db,
        "already-inactive",
        false,
        Some(now() - TimeDelta::days(2)),
    )
    .await;

    let outcome = context(&db, now())
        .run(ExpireKeys, ())
        .await
        .expect("the job succeeds");
    assert_eq!(outcome.records_processed(), Some(2));

    let rows: Vec<(String, bool, Option<i64>)> =
        sqlx::query_as("SELECT name, active, deactivated_at FROM auth_keys ORDER BY id")
            .fetch_all(db.pool())
            .await
            .expect("read the keys");
    let deactivated_earlier = (now() - TimeDelta::days(3)).timestamp();
    let expected = [
        ("expired-yesterday", false, Some(now().timestamp())),
        ("expires-now", false, Some(now().timestamp())),
        ("expires-in-a-second", true, None),
        ("expires-tomorrow", true, None),
        ("never-expires", true, None),
        ("already-inactive", false, Some(deactivated_earlier)),
    ];
    let rows: Vec<_> = rows.iter().map(|(n, a, d)| (n.as_str(), *a, *d)).collect();
    assert_eq!(rows, expected);

    // Nothing left to do: a second run processes nothing.
    let again = context(&db, now())
        .run(ExpireKeys, ())
        .await
        .expect("succeeds");
    assert_eq!(again.records_processed(), Some(0));

    // Two days later by the runner's clock, tomorrow's key has expired too.
    let later = context(&db, now() + TimeDelta::days(2))
        .run(ExpireKeys, ())
        .await
        .expect("succeeds");
    assert_eq!(later.records_processed(), Some(2));
    let active = ids(&db, "SELECT name FROM auth_keys WHERE active = 1").await;
    assert_eq!(active, ["never-expires"]);
}

#[tokio::test]
async fn a_job_without_its_database_says_what_to_register() {
    let error = TestContext::new()
        .run(ExpireKeys, ())
        .await
        .expect_err("no AuthDb registered");
    let message = error.to_string();
    assert!(
        message.contains("AuthDb") && message.contains(".data("),
        "{message}"
    );
    assert!(!error.is_permanent());
}

/// Inserts rows `(id, expires_at)` with `sql`, whose binds are id, created_at, expires_at.
async fn insert_expiring(db: &AuthDb, sql: &'static str, rows: &[(&str, DateTime<Utc>)]) {
    for (id, expires_at) in rows {
        sqlx::query(sql)
            .bind((*id).to_owned())
            .bind((now() - TimeDelta::days(1)).timestamp())
            .bind(expires_at.timestamp())
            .execute(db.pool())
            .await
            .expect("insert a row");
    }
}

/// Rows on both sides of "now": the first two have expired, the last two have not.
fn expiring_rows() -> [(&'static str, DateTime<Utc>); 4] {
    [
        ("long-gone", now() - TimeDelta::days(7)),
        ("just-expired", now()),
        ("one-more-second", now() + TimeDelta::seconds(1)),
        ("fresh", now() + TimeDelta::hours(1)),
    ]
}

#[tokio::test]
async fn cleanup_expired_sessions_deletes_only_expired_sessions() {
    let db = memory_db().await;
    insert_expiring(
        &db,
        "INSERT INTO sessions (id, user_id, created_at, expires_at) VALUES (?, 'ada', ?, ?)",
        &expiring_rows(),
    )
    .await;

    let outcome = context(&db, now())
        .run(CleanupExpiredSessions, ())
        .await
        .expect("the job succeeds");

    assert_eq!(outcome.records_processed(), Some(2));
    let left = ids(&db, "SELECT id FROM sessions ORDER BY id").await;
    assert_eq!(left, ["fresh", "one-more-second"]);
}

#[tokio::test]
async fn cleanup_expired_refresh_tokens_deletes_only_expired_tokens() {
    let db = memory_db().await;
    insert_expiring(
        &db,
        "INSERT INTO refresh_tokens (token, user_id, created_at, expires_at) VALUES (?, 'ada', ?, ?)",
        &expiring_rows(),
    )
    .await;

    let outcome = context(&db, now())
        .run(CleanupExpiredRefreshTokens, ())
        .await
        .expect("the job succeeds");

    assert_eq!(outcome.records_processed(), Some(2));
    let left = ids(&db, "SELECT token FROM refresh_tokens ORDER BY token").await;
    assert_eq!(left, ["fresh", "one-more-second"]);
}

#[tokio::test]
async fn cleanup_expired_device_codes_deletes_only_expired_codes() {
    let db = memory_db().await;
    insert_expiring(
        &db,
        "INSERT INTO device_codes (device_code, user_code, created_at, expires_at)
         VALUES (?1, 'U-' || ?1, ?2, ?3)",
        &expiring_rows(),
    )
    .await;

    let outcome = context(&db, now())
        .run(CleanupExpiredDeviceCodes, ())
        .await
        .expect("the job succeeds");

    assert_eq!(outcome.records_processed(), Some(2));
    let left = ids(
        &db,
        "SELECT device_code FROM device_codes ORDER BY device_code",
    )
    .await;
    assert_eq!(left, ["fresh", "one-more-second"]);
}

#[tokio::test]
async fn cleanup_expired_challenges_deletes_challenges_older_than_five_minutes() {
    let db = memory_db().await;
    let issued = [
        ("an-hour-old", now() - TimeDelta::hours(1)),
        ("five-minutes-and-a-second", now() - TimeDelta::seconds(301)),
        ("exactly-five-minutes", now() - TimeDelta::minutes(5)),
        ("a-minute-old", now() - TimeDelta::minutes(1)),
        ("just-issued", now()),
    ];
    for (id, created_at) in issued {
        sqlx::query(
            "INSERT INTO webauthn_challenges (id, user_id, challenge, created_at) VALUES (?, 'ada', ?, ?)",
        )
        .bind(id)
        .bind(vec![7_u8; 32])
        .bind(created_at.timestamp())
        .execute(db.pool())
        .await
        .expect("insert a challenge");
    }

    let outcome = context(&db, now())
        .run(CleanupExpiredChallenges, ())
        .await
        .expect("the job succeeds");

    assert_eq!(outcome.records_processed(), Some(2));
    let left = ids(
        &db,
        "SELECT id FROM webauthn_challenges ORDER BY created_at",
    )
    .await;
    assert_eq!(
        left,
        ["exactly-five-minutes", "a-minute-old", "just-issued"]
    );

    // Five minutes later (the job's next tick), all but the newest are stale.
    let next_tick = context(&db, now() + TimeDelta::minutes(5))
        .run(CleanupExpiredChallenges, ())
        .await
        .expect("the job succeeds");
    assert_eq!(next_tick.records_processed(), Some(2));
    let left = ids(&db, "SELECT id FROM webauthn_challenges").await;
    assert_eq!(left, ["just-issued"]);
}

#[tokio::test]
async fn cleanup_on_an_empty_table_processes_nothing() {
    let db = memory_db().await;
    let outcome = context(&db, now())
        .run(CleanupExpiredSessions, ())
        .await
        .expect("the job succeeds");
    assert_eq!(outcome.records_processed(), Some(0));
}

#[test]
fn the_schedules_are_the_seeds() {
    let schedules = [
        (ExpireKeys::descriptor(), "0 0 * * *"),
        (CleanupExpiredSessions::descriptor(), "0 * * * *"),
        (CleanupExpiredRefreshTokens::descriptor(), "30 * * * *"),
        (CleanupExpiredChallenges::descriptor(), "*/5 * * * *"),
        (CleanupExpiredDeviceCodes::descriptor(), "45 * * * *"),
    ];
    for (descriptor, cron) in schedules {
        assert_eq!(
            descriptor.options().cron,
            Some(cron),
            "{}",
            descriptor.name()
        );
        assert_eq!(descriptor.options().timezone, "UTC");
    }
}
