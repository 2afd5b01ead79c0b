//! OpenAPI 3.x documents: read (every file their `$ref`s reach), compiled once into operations
//! that answer like the spec's own routes, beneath them.
//!
//! `document` reads and follows references, `schema` makes each schema self-contained in
//! JSON Schema 2020-12, `operation` and `responses` compile what an operation matches and
//! answers, `generate` writes values from schemas and `params` reads parameters in their
//! serialisation styles.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use crate::hash::fnv1a;
use crate::spec::OpenApi;

use super::problems::DocProblem;

pub(crate) mod collections;
pub(crate) mod document;
pub(crate) mod generate;
pub(crate) mod operation;
pub(crate) mod params;
mod pass;
pub(crate) mod responses;
pub(crate) mod schema;

use document::Documents;
use operation::{METHODS, Operation, route_pattern};
use pass::DocPass;

/// A document, compiled.
#[derive(Debug)]
pub(crate) struct OpenApiModel {
    /// The `openapi:` settings it was compiled with.
    pub(crate) settings: OpenApi,
    /// Every file read for it: what a reload watches.
    pub(crate) files: Vec<PathBuf>,
    /// A fingerprint of every file's bytes: a reload that finds the same compiles nothing.
    pub(crate) fingerprint: u64,
    pub(crate) operations: Vec<Arc<Operation>>,
    /// With `resources: true`: the collections served as resources.
    pub(crate) collections: Vec<collections::Collection>,
}

/// Compiles the document `settings` names (relative to `dir`). `known`: what the serving spec
/// compiled its document to, reused when neither the settings nor a file changed. Problems in
/// the document go to `problems` (by file and JSON pointer); `Err` is a `file` that is no
/// file, which the caller reports at `openapi.file`.
pub(crate) fn compile(
    settings: &OpenApi,
    dir: &Path,
    known: Option<&Arc<OpenApiModel>>,
    problems: &mut Vec<DocProblem>,
) -> Result<Option<Arc<OpenApiModel>>, String> {
    // The contract often lives beside the mock rather than inside its folder (another
    // repository, a shared `contracts/`): any path the spec names is read, relative to it.
    let file = dir.join(&settings.file);
    if !file.is_file() {
        return Err(format!("'{}' is not a file", settings.file));
    }
    if let Some(known) = known
        && known.settings == *settings
        && known.fingerprint == fingerprint(&known.files)
    {
        return Ok(Some(known.clone()));
    }
    let docs = match Documents::load(&file) {
        Ok(d) => d,
        Err(fatal) => {
            problems.push(fatal);
            return Ok(None);
        }
    };
    let mut pass = DocPass {
        docs: &docs,
        problems: Vec::new(),
    };
    let operations = operations(&mut pass, settings);
    let failed = pass
        .problems
        .iter()
        .any(|p| p.severity == crate::spec::Severity::Error);
    problems.append(&mut pass.problems);
    if failed {
        return Ok(None);
    }
    let files = docs.files();
    let collections = if settings.resources {
        collections::find(&operations)
    } else {
        Vec::new()
    };
    Ok(Some(Arc::new(OpenApiModel {
        settings: settings.clone(),
        fingerprint: fingerprint(&files),
        files,
        operations,
        collections,
    })))
}

/// The document's operations, in the order of `paths`, each method in the order of
/// [`METHODS`].
fn operations(pass: &mut DocPass<'_>, settings: &OpenApi) -> Vec<Arc<Operation>> {
    let top = pass.docs.top();
    let paths_at = top.child("paths");
    let paths = match pass.docs.get(&paths_at) {
        Some(Value::Object(p)) => p.keys().cloned().collect::<Vec<_>>(),
        Some(_) => {
            pass.error(
                &paths_at,
                "`paths` must be a mapping of paths to operations",
            );
            return Vec::new();
        }
        // 3.1 allows a document of webhooks or components only.
        None => Vec::new(),
    };
    let mut out = Vec::new();
    for path in paths {
        let item_at = paths_at.child(&path);
        if !path.starts_with('/') {
            if !path.starts_with("x-") {
                pass.error(&item_at, format!("'{path}' must start with '/'"));
            }
            continue;
        }
        let route = match route_pattern(&path) {
            Ok(r) => r,
            Err(why) => {
                pass.error(&item_at, why);
                continue;
            }
        };
        let Some((item, item_value)) = pass.deref(&item_at) else {
            continue;
        };
        for (name, method) in METHODS {
            if item_value.get(*name).is_none() {
                continue;
            }
            // An operation may itself be a reference into another file.
            let Some((op_at, op)) = pass.deref(&item.child(name)) else {
                continue;
            };
            let id = op.get("operationId").and_then(Value::as_str);
            let label = match id {
                Some(id) => format!("{} {path} ({id})", name.to_ascii_uppercase()),
                None => format!("{} {path}", name.to_ascii_uppercase()),
            };
            let params = pass.params(&item, &op_at);
            let body = pass.body(&op_at);
            let security = pass.security(&op_at);
            let responses = pass.responses(&op_at);
            out.push(Arc::new(Operation {
                label,
                method: *method,
                path: path.clone(),
                pattern: route.pattern.clone(),
                affixes: route.affixes.clone(),
                path_names: route.names.clone(),
                params,
                body,
                security,
                responses,
                validate: settings.validate,
                dynamic: settings.dynamic,
            }));
        }
    }
    out
}

/// A cheap fingerprint of files: their sizes and modification times.
fn fingerprint(files: &[PathBuf]) -> u64 {
    let mut h = 0u64;
    for f in files {
        h = fnv1a(f.as_os_str().as_encoded_bytes(), h);
        if let Ok(m) = std::fs::metadata(f) {
            h = fnv1a(&m.len().to_le_bytes(), h);
            let mtime = m
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos() as u64);
            h = fnv1a(&mtime.to_le_bytes(), h);
        }
    }
    h
}
