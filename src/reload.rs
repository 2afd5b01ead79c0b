//! Hot reload: when the spec (or a file it names) is saved, parse, check and compile it off the
//! request path, then swap the new runtime in with one `ArcSwap::store`. A request in flight
//! keeps the runtime it started with; a broken save keeps the last good one serving.
//!
//! Watching follows what editors do. Many save by writing a temporary file and renaming it over
//! the original, which replaces the inode, so we watch the *folders* and pick events by file
//! name. Bursts of events from one save are debounced, and a save that leaves the content as it
//! was (or our own reads) does nothing, because the content's fingerprint is compared first.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeSet, HashSet};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwap;
use notify::{EventKind, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, new_debouncer};

use crate::resources::Stores;
use crate::runtime::{Runtime, Stub};
use crate::spec::{self, LoadError, Loaded, Route, Spec};

/// How long a burst of file events must be quiet before we reload: long enough to cover the
/// rename-write-delete sequence of one editor save, short enough to feel instant.
pub const DEBOUNCE: Duration = Duration::from_millis(30);

/// The outcome of the last reload, for `/__mockrig/status`.
#[derive(Debug, Clone)]
pub struct ReloadStatus {
    /// When the spec now serving was loaded.
    pub loaded_at: SystemTime,
    /// Successful reloads since start.
    pub reloads: u64,
    /// Failed reload attempts since start.
    pub failures: u64,
    /// `None` until the first reload; then its time and its error, if it failed.
    pub last: Option<(SystemTime, Result<(), String>)>,
}

/// What one reload attempt did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The new spec is serving; the text says what changed.
    Reloaded(String),
    /// Same content as the last attempt: nothing to do.
    Unchanged,
    /// The file is missing or empty, which is how many saves look halfway through.
    Waiting,
    /// The new spec has errors; the previous one keeps serving.
    Failed(String),
}

/// Reloads one spec into one runtime cell; shared by the watcher and `POST /__mockrig/reload`.
pub struct Reloader {
    spec_path: PathBuf,
    live: Arc<ArcSwap<Runtime>>,
    stores: Arc<Stores>,
    status: Mutex<ReloadStatus>,
    /// Fingerprint of the content last tried, loaded or not.
    last_seen: Mutex<u64>,
    /// The files the last tried spec names, loaded or not: creating a missing one is a fix.
    named_files: Mutex<Vec<PathBuf>>,
    /// One reload at a time, so two triggers cannot store out of order.
    running: Mutex<()>,
    /// Routes added at run time, in front of the spec's; they survive reloads. With the id
    /// the next one gets.
    stubs: Mutex<(u64, Vec<Stub>)>,
    /// Open WebSocket and SSE connections; those of channels a reload removes are closed.
    hub: Arc<crate::channels::Hub>,
}

