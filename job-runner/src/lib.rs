//! Runs every registered `#[job]`: durable storage, workers, cron, retries, recovery,
//! history and controls.

pub mod admin;
mod attempt;
mod canceller;
mod chain;
pub mod check;
mod cleaner;
pub mod cli;
pub mod client;
mod completer;
pub mod config;
pub mod control;
mod ends;
pub mod events;
mod executor;
mod heartbeat;
mod in_flight;
pub mod limit_control;
pub mod limits;
mod listener;
pub mod metrics;
pub mod plan;
mod process;
pub mod queue_control;
mod reclaimer;
mod reporter;
mod rescuer;
mod retry;
mod runner;
pub mod schedule_control;
mod scheduler;
pub mod secret;
pub mod sources;
mod startup;
pub mod storage;
pub mod task_control;
pub mod telemetry;
pub mod testing;
pub mod within;

pub use client::Jobs;
pub use config::Config;
pub use runner::{Runner, RunnerBuilder, RunnerError};
pub use startup::connect_options;
pub use telemetry::Telemetry;
pub use within::{AppConnection, Within};
