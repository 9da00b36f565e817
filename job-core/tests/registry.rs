//! Registration through `inventory`: jobs are found with no list, and name clashes are
//! reported with both source locations.

use job_core::prelude::*;
use job_core::testing::TestContext;
use job_core::{Registry, Trigger};

/// Deletes nothing, twice over: two jobs share the name `cleanup`.
#[job(name = "cleanup")]
async fn cleanup_sessions() -> JobResult {
    Ok(Outcome::processed(1_u8))
}

#[job(name = "cleanup")]
async fn cleanup_tokens() -> JobResult {
    Ok(Outcome::processed(2_u8))
}

#[job(cron = "*/5 * * * *")]
async fn tick(ctx: JobContext) -> JobResult {
    Ok(Outcome::processed(u64::from(ctx.attempt())))
}

#[job]
async fn always_fails(reason: String) -> JobResult {
    Err(JobError::msg(reason))
}

#[job]
async fn gives_up() -> Result<(), JobError> {
    Err(JobError::msg("document 42 does not exist").permanent())
}

#[test]
fn two_jobs_with_one_name_are_refused_with_both_locations() {
    let error = Registry::from_linked().unwrap_err();
    let message = error.to_string();
    assert!(message.contains("2 jobs are named `cleanup`"), "{message}");
    assert!(message.contains("tests/registry.rs:9"), "{message}");
    assert!(message.contains("tests/registry.rs:14"), "{message}");
    assert!(message.contains("#[job(name = \"...\")]"), "{message}");
}

#[test]
fn descriptors_carry_the_options_and_argument_type() {
    let registry = Registry::from_descriptors([
        Tick::descriptor(),
        AlwaysFails::descriptor(),
        CleanupSessions::descriptor(),
    ])
    .unwrap();
    let tick = registry.get("tick").unwrap();
    assert_eq!(tick.options().cron, Some("*/5 * * * *"));
    assert_eq!(tick.args_type(), "()");
    let fails = registry.get("always_fails").unwrap();
    assert_eq!(fails.args_type(), "alloc::string::String");
    assert!(fails.check_args(&serde_json::json!("boom")).is_ok());
    let error = fails
        .check_args(&serde_json::json!({"reason": 1}))
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "job `always_fails` takes `alloc::string::String`, and the arguments given do not fit: invalid type: map, expected a string"
    );
    let error = tick.check_args(&serde_json::json!({"x": 1})).unwrap_err();
    assert!(error.to_string().contains("takes no arguments"), "{error}");
}

#[tokio::test]
async fn the_testing_helper_runs_jobs_inline() {
    let outcome = TestContext::new()
        .attempt(3, 5)
        .trigger(Trigger::Cron)
        .run(Tick, ())
        .await
        .unwrap();
    assert_eq!(outcome.records_processed(), Some(3));

    let error = TestContext::new()
        .run(AlwaysFails, "destination unreachable".into())
        .await
        .unwrap_err();
    assert_eq!(error.to_string(), "destination unreachable");
    assert!(!error.is_permanent());

    let error = TestContext::new().run(GivesUp, ()).await.unwrap_err();
    assert!(error.is_permanent(), "a JobError keeps its permanent flag");
}
