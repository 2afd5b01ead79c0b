//! What a compile pass reads: the spec, its folder, the stubs, and what the loader knows of
//! the items it could not read.

use std::path::Path;

use crate::spec::Spec;
use crate::spec::origins::Origins;

use super::compiled::Stub;
use super::private::PrivateFiles;
use super::resource::ResourceDef;

/// What a compile pass reads besides the spec.
pub(crate) struct CompileInput<'a> {
    pub(crate) spec: &'a Spec,
    /// The spec's canonical folder: the root of every file it names.
    pub(crate) dir: &'a Path,
    /// The spec file, which no static folder should serve.
    pub(crate) spec_file: Option<&'a Path>,
    /// The files mockrig writes, which nothing serves.
    pub(crate) private: &'a PrivateFiles,
    /// Routes added at run time; they go in front of the spec's.
    pub(crate) stubs: &'a [Stub],
    /// Paths of channels the loader could not read (`spec::load::Parsed`): emits to them are
    /// not dangling, only unchecked.
    pub(crate) unread_channels: &'a [(&'static str, String)],
    /// Where each item was written (which file, its index there): key paths stay those of
    /// the joined spec, and `model::build` places them in their files.
    pub(crate) origins: &'a Origins,
    /// The resources this same spec compiled to before, when only the stubs changed: reused
    /// as they are, so a stub added reads no seed file again (one that changed on disk since
    /// would otherwise replace the data without a reload).
    pub(crate) known_resources: &'a [ResourceDef],
    /// The document this same spec compiled to before: reused when no file of it changed.
    pub(crate) known_openapi: Option<&'a std::sync::Arc<super::openapi::OpenApiModel>>,
    /// The bytes one response's templates may render (`--max-template-bytes`).
    pub(crate) template_budget: usize,
}

impl CompileInput<'_> {
    /// How logs name item `i` of list `list`: `routes[3]`, or `routes/a.yaml:routes[0]` for
    /// an item of an included file.
    pub(crate) fn label(&self, list: &str, i: usize) -> String {
        self.origins.label(list, i)
    }
}
