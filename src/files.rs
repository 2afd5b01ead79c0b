//! Files from outside: confined to a root folder (the one check behind `file:` bodies and
//! static folders, so that neither `..`, an encoded `%2e%2e`, a backslash nor a symlink leads
//! outside), read only when they are regular files of a bounded size, and replaced atomically.

use std::io;
use std::path::{Component, Path, PathBuf};

/// Why a path cannot be served.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FileError {
    #[error("'{0}' does not exist")]
    Missing(String),
    #[error("'{0}' resolves outside {1}")]
    Outside(String, String),
    #[error("'{0}' cannot be read: {1}")]
    Io(String, io::Error),
}

/// Resolves `relative` under `root` (already canonical) and proves the result stays inside it,
/// after following every symlink.
pub(crate) fn resolve_inside(
    root: &Path,
    relative: &str,
    root_name: &str,
) -> Result<PathBuf, FileError> {
    let outside = || FileError::Outside(relative.to_owned(), root_name.to_owned());
    // Refuse on the text first: a backslash is a separator on Windows and never a name we
    // would write in a spec, and `..` must not probe for files outside even when missing.
    if relative.contains('\\') || relative.contains('\0') {
        return Err(outside());
    }
    let rel = Path::new(relative);
    if rel
        .components()
        .any(|c| matches!(c, Component::ParentDir | Component::Prefix(_)))
    {
        return Err(outside());
    }
    let joined = root.join(rel);
    let canonical = joined.canonicalize().map_err(|e| match e.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => {
            FileError::Missing(relative.to_owned())
        }
        _ => FileError::Io(relative.to_owned(), e),
    })?;
    if canonical.starts_with(root) {
        Ok(canonical)
    } else {
        Err(outside())
    }
}

/// The largest spec or seed file mockrig reads: far beyond any hand-written mock (a 100,000-route
/// spec is a few MiB), small enough that a wrong file cannot take the memory.
pub(crate) const INPUT_CAP: u64 = 64 * 1024 * 1024;

/// The bytes of a regular file of at most `cap` bytes. Anything else is refused before a byte
/// is read: a FIFO would block the reader forever, a link to `/dev/zero` would never end.
pub(crate) fn read_regular(path: &Path, cap: u64) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let refuse = |why: String| io::Error::new(io::ErrorKind::InvalidInput, why);
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        return Err(refuse("not a regular file".into()));
    }
    if meta.len() > cap {
        return Err(refuse(format!("larger than {cap} bytes")));
    }
    // Opened without blocking (a FIFO swapped in after the check would otherwise block the
    // open itself until a writer came), then checked again on what was opened.
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path)?;
    if !file.metadata()?.is_file() {
        return Err(refuse("not a regular file".into()));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(cap.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > cap {
        return Err(refuse(format!("larger than {cap} bytes")));
    }
    Ok(bytes)
}

/// [`read_regular`] as UTF-8 text.
pub(crate) fn read_regular_text(path: &Path, cap: u64) -> io::Result<String> {
    String::from_utf8(read_regular(path, cap)?)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not UTF-8 text"))
}

/// Replaces `path` with `bytes` so that a reader sees the old content or the new, never half:
/// written to a new file of a random name beside it (created exclusively, so a link planted
/// under that name is not followed), flushed, then renamed over it, and the folder flushed.
pub(crate) fn replace_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}.{:016x}.tmp", rand::random::<u64>()));
    let written = (|| {
        let mut f = create_exclusive(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
        return written;
    }
    // The rename itself survives a crash only once the folder's entry is on disk.
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

/// A new file at `path`, never an existing one: a link planted there is refused, not
/// followed.
fn create_exclusive(path: &Path) -> io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stays_inside() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::create_dir(root.join("pub")).unwrap();
        std::fs::write(root.join("pub/a.txt"), "a").unwrap();
        std::fs::write(root.join("secret.txt"), "s").unwrap();
        let pubdir = root.join("pub");
        assert!(resolve_inside(&pubdir, "a.txt", "pub").is_ok());
        assert!(matches!(
            resolve_inside(&pubdir, "../secret.txt", "pub"),
            Err(FileError::Outside(..))
        ));
        assert!(matches!(
            resolve_inside(&pubdir, "..\\secret.txt", "pub"),
            Err(FileError::Outside(..))
        ));
        assert!(matches!(
            resolve_inside(&pubdir, "/etc/passwd", "pub"),
            Err(FileError::Outside(..))
        ));
        assert!(matches!(
            resolve_inside(&pubdir, "nope.txt", "pub"),
            Err(FileError::Missing(..))
        ));
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(root.join("secret.txt"), pubdir.join("link")).unwrap();
            assert!(matches!(
                resolve_inside(&pubdir, "link", "pub"),
                Err(FileError::Outside(..))
            ));
        }
    }

    #[cfg(unix)]
    #[test]
    fn only_regular_files_of_a_bounded_size_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.txt");
        std::fs::write(&file, "hello").unwrap();
        assert_eq!(read_regular(&file, 5).unwrap(), b"hello");
        assert!(read_regular(&file, 4).is_err(), "over the cap");
        assert!(read_regular(dir.path(), 100).is_err(), "a folder");
        let zero = dir.path().join("zero");
        std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
        assert!(read_regular(&zero, 100).is_err(), "a device behind a link");
        let fifo = dir.path().join("fifo");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        assert!(
            read_regular(&fifo, 100).is_err(),
            "a FIFO, refused without blocking"
        );
    }

    #[cfg(unix)]
    #[test]
    fn an_atomic_replace_does_not_follow_a_planted_link() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        let target = dir.path().join("ready");
        // The old fixed temporary name, planted as a link to the victim.
        std::os::unix::fs::symlink(&victim, dir.path().join("ready.tmp")).unwrap();
        replace_atomically(&target, b"http://127.0.0.1:1").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        assert_eq!(
            std::fs::read_to_string(&target).unwrap(),
            "http://127.0.0.1:1"
        );
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 3, "no temporary file is left behind");
        // Whatever name a temporary file gets, one planted under it is refused, not followed.
        let planted = dir.path().join(".ready.0000000000000001.tmp");
        std::os::unix::fs::symlink(&victim, &planted).unwrap();
        assert!(create_exclusive(&planted).is_err());
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
    }
}
