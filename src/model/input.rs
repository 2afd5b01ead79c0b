//! What a compile pass reads: the spec, its folder, the stubs, and what the loader knows of
//! the items it could not read.

use std::path::Path;

use crate::spec::Spec;
use crate::spec::load::FileIndices;

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
    /// The index in the file of each item, when the loader left some out.
    pub(crate) file_indices: &'a FileIndices,
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
    /// Item `i` of list `list` with the index it has in the file.
    pub(crate) fn numbered<'s, T>(
        &self,
        list: &'static str,
        items: &'s [T],
    ) -> impl Iterator<Item = (usize, &'s T)> + use<'s, T> {
        let file_indices = self.file_indices.clone();
        items
            .iter()
            .enumerate()
            .map(move |(i, item)| (file_indices.index(list, i), item))
    }
}
