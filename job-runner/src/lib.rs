//! Runs every registered `#[job]`: durable storage, workers, cron, retries, recovery,
//! history and controls.

pub mod admin;
pub mod check;
mod cleaner;
pub mod cli;
pub mod client;
mod completer;
pub mod config;
pub mod control;
pub mod events;
pub mod exec;
mod executor;
mod heartbeat;
mod listener;
pub mod metrics;
pub mod plan;
mod rescuer;
mod runner;
mod scheduler;
pub mod schedules;
pub mod secret;
pub mod sources;
pub mod storage;
pub mod testing;

pub use client::Jobs;
pub use config::Config;
pub use runner::{Runner, RunnerBuilder, RunnerError, connect_options};
