//! `cargo xtask bench`: builds the `bench` program and the `job-runner` binary in release
//! mode, then runs the scenarios on this machine's SQLite file and PostgreSQL server; then
//! times the virtual-clock simulation from a debug build of `bench`, which its target is
//! for. A full run (not `--quick`) also builds `graphile-peer` (graphile_worker, the
//! PostgreSQL peer, a crate of its own outside the workspace) into the same target
//! directory; when that build fails (offline, say), the run goes on without the peer.
//!
//! xtask itself links nothing of the runtime: the scenarios live in the `bench` crate,
//! which this command only builds and starts.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};

use crate::cargo::cargo;
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
    /// The scale step alone (`bench scale`).
    pub scale: bool,
}

/// The peer's own crate, outside the workspace.
const PEER_MANIFEST: &str = "bench/peers/graphile/Cargo.toml";

/// Builds and runs the bench; results go to `TARGET/bench/`.
pub fn run(request: &Request, cwd: &Path) -> anyhow::Result<()> {
    let workspace = Workspace::find(cwd)?;
    let root = &workspace.root;
    let target = target_dir(root);
    let out = target.join("bench");

    eprintln!("building the bench and job-runner in release mode...");
    build(root, &["--release", "-p", "bench", "-p", "job-runner"])?;
    if !request.quick {
        build_peer(root, &target);
    }
    if request.scale {
        let mut args: Vec<OsString> = ["scale", "--backend", &request.backend, "--out"]
            .map(OsString::from)
            .into();
        args.push(out.into());
        return start(root, &target.join("release").join("bench"), &args);
    }
    let mut args: Vec<OsString> = ["run", "--backend", &request.backend, "--out"]
        .map(OsString::from)
        .into();
    args.push(out.clone().into());
    if let Some(jobs) = request.jobs {
        args.extend(["--jobs".into(), jobs.to_string().into()]);
    }
    if request.quick {
        args.push("--quick".into());
    }
    start(root, &target.join("release").join("bench"), &args)?;

    // The simulation's target is for a debug build: that part runs from one.
    eprintln!("building the bench in debug mode for the simulation...");
    build(root, &["-p", "bench"])?;
    let mut args: Vec<OsString> = vec!["simulate".into(), "--out".into(), out.into()];
    if request.quick {
        args.push("--quick".into());
    }
    start(root, &target.join("debug").join("bench"), &args)
}

/// Builds `graphile-peer` in release mode beside the bench; a failure is reported, and the
/// bench then says the peer was not measured.
fn build_peer(root: &Path, target: &Path) {
    eprintln!("building graphile-peer (graphile_worker, the PostgreSQL peer) in release mode...");
    let manifest = root.join(PEER_MANIFEST);
    let target = target.as_os_str().to_owned();
    let args: [&std::ffi::OsStr; 6] = [
        "build".as_ref(),
        "--release".as_ref(),
        "--manifest-path".as_ref(),
        manifest.as_os_str(),
        "--target-dir".as_ref(),
        &target,
    ];
    if let Err(error) = cargo(root, args) {
        eprintln!("graphile-peer not built, the run goes on without the peer: {error:#}");
    }
}

/// `cargo build ARGS` in the workspace.
fn build(root: &Path, args: &[&str]) -> anyhow::Result<()> {
    cargo(root, ["build"].iter().chain(args))
}

/// Runs the bench program `exe` with `args`, from the workspace's root.
fn start(root: &Path, exe: &Path, args: &[OsString]) -> anyhow::Result<()> {
    let status = Command::new(exe)
        .current_dir(root)
        .args(args)
        .status()
        .with_context(|| format!("running {}", exe.display()))?;
    if !status.success() {
        bail!("the bench failed ({status}): see its output above");
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
