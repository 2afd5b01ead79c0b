//! `mockrig check`: compile and discard. Every error and warning of a spec in one run, exactly
//! as a reload would find them, without serving anything.

use std::path::Path;

use crate::model::build::{Known, build};
use crate::model::private::PrivateFiles;
use crate::spec::include::parse_source;
use crate::spec::load::SpecSource;
use crate::spec::{LoadError, SpecReport};

/// A spec that can be served: what it declares, and its warnings.
#[derive(Debug)]
pub struct Checked {
    /// One line: how many routes, resources, static folders and channels.
    pub summary: String,
    /// The warnings, located; empty when there are none.
    pub warnings: SpecReport,
}

/// Checks the spec file at `path`. Err: it cannot be read, or every error it has.
pub fn check_file(path: &Path) -> Result<Checked, LoadError> {
    checked(SpecSource::read(path)?)
}

/// Checks spec text as if it were the file `path` (whose folder is where the files it names
/// are looked up).
pub fn check_text(text: &str, path: &Path) -> Result<Checked, LoadError> {
    checked(SpecSource::from_text(path, text.to_owned())?)
}

fn checked(source: SpecSource) -> Result<Checked, LoadError> {
    let parsed = parse_source(&source);
    let built = build(
        &source,
        &parsed,
        &[],
        &PrivateFiles::default(),
        Known::default(),
        crate::template::bounds::DEFAULT_BUDGET,
    );
    if built.compiled.is_none() {
        return Err(LoadError::Invalid(built.report));
    }
    Ok(Checked {
        summary: built.summary(&parsed.spec),
        warnings: built.report,
    })
}
