//! Hot reload: when the spec (or a file it names) is saved, read, parse and compile it off the
//! request path, then swap the new snapshot in with one store (`live`). A request in flight
//! keeps the snapshot it started with; a broken save keeps the last good one serving.
//!
//! A save that leaves the content as it was (or our own reads, or a repeated event) does
//! nothing: the content and the files it names are fingerprinted first.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use serde_json::{Value, json};

use crate::files::{INPUT_CAP, read_regular_text};
use crate::spec::Spec;
use crate::spec::include::parse_source;
use crate::spec::load::SpecSource;
use crate::sync::lock;

use super::changes::RouteChanges;
use super::live::LiveSpec;

/// The outcome of the last reload, for `/__mockrig/status`.
#[derive(Debug, Clone)]
pub(crate) struct ReloadStatus {
    /// When the spec now serving was loaded.
    pub(crate) loaded_at: SystemTime,
    /// Successful reloads since start.
    pub(crate) reloads: u64,
    /// Failed reload attempts since start.
    pub(crate) failures: u64,
    /// `None` until the first reload; then its time and what it did, or its error.
    pub(crate) last: Option<(SystemTime, Result<Reloaded, String>)>,
}

/// What a successful reload did.
#[derive(Debug, Clone)]
pub(crate) struct Reloaded {
    /// The log line: `reloaded api.yaml in 3.1 ms: +1 route (POST /orders), …`.
    pub(crate) message: String,
    pub(crate) changes: RouteChanges,
}

impl ReloadStatus {
    /// The last reload as `/__mockrig/status` and the dashboard's stream show it.
    pub(crate) fn last_json(&self) -> Value {
        let at = |t: &SystemTime| crate::duration::rfc3339(*t);
        match &self.last {
            None => Value::Null,
            Some((t, Ok(done))) => json!({
                "result": "ok",
                "at": at(t),
                "message": done.message,
                "changes": done.changes,
            }),
            Some((t, Err(e))) => json!({"result": "error", "at": at(t), "error": e}),
        }
    }

    /// The error of the last save, while it is the last word.
    pub(crate) fn pending_error(&self) -> Option<&str> {
        match &self.last {
            Some((_, Err(e))) => Some(e),
            _ => None,
        }
    }
}

/// What one reload attempt did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ReloadResult {
    /// The new spec is serving; the text says what changed.
    Reloaded(String),
    /// Same content as the last attempt: nothing to do.
    Unchanged,
    /// The file is missing or empty, which is how many saves look halfway through.
    Waiting,
    /// The new spec has errors; the previous one keeps serving.
    Failed(String),
}

/// Reloads the spec file into the live spec; shared by the watcher and
/// `POST /__mockrig/reload`.
pub(crate) struct Reloader {
    spec_path: PathBuf,
    live: Arc<LiveSpec>,
    status: Mutex<ReloadStatus>,
    /// Fingerprint of the content last tried, loaded or not.
    last_seen: Mutex<u64>,
    /// The files the last tried spec names, loaded or not: creating a missing one is a fix.
    named_files: Mutex<Vec<PathBuf>>,
    /// The folders the last tried spec's `include:` globs searched: a file added to one may
    /// be a new match.
    searched: Mutex<Vec<PathBuf>>,
    /// One reload at a time, so the fingerprint and the status follow the swaps' order.
    running: Mutex<()>,
    /// The last save did not load: read by every request's log step, so an atomic.
    pending: AtomicBool,
    /// When a request last came while a failed save was pending (ms since `started`, 0:
    /// none since the failure): the log reminds of the failure once per burst of requests.
    reminded: AtomicU64,
    started: Instant,
}

/// Requests closer together than this are one burst: one reminder for all of them.
const BURST_GAP_MS: u64 = 1000;

