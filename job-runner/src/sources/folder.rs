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
//!
//! When the watcher says that it may have lost events (the kernel's event queue overflowed,
//! or the watcher failed), every file in the folder is taken again, as at start-up: the
//! files handled before are duplicates, and the ones whose events were lost are not skipped.
//!
//! Only regular files count: a symbolic link in the folder is not followed, so that a link
//! to a file elsewhere (`/etc/passwd`) never becomes an event.

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
    // Not `metadata`, which follows a symbolic link to what it names.
    let metadata = std::fs::symlink_metadata(path).ok()?;
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

/// What the watcher reports, as far as the folder's events are concerned.
#[derive(Debug, PartialEq, Eq)]
enum Notice {
    /// A file that may be completely written: closed after writing, or moved in.
    Written(PathBuf),
    /// Events may have been lost: every file in the folder is to be taken again.
    Rescan,
}

/// The notice of one report of the watcher, if it has one.
fn notice(report: notify::Result<notify::Event>) -> Option<Notice> {
    let event = match report {
        Ok(event) => event,
        Err(error) => {
            tracing::warn!(%error, "the folder's watcher failed; every file in the folder is taken again");
            return Some(Notice::Rescan);
        }
    };
    if event.need_rescan() {
        tracing::warn!(
            "the folder's watcher lost events (its queue overflowed); every file in the folder is taken again"
        );
        return Some(Notice::Rescan);
    }
    let written = match event.kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => event.paths.first(),
        EventKind::Modify(ModifyKind::Name(RenameMode::To)) => event.paths.first(),
        EventKind::Modify(ModifyKind::Name(RenameMode::Both)) => event.paths.get(1),
        _ => None,
    };
    written.map(|path| Notice::Written(path.clone()))
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
            let (sender, receiver) = mpsc::unbounded_channel::<Notice>();
            // Start watching before the scan, so that no file falls between the two.
            let mut watcher = notify::recommended_watcher(move |report| {
                if let Some(notice) = notice(report) {
                    let _ = sender.send(notice);
                }
            })
            .map_err(|e| EventError(format!("cannot watch {}: {e}", folder.display())))?;
            watcher
                .watch(&folder, RecursiveMode::NonRecursive)
                .map_err(|e| EventError(format!("cannot watch {}: {e}", folder.display())))?;
            tracing::info!(source = self.name, folder = %folder.display(), "watching a folder for events");
            take_all(&self.name, &folder, &*sink).await?;
            let result = follow(&self.name, &folder, &*sink, receiver, stop).await;
            drop(watcher);
            result
        })
    }
}

/// Takes every file in `folder`, as at start-up: a file modified within [`SETTLE`] is taken
/// only if it is unchanged [`SETTLE`] later.
async fn take_all(source: &str, folder: &Path, sink: &dyn EventSink) -> Result<(), EventError> {
    let mut present: Vec<PathBuf> = std::fs::read_dir(folder)
        .map_err(|e| EventError(format!("cannot list {}: {e}", folder.display())))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .collect();
    present.sort();
    let mut recent = Vec::new();
    for path in present {
        let Some(event) = file_event(source, &path) else {
            continue;
        };
        if settled(&path, SETTLE) {
            deliver(sink, event).await;
        } else {
            recent.push((path, event));
        }
    }
    if !recent.is_empty() {
        tokio::time::sleep(SETTLE).await;
        for (path, event) in recent {
            // Unchanged a second later: complete. Changed: its close brings its event.
            if file_event(source, &path).is_some_and(|again| again.id == event.id) {
                deliver(sink, event).await;
            }
        }
    }
    Ok(())
}

