//! `cargo xtask bench`: builds the `bench` program and the `job-runner` binary in release
//! mode, then runs the scenarios on this machine's SQLite file and PostgreSQL server; then
//! times the virtual-clock simulation from a debug build of `bench`, which its target is
//! for.
//!
//! xtask itself links nothing of the runtime: the scenarios live in the `bench` crate,
//! which this command only builds and starts.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};

use crate::workspace::Workspace;

/// The options of `cargo xtask bench`.
#[derive(Debug)]
pub struct Request {
    /// `sqlite`, `postgres` or `all`.
    pub backend: String,
    /// Tasks per drain, instead of the defaults.
    pub jobs: Option<u32>,
    /// The short run.
    pub quick: bool,
}

/// Builds and runs the bench; results go to `TARGET/bench/`.
pub fn run(request: &Request, cwd: &Path) -> anyhow::Result<()> {
    let workspace = Workspace::find(cwd)?;
    let root = &workspace.root;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    eprintln!("building the bench and job-runner in release mode...");
    let built = Command::new(&cargo)
        .current_dir(root)
        .args(["build", "--release", "-p", "bench", "-p", "job-runner"])
        .status()
        .context("running cargo build")?;
    if !built.success() {
        bail!("the release build failed");
    }
    let target = target_dir(root);
    let exe = target.join("release").join("bench");
    let out = target.join("bench");
    let mut command = Command::new(&exe);
    command
        .current_dir(root)
        .args(["run", "--backend", &request.backend, "--out"])
        .arg(&out);
    if let Some(jobs) = request.jobs {
        command.args(["--jobs", &jobs.to_string()]);
    }
    if request.quick {
        command.arg("--quick");
    }
    let status = command
        .status()
        .with_context(|| format!("running {}", exe.display()))?;
    if !status.success() {
        bail!("the bench failed ({status}): see its output above");
    }

    // The simulation's target is for a debug build: that part runs from one.
    eprintln!("building the bench in debug mode for the simulation...");
    let built = Command::new(&cargo)
        .current_dir(root)
        .args(["build", "-p", "bench"])
        .status()
        .context("running cargo build")?;
    if !built.success() {
        bail!("the debug build failed");
    }
    let exe = target.join("debug").join("bench");
    let mut command = Command::new(&exe);
    command
        .current_dir(root)
        .args(["simulate", "--out"])
        .arg(&out);
    if request.quick {
        command.arg("--quick");
    }
    let status = command
        .status()
        .with_context(|| format!("running {}", exe.display()))?;
    if !status.success() {
        bail!("the simulation bench failed ({status}): see its output above");
    }
    Ok(())
}

/// Cargo's target directory for the workspace at `root`.
fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root.join(dir),
        None => root.join("target"),
    }
}
