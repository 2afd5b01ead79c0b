//! What compiling one document shares: the files, the problems found so far, and the step a
//! request's schema takes (bundled, then compiled into a validator; a response's schema is
//! only bundled, for generating values).

use std::sync::Arc;

use serde_json::Value;

use super::document::{Documents, Place};
use super::schema::{Direction, bundle};
use crate::model::problems::DocProblem;

/// A schema bundled into one value, with its compiled validator.
pub(crate) struct Checked {
    pub(crate) schema: Arc<Value>,
    pub(crate) validator: jsonschema::Validator,
}

impl std::fmt::Debug for Checked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checked")
            .field("schema", &self.schema)
            .finish()
    }
}

/// The problems found while compiling one document.
pub(crate) struct DocPass<'d> {
    pub(crate) docs: &'d Documents,
    pub(crate) problems: Vec<DocProblem>,
}

impl DocPass<'_> {
    pub(crate) fn error(&mut self, at: &Place, message: impl Into<String>) {
        self.problems.push(DocProblem {
            file: self.docs.path(at.file).to_path_buf(),
            pointer: at.pointer.clone(),
            message: message.into(),
            severity: crate::spec::Severity::Error,
        });
    }

    pub(crate) fn warn(&mut self, at: &Place, message: impl Into<String>) {
        self.problems.push(DocProblem {
            file: self.docs.path(at.file).to_path_buf(),
            pointer: at.pointer.clone(),
            message: message.into(),
            severity: crate::spec::Severity::Warning,
        });
    }

    /// The value at `place` with references followed; a broken reference is reported.
    pub(crate) fn deref(&mut self, place: &Place) -> Option<(Place, Value)> {
        match self.docs.deref(place) {
            Ok((p, v)) => Some((p, v.clone())),
            Err(why) => {
                self.error(&place.child("$ref"), why);
                None
            }
        }
    }

    /// The schema at `place`, bundled and compiled.
    pub(crate) fn checked(&mut self, place: &Place, direction: Direction) -> Option<Checked> {
        let (schema, broken) = bundle(self.docs, place, direction);
        let failed = !broken.is_empty();
        for (at, why) in broken {
            self.error(&at, why);
        }
        if failed {
            return None;
        }
        match jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .should_validate_formats(true)
            .should_ignore_unknown_formats(true)
            .build(&schema)
        {
            Ok(validator) => Some(Checked {
                schema: Arc::new(schema),
                validator,
            }),
            Err(e) => {
                // The validator checks the schema as an instance of the meta-schema: its
                // path is where in the schema the mistake is, when that is inline (a path
                // into `$defs` is into a copy of another place).
                let inner = e.instance_path().as_str();
                let at = if inner.is_empty() || inner.starts_with("/$defs") {
                    place.clone()
                } else {
                    Place {
                        file: place.file,
                        pointer: format!("{}{inner}", place.pointer),
                    }
                };
                self.error(&at, format!("the schema cannot be compiled: {e}"));
                None
            }
        }
    }
}
