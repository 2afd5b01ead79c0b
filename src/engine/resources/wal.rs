//! `--state-file`: resource data that survives a restart, and a `kill -9`.
//!
//! The state file holds a snapshot; every change is appended to a write-ahead log beside it
//! (`STATE.journal`) and flushed to disk before the request is answered, so no acknowledged
//! write is lost. Flushes are group commits (`group_commit`): the writes that arrived during
//! one `fdatasync` share the next. At start (and after a reset or a re-seed) the log is folded into a new
//! snapshot, written to a new file and renamed over the old one, so the state file is never
//! torn. A log line cut short by a crash was never acknowledged: it is dropped, and said so.
//!
//! Anything else that cannot be read as mockrig wrote it (a damaged line in the middle, a
//! snapshot of the wrong shape, a garbled fingerprint, text that is not UTF-8) stops the start
//! with the file, the line and what is wrong, and leaves the files as they are: data is never
//! thrown away because mockrig could not read it. `--state-reset` starts afresh on purpose.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::group_commit::GroupCommit;
use crate::files::{read_regular, replace_atomically};

/// The version of the state file's format this mockrig writes and reads.
const VERSION: u64 = 1;

/// One resource's saved data: its definition's fingerprint, the snapshot, and the log entries
/// written after it.
#[derive(Debug, Default)]
pub(crate) struct Restored {
    pub(crate) fingerprint: u64,
    pub(crate) data: Value,
    pub(crate) entries: Vec<Value>,
}

/// Why the state file or its log cannot be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WalError {
    /// The file is not as mockrig writes it; nothing was changed.
    #[error(
        "{file}{}: {what}\nthe file is left as it is: fix it, move it away, or start afresh \
         with --state-reset",
        .line.map(|l| format!(":{l}")).unwrap_or_default()
    )]
    Damaged {
        file: String,
        line: Option<usize>,
        what: String,
    },
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: io::Error },
    #[error("cannot open {path}: {source}")]
    Open { path: String, source: io::Error },
    /// A snapshot could not be written.
    #[error("{0}")]
    Write(io::Error),
}

/// The state file's write-ahead log: one JSON line per acknowledged change.
pub(crate) struct WriteAheadLog {
    state_file: PathBuf,
    log: GroupCommit,
}

fn fingerprint(v: &Value) -> Option<u64> {
    v.as_str()
        .filter(|h| h.len() == 16)
        .and_then(|h| u64::from_str_radix(h, 16).ok())
}

fn kind(v: &Value) -> &'static str {
    crate::model::resource::kind(v)
}

impl WriteAheadLog {
    /// The log of `state_file`: `STATE.journal` beside it.
    pub(crate) fn path_for(state_file: &Path) -> PathBuf {
        let mut name = state_file.as_os_str().to_owned();
        name.push(".journal");
        PathBuf::from(name)
    }

    /// The state file this log belongs to.
    pub(crate) fn state_file(&self) -> &Path {
        &self.state_file
    }

