//! The files mockrig writes and never serves, named once and compared by canonical path.

use std::path::{Path, PathBuf};

/// The files mockrig writes beside the spec and never serves, whatever a `static` folder or a
/// `file:` says: the state file, its log and the ready file hold the mock's data and address.
#[derive(Debug, Clone, Default)]
pub(crate) struct PrivateFiles {
    /// What each is ("the state file") and its canonical path.
    list: Vec<(&'static str, PathBuf)>,
}

impl PrivateFiles {
    /// The files named, by what each is; a file that does not exist yet is placed by its
    /// folder.
    pub(crate) fn new<'p>(files: impl IntoIterator<Item = (&'static str, &'p Path)>) -> Self {
        PrivateFiles {
            list: files
                .into_iter()
                .filter_map(|(what, path)| Some((what, canonical(path)?)))
                .collect(),
        }
    }

    /// What `path` (canonical) is, when it is one of the files.
    pub(crate) fn which(&self, path: &Path) -> Option<&'static str> {
        self.list
            .iter()
            .find(|(_, p)| p == path)
            .map(|(what, _)| *what)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &(&'static str, PathBuf)> {
        self.list.iter()
    }
}

/// `path` with every link resolved; for a file not there yet, its folder's.
pub(crate) fn canonical(path: &Path) -> Option<PathBuf> {
    path.canonicalize().ok().or_else(|| {
        let parent = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        Some(parent.canonicalize().ok()?.join(path.file_name()?))
    })
}
