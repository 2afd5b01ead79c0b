//! Watching the spec and the files it names. Editors often save by writing a temporary file
//! and renaming it over the original, which replaces the inode, so the *folders* are watched
//! and events picked by file name. A save that shows where it ends (the file closed after
//! writing, or renamed into place) reloads at once; other changes (a write not closed yet, a
//! removal, a change of mode) reload once their events have been quiet for a moment. Whether
//! the content really changed is the reloader's to tell.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use notify::event::{AccessKind, AccessMode, ModifyKind, RenameMode};
use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher as _};

use super::reload::Reloader;

/// How long the events of a change that gives no sign of its end must be quiet before we
/// reload: long enough to cover the steps of one save, short enough to feel instant.
const QUIET: Duration = Duration::from_millis(30);

/// Watches the spec and the files it names until dropped.
pub(crate) struct Watcher {
    stop: mpsc::Sender<Message>,
    thread: Option<std::thread::JoinHandle<()>>,
}

enum Message {
    Event(notify::Result<notify::Event>),
    Stop,
}

/// What a file event says about a save.
#[derive(Debug, PartialEq)]
enum Step {
    /// The file is whole: closed after writing, or renamed into place.
    Done,
    /// Something changed and more may follow.
    Changing,
    /// Nothing changed (a read, an open).
    Nothing,
}

/// What `event` says about a save of the files that `matters`.
fn step(event: &notify::Event, matters: impl Fn(&Path) -> bool) -> Step {
    if !event.paths.iter().any(|p| matters(p)) {
        return Step::Nothing;
    }
    match event.kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => Step::Done,
        EventKind::Access(_) => Step::Nothing,
        EventKind::Modify(ModifyKind::Name(RenameMode::To)) => Step::Done,
        // From one name to another: a save only when the file arrives under a name that
        // matters (vim first moves the spec away to a backup, then writes a new one).
        EventKind::Modify(ModifyKind::Name(RenameMode::Both)) => {
            match event.paths.last().is_some_and(|to| matters(to)) {
                true => Step::Done,
                false => Step::Changing,
            }
        }
        _ => Step::Changing,
    }
}

impl Watcher {
    /// Starts watching. Reloads run on the watcher's own thread, never on a request worker.
    pub(crate) fn start(reloader: Arc<Reloader>) -> notify::Result<Watcher> {
        let (tx, rx) = mpsc::channel();
        let events = tx.clone();
        let mut watcher = notify::recommended_watcher(move |r| {
            let _ = events.send(Message::Event(r));
        })?;
        let mut watched = WatchSet::default();
        watched.update(&mut watcher, &reloader)?;
        let thread = std::thread::Builder::new()
            .name("mockrig-watch".into())
            .spawn(move || {
                // When a change that has not shown its end is to be reloaded.
                let mut due: Option<Instant> = None;
                'watch: loop {
                    let message = match due {
                        Some(at) => {
                            match rx.recv_timeout(at.saturating_duration_since(Instant::now())) {
                                Ok(m) => Some(m),
                                Err(RecvTimeoutError::Timeout) => None,
                                Err(RecvTimeoutError::Disconnected) => break,
                            }
                        }
                        None => match rx.recv() {
                            Ok(m) => Some(m),
                            Err(_) => break,
                        },
                    };
                    let mut reload_now = false;
                    match message {
                        Some(Message::Stop) => break,
                        Some(Message::Event(first)) => {
                            // This event and those already queued behind it (a rename is
                            // reported twice; a checkout closes many files): one reload.
                            let mut next = Some(first);
                            while let Some(result) = next.take() {
                                match result {
                                    Err(e) => tracing::warn!("file watching: {e}"),
                                    Ok(event) => match step(&event, |p| watched.matters(p)) {
                                        Step::Done => {
                                            reload_now = true;
                                            due = None;
                                        }
                                        // Still changing after it ended: this reload may read
                                        // it half-way, so the quiet one comes after it too.
                                        Step::Changing => due = Some(Instant::now() + QUIET),
                                        Step::Nothing => {}
                                    },
                                }
                                if reload_now {
                                    match rx.try_recv() {
                                        Ok(Message::Event(r)) => next = Some(r),
                                        Ok(Message::Stop) => break 'watch,
                                        Err(_) => {}
                                    }
                                }
                            }
                        }
                        // Quiet long enough.
                        None => {}
                    }
                    // Events that never stop coming (reads, other files) do not put off a
                    // reload that is due.
                    if due.is_some_and(|at| Instant::now() >= at) {
                        reload_now = true;
                        due = None;
                    }
                    if reload_now {
                        reload(&reloader, &mut watched, &mut watcher);
                    }
                }
                drop(watcher);
            })
            .map_err(|e| notify::Error::generic(&e.to_string()))?;
        Ok(Watcher {
            stop: tx,
            thread: Some(thread),
        })
    }
}