/// A poisoned lock here only means a reload panicked midway; the data is still consistent
/// (each field is written in one assignment), so keep going rather than take the server down.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Reloader {
    /// `loaded` is the spec now serving, as read at start.
    pub fn new(
        loaded: &Loaded,
        live: Arc<ArcSwap<Runtime>>,
        stores: Arc<Stores>,
        hub: Arc<crate::channels::Hub>,
    ) -> Reloader {
        let spec_path = loaded.file.clone();
        let files = files_named(&loaded.dir, &loaded.spec);
        let fingerprint = std::fs::read(&spec_path)
            .map(|bytes| fingerprint(&bytes, &files))
            .unwrap_or_default();
        Reloader {
            spec_path,
            live: live.clone(),
            status: Mutex::new(ReloadStatus {
                loaded_at: SystemTime::now(),
                reloads: 0,
                failures: 0,
                last: None,
            }),
            stores,
            last_seen: Mutex::new(fingerprint),
            named_files: Mutex::new(files),
            running: Mutex::new(()),
            stubs: Mutex::new((1, Vec::new())),
            hub,
        }
    }

    pub fn spec_path(&self) -> &Path {
        &self.spec_path
    }

    pub fn status(&self) -> ReloadStatus {
        lock(&self.status).clone()
    }

    /// The spec file and the files it names: what the watcher must watch.
    pub fn watch_list(&self) -> Vec<PathBuf> {
        let mut list = vec![self.spec_path.clone()];
        list.extend(lock(&self.named_files).iter().cloned());
        list
    }

    /// Reads the spec and, if its content changed (or `force`), loads it and swaps it in.
    pub fn reload(&self, force: bool) -> Outcome {
        let _one_at_a_time = lock(&self.running);
        let started = Instant::now();
        let name = self.spec_path.display().to_string();
        let source = match std::fs::read_to_string(&self.spec_path) {
            Ok(s) if !s.trim().is_empty() => s,
            Ok(_) | Err(_) if !force => return Outcome::Waiting,
            Ok(_) => return self.failed(format!("{name} is empty")),
            Err(e) => return self.failed(format!("cannot read {name}: {e}")),
        };
        let loaded = spec::load_text(&self.spec_path, &source);
        // The files a spec names count as part of it: a changed seed file is a changed spec.
        // Decided before compiling, because compiling re-seeds changed resources.
        let files = match &loaded {
            Ok(l) => files_named(&l.dir, &l.spec),
            Err(_) => serde_yaml::from_str::<Spec>(&source)
                .map(|spec| files_named(&spec_dir(&self.spec_path), &spec))
                .unwrap_or_default(),
        };
        let print = fingerprint(source.as_bytes(), &files);
        let previous = std::mem::replace(&mut *lock(&self.last_seen), print);
        *lock(&self.named_files) = files;
        // After a failure, any save is worth another try: what was missing may be there now.
        let last_failed = matches!(lock(&self.status).last, Some((_, Err(_))));
        if !force && !last_failed && previous == print {
            return Outcome::Unchanged;
        }
        let compiled = match loaded {
            Ok(l) => Runtime::compile(&l, &self.stores, &lock(&self.stubs).1)
                .map_err(|e| format!("{name}: {e}")),
            Err(LoadError::Invalid(errors)) => Err(errors.to_string()),
            Err(e) => Err(e.to_string()),
        };
        let (runtime, report) = match compiled {
            Ok(r) => r,
            Err(e) => return self.failed(e),
        };
        let mut changes = describe_changes(&self.live.load().spec, &runtime.spec);
        if !runtime.spec.resources.is_empty() || !self.live.load().spec.resources.is_empty() {
            changes = format!("{changes}; {}", report.describe());
        }
        self.live.store(Arc::new(runtime));
        self.retire_channels();
        let now = SystemTime::now();
        {
            let mut status = lock(&self.status);
            status.loaded_at = now;
            status.reloads += 1;
            status.last = Some((now, Ok(())));
        }
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        let text = format!("reloaded {name} in {ms:.1} ms: {changes}");
        tracing::info!("{text}");
        Outcome::Reloaded(text)
    }

    /// Adds routes in front of the spec's, checked like the spec's own. Returns their ids.
    pub fn add_stubs(&self, routes: Vec<Route>) -> Result<Vec<u64>, String> {
        let _one_at_a_time = lock(&self.running);
        let current = self.live.load_full();
        let base = spec::validate::Base { dir: &current.dir };
        let mut problems = spec::validate::Problems::default();
        for (i, r) in routes.iter().enumerate() {
            spec::validate::route(i, r, &base, &mut problems);
        }
        if !problems.list.is_empty() {
            return Err(problems
                .list
                .iter()
                .map(|p| format!("{}: {}", spec::diagnose::display_path(&p.path), p.message))
                .collect::<Vec<_>>()
                .join("; "));
        }
        let mut stubs = lock(&self.stubs);
        let mut next = stubs.0;
        let mut all = stubs.1.clone();
        let mut ids = Vec::new();
        for route in routes {
            ids.push(next);
            all.push(Stub { id: next, route });
            next += 1;
        }
        self.swap_stubs(&current, &all)?;
        *stubs = (next, all);
        Ok(ids)
    }

    /// Removes one runtime route; `false` when there is none with that id.
    pub fn remove_stub(&self, id: u64) -> Result<bool, String> {
        let _one_at_a_time = lock(&self.running);
        let mut stubs = lock(&self.stubs);
        let all: Vec<Stub> = stubs.1.iter().filter(|s| s.id != id).cloned().collect();
        if all.len() == stubs.1.len() {
            return Ok(false);
        }
        self.swap_stubs(&self.live.load_full(), &all)?;
        stubs.1 = all;
        Ok(true)
    }

    /// Removes every runtime route.
    pub fn clear_stubs(&self) -> Result<(), String> {
        let _one_at_a_time = lock(&self.running);
        let mut stubs = lock(&self.stubs);
        if stubs.1.is_empty() {
            return Ok(());
        }
        self.swap_stubs(&self.live.load_full(), &[])?;
        stubs.1.clear();
        Ok(())
    }

    /// Compiles the serving spec again with these stubs and swaps it in.
    fn swap_stubs(&self, current: &Runtime, stubs: &[Stub]) -> Result<(), String> {
        let loaded = Loaded {
            spec: current.spec.clone(),
            file: self.spec_path.clone(),
            dir: current.dir.clone(),
        };
        let (runtime, _) = Runtime::compile(&loaded, &self.stores, stubs)?;
        self.live.store(Arc::new(runtime));
        Ok(())
    }

    fn retire_channels(&self) {
        let rt = self.live.load();
        let ws: Vec<&str> = rt.ws.iter().map(|w| w.path.as_str()).collect();
        let sse: Vec<&str> = rt.sse.iter().map(|s| s.path.as_str()).collect();
        self.hub.retire(&ws, &sse);
    }

    fn failed(&self, error: String) -> Outcome {
        {
            let mut status = lock(&self.status);
            status.failures += 1;
            status.last = Some((SystemTime::now(), Err(error.clone())));
        }
        tracing::error!("reload failed, still serving the previous spec: {error}");
        Outcome::Failed(error)
    }
}

