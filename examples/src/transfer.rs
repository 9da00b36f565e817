//! Document transfer: copies a document from the source folder to the destination folder
//! and verifies the copy, retried with backoff while the destination is unavailable.
//!
//! The folders come from [`TransferConfig`] (shared state); a [`TransferRequest`] names a
//! document relative to each folder, and can never reach outside them. The copy is written
//! to a temporary file next to its destination, read back and compared with the source
//! (size and FNV-1a checksum), and only then renamed into place: a reader of the
//! destination folder never sees a partial or corrupt document under its final name.

use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use job_core::prelude::*;
use serde::{Deserialize, Serialize};
use tokio::fs::File;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Where documents are transferred from and to; register it as shared state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferConfig {
    /// The folder that requests' `source` paths are relative to.
    pub source_dir: PathBuf,
    /// The folder that requests' `destination` paths are relative to.
    pub destination_dir: PathBuf,
}

impl TransferConfig {
    /// Transfers from `source_dir` to `destination_dir`.
    pub fn new(source_dir: impl Into<PathBuf>, destination_dir: impl Into<PathBuf>) -> Self {
        TransferConfig {
            source_dir: source_dir.into(),
            destination_dir: destination_dir.into(),
        }
    }

    /// Copies the document `request` names and verifies the copy; returns how many bytes
    /// it copied. An existing destination document is replaced, so a retried transfer
    /// ends in the same state as a first one.
    pub async fn transfer(&self, request: &TransferRequest) -> Result<u64, TransferError> {
        let source_rel = checked_relative(Folder::Source, &request.source)?;
        let destination_rel = checked_relative(Folder::Destination, &request.destination)?;
        let source = self.resolve_source(source_rel).await?;
        let (destination, temporary) = self.prepare_destination(destination_rel).await?;
        let result = copy_and_verify(&source, &temporary).await;
        let result = match result {
            Ok(bytes) => tokio::fs::rename(&temporary, &destination)
                .await
                .map(|()| bytes)
                .map_err(|error| TransferError::WriteDestination {
                    path: destination.clone(),
                    source: error,
                }),
            Err(error) => Err(error),
        };
        if result.is_err() {
            // Best effort: the temporary file may not exist, and the original error is the
            // one worth reporting.
            let _ = tokio::fs::remove_file(&temporary).await;
        }
        result
    }

    /// The source document's real path, refused when a link leads outside the folder.
    async fn resolve_source(&self, relative: &Path) -> Result<PathBuf, TransferError> {
        let folder = tokio::fs::canonicalize(&self.source_dir)
            .await
            .map_err(|source| TransferError::SourceFolderUnavailable {
                path: self.source_dir.clone(),
                source,
            })?;
        let requested = folder.join(relative);
        let real = tokio::fs::canonicalize(&requested)
            .await
            .map_err(|error| source_error(&requested, error))?;
        if !real.starts_with(&folder) {
            return Err(TransferError::OutsideFolder {
                folder: Folder::Source,
                path: relative.to_owned(),
            });
        }
        let metadata = tokio::fs::metadata(&real)
            .await
            .map_err(|error| source_error(&requested, error))?;
        if !metadata.is_file() {
            return Err(TransferError::SourceNotAFile { path: requested });
        }
        Ok(real)
    }

