//! The event sources that come with the runner: a watched folder and an S3-style webhook.
//! Another source is one implementation of [`job_core::EventSource`].

pub mod folder;
pub mod webhook;

use std::path::PathBuf;

use serde::Deserialize;

/// A source, as configured in `jobs.toml`:
///
/// ```toml
/// [sources.uploads]
/// kind = "folder"
/// path = "inbox"           # files closed after writing, or moved in, are events
///
/// [sources.s3]
/// kind = "webhook"         # POST /hooks/s3 on the admin server
/// secret = "..."           # HMAC-SHA256 of the body in X-Jobs-Signature, or a bearer token
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum SourceConfig {
    /// A watched folder.
    Folder {
        /// The folder.
        path: PathBuf,
    },
    /// A webhook on the admin server.
    Webhook {
        /// The shared secret that signs (or bears) each request.
        secret: String,
    },
}

#[cfg(test)]
mod tests {
    /// The sources compare secrets through `crate::secret`, never through the admin server:
    /// the admin server's webhook route depends on the sources, not the other way round.
    #[test]
    fn sources_do_not_depend_on_the_admin_server() {
        for (file, text) in [
            ("sources/mod.rs", include_str!("mod.rs")),
            ("sources/folder.rs", include_str!("folder.rs")),
            ("sources/webhook.rs", include_str!("webhook.rs")),
        ] {
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            assert!(
                !code.contains("crate::admin"),
                "{file} names the admin server"
            );
        }
    }
}