impl Reloader {
    /// `spec` is the spec now serving, as read at start from `source`; `included`: the files
    /// it includes and the folders its globs searched ([`LiveSpec::included`]).
    pub(crate) fn new(
        source: &SpecSource,
        spec: &Spec,
        included: (Vec<PathBuf>, Vec<PathBuf>),
        live: Arc<LiveSpec>,
    ) -> Reloader {
        let mut files = files_named(&source.dir, spec);
        files.extend(live.document_files());
        let (included, searched) = included;
        // Hashed whole, as a reload hashes them: see `fingerprint`.
        let texts: Vec<Vec<u8>> = included
            .iter()
            .map(|f| std::fs::read(f).unwrap_or_default())
            .collect();
        files.extend(included);
        Reloader {
            spec_path: source.file.clone(),
            live,
            status: Mutex::new(ReloadStatus {
                loaded_at: SystemTime::now(),
                reloads: 0,
                failures: 0,
                last: None,
            }),
            last_seen: Mutex::new(fingerprint(
                source.text.as_bytes(),
                texts.iter().map(Vec::as_slice),
                &files,
            )),
            named_files: Mutex::new(files),
            searched: Mutex::new(searched),
            running: Mutex::new(()),
            pending: AtomicBool::new(false),
            reminded: AtomicU64::new(0),
            started: Instant::now(),
        }
    }

    /// While a failed save is pending, the log says so once per burst of requests: the user
    /// watching requests fail learns why without scrolling back to the reload error.
    pub(crate) fn remind_if_pending(&self) {
        if !self.pending.load(Ordering::Relaxed) {
            return;
        }
        let now = (self.started.elapsed().as_millis() as u64).max(1);
        let last = self.reminded.swap(now, Ordering::Relaxed);
        if last != 0 && now.saturating_sub(last) < BURST_GAP_MS {
            return;
        }
        let error = match &lock(&self.status).last {
            Some((_, Err(e))) => e.lines().next().unwrap_or_default().to_owned(),
            _ => return,
        };
        tracing::warn!(
            "the last save of {} did not load ({error}); these requests are answered by the \
             spec before it (details: /__mockrig/status)",
            self.spec_path.display()
        );
    }

    pub(crate) fn spec_path(&self) -> &Path {
        &self.spec_path
    }

    pub(crate) fn status(&self) -> ReloadStatus {
        lock(&self.status).clone()
    }

    /// The spec file and the files it names: what the watcher must watch.
    pub(crate) fn watch_list(&self) -> Vec<PathBuf> {
        let mut list = vec![self.spec_path.clone()];
        list.extend(lock(&self.named_files).iter().cloned());
        list
    }

    /// The folders whose new files may change the spec (`include:` globs search them).
    pub(crate) fn watch_folders(&self) -> Vec<PathBuf> {
        lock(&self.searched).clone()
    }

