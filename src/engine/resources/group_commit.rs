//! Group commit for the state file's write-ahead log: writers append lines to a queue and wait
//! (without a worker thread) until the line is on disk; one thread writes whatever queued up
//! meanwhile and makes it durable with one `fdatasync`. With many clients writing at once the
//! cost of a sync is shared by every write that arrived during the last one.
//!
//! A write that fails leaves the changes of its group in memory but not on disk, and the page
//! cache's view of the file can no longer be trusted (a later fsync may report success for
//! data that was dropped). So the log breaks for good: every waiter of that group and every
//! later append is refused, and a restart reads the file as it was last saved.

use std::fs::File;
use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use tokio::sync::watch;

use crate::sync::lock;

/// Lines appended to a log file, made durable in groups by a thread of their own.
pub(crate) struct GroupCommit {
    inner: Arc<Inner>,
    writer: Option<JoinHandle<()>>,
}

struct Inner {
    file: Mutex<File>,
    queue: Mutex<Queue>,
    wake: Condvar,
    synced: watch::Sender<Synced>,
}

#[derive(Default)]
struct Queue {
    /// Lines appended and not yet written.
    lines: Vec<u8>,
    /// How many appends there were: the number an append's waiter waits for.
    appended: u64,
    closed: bool,
    broken: Option<Arc<str>>,
    /// Groups written so far (for tests and the benchmark's curiosity).
    groups: u64,
}

/// What is on disk: every append up to `upto`; nothing more once `broken`.
#[derive(Default, Clone)]
struct Synced {
    upto: u64,
    broken: Option<Arc<str>>,
}

fn broken_error(cause: &str) -> io::Error {
    io::Error::other(format!(
        "the state file's log could not be written ({cause}); writes are refused until \
         mockrig restarts, which reads the state as it was last saved"
    ))
}

impl GroupCommit {
    /// Starts the writer of `file` (opened for appending).
    pub(crate) fn start(file: File) -> io::Result<GroupCommit> {
        let inner = Arc::new(Inner {
            file: Mutex::new(file),
            queue: Mutex::new(Queue::default()),
            wake: Condvar::new(),
            synced: watch::Sender::new(Synced::default()),
        });
        let writer = {
            let inner = inner.clone();
            std::thread::Builder::new()
                .name("mockrig-state-log".into())
                .spawn(move || inner.run())?
        };
        Ok(GroupCommit {
            inner,
            writer: Some(writer),
        })
    }

    /// Queues `line` (which ends in a newline). Called under the lock that orders the changes,
    /// so lines reach the file in the order the changes were made. Refused once the log broke.
    pub(crate) fn append(&self, line: &[u8]) -> io::Result<()> {
        let mut q = lock(&self.inner.queue);
        if let Some(cause) = &q.broken {
            return Err(broken_error(cause));
        }
        q.lines.extend_from_slice(line);
        q.appended += 1;
        drop(q);
        self.inner.wake.notify_one();
        Ok(())
    }

    /// Waits until every line appended so far is on disk (a task waits, not a thread).
    pub(crate) fn synced(&self) -> impl Future<Output = io::Result<()>> + use<> {
        let ticket = lock(&self.inner.queue).appended;
        let mut on_disk = self.inner.synced.subscribe();
        async move {
            let state = on_disk
                .wait_for(|s| s.upto >= ticket || s.broken.is_some())
                .await
                .map_err(|_| io::Error::other("the state file's log was closed"))?;
            match &state.broken {
                Some(cause) if state.upto < ticket => Err(broken_error(cause)),
                _ => Ok(()),
            }
        }
    }

    /// Runs `f` on the file with everything queued before written first, and no group written
    /// meanwhile (a snapshot and the log's truncation).
    pub(crate) fn with_file<R>(&self, f: impl FnOnce(&mut File) -> io::Result<R>) -> io::Result<R> {
        let mut file = lock(&self.inner.file);
        self.inner.write_group(&mut file)?;
        f(&mut file)
    }

    /// Groups written so far.
    #[cfg(test)]
    fn groups(&self) -> u64 {
        lock(&self.inner.queue).groups
    }
}

impl Inner {
    fn run(&self) {
        loop {
            {
                let mut q = lock(&self.queue);
                while q.lines.is_empty() && !q.closed {
                    q = self
                        .wake
                        .wait(q)
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                }
                if q.lines.is_empty() {
                    return;
                }
            }
            // The file first, then the queue: a snapshot (`with_file`) holds the file while it
            // takes the queue, so no group can be taken and written after a truncation.
            let mut file = lock(&self.file);
            if self.write_group(&mut file).is_err() {
                return;
            }
        }
    }

