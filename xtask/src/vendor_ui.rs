//! `cargo xtask vendor-ui`: the console's chart library, uPlot, copied from the npm
//! registry's tarball into `job-runner/src/admin/assets/vendor/`, where the runner compiles
//! it into its binary (the console loads nothing from a CDN and works offline).
//!
//! The version and the tarball's sha512 are pinned here. The registry's published
//! integrity must equal the pinned one, and the downloaded tarball must hash to it; any
//! mismatch stops the command before a file is written. The download goes through `curl`
//! and the unpacking through `tar`, both on every developer's machine and in CI.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};
use sha2::{Digest as _, Sha512};

use crate::workspace::Workspace;

/// The pinned uPlot release.
pub const VERSION: &str = "1.6.32";
/// The npm registry's `dist.integrity` of that release's tarball (Subresource Integrity:
/// `sha512-` then the base64 of the SHA-512 of the `.tgz`).
pub const INTEGRITY: &str = "sha512-KIMVnG68zvu5XXUbC4LQEPnhwOxBuLyW1AHtpm6IKTXImkbLgkMy+jabjLgSLMasNuGGzQm/ep3tOkyTxpiQIw==";
/// Where the registry describes the release.
const REGISTRY: &str = "https://registry.npmjs.org/uplot";

/// The files copied from the package, and their names in the vendor folder.
const FILES: [(&str, &str); 3] = [
    ("package/dist/uPlot.iife.min.js", "uPlot.iife.min.js"),
    ("package/dist/uPlot.min.css", "uPlot.min.css"),
    ("package/LICENSE", "LICENSE"),
];

/// The vendor folder, from the workspace root.
pub const VENDOR_DIR: &str = "job-runner/src/admin/assets/vendor";

/// Downloads, checks and copies; returns the folder written.
pub fn run(cwd: &Path) -> anyhow::Result<PathBuf> {
    let workspace = Workspace::find(cwd)?;
    let metadata = fetch(&format!("{REGISTRY}/{VERSION}"))?;
    let metadata: serde_json::Value = serde_json::from_slice(&metadata)
        .with_context(|| format!("the registry's description of uplot {VERSION} is not JSON"))?;
    let published = metadata["dist"]["integrity"].as_str().unwrap_or_default();
    check_published(published)?;
    let tarball_url = metadata["dist"]["tarball"].as_str().with_context(|| {
        format!("the registry's description of uplot {VERSION} has no dist.tarball")
    })?;
    let tarball = fetch(tarball_url)?;
    check_download(tarball_url, &tarball)?;
    let scratch = tempdir()?;
    let archive = scratch.join(format!("uplot-{VERSION}.tgz"));
    std::fs::write(&archive, &tarball)
        .with_context(|| format!("cannot write {}", archive.display()))?;
    let status = Command::new("tar")
        .arg("-xzf")
        .arg(&archive)
        .arg("-C")
        .arg(&scratch)
        .args(FILES.map(|(from, _)| from))
        .status()
        .context("cannot run `tar`: install it (Debian: apt-get install tar)")?;
    if !status.success() {
        bail!(
            "`tar` could not unpack {} ({status}): the files {:?} are expected in the package",
            archive.display(),
            FILES.map(|(from, _)| from)
        );
    }
    let vendor = workspace.root.join(VENDOR_DIR);
    std::fs::create_dir_all(&vendor)
        .with_context(|| format!("cannot create {}", vendor.display()))?;
    for (from, to) in FILES {
        std::fs::copy(scratch.join(from), vendor.join(to))
            .with_context(|| format!("cannot copy {from} into {}", vendor.display()))?;
    }
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(vendor)
}

/// Fails unless the registry publishes the pinned integrity.
fn check_published(published: &str) -> anyhow::Result<()> {
    if published != INTEGRITY {
        bail!(
            "the registry publishes the integrity `{published}` for uplot {VERSION}, not the pinned `{INTEGRITY}`: the release was changed or the registry is not the real one; do not vendor it (to move to another version, change VERSION and INTEGRITY in xtask/src/vendor_ui.rs to that version's `npm view uplot@<version> dist.integrity`)"
        );
    }
    Ok(())
}

/// Fails unless the downloaded tarball hashes to the pinned integrity.
fn check_download(url: &str, tarball: &[u8]) -> anyhow::Result<()> {
    let actual = integrity_of(tarball);
    if actual != INTEGRITY {
        bail!(
            "the tarball downloaded from {url} hashes to `{actual}`, not the published `{INTEGRITY}`: the download was corrupted or tampered with; nothing was written, try again"
        );
    }
    Ok(())
}

/// The body of `url`, through `curl`; fails on any HTTP error.
fn fetch(url: &str) -> anyhow::Result<Vec<u8>> {
    let output = Command::new("curl")
        .args([
            "--fail",
            "--silent",
            "--show-error",
            "--location",
            "--max-time",
            "120",
        ])
        .arg(url)
        .output()
        .context("cannot run `curl`: install it (Debian: apt-get install curl)")?;
    if !output.status.success() {
        bail!(
            "cannot download {url}: {}; check the network reaches the npm registry (or run `npm pack uplot@{VERSION}` and unpack it by hand, see {VENDOR_DIR}/README.md)",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(output.stdout)
}

/// A fresh folder under the system's temporary folder.
fn tempdir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("xtask-vendor-ui-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

/// The Subresource Integrity string of `bytes`: `sha512-` and the base64 of its SHA-512.
pub fn integrity_of(bytes: &[u8]) -> String {
    format!("sha512-{}", base64(&Sha512::digest(bytes)))
}

/// Standard base64 with padding.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integrity_is_the_base64_of_the_sha512() {
        // `printf abc | openssl dgst -sha512 -binary | base64`
        assert_eq!(
            integrity_of(b"abc"),
            "sha512-3a81oZNherrMQXNJriBBMRLm+k6JqX6iCp7u5ktV05ohkpkqJ0/BqDa6PCOj/uu9RU1EI2Q86A4qmslPpUyknw=="
        );
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
    }

    #[test]
    fn a_mismatch_fails_loudly() {
        assert!(check_published(INTEGRITY).is_ok());
        let error = check_published("sha512-AAAA").unwrap_err().to_string();
        assert!(error.contains("not the pinned"), "{error}");
        let error = check_download("https://example/x.tgz", b"not the tarball")
            .unwrap_err()
            .to_string();
        assert!(error.contains("tampered"), "{error}");
    }
}