    /// Reads the spec and, if its content changed (or `force`), compiles it and swaps it in.
    pub(crate) fn reload(&self, force: bool) -> ReloadResult {
        let _one_at_a_time = lock(&self.running);
        let started = Instant::now();
        let name = self.spec_path.display().to_string();
        // A regular file of bounded size, or nothing: a FIFO or a device swapped in for the
        // spec would hold this lock, and every admin call behind it, forever.
        let text = match read_regular_text(&self.spec_path, INPUT_CAP) {
            Ok(s) if !s.trim().is_empty() => s,
            Ok(_) | Err(_) if !force => return ReloadResult::Waiting,
            Ok(_) => return self.failed(format!("{name} is empty")),
            Err(e) => return self.failed(format!("cannot read {name}: {e}")),
        };
        let source = match SpecSource::from_text(&self.spec_path, text) {
            Ok(s) => s,
            Err(e) => return self.failed(e.to_string()),
        };
        let parsed = parse_source(&source);
        // The files a spec names count as part of it: a changed seed file is a changed spec.
        // Read from what could be parsed, so that a file whose absence is the error is
        // watched for the fix.
        let mut files = files_named(&source.dir, &parsed.spec);
        // The files an OpenAPI document's references reach, as the serving one read them: a
        // save of any of them is a change. One the new version adds is watched once it serves.
        files.extend(self.live.document_files());
        // The included files, as this read found them: a glob's new match, or one gone, is a
        // change of the list itself.
        files.extend(parsed.parts.iter().map(|p| p.path.clone()));
        *lock(&self.searched) = parsed.searched.clone();
        let texts = parsed.parts.iter().map(|p| p.text.as_bytes());
        let print = fingerprint(source.text.as_bytes(), texts, &files);
        let previous = std::mem::replace(&mut *lock(&self.last_seen), print);
        *lock(&self.named_files) = files;
        // After a failure, any save is worth another try: what was missing may be there now.
        let last_failed = matches!(lock(&self.status).last, Some((_, Err(_))));
        if !force && !last_failed && previous == print {
            return ReloadResult::Unchanged;
        }
        let swapped = match self.live.replace(source, parsed) {
            Ok(s) => s,
            Err(e) => return self.failed(e.to_string()),
        };
        {
            // A set: a document can bring thousands of files.
            let mut named = lock(&self.named_files);
            let known: std::collections::HashSet<PathBuf> = named.iter().cloned().collect();
            let new: Vec<PathBuf> = self
                .live
                .document_files()
                .into_iter()
                .filter(|f| !known.contains(f))
                .collect();
            named.extend(new);
        }
        if swapped.warnings.warnings() > 0 {
            tracing::warn!("{}", swapped.warnings);
        }
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        let mut changes = swapped.changes;
        if !swapped.resources.is_empty() {
            changes = format!("{changes}; {}", swapped.resources.describe());
        }
        let text = format!("reloaded {name} in {ms:.1} ms: {changes}");
        tracing::info!("{text}");
        let now = SystemTime::now();
        let done = Reloaded {
            message: text.clone(),
            changes: swapped.route_changes,
        };
        self.settle(|status| {
            status.loaded_at = now;
            status.reloads += 1;
            status.last = Some((now, Ok(done)));
            self.pending.store(false, Ordering::Relaxed);
        });
        ReloadResult::Reloaded(text)
    }

    /// Changes the status and tells the dashboard how the reload went.
    fn settle(&self, change: impl FnOnce(&mut ReloadStatus)) {
        let event = {
            let mut status = lock(&self.status);
            change(&mut status);
            let mut last = status.last_json();
            last["reload_error"] = json!(status.pending_error());
            last
        };
        self.live.monitor().announce("reload", event);
    }

    fn failed(&self, error: String) -> ReloadResult {
        self.settle(|status| {
            status.failures += 1;
            status.last = Some((SystemTime::now(), Err(error.clone())));
            self.reminded.store(0, Ordering::Relaxed);
            self.pending.store(true, Ordering::Relaxed);
        });
        tracing::error!("reload failed, still serving the previous spec: {error}");
        ReloadResult::Failed(error)
    }
}

/// The files a spec names besides itself: `file:` bodies, seed files and static folders.
fn files_named(dir: &Path, spec: &Spec) -> Vec<PathBuf> {
    let bodies = spec
        .routes
        .iter()
        .flat_map(|r| r.all_responses())
        .filter_map(|r| r.file.as_ref());
    let seeds = spec.resources.values().filter_map(|r| r.seed_file.as_ref());
    let folders = spec.statics.iter().map(|s| &s.dir);
    let document = spec.openapi.iter().map(|o| &o.file);
    bodies
        .chain(seeds)
        .chain(folders)
        .chain(document)
        .map(|f| dir.join(f))
        .collect()
}

/// The spec's bytes and its included files' (already read: two saves of one length within
/// a file system's time granularity differ only there), plus the size and time of each file
/// it names: cheap, and enough to tell a real save from a repeated event or a touch that
/// changed nothing.
fn fingerprint<'a>(
    spec: &[u8],
    included: impl Iterator<Item = &'a [u8]>,
    files: &[PathBuf],
) -> u64 {
    let mut h = DefaultHasher::new();
    spec.hash(&mut h);
    for text in included {
        text.hash(&mut h);
    }
    for f in files {
        f.hash(&mut h);
        if let Ok(m) = std::fs::metadata(f) {
            m.len().hash(&mut h);
            m.modified().ok().hash(&mut h);
        }
    }
    h.finish()
}
