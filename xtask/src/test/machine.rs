//! What `cargo xtask test` may do to this machine: find programs, tell whether it may
//! install packages (as root, with apt), install them; and what it says when it cannot
//! provide something.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Something the suite needs that is not there: what, and how to get it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    /// What is missing, and which tests it costs.
    pub what: String,
    /// How to get it.
    pub how: String,
}

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}\n    {}", self.what, self.how)
    }
}

/// The program `name` on the `PATH`, if there is one.
pub fn program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// Whether this process may install packages: it runs as root and apt-get is there.
pub fn can_install() -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).trim() == "0");
    root && program("apt-get").is_some()
}

/// `apt-get install PACKAGES`, quietly, after refreshing the package lists; `Err` says why
/// it failed.
pub fn apt_install(packages: &[&str]) -> Result<(), String> {
    eprintln!(
        "xtask test: installing {} with apt-get...",
        packages.join(" ")
    );
    run(Command::new("apt-get").args(["update", "-qq"]))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "-qq"])
        .args(packages)
        .env("DEBIAN_FRONTEND", "noninteractive"))
}

/// Runs `command` with its output kept back; `Err` holds its error output.
pub fn run(command: &mut Command) -> Result<(), String> {
    let shown = format!("{command:?}");
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {shown}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let said = if stderr.trim().is_empty() {
            String::from_utf8_lossy(&output.stdout)
        } else {
            stderr
        };
        Err(format!(
            "{shown} failed ({}): {}",
            output.status,
            said.trim()
        ))
    }
}

/// Whether every one of `paths` exists.
pub fn all_exist(paths: &[&str]) -> bool {
    paths.iter().all(|p| Path::new(p).exists())
}
