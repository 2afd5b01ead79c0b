//! Where the items of a spec joined from several files (`include:`) were written: which file
//! and which index in it, so that a problem found in the joined spec is placed where a person
//! fixes it.

use std::collections::HashMap;
use std::path::PathBuf;

use super::locate::{KeyPath, Seg, index};
use super::report::Diagnostic;

/// A file joined into the spec by `include:`.
#[derive(Debug, Clone)]
pub(crate) struct Part {
    /// As reports name it: the spec's folder as the user gave it, then the path inside it.
    pub(crate) name: String,
    /// Canonical.
    pub(crate) path: PathBuf,
    pub(crate) text: String,
    /// Its problems found while reading and joining, located in it.
    pub(crate) problems: Vec<Diagnostic>,
}

/// Where each item of a joined spec was written: which file (0 is the main spec, `n` is
/// `parts[n - 1]`) and its index in that file's list.
#[derive(Debug, Default, Clone)]
pub(crate) struct Origins {
    /// For each list (`routes`, `static`, …) with items from other files or items the loader
    /// left out: (file, index in file) of each item of the joined list. A list not here is the
    /// main spec's, as written.
    pub(crate) lists: Vec<(&'static str, Vec<(usize, usize)>)>,
    /// The file of each resource not written in the main spec.
    pub(crate) resources: HashMap<String, usize>,
    /// Each included file's path inside the spec's folder, for labels (`routes/a.yaml`).
    pub(crate) files: Vec<String>,
}

/// The top-level lists whose items are joined in order.
pub(crate) const LISTS: [&str; 4] = ["routes", "websockets", "sse", "static"];

impl Origins {
    /// The file and the index in it of item `i` of the joined list `list`.
    pub(crate) fn place(&self, list: &str, i: usize) -> (usize, usize) {
        self.lists
            .iter()
            .find(|(name, _)| *name == list)
            .and_then(|(_, places)| places.get(i).copied())
            .unwrap_or((0, i))
    }

    /// How logs and the journal name item `i` of `list`: `routes[3]` in the main spec,
    /// `routes/users.yaml:routes[0]` in an included file.
    pub(crate) fn label(&self, list: &str, i: usize) -> String {
        match self.place(list, i) {
            (0, j) => format!("{list}[{j}]"),
            (f, j) => format!("{}:{list}[{j}]", self.files[f - 1]),
        }
    }

    /// A key path into the joined spec as the file it points into and the path in that file.
    pub(crate) fn split(&self, path: &[Seg]) -> (usize, KeyPath) {
        match path {
            [Seg::Key(list), Seg::Index(i), rest @ ..] => {
                let Some(list) = LISTS.iter().find(|l| **l == list) else {
                    return (0, path.to_vec());
                };
                let (file, j) = self.place(list, *i);
                let mut local = index(&[Seg::Key((*list).into())], j);
                local.extend_from_slice(rest);
                (file, local)
            }
            [Seg::Key(r), Seg::Key(name), ..] if r == "resources" => (
                self.resources.get(name).copied().unwrap_or(0),
                path.to_vec(),
            ),
            _ => (0, path.to_vec()),
        }
    }
}
