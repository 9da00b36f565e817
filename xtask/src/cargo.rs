//! Running cargo from xtask: the cargo that runs xtask (`$CARGO`), in the workspace's root.

use std::ffi::{OsStr, OsString};
use std::path::Path;
use std::process::Command;

use anyhow::{Context as _, bail};

/// Runs `cargo ARGS` in `root`, its output going to ours; fails, naming the command, when it
/// fails.
pub fn cargo<I, S>(root: &Path, args: I) -> anyhow::Result<()>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<OsString> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let shown = args
        .iter()
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ");
    let status = Command::new(&cargo)
        .current_dir(root)
        .args(&args)
        .status()
        .with_context(|| format!("running `cargo {shown}`"))?;
    if !status.success() {
        bail!("`cargo {shown}` failed ({status}): see its output above");
    }
    Ok(())
}
