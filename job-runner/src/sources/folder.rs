//! A watched folder: a file that is completely written (closed after writing, or moved in)
//! is an event; files already there at start-up are events too, so that nothing dropped
//! while no runner ran is lost (the event id, name, size and modification time, makes a
//! file that was handled before a duplicate).
//!
//! Names starting with `.` are ignored: write to `.name.partial` and rename, or write in
//! place and close.
//!
//! At start-up, a file modified within the last second may still be being written: it is
//! taken only if it has not changed a second later (otherwise its close brings its event).
//! A writer that pauses longer than that mid-file, exactly while a runner starts, could
//! still be taken early; writing to a hidden name and renaming is always safe.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use job_core::{BoxFuture, Event, EventError, EventSink, EventSource};
use notify::event::{AccessKind, AccessMode, ModifyKind, RenameMode};
use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::mpsc;

/// A folder whose written files are events of source `name`.
pub struct FolderSource {
    name: String,
    path: PathBuf,
}

impl FolderSource {
    /// Watches `path` as source `name`.
    pub fn new(name: impl Into<String>, path: impl Into<PathBuf>) -> FolderSource {
        FolderSource {
            name: name.into(),
            path: path.into(),
        }
    }
}

/// The event of a file, or `None` for what is not a regular, visible file.
fn file_event(source: &str, path: &Path) -> Option<Event> {
    let name = path.file_name()?.to_str()?.to_owned();
    if name.starts_with('.') {
        return None;
    }
    let metadata = std::fs::metadata(path).ok()?;
    if !metadata.is_file() {
        return None;
    }
    let modified: DateTime<Utc> = metadata.modified().ok()?.into();
    let size = metadata.len();
    let mut fields = serde_json::Map::new();
    fields.insert("path".into(), path.display().to_string().into());
    fields.insert("name".into(), name.clone().into());
    fields.insert("size".into(), size.into());
    fields.insert("modified".into(), modified.to_rfc3339().into());
    Some(Event {
        id: format!(
            "{name}@{size}@{}",
            modified.timestamp_nanos_opt().unwrap_or_default()
        ),
        source: source.to_owned(),
        kind: "file_written".into(),
        fields,
    })
}

impl EventSource for FolderSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn run(
        self: Box<Self>,
        sink: Arc<dyn EventSink>,
        stop: BoxFuture<'static, ()>,
    ) -> BoxFuture<'static, Result<(), EventError>> {
        Box::pin(async move {
            std::fs::create_dir_all(&self.path).map_err(|e| {
                EventError(format!(
                    "cannot create the watched folder {}: {e}",
                    self.path.display()
                ))
            })?;
            let folder = std::fs::canonicalize(&self.path).unwrap_or(self.path.clone());
            let (sender, mut receiver) = mpsc::unbounded_channel::<PathBuf>();
            // Start watching before the scan, so that no file falls between the two.
            let mut watcher =
                notify::recommended_watcher(move |result: notify::Result<notify::Event>| {
                    let Ok(event) = result else { return };
                    let written = match event.kind {
                        EventKind::Access(AccessKind::Close(AccessMode::Write)) => {
                            event.paths.first()
                        }
                        EventKind::Modify(ModifyKind::Name(RenameMode::To)) => event.paths.first(),
                        EventKind::Modify(ModifyKind::Name(RenameMode::Both)) => event.paths.get(1),
                        _ => None,
                    };
                    if let Some(path) = written {
                        let _ = sender.send(path.clone());
                    }
                })
                .map_err(|e| EventError(format!("cannot watch {}: {e}", folder.display())))?;
            watcher
                .watch(&folder, RecursiveMode::NonRecursive)
                .map_err(|e| EventError(format!("cannot watch {}: {e}", folder.display())))?;
            tracing::info!(source = self.name, folder = %folder.display(), "watching a folder for events");
            let mut present: Vec<PathBuf> = std::fs::read_dir(&folder)
                .map_err(|e| EventError(format!("cannot list {}: {e}", folder.display())))?
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .collect();
            present.sort();
            let mut recent = Vec::new();
            for path in present {
                let Some(event) = file_event(&self.name, &path) else {
                    continue;
                };
                if settled(&path, SETTLE) {
                    deliver(&*sink, event).await;
                } else {
                    recent.push((path, event));
                }
            }
            if !recent.is_empty() {
                tokio::time::sleep(SETTLE).await;
                for (path, event) in recent {
                    // Unchanged a second later: complete. Changed: its close brings its event.
                    if file_event(&self.name, &path).is_some_and(|again| again.id == event.id) {
                        deliver(&*sink, event).await;
                    }
                }
            }
            tokio::pin!(stop);
            loop {
                tokio::select! {
                    path = receiver.recv() => match path {
                        Some(path) => {
                            if let Some(event) = file_event(&self.name, &path) {
                                deliver(&*sink, event).await;
                            }
                        }
                        None => return Err(EventError(format!("the watcher of {} stopped", folder.display()))),
                    },
                    _ = &mut stop => break,
                }
            }
            drop(watcher);
            Ok(())
        })
    }
}

/// How long a file found at start-up must stay unchanged to count as completely written.
const SETTLE: std::time::Duration = std::time::Duration::from_secs(1);

/// Whether `path` was last modified at least `settle` ago.
fn settled(path: &Path, settle: std::time::Duration) -> bool {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|modified| modified.elapsed().ok())
        .is_some_and(|age| age >= settle)
}

/// Delivers an event, retrying while the database is away: a file event is not lost.
async fn deliver(sink: &dyn EventSink, event: Event) {
    let mut wait = std::time::Duration::from_millis(100);
    loop {
        match sink.deliver(event.clone()).await {
            Ok(()) => return,
            Err(error) => {
                tracing::warn!(source = event.source, event = event.id, %error, "cannot take a file event; will try again");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(std::time::Duration::from_secs(10));
            }
        }
    }
}
