//! This process as the runner knows it: its id, its host, and the signals that stop it.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

/// `host-pid-random`: unique per process, so a restarted runner never reuses a dead one's
/// claims.
pub(crate) fn runner_id() -> String {
    let random = RandomState::new().build_hasher().finish() & 0xffff_ffff;
    format!("{}-{}-{random:08x}", host_name(), std::process::id())
}

pub(crate) fn host_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// Completes on SIGINT or SIGTERM.
pub(crate) fn shutdown_signal() -> std::io::Result<impl Future<Output = ()> + Send> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        Ok(async move {
            tokio::select! {
                _ = terminate.recv() => tracing::info!("received SIGTERM"),
                _ = interrupt.recv() => tracing::info!("received SIGINT"),
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}