    /// The destination path and the temporary file to write first, after creating the
    /// subfolders the request names inside the destination folder.
    async fn prepare_destination(
        &self,
        relative: &Path,
    ) -> Result<(PathBuf, PathBuf), TransferError> {
        let unavailable = |source| TransferError::DestinationUnavailable {
            path: self.destination_dir.clone(),
            source,
        };
        // The destination folder itself is never created here: when it is missing, the
        // destination is down (an unmounted share, say), and the transfer waits for it.
        let folder = tokio::fs::canonicalize(&self.destination_dir)
            .await
            .map_err(unavailable)?;
        let requested = folder.join(relative);
        let (Some(parent), Some(name)) = (requested.parent(), requested.file_name()) else {
            // Unreachable: `checked_relative` ensures at least one normal component.
            return Err(TransferError::OutsideFolder {
                folder: Folder::Destination,
                path: relative.to_owned(),
            });
        };
        tokio::fs::create_dir_all(parent).await.map_err(|source| {
            TransferError::WriteDestination {
                path: parent.to_owned(),
                source,
            }
        })?;
        let parent = tokio::fs::canonicalize(parent).await.map_err(unavailable)?;
        if !parent.starts_with(&folder) {
            return Err(TransferError::OutsideFolder {
                folder: Folder::Destination,
                path: relative.to_owned(),
            });
        }
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let mut temporary_name = std::ffi::OsString::from(".");
        temporary_name.push(name);
        temporary_name.push(format!(
            ".{}-{}.partial",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        Ok((parent.join(name), parent.join(temporary_name)))
    }
}

/// One document to transfer: the arguments of [`transfer_document`].
///
/// Both paths are relative to their folder in [`TransferConfig`]; absolute paths and `..`
/// are refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferRequest {
    /// The document, relative to the source folder, such as `2026/03/invoice-42.pdf`.
    pub source: PathBuf,
    /// Where the copy goes, relative to the destination folder; missing subfolders are
    /// created.
    pub destination: PathBuf,
}

impl TransferRequest {
    /// Copies `source` (relative to the source folder) to `destination` (relative to the
    /// destination folder).
    pub fn new(source: impl Into<PathBuf>, destination: impl Into<PathBuf>) -> Self {
        TransferRequest {
            source: source.into(),
            destination: destination.into(),
        }
    }
}

/// One of the two folders of a [`TransferConfig`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Folder {
    /// The folder documents are copied from.
    Source,
    /// The folder documents are copied to.
    Destination,
}

impl std::fmt::Display for Folder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Folder::Source => "source",
            Folder::Destination => "destination",
        })
    }
}

/// Why a transfer failed. [`is_permanent`](TransferError::is_permanent) tells the failures
/// that no retry can fix from those worth retrying.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    /// A path of the request is absolute, empty, or climbs out of its folder.
    #[error(
        "the {folder} path `{}` must be relative to the {folder} folder and stay inside it (no absolute path, no `..`, no link leading outside)",
        path.display()
    )]
    OutsideFolder {
        /// Which folder.
        folder: Folder,
        /// The path as requested.
        path: PathBuf,
    },
    /// The source folder cannot be read.
    #[error(
        "the source folder `{}` is unavailable; check EXAMPLES_TRANSFER_SOURCE and that the folder exists",
        path.display()
    )]
    SourceFolderUnavailable {
        /// The folder.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: io::Error,
    },
    /// The source document does not exist.
    #[error("the source document `{}` does not exist", path.display())]
    SourceMissing {
        /// The document's path.
        path: PathBuf,
    },
    /// The source path names a folder or another non-file.
    #[error("the source `{}` is not a regular file", path.display())]
    SourceNotAFile {
        /// The source's path.
        path: PathBuf,
    },
    /// The source document exists but cannot be read.
    #[error("cannot read the source document `{}`", path.display())]
    ReadSource {
        /// The document's path.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: io::Error,
    },
    /// The destination folder is missing or unreachable.
    #[error(
        "the destination folder `{}` is unavailable; the transfer is retried until it is back",
        path.display()
    )]
    DestinationUnavailable {
        /// The folder.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: io::Error,
    },
    /// Writing in the destination folder failed (not writable, disk full...).
    #[error("cannot write `{}` in the destination folder", path.display())]
    WriteDestination {
        /// The file or folder being written.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: io::Error,
    },
    /// The copy read back differs from the source.
    #[error(
        "the copy `{}` does not match its source: expected {expected_len} bytes with FNV-1a checksum {expected_checksum:016x}, read back {found_len} bytes with checksum {found_checksum:016x}",
        path.display()
    )]
    VerificationFailed {
        /// The copy that was checked.
        path: PathBuf,
        /// The source's size in bytes.
        expected_len: u64,
        /// The source's FNV-1a 64 checksum.
        expected_checksum: u64,
        /// The copy's size in bytes.
        found_len: u64,
        /// The copy's FNV-1a 64 checksum.
        found_checksum: u64,
    },
}

