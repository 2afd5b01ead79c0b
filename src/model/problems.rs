//! What the compiler collects instead of stopping: every problem of a spec, by key path, so
//! one run reports them all. The loader (`spec::load`) places them on their lines.

use std::path::PathBuf;

use crate::spec::Severity;
use crate::spec::locate::{KeyPath, Problem};

/// A problem in another file than the spec (an OpenAPI document or a file it refers to), at a
/// JSON pointer into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DocProblem {
    pub(crate) file: PathBuf,
    /// `/paths/~1pets/get`; empty for the whole file.
    pub(crate) pointer: String,
    pub(crate) message: String,
    pub(crate) severity: Severity,
}

/// The URL prefix of mockrig's own endpoints; spec routes may not claim it.
pub(crate) const RESERVED_PREFIX: &str = "/__mockrig";

/// The problems found so far.
#[derive(Debug, Default)]
pub(crate) struct Problems {
    list: Vec<Problem>,
    /// Problems in the OpenAPI document and its files.
    documents: Vec<DocProblem>,
    errors: usize,
}

impl Problems {
    fn push(&mut self, path: KeyPath, at_key: bool, message: String, severity: Severity) {
        if severity == Severity::Error {
            self.errors += 1;
        }
        self.list.push(Problem {
            path,
            at_key,
            message,
            severity,
            refer: None,
        });
    }

    /// A problem whose message names another item: `locate::PLACE` in `message` becomes where
    /// `other` is written (its file and line when that is another file).
    pub(crate) fn referring(
        &mut self,
        path: KeyPath,
        message: String,
        other: KeyPath,
        severity: Severity,
    ) {
        self.push(path, false, message, severity);
        if let Some(last) = self.list.last_mut() {
            last.refer = Some(other);
        }
    }

    /// An error in the value at `path`.
    pub(crate) fn value(&mut self, path: KeyPath, message: impl Into<String>) {
        self.push(path, false, message.into(), Severity::Error);
    }

    /// An error in the key at `path` itself (a key that should not be there).
    pub(crate) fn key(&mut self, path: KeyPath, message: impl Into<String>) {
        self.push(path, true, message.into(), Severity::Error);
    }

    /// Something that serves but probably does not do what was meant.
    pub(crate) fn warn(&mut self, path: KeyPath, message: impl Into<String>) {
        self.push(path, false, message.into(), Severity::Warning);
    }

    /// A position to compare with later: [`Problems::failed_since`].
    pub(crate) fn mark(&self) -> usize {
        self.errors
    }

    /// Whether an error was found since `mark`: the item being compiled is not served.
    pub(crate) fn failed_since(&self, mark: usize) -> bool {
        self.errors > mark
    }

    pub(crate) fn has_errors(&self) -> bool {
        self.errors > 0
    }

    /// Problems in a document the spec names.
    pub(crate) fn documents(&mut self, found: Vec<DocProblem>) {
        self.errors += found
            .iter()
            .filter(|p| p.severity == Severity::Error)
            .count();
        self.documents.extend(found);
    }

    #[cfg(test)]
    pub(crate) fn into_list(self) -> Vec<Problem> {
        self.list
    }

    /// The spec's problems and the documents'.
    pub(crate) fn into_parts(self) -> (Vec<Problem>, Vec<DocProblem>) {
        (self.list, self.documents)
    }
}

/// Paths under [`RESERVED_PREFIX`] belong to mockrig's own endpoints.
pub(crate) fn reserved(path: &str, key: KeyPath, problems: &mut Problems) {
    let p = path.trim_end_matches('/');
    if p == RESERVED_PREFIX || p.starts_with(&format!("{RESERVED_PREFIX}/")) {
        problems.value(
            key,
            format!(
                "'{path}' is under {RESERVED_PREFIX}/, which is reserved for mockrig's own endpoints"
            ),
        );
    }
}
