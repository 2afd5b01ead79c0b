//! Confining file access to a root folder: the one check behind `file:` bodies and static
//! folders, so that neither `..`, an encoded `%2e%2e`, a backslash nor a symlink leads outside.

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
}