impl TransferError {
    /// Whether retrying cannot help: a request that escapes its folder, or a source
    /// document that does not exist or is not a file.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            TransferError::OutsideFolder { .. }
                | TransferError::SourceMissing { .. }
                | TransferError::SourceNotAFile { .. }
        )
    }

    /// The job error for this failure, [permanent](JobError::permanent) when
    /// [`is_permanent`](TransferError::is_permanent) says so.
    pub fn into_job_error(self) -> JobError {
        let permanent = self.is_permanent();
        let error = JobError::from(self);
        if permanent { error.permanent() } else { error }
    }
}

/// What a transfer did: the task's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transferred {
    /// Bytes copied and verified.
    pub bytes: u64,
    /// Where the copy is, relative to the destination folder.
    pub destination: PathBuf,
}

/// Copies one document from the source folder to the destination folder of the shared
/// [`TransferConfig`], and verifies the copy (size and checksum); retried with exponential
/// backoff from 5 seconds to 10 minutes while the destination is unavailable.
///
/// A request that escapes its folder, or names a missing source, fails permanently. Its
/// progress says which document it copies (0 of 1 while it copies, 1 of 1 once verified);
/// its result is what it copied ([`Transferred`]).
#[job(queue = "transfers", retries = 8, backoff = "5s..10m", timeout = "5m")]
pub async fn transfer_document(
    request: TransferRequest,
    ctx: JobContext,
) -> JobResult<Transferred> {
    let config = ctx.data::<TransferConfig>()?;
    ctx.set_meta("source", &request.source);
    ctx.progress(0, 1);
    let bytes = config
        .transfer(&request)
        .await
        .map_err(TransferError::into_job_error)?;
    ctx.progress(1, 1);
    Ok(Transferred {
        bytes,
        destination: request.destination,
    })
}

/// `path` when it is relative and stays inside its folder (only normal components and
/// `.`), else the error.
fn checked_relative(folder: Folder, path: &Path) -> Result<&Path, TransferError> {
    let stays_inside = path
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    let names_a_file = path.components().any(|c| matches!(c, Component::Normal(_)));
    if stays_inside && names_a_file {
        Ok(path)
    } else {
        Err(TransferError::OutsideFolder {
            folder,
            path: path.to_owned(),
        })
    }
}

fn source_error(path: &Path, error: io::Error) -> TransferError {
    if error.kind() == io::ErrorKind::NotFound {
        TransferError::SourceMissing {
            path: path.to_owned(),
        }
    } else {
        TransferError::ReadSource {
            path: path.to_owned(),
            source: error,
        }
    }
}

/// The size and FNV-1a 64 checksum of the file at `path`.
pub async fn fingerprint(path: &Path) -> Result<(u64, u64), TransferError> {
    let read_error = |error| TransferError::ReadSource {
        path: path.to_owned(),
        source: error,
    };
    let mut input = File::open(path).await.map_err(read_error)?;
    let mut found = Fingerprint::new();
    let mut buffer = vec![0; CHUNK];
    loop {
        let n = tokio::io::AsyncReadExt::read(&mut input, &mut buffer)
            .await
            .map_err(read_error)?;
        if n == 0 {
            return Ok((found.len, found.checksum));
        }
        found.update(&buffer[..n]);
    }
}

/// The size and FNV-1a 64 checksum of some bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fingerprint {
    len: u64,
    checksum: u64,
}

impl Fingerprint {
    const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

    fn new() -> Fingerprint {
        Fingerprint {
            len: 0,
            checksum: Fingerprint::FNV_OFFSET,
        }
    }

    fn update(&mut self, bytes: &[u8]) {
        self.len += bytes.len() as u64;
        for &byte in bytes {
            self.checksum ^= u64::from(byte);
            self.checksum = self.checksum.wrapping_mul(Fingerprint::FNV_PRIME);
        }
    }
}

const CHUNK: usize = 64 * 1024;