    /// Writes and syncs what is queued, then tells its waiters.
    fn write_group(&self, file: &mut File) -> io::Result<()> {
        let (lines, upto) = {
            let mut q = lock(&self.queue);
            if let Some(cause) = &q.broken {
                return Err(broken_error(cause));
            }
            if q.lines.is_empty() {
                return Ok(());
            }
            q.groups += 1;
            (std::mem::take(&mut q.lines), q.appended)
        };
        let before = file.metadata().map(|m| m.len());
        let result = file.write_all(&lines).and_then(|()| file.sync_data());
        match result {
            Ok(()) => {
                self.synced.send_modify(|s| s.upto = upto);
                Ok(())
            }
            Err(e) => {
                // No half line for a restart to trip over: what this group wrote is cut off.
                if let Ok(len) = before {
                    let _ = file.set_len(len).and_then(|()| file.sync_all());
                }
                let cause: Arc<str> = e.to_string().into();
                tracing::error!("{}", broken_error(&cause));
                lock(&self.queue).broken = Some(cause.clone());
                self.synced.send_modify(|s| s.broken = Some(cause));
                Err(e)
            }
        }
    }
}

impl Drop for GroupCommit {
    /// Writes what is queued before the file closes.
    fn drop(&mut self) {
        lock(&self.inner.queue).closed = true;
        self.inner.wake.notify_one();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_in(dir: &std::path::Path) -> (std::path::PathBuf, GroupCommit) {
        let path = dir.join("log");
        let file = File::options()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap();
        (path, GroupCommit::start(file).unwrap())
    }

    #[test]
    fn writes_that_arrive_together_share_a_sync_and_all_are_on_disk_when_answered() {
        let dir = tempfile::tempdir().unwrap();
        let (path, log) = log_in(dir.path());
        let log = Arc::new(log);
        // 16 threads append 50 lines each, waiting for each to be on disk before the next.
        let threads: Vec<_> = (0..16)
            .map(|t| {
                let log = log.clone();
                let path = path.clone();
                std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .build()
                        .unwrap();
                    for i in 0..50 {
                        let line = format!("{t}-{i}\n");
                        log.append(line.as_bytes()).unwrap();
                        rt.block_on(log.synced()).unwrap();
                        // Answered only once it is in the file.
                        let text = std::fs::read_to_string(&path).unwrap();
                        assert!(text.lines().any(|l| l == line.trim_end()), "{line}");
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 800);
        // Each thread's lines in its own order.
        for t in 0..16 {
            let mine: Vec<_> = text
                .lines()
                .filter(|l| l.starts_with(&format!("{t}-")))
                .collect();
            let expected: Vec<_> = (0..50).map(|i| format!("{t}-{i}")).collect();
            assert_eq!(mine, expected);
        }
        assert!(
            log.groups() < 800,
            "{} syncs for 800 lines written 16 at a time",
            log.groups()
        );
    }

    #[tokio::test]
    async fn a_failed_write_refuses_its_waiters_and_every_later_append() {
        // Every write to /dev/full fails with "no space left on device".
        let Ok(full) = File::options().append(true).open("/dev/full") else {
            return;
        };
        let log = GroupCommit::start(full).unwrap();
        log.append(b"one\n").unwrap();
        let e = log.synced().await.unwrap_err().to_string();
        assert!(e.contains("could not be written"), "{e}");
        assert!(e.contains("No space left"), "{e}");
        let e = log.append(b"two\n").unwrap_err().to_string();
        assert!(
            e.contains("writes are refused until mockrig restarts"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn nothing_appended_is_synced_at_once_and_a_snapshot_writes_the_queue_first() {
        let dir = tempfile::tempdir().unwrap();
        let (path, log) = log_in(dir.path());
        log.synced().await.unwrap();
        log.append(b"queued\n").unwrap();
        let len = log.with_file(|f| Ok(f.metadata()?.len())).unwrap();
        assert_eq!(
            len, 7,
            "the queued line was written before the snapshot ran"
        );
        log.synced().await.unwrap();
        drop(log);
        assert_eq!(std::fs::read_to_string(path).unwrap(), "queued\n");
    }
}
