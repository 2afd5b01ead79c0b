//! `--state-file`: resource data that survives a restart, and a `kill -9`.
//!
//! The state file holds a snapshot; every change is first appended to a write-ahead log beside
//! it (`STATE.journal`) and flushed to disk before the request is answered, so no acknowledged
//! write is lost. At start (and after a reset or a re-seed) the log is folded into a new
//! snapshot, written to a temporary file, flushed and renamed over the old one, so the state
//! file is never torn. A log line cut short by a crash was never acknowledged: it is dropped.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::{Value, json};

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
    #[error("{path} is not a mockrig state file: {reason}")]
    NotAStateFile { path: String, reason: String },
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
    log: Mutex<File>,
}

impl WriteAheadLog {
    /// The log of `state_file`: `STATE.journal` beside it.
    pub(crate) fn path_for(state_file: &Path) -> PathBuf {
        let mut name = state_file.as_os_str().to_owned();
        name.push(".journal");
        PathBuf::from(name)
    }

    /// Opens (creating if needed) the state file's log and reads what was saved.
    pub(crate) fn open(
        state_file: &Path,
    ) -> Result<(WriteAheadLog, HashMap<String, Restored>), WalError> {
        let name = state_file.display().to_string();
        let mut restored: HashMap<String, Restored> = HashMap::new();
        match std::fs::read_to_string(state_file) {
            Ok(text) => {
                let doc: Value =
                    serde_json::from_str(&text).map_err(|e| WalError::NotAStateFile {
                        path: name.clone(),
                        reason: e.to_string(),
                    })?;
                let resources = doc["resources"].as_object().cloned().unwrap_or_default();
                for (res, saved) in resources {
                    let fingerprint = saved["fingerprint"]
                        .as_str()
                        .and_then(|h| u64::from_str_radix(h, 16).ok())
                        .unwrap_or_default();
                    restored.insert(
                        res,
                        Restored {
                            fingerprint,
                            data: saved["data"].clone(),
                            entries: Vec::new(),
                        },
                    );
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => return Err(WalError::Read { path: name, source }),
        }
        let journal_file = Self::path_for(state_file);
        match std::fs::read_to_string(&journal_file) {
            Ok(text) => {
                for line in text.lines() {
                    // A line cut short by a crash was never acknowledged; skip it.
                    let Ok(entry) = serde_json::from_str::<Value>(line) else {
                        continue;
                    };
                    let res = entry["resource"].as_str().unwrap_or_default();
                    let print = entry["fingerprint"]
                        .as_str()
                        .and_then(|h| u64::from_str_radix(h, 16).ok());
                    // An entry for another definition of the resource (written by a request
                    // still in flight across a re-seed) belongs to data nobody keeps.
                    if let Some(r) = restored.get_mut(res)
                        && print == Some(r.fingerprint)
                    {
                        r.entries.push(entry);
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(WalError::Read {
                    path: journal_file.display().to_string(),
                    source,
                });
            }
        }
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&journal_file)
            .map_err(|source| WalError::Open {
                path: journal_file.display().to_string(),
                source,
            })?;
        Ok((
            WriteAheadLog {
                state_file: state_file.to_owned(),
                log: Mutex::new(log),
            },
            restored,
        ))
    }

    /// Appends one change and waits until it is on disk. A failed append is cut off again, so
    /// it cannot leave half a line for the next one to follow.
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
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        let before = log.metadata()?.len();
        let result = log.write_all(&line).and_then(|()| log.sync_data());
        if result.is_err() {
            let _ = log.set_len(before);
        }
        result
    }

    /// Writes a new snapshot atomically and empties the log.
    pub(crate) fn compact(&self, stores: &HashMap<String, (u64, Value)>) -> io::Result<()> {
        let log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        let mut names: Vec<&String> = stores.keys().collect();
        names.sort();
        let resources: serde_json::Map<String, Value> = names
            .into_iter()
            .map(|n| {
                let (print, data) = &stores[n];
                (
                    n.clone(),
                    json!({"fingerprint": format!("{print:016x}"), "data": data}),
                )
            })
            .collect();
        let text = serde_json::to_vec_pretty(&json!({"version": 1, "resources": resources}))?;
        let mut tmp_name = self.state_file.as_os_str().to_owned();
        tmp_name.push(".tmp");
        let tmp = PathBuf::from(tmp_name);
        {
            let mut f = File::create(&tmp)?;
            f.write_all(&text)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &self.state_file)?;
        sync_dir(&self.state_file)?;
        // Only now is the log redundant; a crash before this line replays it over the new
        // snapshot, which its entries (whole records, deletes) leave unchanged.
        log.set_len(0)?;
        log.sync_all()?;
        Ok(())
    }
}

/// Flushes the folder entry of a renamed file, so the rename itself survives a crash.
fn sync_dir(file: &Path) -> io::Result<()> {
    let dir = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}
