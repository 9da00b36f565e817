//! The document transfer, driven by events: a file dropped in the inbox (the folder source
//! `uploads`) is copied to the outbox and verified, then a second step writes its checksum
//! to the document index. The two steps are a chain: the index step runs once the copy
//! succeeded, with what the copy step returned, and a crash between them neither loses nor
//! repeats a step.

use job_core::prelude::*;
use serde::{Deserialize, Serialize};

use crate::auth::AuthDb;
use crate::transfer::{TransferConfig, TransferError, TransferRequest, Transferred, fingerprint};

/// What the folder source says about a file (it says more: `path`, `modified`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Upload {
    /// The file's name in the inbox.
    pub name: String,
    /// Its size when it landed.
    pub size: u64,
}

/// A verified copy, passed to the index step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CopiedDocument {
    /// The document's name in the outbox.
    pub name: String,
    /// Its size.
    pub size: u64,
    /// Its FNV-1a 64 checksum.
    pub checksum: u64,
}

/// Copies a document that landed in the inbox to the outbox and verifies the copy; retried
/// with backoff when the outbox fails. Then `index_document` records it.
#[job(
    on = "uploads",
    then = "index_document",
    queue = "transfers",
    retries = 8,
    backoff = "5s..10m",
    timeout = "5m"
)]
pub async fn ingest_document(upload: Upload, ctx: JobContext) -> JobResult<CopiedDocument> {
    let config = ctx.data::<TransferConfig>()?;
    let request = TransferRequest::new(&upload.name, &upload.name);
    let size = config
        .transfer(&request)
        .await
        .map_err(TransferError::into_job_error)?;
    let (_, checksum) = fingerprint(&config.destination_dir.join(&upload.name))
        .await
        .map_err(TransferError::into_job_error)?;
    Ok(CopiedDocument {
        name: upload.name,
        size,
        checksum,
    })
}

/// Writes a copied document's checksum to the document index.
#[job]
pub async fn index_document(document: CopiedDocument, ctx: JobContext) -> JobResult {
    let db = ctx.data::<AuthDb>()?;
    db.index_document(&document.name, document.size, document.checksum, ctx.now())
        .await?;
    Ok(Outcome::processed(1_u8))
}

/// Writes a transferred document's checksum to the document index: the second step of the
/// chain the transfer API starts (`transfer_document`, then this), with what the transfer
/// returned.
#[job(queue = "transfers")]
pub async fn index_transfer(transferred: Transferred, ctx: JobContext) -> JobResult {
    let config = ctx.data::<TransferConfig>()?;
    let db = ctx.data::<AuthDb>()?;
    let (size, checksum) = fingerprint(&config.destination_dir.join(&transferred.destination))
        .await
        .map_err(TransferError::into_job_error)?;
    let name = transferred.destination.display().to_string();
    db.index_document(&name, size, checksum, ctx.now()).await?;
    Ok(Outcome::processed(1_u8))
}
