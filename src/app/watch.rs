//! Watching the spec and the files it names. Editors often save by writing a temporary file
//! and renaming it over the original, which replaces the inode, so the *folders* are watched
//! and events picked by file name. Bursts of events from one save are debounced; whether the
//! content really changed is the reloader's to tell.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use notify::{EventKind, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, new_debouncer};

use super::reload::Reloader;

/// How long a burst of file events must be quiet before we reload: long enough to cover the
/// rename-write-delete sequence of one editor save, short enough to feel instant.
const DEBOUNCE: Duration = Duration::from_millis(30);

/// Watches the spec and the files it names until dropped.
pub(crate) struct Watcher {
    stop: mpsc::Sender<Message>,
    thread: Option<std::thread::JoinHandle<()>>,
}

enum Message {
    Events(DebounceEventResult),
    Stop,
}

impl Watcher {
    /// Starts watching. Reloads run on the watcher's own thread, never on a request worker.
    pub(crate) fn start(reloader: Arc<Reloader>) -> notify::Result<Watcher> {
        let (tx, rx) = mpsc::channel();
        let events = tx.clone();
        let mut debouncer = new_debouncer(DEBOUNCE, None, move |r| {
            let _ = events.send(Message::Events(r));
        })?;
        let mut watched = WatchSet::default();
        watched.update(&mut debouncer, &reloader)?;
        let thread = std::thread::Builder::new()
            .name("mockrig-watch".into())
            .spawn(move || {
                while let Ok(Message::Events(result)) = rx.recv() {
                    match result {
                        Ok(events) => {
                            let relevant = events.iter().any(|e| {
                                // Reads (including our own) report as Access; they change nothing.
                                !matches!(e.kind, EventKind::Access(_))
                                    && e.paths.iter().any(|p| watched.matters(p))
                            });
                            if relevant {
                                // A reload can name files not watched yet; one saved between the
                                // reload reading it and the watch starting would be missed, so
                                // a reload that widened the watch is followed by another (a
                                // no-op when nothing changed meanwhile).
                                for _ in 0..3 {
                                    reloader.reload(false);
                                    match watched.update(&mut debouncer, &reloader) {
                                        Ok(true) => continue,
                                        Ok(false) => break,
                                        Err(e) => {
                                            tracing::warn!("cannot watch a referenced file: {e}");
                                            break;
                                        }
                                    }
                                }
                            }
                        }
                        Err(errors) => {
                            for e in errors {
                                tracing::warn!("file watching: {e}");
                            }
                        }
                    }
                }
                drop(debouncer);
            })
            .map_err(|e| notify::Error::generic(&e.to_string()))?;
        Ok(Watcher {
            stop: tx,
            thread: Some(thread),
        })
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.stop.send(Message::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The folders being watched and the file paths in them that matter.
#[derive(Default)]
struct WatchSet {
    dirs: HashSet<PathBuf>,
    names: HashSet<PathBuf>,
    /// Folders where any file counts: those `include:` globs search.
    folders: HashSet<PathBuf>,
}

impl WatchSet {
    /// Watches the folders of the spec and of every file the serving spec names; a reload can
    /// add files, and a file that does not exist yet is watched through its folder. `true`
    /// when a file was added.
    fn update<W: notify::Watcher, C: notify_debouncer_full::FileIdCache>(
        &mut self,
        debouncer: &mut notify_debouncer_full::Debouncer<W, C>,
        reloader: &Reloader,
    ) -> notify::Result<bool> {
        let mut widened = false;
        for path in reloader.watch_list() {
            let Some((dir, name)) = split_canonical(&path) else {
                continue;
            };
            if self.dirs.insert(dir.clone()) {
                debouncer.watch(&dir, RecursiveMode::NonRecursive)?;
            }
            widened |= self.names.insert(dir.join(name));
        }
        for dir in reloader.watch_folders() {
            let Ok(dir) = dir.canonicalize() else {
                continue;
            };
            if self.dirs.insert(dir.clone()) {
                debouncer.watch(&dir, RecursiveMode::NonRecursive)?;
            }
            widened |= self.folders.insert(dir);
        }
        Ok(widened)
    }

    /// Whether an event at `path` may change the spec.
    fn matters(&self, path: &Path) -> bool {
        self.names.contains(path) || path.parent().is_some_and(|d| self.folders.contains(d))
    }
}

/// The canonical folder of a path and its file name; the file itself need not exist.
fn split_canonical(path: &Path) -> Option<(PathBuf, std::ffi::OsString)> {
    let name = path.file_name()?.to_owned();
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    Some((parent.canonicalize().ok()?, name))
}