fn spec_dir(spec_path: &Path) -> PathBuf {
    match spec_path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// The files a spec names besides itself: `file:` bodies, seed files and static folders. For
/// a spec that failed its checks (a missing file is exactly such a failure) they are read
/// leniently, so their folders can be watched for the fix.
fn files_named(dir: &Path, spec: &Spec) -> Vec<PathBuf> {
    let bodies = spec
        .routes
        .iter()
        .flat_map(|r| r.all_responses())
        .filter_map(|r| r.file.as_ref());
    let seeds = spec.resources.values().filter_map(|r| r.seed_file.as_ref());
    let folders = spec.statics.iter().map(|s| &s.dir);
    bodies
        .chain(seeds)
        .chain(folders)
        .map(|f| dir.join(f))
        .collect()
}

/// The spec's bytes plus the size and time of each file it names: cheap, and enough to tell
/// a real save from a repeated event or a touch that changed nothing.
fn fingerprint(spec: &[u8], files: &[PathBuf]) -> u64 {
    let mut h = DefaultHasher::new();
    spec.hash(&mut h);
    for f in files {
        f.hash(&mut h);
        if let Ok(m) = std::fs::metadata(f) {
            m.len().hash(&mut h);
            m.modified().ok().hash(&mut h);
        }
    }
    h.finish()
}

/// `+1 route (POST /orders), ~1 route (GET /users/{id}), -0 routes`, and the same for static
/// folders when they changed.
pub fn describe_changes(old: &Spec, new: &Spec) -> String {
    /// Routes are known by method and path; repeats of one method and path (with different
    /// `match:`) by their rank among those.
    fn keyed(routes: &[Route]) -> Vec<(String, usize, &Route)> {
        let mut seen: Vec<String> = Vec::new();
        routes
            .iter()
            .map(|r| {
                let key = format!("{} {}", r.method, r.path);
                let rank = seen.iter().filter(|k| **k == key).count();
                seen.push(key.clone());
                (key, rank, r)
            })
            .collect()
    }
    let old_routes = keyed(&old.routes);
    let new_routes = keyed(&new.routes);
    let find = |list: &[(String, usize, &Route)], key: &str, rank: usize| {
        list.iter()
            .find(|(k, n, _)| k == key && *n == rank)
            .map(|e| e.2.clone())
    };
    let mut added = Vec::new();
    let mut changed = Vec::new();
    for (key, rank, route) in &new_routes {
        match find(&old_routes, key, *rank) {
            None => added.push(key.clone()),
            Some(old) if old != **route => changed.push(key.clone()),
            Some(_) => {}
        }
    }
    let removed: Vec<String> = old_routes
        .iter()
        .filter(|(k, n, _)| find(&new_routes, k, *n).is_none())
        .map(|e| e.0.clone())
        .collect();
    let mut parts = vec![
        count("+", &added, "route"),
        count("~", &changed, "route"),
        count("-", &removed, "route"),
    ];
    let old_static: BTreeSet<_> = old
        .statics
        .iter()
        .map(|s| format!("{} {}", s.path, s.dir))
        .collect();
    let new_static: BTreeSet<_> = new
        .statics
        .iter()
        .map(|s| format!("{} {}", s.path, s.dir))
        .collect();
    // Channels are known by path; only what changed is mentioned.
    fn channels<T: PartialEq>(
        old: &[T],
        new: &[T],
        path: impl Fn(&T) -> &str,
        noun: &str,
        parts: &mut Vec<String>,
    ) {
        let find = |list: &[T], p: &str| list.iter().position(|c| path(c) == p);
        let added: Vec<String> = new
            .iter()
            .filter(|c| find(old, path(c)).is_none())
            .map(|c| path(c).to_owned())
            .collect();
        let changed: Vec<String> = new
            .iter()
            .filter(|c| find(old, path(c)).is_some_and(|i| old[i] != **c))
            .map(|c| path(c).to_owned())
            .collect();
        let removed: Vec<String> = old
            .iter()
            .filter(|c| find(new, path(c)).is_none())
            .map(|c| path(c).to_owned())
            .collect();
        for (sign, list) in [("+", added), ("~", changed), ("-", removed)] {
            if !list.is_empty() {
                parts.push(count(sign, &list, noun));
            }
        }
    }
    channels(
        &old.websockets,
        &new.websockets,
        |w| &w.path,
        "websocket",
        &mut parts,
    );
    channels(&old.sse, &new.sse, |s| &s.path, "sse stream", &mut parts);
    if old_static != new_static || old.server != new.server {
        let added: Vec<String> = new_static.difference(&old_static).cloned().collect();
        let removed: Vec<String> = old_static.difference(&new_static).cloned().collect();
        parts.push(count("+", &added, "static folder"));
        parts.push(count("-", &removed, "static folder"));
        if old.server != new.server {
            parts.push("server settings changed".into());
        }
    }
    parts.join(", ")
}

fn count(sign: &str, names: &[String], noun: &str) -> String {
    let n = names.len();
    let plural = if n == 1 { "" } else { "s" };
    if n == 0 {
        return format!("{sign}0 {noun}s");
    }
    const SHOWN: usize = 3;
    let mut list = names
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if n > SHOWN {
        list.push_str(&format!(", … {} more", n - SHOWN));
    }
    format!("{sign}{n} {noun}{plural} ({list})")
}

/// Watches the spec and the files it names until dropped.
pub struct Watcher {
    stop: mpsc::Sender<Message>,
    thread: Option<std::thread::JoinHandle<()>>,
}

enum Message {
    Events(DebounceEventResult),
    Stop,
}

impl Watcher {
    /// Starts watching. Reloads run on the watcher's own thread, never on a request worker.
    pub fn start(reloader: Arc<Reloader>) -> notify::Result<Watcher> {
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
                                    && e.paths.iter().any(|p| watched.names.contains(p))
                            });
                            if relevant {
                                reloader.reload(false);
                                if let Err(e) = watched.update(&mut debouncer, &reloader) {
                                    tracing::warn!("cannot watch a referenced file: {e}");
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
}

impl WatchSet {
    /// Watches the folders of the spec and of every file the serving spec names; a reload can
    /// add files, and a file that does not exist yet is watched through its folder.
    fn update<W: notify::Watcher, C: notify_debouncer_full::FileIdCache>(
        &mut self,
        debouncer: &mut notify_debouncer_full::Debouncer<W, C>,
        reloader: &Reloader,
    ) -> notify::Result<()> {
        for path in reloader.watch_list() {
            let Some((dir, name)) = split_canonical(&path) else {
                continue;
            };
            if self.dirs.insert(dir.clone()) {
                debouncer.watch(&dir, RecursiveMode::NonRecursive)?;
            }
            self.names.insert(dir.join(name));
        }
        Ok(())
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

    fn spec(yaml: &str) -> Spec {
        serde_yaml::from_str(yaml).unwrap()
    }

    #[test]
    fn names_what_changed() {
        let old = spec(
            "routes:\n  - { path: /a, response: { text: a } }\n  - { path: /b }\n  - { path: /c }\n",
        );
        let new = spec(
            "routes:\n  - { path: /a, response: { text: A } }\n  - { path: /b }\n  - { method: POST, path: /orders }\n",
        );
        assert_eq!(
            describe_changes(&old, &new),
            "+1 route (POST /orders), ~1 route (GET /a), -1 route (GET /c)"
        );
        assert_eq!(
            describe_changes(&old, &old),
            "+0 routes, ~0 routes, -0 routes"
        );
    }

    #[test]
    fn names_changed_channels() {
        let old =
            spec("websockets:\n  - { path: /ws/a }\n  - { path: /ws/b }\nsse:\n  - { path: /e }\n");
        let new = spec(
            "websockets:\n  - { path: /ws/a, mode: silent }\n  - { path: /ws/c }\nsse:\n  - { path: /e }\n",
        );
        assert_eq!(
            describe_changes(&old, &new),
            "+0 routes, ~0 routes, -0 routes, +1 websocket (/ws/c), ~1 websocket (/ws/a), -1 websocket (/ws/b)"
        );
    }
}
