//! Announcements on SQLite (Linux): the database's folder, watched through inotify.
//!
//! A commit writes the database's write-ahead log (`<db>-wal`), or the database file itself
//! in the other journal modes; either write is announced as [`Announcement::Changed`], so
//! that a runner looks at once for what another process (a web application enqueueing on
//! the same file, `job-runner trigger`) stored. The watcher cannot tell whose commit it was:
//! this runner's own commits (claims, completions, heartbeats) are announced too, at most
//! one announcement per [`WINDOW`], so that a busy runner looks again a few hundred times a
//! second at most, and an idle one only when something commits.

use std::ffi::{OsStr, OsString};
use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::{FutureExt as _, StreamExt as _};
use inotify::{EventMask, EventStream, Inotify, WatchMask};
use tokio::time::Instant;

use crate::storage::{Announcement, Listener, StoreError};

/// At most one announcement per window: the commits of a burst are announced together, at
/// its start and again at the end of the window when more came meanwhile.
const WINDOW: Duration = Duration::from_millis(5);

/// The bytes read from the kernel at once: a few dozen events.
const BUFFER: usize = 4096;

/// A watch on the folder of one database file.
pub(super) struct Changes {
    events: EventStream<Vec<u8>>,
    /// The database file's path, for errors.
    path: String,
    /// The database file's name and its write-ahead log's.
    names: [OsString; 2],
    /// When the last announcement was made.
    last: Option<Instant>,
    /// The watch ended (its folder was removed or unmounted): say so at the next call.
    lost: bool,
}

/// What one event of the folder means here.
enum Seen {
    /// The database or its log was written (or events were lost: look anyway).
    Written,
    /// Another file of the folder.
    Other,
    /// The watch ended.
    Lost,
}

impl Changes {
    /// Watches the folder of the database file at `database` (an absolute path).
    pub(super) fn watch(database: &Path) -> Result<Changes, StoreError> {
        let failed = |source| StoreError::Watch {
            path: database.display().to_string(),
            source,
        };
        let (Some(folder), Some(name)) = (database.parent(), database.file_name()) else {
            return Err(failed(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "not a file's path",
            )));
        };
        let inotify = Inotify::init().map_err(failed)?;
        // The log is created when the first connection opens the database after the last
        // one closed (it is removed then), and written at every commit; the database file
        // is written at commits in the other journal modes, and replaced by a rename when
        // a backup is restored.
        inotify
            .watches()
            .add(
                folder,
                WatchMask::MODIFY | WatchMask::CREATE | WatchMask::MOVED_TO | WatchMask::ONLYDIR,
            )
            .map_err(failed)?;
        let events = inotify.into_event_stream(vec![0; BUFFER]).map_err(failed)?;
        let mut wal = name.to_owned();
        wal.push("-wal");
        Ok(Changes {
            events,
            path: database.display().to_string(),
            names: [name.to_owned(), wal],
            last: None,
            lost: false,
        })
    }

    fn seen(&self, mask: EventMask, name: Option<&OsStr>) -> Seen {
        if mask.contains(EventMask::IGNORED) {
            Seen::Lost
        } else if mask.contains(EventMask::Q_OVERFLOW)
            || name.is_some_and(|name| self.names.iter().any(|n| n == name))
        {
            Seen::Written
        } else {
            Seen::Other
        }
    }

    fn lost(&self) -> StoreError {
        StoreError::Watch {
            path: self.path.clone(),
            source: std::io::Error::other("the database's folder is no longer watched"),
        }
    }
}

#[async_trait]
impl Listener for Changes {
    async fn next(&mut self) -> Result<Announcement, StoreError> {
        if self.lost {
            return Err(self.lost());
        }
        loop {
            let event = match self.events.next().await {
                Some(Ok(event)) => event,
                Some(Err(source)) => {
                    return Err(StoreError::Watch {
                        path: self.path.clone(),
                        source,
                    });
                }
                None => return Err(self.lost()),
            };
            match self.seen(event.mask, event.name.as_deref()) {
                Seen::Written => break,
                Seen::Other => {}
                Seen::Lost => return Err(self.lost()),
            }
        }
        if let Some(last) = self.last {
            // At once when the last announcement is older than the window.
            tokio::time::sleep_until(last + WINDOW).await;
        }
        // What was written meanwhile is answered by this announcement.
        while let Some(Some(Ok(event))) = self.events.next().now_or_never() {
            if let Seen::Lost = self.seen(event.mask, event.name.as_deref()) {
                self.lost = true;
            }
        }
        self.last = Some(Instant::now());
        Ok(Announcement::Changed)
    }
}