/// Copies `source` to `copy`, fingerprinting the bytes as they are read, flushes the copy
/// to disk, then reads it back and compares. Returns the size.
async fn copy_and_verify(source: &Path, copy: &Path) -> Result<u64, TransferError> {
    let read_error = |error| TransferError::ReadSource {
        path: source.to_owned(),
        source: error,
    };
    let write_error = |error| TransferError::WriteDestination {
        path: copy.to_owned(),
        source: error,
    };
    let mut input = File::open(source).await.map_err(read_error)?;
    let mut output = File::create(copy).await.map_err(write_error)?;
    let mut expected = Fingerprint::new();
    let mut buffer = vec![0; CHUNK];
    loop {
        let n = input.read(&mut buffer).await.map_err(read_error)?;
        if n == 0 {
            break;
        }
        let chunk = &buffer[..n];
        expected.update(chunk);
        output.write_all(chunk).await.map_err(write_error)?;
    }
    output.flush().await.map_err(write_error)?;
    output.sync_all().await.map_err(write_error)?;
    drop(output);
    verify(copy, expected).await?;
    Ok(expected.len)
}

/// Reads `copy` back and checks that it has the `expected` size and checksum.
async fn verify(copy: &Path, expected: Fingerprint) -> Result<(), TransferError> {
    let read_error = |error| TransferError::WriteDestination {
        path: copy.to_owned(),
        source: error,
    };
    let mut file = File::open(copy).await.map_err(read_error)?;
    let mut found = Fingerprint::new();
    let mut buffer = vec![0; CHUNK];
    loop {
        let n = file.read(&mut buffer).await.map_err(read_error)?;
        if n == 0 {
            break;
        }
        found.update(&buffer[..n]);
    }
    if found == expected {
        Ok(())
    } else {
        Err(TransferError::VerificationFailed {
            path: copy.to_owned(),
            expected_len: expected.len,
            expected_checksum: expected.checksum,
            found_len: found.len,
            found_checksum: found.checksum,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fingerprint(bytes: &[u8]) -> Fingerprint {
        let mut fingerprint = Fingerprint::new();
        fingerprint.update(bytes);
        fingerprint
    }

    #[test]
    fn fnv1a_matches_the_reference_vectors() {
        assert_eq!(fingerprint(b"").checksum, 0xcbf2_9ce4_8422_2325);
        assert_eq!(fingerprint(b"a").checksum, 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fingerprint(b"foobar").checksum, 0x8594_4171_f739_67e8);
    }

    #[test]
    fn fingerprints_do_not_depend_on_chunking() {
        let mut chunked = Fingerprint::new();
        chunked.update(b"foo");
        chunked.update(b"bar");
        assert_eq!(chunked, fingerprint(b"foobar"));
        assert_eq!(chunked.len, 6);
    }

    #[test]
    fn only_relative_paths_inside_the_folder_pass() {
        for ok in ["a.pdf", "./a.pdf", "2026/03/a.pdf", "a/./b"] {
            assert!(
                checked_relative(Folder::Source, Path::new(ok)).is_ok(),
                "{ok}"
            );
        }
        for bad in [
            "",
            ".",
            "..",
            "../a.pdf",
            "a/../../b",
            "a/../b",
            "/etc/passwd",
        ] {
            let error = checked_relative(Folder::Source, Path::new(bad)).unwrap_err();
            assert!(error.is_permanent(), "{bad}");
        }
    }

    #[tokio::test]
    async fn a_copy_that_differs_fails_verification() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let copy = dir.path().join("copy");
        tokio::fs::write(&copy, b"hello, world").await?;

        verify(&copy, fingerprint(b"hello, world")).await?;

        let error = verify(&copy, fingerprint(b"hello, World"))
            .await
            .unwrap_err();
        assert!(matches!(
            error,
            TransferError::VerificationFailed {
                expected_len: 12,
                found_len: 12,
                ..
            }
        ));
        assert!(!error.is_permanent());
        let error = verify(&copy, fingerprint(b"hello")).await.unwrap_err();
        assert!(error.to_string().contains("expected 5 bytes"), "{error}");
        Ok(())
    }
}