    /// Opens (creating if needed) the state file's log and reads what was saved. With `fresh`,
    /// what was saved is set aside: an empty snapshot replaces it.
    pub(crate) fn open(
        state_file: &Path,
        fresh: bool,
    ) -> Result<(WriteAheadLog, HashMap<String, Restored>), WalError> {
        let log_file = Self::path_for(state_file);
        let mut restored = HashMap::new();
        if fresh {
            let empty = serde_json::to_vec_pretty(&json!({"version": VERSION, "resources": {}}))
                .unwrap_or_default();
            replace_atomically(state_file, &empty).map_err(WalError::Write)?;
            truncate(&log_file, 0)?;
        } else {
            restored = read_snapshot(state_file)?;
            read_log(&log_file, &mut restored)?;
        }
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_file)
            .map_err(|source| WalError::Open {
                path: log_file.display().to_string(),
                source,
            })?;
        let log = GroupCommit::start(log).map_err(|source| WalError::Open {
            path: log_file.display().to_string(),
            source,
        })?;
        Ok((
            WriteAheadLog {
                state_file: state_file.to_owned(),
                log,
            },
            restored,
        ))
    }

    /// Queues one change for the log; [`WriteAheadLog::synced`] waits until it is on disk.
    /// Called under the store's write lock, which orders the lines as the changes.
    pub(crate) fn append(
        &self,
        resource: &str,
        fingerprint: u64,
        mut entry: Value,
    ) -> io::Result<()> {
        entry["resource"] = json!(resource);
        entry["fingerprint"] = json!(format!("{fingerprint:016x}"));
        let mut line = serde_json::to_vec(&entry)?;
        line.push(b'\n');
        self.log.append(&line)
    }

    /// Waits until every change queued so far is on disk: a write is answered after this.
    pub(crate) fn synced(&self) -> impl Future<Output = io::Result<()>> + use<> {
        self.log.synced()
    }

    /// Writes a new snapshot atomically and empties the log.
    /// Writes `stores` (each resource's fingerprint and its data as JSON text) as the new
    /// snapshot and empties the log.
    pub(crate) fn compact(&self, stores: HashMap<String, (u64, String)>) -> io::Result<()> {
        use serde_json::value::RawValue;
        #[derive(serde::Serialize)]
        struct Snapshot<'a> {
            version: u64,
            resources: std::collections::BTreeMap<&'a str, Resource<'a>>,
        }
        #[derive(serde::Serialize)]
        struct Resource<'a> {
            fingerprint: String,
            data: &'a RawValue,
        }
        let raw: Vec<(String, u64, Box<RawValue>)> = stores
            .into_iter()
            .map(|(n, (print, data))| {
                RawValue::from_string(data)
                    .map(|raw| (n, print, raw))
                    .map_err(io::Error::other)
            })
            .collect::<io::Result<_>>()?;
        let resources = raw
            .iter()
            .map(|(n, print, data)| {
                let fingerprint = format!("{print:016x}");
                (n.as_str(), Resource { fingerprint, data })
            })
            .collect();
        let text = serde_json::to_vec_pretty(&Snapshot {
            version: VERSION,
            resources,
        })?;
        // The lines still queued are written first: they belong before this snapshot (a line
        // of a write made before a reset, written after the truncation, would bring the
        // written record back at the next start).
        self.log.with_file(|log| {
            replace_atomically(&self.state_file, &text)?;
            // Only now is the log redundant; a crash before this line replays it over the new
            // snapshot, which its entries (whole records, deletes) leave unchanged.
            log.set_len(0)?;
            log.sync_all()
        })
    }
}

fn damaged(file: &Path, line: Option<usize>, what: impl Into<String>) -> WalError {
    WalError::Damaged {
        file: file.display().to_string(),
        line,
        what: what.into(),
    }
}

/// The file's bytes; `None` when there is no such file.
fn read_if_there(path: &Path) -> Result<Option<Vec<u8>>, WalError> {
    match read_regular(path, u64::MAX) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(WalError::Read {
            path: path.display().to_string(),
            source,
        }),
    }
}