/// Takes what the watcher reports until `stop`; an error when the watcher stops first.
async fn follow(
    source: &str,
    folder: &Path,
    sink: &dyn EventSink,
    mut notices: mpsc::UnboundedReceiver<Notice>,
    stop: BoxFuture<'static, ()>,
) -> Result<(), EventError> {
    tokio::pin!(stop);
    loop {
        tokio::select! {
            notice = notices.recv() => match notice {
                Some(Notice::Written(path)) => {
                    if let Some(event) = file_event(source, &path) {
                        deliver(sink, event).await;
                    }
                }
                Some(Notice::Rescan) => {
                    // Reports that queued up meanwhile are covered by the scan.
                    while notices.try_recv().is_ok() {}
                    if let Err(error) = take_all(source, folder, sink).await {
                        tracing::warn!(source, %error, "cannot take the folder's files again; the next rescan or restart will");
                    }
                }
                None => return Err(EventError(format!("the watcher of {} stopped", folder.display()))),
            },
            _ = &mut stop => return Ok(()),
        }
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

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::{Duration, SystemTime};

    use notify::event::{CreateKind, Flag};

    use super::*;

    /// Keeps the names of the files it is given.
    #[derive(Default)]
    struct Names(Mutex<Vec<String>>);

    impl EventSink for Names {
        fn deliver(&self, event: Event) -> BoxFuture<'_, Result<(), EventError>> {
            let name = event.fields["name"].as_str().unwrap_or_default().to_owned();
            self.0.lock().unwrap().push(name);
            Box::pin(async { Ok(()) })
        }
    }

    impl Names {
        fn taken(&self) -> Vec<String> {
            self.0.lock().unwrap().clone()
        }
    }

    /// A file written a minute ago: settled, taken at once.
    fn old_file(path: &Path) {
        std::fs::write(path, b"data").unwrap();
        let file = std::fs::File::options().write(true).open(path).unwrap();
        file.set_modified(SystemTime::now() - Duration::from_secs(60))
            .unwrap();
    }

    #[test]
    fn an_overflow_or_a_failure_of_the_watcher_asks_for_a_rescan() {
        let overflow = notify::Event::new(EventKind::Other).set_flag(Flag::Rescan);
        assert_eq!(notice(Ok(overflow)), Some(Notice::Rescan));
        assert_eq!(
            notice(Err(notify::Error::generic("read failed"))),
            Some(Notice::Rescan)
        );
        let closed = notify::Event::new(EventKind::Access(AccessKind::Close(AccessMode::Write)))
            .add_path("/inbox/a.pdf".into());
        assert_eq!(
            notice(Ok(closed)),
            Some(Notice::Written("/inbox/a.pdf".into()))
        );
        let created =
            notify::Event::new(EventKind::Create(CreateKind::File)).add_path("/inbox/b".into());
        assert_eq!(notice(Ok(created)), None);
    }

    /// The kernel's queue cannot be made to overflow on demand (the watcher's thread drains
    /// it as fast as it fills), so the rescan is driven through `follow` as the watcher's
    /// callback feeds it.
    #[tokio::test]
    async fn a_rescan_takes_every_file_in_the_folder_again() {
        let dir = tempfile::tempdir().unwrap();
        old_file(&dir.path().join("a.pdf"));
        old_file(&dir.path().join("b.pdf"));
        let sink = Names::default();
        let (sender, receiver) = mpsc::unbounded_channel();
        // Files whose events were lost in the overflow: only the rescan finds them.
        sender.send(Notice::Rescan).unwrap();
        drop(sender);
        let stop: BoxFuture<'static, ()> = Box::pin(std::future::pending());
        let ended = follow("uploads", dir.path(), &sink, receiver, stop).await;
        assert!(ended.is_err(), "the watcher's end is an error");
        assert_eq!(sink.taken(), ["a.pdf", "b.pdf"]);
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_symbolic_link_in_the_folder_is_not_a_file() {
        let outside = tempfile::tempdir().unwrap();
        let secret = outside.path().join("secret.txt");
        old_file(&secret);
        let dir = tempfile::tempdir().unwrap();
        old_file(&dir.path().join("real.txt"));
        let link = dir.path().join("innocent.txt");
        std::os::unix::fs::symlink(&secret, &link).unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("folder")).unwrap();

        assert!(file_event("uploads", &link).is_none());
        let sink = Names::default();
        take_all("uploads", dir.path(), &sink).await.unwrap();
        assert_eq!(sink.taken(), ["real.txt"]);
    }
}