/// Reloads, and watches what the new spec names. A reload can name files not watched yet; one
/// saved between the reload reading it and the watch starting would be missed, so a reload
/// that widened the watch is followed by another (a no-op when nothing changed meanwhile).
fn reload(reloader: &Reloader, watched: &mut WatchSet, watcher: &mut RecommendedWatcher) {
    for _ in 0..3 {
        reloader.reload(false);
        match watched.update(watcher, reloader) {
            Ok(true) => continue,
            Ok(false) => break,
            Err(e) => {
                tracing::warn!("cannot watch a referenced file: {e}");
                break;
            }
        }
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
    fn update(
        &mut self,
        watcher: &mut RecommendedWatcher,
        reloader: &Reloader,
    ) -> notify::Result<bool> {
        let mut widened = false;
        for path in reloader.watch_list() {
            let Some((dir, name)) = split_canonical(&path) else {
                continue;
            };
            if self.dirs.insert(dir.clone()) {
                watcher.watch(&dir, RecursiveMode::NonRecursive)?;
            }
            widened |= self.names.insert(dir.join(name));
        }
        for dir in reloader.watch_folders() {
            let Ok(dir) = dir.canonicalize() else {
                continue;
            };
            if self.dirs.insert(dir.clone()) {
                watcher.watch(&dir, RecursiveMode::NonRecursive)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{CreateKind, DataChange, MetadataKind, RemoveKind};

    fn event(kind: EventKind, paths: &[&str]) -> notify::Event {
        let mut e = notify::Event::new(kind);
        for p in paths {
            e = e.add_path(PathBuf::from(p));
        }
        e
    }

    #[test]
    fn a_closed_write_or_a_rename_into_place_ends_a_save() {
        let spec = |p: &Path| p == Path::new("/d/api.yaml");
        let step_of = |kind: EventKind, paths: &[&str]| step(&event(kind, paths), spec);
        let at = &["/d/api.yaml"];
        for kind in [
            EventKind::Access(AccessKind::Close(AccessMode::Write)),
            EventKind::Modify(ModifyKind::Name(RenameMode::To)),
        ] {
            assert_eq!(step_of(kind, at), Step::Done, "{kind:?}");
        }
        let rename = EventKind::Modify(ModifyKind::Name(RenameMode::Both));
        assert_eq!(step_of(rename, &["/d/.tmp", "/d/api.yaml"]), Step::Done);
        assert_eq!(
            step_of(rename, &["/d/api.yaml", "/d/api.yaml~"]),
            Step::Changing,
            "moved away to a backup: the new file is still to come"
        );
        for kind in [
            EventKind::Create(CreateKind::File),
            EventKind::Modify(ModifyKind::Data(DataChange::Any)),
            EventKind::Modify(ModifyKind::Metadata(MetadataKind::Any)),
            EventKind::Modify(ModifyKind::Name(RenameMode::From)),
            EventKind::Remove(RemoveKind::File),
            EventKind::Any,
        ] {
            assert_eq!(step_of(kind, at), Step::Changing, "{kind:?}");
        }
        for kind in [
            EventKind::Access(AccessKind::Open(AccessMode::Any)),
            EventKind::Access(AccessKind::Close(AccessMode::Read)),
        ] {
            assert_eq!(step_of(kind, at), Step::Nothing, "{kind:?}");
        }
        let close = EventKind::Access(AccessKind::Close(AccessMode::Write));
        assert_eq!(step_of(close, &["/d/notes.txt"]), Step::Nothing);
    }
}