/// The snapshot, checked to be exactly what [`WriteAheadLog::compact`] writes.
fn read_snapshot(path: &Path) -> Result<HashMap<String, Restored>, WalError> {
    let mut restored = HashMap::new();
    let Some(bytes) = read_if_there(path)? else {
        return Ok(restored);
    };
    let text = std::str::from_utf8(&bytes).map_err(|e| {
        damaged(
            path,
            None,
            format!("not UTF-8 text (at byte {})", e.valid_up_to()),
        )
    })?;
    if text.trim().is_empty() {
        return Err(damaged(
            path,
            None,
            "empty, where mockrig writes {version, resources}",
        ));
    }
    let doc: Value = serde_json::from_str(text)
        .map_err(|e| damaged(path, Some(e.line()), format!("not JSON: {e}")))?;
    let shape = "not a mockrig state file: {\"version\": 1, \"resources\": {...}} expected";
    let doc = doc.as_object().ok_or_else(|| damaged(path, None, shape))?;
    match doc.get("version").and_then(Value::as_u64) {
        Some(VERSION) => {}
        Some(v) => {
            return Err(damaged(
                path,
                None,
                format!("version {v}; this mockrig reads version {VERSION}"),
            ));
        }
        None => return Err(damaged(path, None, shape)),
    }
    let resources = doc
        .get("resources")
        .and_then(Value::as_object)
        .ok_or_else(|| damaged(path, None, shape))?;
    for (name, saved) in resources {
        let key = |k: &str| format!("resources.{name}.{k}");
        let print = fingerprint(&saved["fingerprint"]).ok_or_else(|| {
            damaged(
                path,
                None,
                format!(
                    "{}: {} is not a fingerprint (16 hex digits)",
                    key("fingerprint"),
                    saved["fingerprint"]
                ),
            )
        })?;
        let data = saved["data"].clone();
        let well_formed = match &data {
            Value::Object(_) => true,
            Value::Array(items) => items.iter().all(Value::is_object),
            _ => false,
        };
        if !well_formed {
            return Err(damaged(
                path,
                None,
                format!(
                    "{}: {} where a list of records or an object belongs",
                    key("data"),
                    kind(&data)
                ),
            ));
        }
        restored.insert(
            name.clone(),
            Restored {
                fingerprint: print,
                data,
                entries: Vec::new(),
            },
        );
    }
    Ok(restored)
}

/// The log's entries, each checked to be what [`WriteAheadLog::append`] writes, added to the
/// resources whose snapshot they follow. A last line without its newline was cut short by a
/// crash before it was acknowledged: it is dropped, cut off the file, and said so.
fn read_log(path: &Path, restored: &mut HashMap<String, Restored>) -> Result<(), WalError> {
    let Some(bytes) = read_if_there(path)? else {
        return Ok(());
    };
    let complete = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    // The complete lines, without the newline that ends the last of them.
    let lines = bytes[..complete].strip_suffix(b"\n").unwrap_or_default();
    let mut stale = 0usize;
    for (i, line) in lines.split(|b| *b == b'\n').enumerate() {
        if complete == 0 {
            break;
        }
        let n = Some(i + 1);
        let text = std::str::from_utf8(line).map_err(|_| damaged(path, n, "not UTF-8 text"))?;
        let entry: Value = serde_json::from_str(text)
            .map_err(|e| damaged(path, n, format!("not a log entry: {e}")))?;
        let valid = entry["resource"].is_string()
            && fingerprint(&entry["fingerprint"]).is_some()
            && match entry["op"].as_str() {
                Some("put") => entry["key"].is_string() && entry["record"].is_object(),
                Some("delete") => entry["key"].is_string(),
                Some("set") => entry["record"].is_object(),
                _ => false,
            };
        if !valid {
            return Err(damaged(
                path,
                n,
                "not a log entry: {op, resource, fingerprint, key, record} expected",
            ));
        }
        let res = entry["resource"].as_str().unwrap_or_default();
        // An entry for a resource or a definition the snapshot no longer has was written by
        // a request in flight across the reload that replaced it: data nobody keeps. Counted,
        // not silent.
        match restored.get_mut(res) {
            Some(r) if fingerprint(&entry["fingerprint"]) == Some(r.fingerprint) => {
                r.entries.push(entry)
            }
            _ => stale += 1,
        }
    }
    if stale > 0 {
        tracing::warn!(
            "{}: skipped {stale} entries for resources the state no longer has as written \
             (writes that raced a reload replacing them)",
            path.display()
        );
    }
    let torn = bytes.len() - complete;
    if torn > 0 {
        tracing::warn!(
            "{}: dropped a torn last line of {torn} bytes (a write cut short by a crash, never \
             acknowledged)",
            path.display()
        );
        truncate(path, complete as u64)?;
    }
    Ok(())
}

/// Cuts the file at `len` bytes (creating it when missing).
fn truncate(path: &Path, len: u64) -> Result<(), WalError> {
    let open = |source| WalError::Open {
        path: path.display().to_string(),
        source,
    };
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(open)?;
    f.set_len(len)
        .and_then(|()| f.sync_all())
        .map_err(WalError::Write)
}
