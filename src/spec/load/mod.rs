//! Reading a spec: the only place that calls serde_yaml.
//!
//! Valid files take the fast path: serde_yaml straight into the types. Only when that fails is
//! the file parsed a second time with saphyr, whose recovering pass (`recover`) reads each
//! top-level item on its own and reports every problem rather than the first; the items it can
//! read go on to be compiled, so one broken route does not hide a bad status three routes
//! further down. Problems found later, in the typed spec, are placed on their lines by
//! [`locate_problems`], which parses with saphyr only when there is something to place.

use std::path::{Path, PathBuf};

use saphyr::{LoadableYamlNode, MarkedYaml, YamlData};

use crate::files::{INPUT_CAP, read_regular_text};

use super::fields::fields_of;
use super::locate::{self, KeyPath, Problem, Seg, display_path, key_text, untag};
use super::openapi::{OpenApi, looks_like_document};
use super::origins::{Origins, Part};
use super::realtime::{SseStream, WebSocket};
use super::recover::{Found, recover};
use super::report::{Diagnostic, Severity, SpecReport};
use super::types::{Resource, Route, ServerSettings, Spec, StaticMount};

/// A spec file as read from disk.
#[derive(Debug, Clone)]
pub(crate) struct SpecSource {
    /// The path as the user gave it.
    pub(crate) file: PathBuf,
    /// The spec's folder, canonical: the root for `file:` and `static:` paths.
    pub(crate) dir: PathBuf,
    pub(crate) text: String,
}

/// Why a spec could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file (or its folder) cannot be read.
    #[error("cannot read {0}: {1}")]
    Read(String, std::io::Error),
    /// The spec has errors; the report locates every one.
    #[error("{0}")]
    Invalid(SpecReport),
}

impl SpecSource {
    /// Reads the spec file `file`.
    pub(crate) fn read(file: &Path) -> Result<SpecSource, LoadError> {
        let text = read_regular_text(file, INPUT_CAP)
            .map_err(|e| LoadError::Read(file.display().to_string(), e))?;
        SpecSource::from_text(file, text)
    }

    /// The spec file `file` with the text already read (e.g. by the watcher).
    pub(crate) fn from_text(file: &Path, text: String) -> Result<SpecSource, LoadError> {
        let dir = match file.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        }
        .canonicalize()
        .map_err(|e| LoadError::Read(file.display().to_string(), e))?;
        Ok(SpecSource {
            file: file.to_owned(),
            dir,
            text,
        })
    }

    /// The name problems are reported under: the path as the user gave it.
    pub(crate) fn name(&self) -> String {
        self.file.display().to_string()
    }

    /// A report of `diagnostics` (sorted by position) against this file's text.
    pub(crate) fn report(&self, mut diagnostics: Vec<Diagnostic>) -> SpecReport {
        diagnostics.sort_by_key(|d| (d.line, d.column, d.severity));
        SpecReport {
            file: self.name(),
            source: self.text.clone(),
            diagnostics,
            others: Vec::new(),
        }
    }
}

/// A spec as far as it could be read.
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    /// The spec, without the items that could not be read.
    pub(crate) spec: Spec,
    /// Why items could not be read, located.
    pub(crate) problems: Vec<Diagnostic>,
    /// The `path` of every WebSocket (`websockets`) and SSE (`sse`) item left out for its
    /// errors, where it could be read: references to them are not reported as dangling.
    pub(crate) unread_channels: Vec<(&'static str, String)>,
    /// Where the items that were read sit in their lists, once some were left out.
    pub(crate) file_indices: FileIndices,
    /// The files `include:` joined in, in order, with their own problems.
    pub(crate) parts: Vec<Part>,
    /// Which file, at which index, each item of the joined spec comes from.
    pub(crate) origins: Origins,
    /// The folders `include:` globs searched (canonical): a file added there may be included.
    pub(crate) searched: Vec<PathBuf>,
}

/// The index in the file of each item read, for the lists that lost items: problems found
/// later are reported at the file's index, not the read spec's.
#[derive(Debug, Default, Clone)]
pub(crate) struct FileIndices {
    lists: Vec<(&'static str, Vec<usize>)>,
}

impl FileIndices {
    /// The index in the file of item `i` of list `list` (`routes`, `static`, …).
    pub(crate) fn index(&self, list: &str, i: usize) -> usize {
        self.lists
            .iter()
            .find(|(name, _)| *name == list)
            .and_then(|(_, kept)| kept.get(i).copied())
            .unwrap_or(i)
    }

    fn note(&mut self, list: &'static str, kept: Vec<usize>) {
        if kept.iter().enumerate().any(|(i, k)| i != *k) {
            self.lists.push((list, kept));
        }
    }
}

/// A file given in place of a spec that is no spec: an OpenAPI document, as a spec holding
/// only `openapi: { file: <itself> }`, or a json-server database, as its resources; `None`
/// for a spec.
pub(crate) fn parse_document(source: &SpecSource) -> Option<Parsed> {
    let name = source
        .file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let spec = if looks_like_document(&source.text) {
        Spec {
            openapi: Some(OpenApi::document(name)),
            ..Spec::default()
        }
    } else {
        super::db::as_spec(&name, &source.text)?
    };
    Some(Parsed {
        spec,
        ..Parsed::default()
    })
}

/// Parses spec text. Never fails: what cannot be read is in `problems`.
pub(crate) fn parse(text: &str) -> Parsed {
    match serde_yaml::from_str::<Spec>(text) {
        Ok(spec) => Parsed {
            spec,
            ..Parsed::default()
        },
        Err(e) => parse_broken(text, &e),
    }
}

/// Every error of a file that serde_yaml rejected, and what of it can be read.
fn parse_broken(text: &str, e: &serde_yaml::Error) -> Parsed {
    let fallback = || Parsed {
        problems: vec![serde_yaml_diagnostic(e)],
        ..Parsed::default()
    };
    let docs = match MarkedYaml::load_from_str(text) {
        Ok(docs) => docs,
        Err(scan) => {
            return Parsed {
                problems: vec![scan_diagnostic(&scan, text)],
                ..Parsed::default()
            };
        }
    };
    let Some(doc) = docs.first() else {
        return fallback();
    };
    let mut parsed = recover_spec(doc);
    if parsed.problems.is_empty() {
        // The two parsers disagree about this file; trust the one that loads it.
        return fallback();
    }
    parsed.problems.sort_by_key(|d| (d.line, d.column));
    parsed
}

/// Reads the top-level mapping one item at a time, so each broken item costs one recovering
/// pass of its own size: a file with thousands of broken routes is checked in linear time.
fn recover_spec(doc: &MarkedYaml<'_>) -> Parsed {
    let mut out = Parsed::default();
    let mut found = Vec::new();
    let root = untag(doc);
    let map = match &root.data {
        YamlData::Mapping(m) => m,
        _ if matches!(locate::kind(root), locate::Kind::Null) => return out,
        _ => {
            let keys = fields_of::<Spec>().join(", ");
            out.problems.push(span_diagnostic(
                &[],
                &format!(
                    "expected a mapping with keys {keys}, found {}",
                    locate::describe(&locate::kind(root))
                ),
                root.span.start,
                root.span.end,
            ));
            return out;
        }
    };
    for (key_node, value) in map.iter() {
        let Some(key) = key_text(key_node) else {
            out.problems.push(span_diagnostic(
                &[],
                "keys must be text",
                key_node.span.start,
                key_node.span.end,
            ));
            continue;
        };
        let here = vec![Seg::Key(key.clone())];
        match key.as_str() {
            "server" => {
                let (v, f) = recover::<ServerSettings>(value, here);
                found.extend(f);
                if let Some(v) = v {
                    out.spec.server = v;
                }
            }
            "static" => {
                let read = items::<StaticMount>(value, &here, &mut found);
                out.file_indices.note("static", read.file_indices);
                out.spec.statics = read.list;
            }
            "routes" => {
                let read = items::<Route>(value, &here, &mut found);
                out.file_indices.note("routes", read.file_indices);
                out.spec.routes = read.list;
            }
            "websockets" => {
                let read = items::<WebSocket>(value, &here, &mut found);
                out.file_indices.note("websockets", read.file_indices);
                out.spec.websockets = read.list;
                out.unread_channels
                    .extend(read.unread.into_iter().map(|p| ("websockets", p)));
            }
            "sse" => {
                let read = items::<SseStream>(value, &here, &mut found);
                out.file_indices.note("sse", read.file_indices);
                out.spec.sse = read.list;
                out.unread_channels
                    .extend(read.unread.into_iter().map(|p| ("sse", p)));
            }
            "resources" => resources(value, &here, &mut out.spec, &mut found),
            "openapi" => {
                let (v, f) = recover::<OpenApi>(value, here);
                found.extend(f);
                out.spec.openapi = v;
            }
            "include" => {
                let (v, f) = recover::<Vec<String>>(value, here);
                found.extend(f);
                out.spec.include = v.unwrap_or_default();
            }
            other => {
                let fields = fields_of::<Spec>();
                let hint = match crate::suggest::did_you_mean(other, fields) {
                    Some(c) => format!("did you mean '{c}'?"),
                    None => format!("expected one of {}", fields.join(", ")),
                };
                found.push(Found {
                    path: here,
                    message: format!("unknown key '{other}', {hint}"),
                    start: key_node.span.start,
                    end: key_node.span.end,
                    unknown_key: true,
                });
            }
        }
    }
    out.problems.extend(
        found
            .iter()
            .map(|f| span_diagnostic(&f.path, &f.message, f.start, f.end)),
    );
    out
}

/// What could be read of a top-level list.
struct Items<T> {
    list: Vec<T>,
    /// The index in the file of each item of `list`.
    file_indices: Vec<usize>,
    /// The `path` of the items that could not be read.
    unread: Vec<String>,
}

/// The items of a top-level list that can be read, and the `path` of those that cannot.
fn items<T: serde::de::DeserializeOwned>(
    node: &MarkedYaml<'_>,
    here: &KeyPath,
    found: &mut Vec<Found>,
) -> Items<T> {
    let mut read = Items {
        list: Vec::new(),
        file_indices: Vec::new(),
        unread: Vec::new(),
    };
    match &untag(node).data {
        YamlData::Sequence(nodes) => {
            for (i, item) in nodes.iter().enumerate() {
                let (v, f) = recover::<T>(item, locate::index(here, i));
                found.extend(f);
                match v {
                    Some(v) => {
                        read.list.push(v);
                        read.file_indices.push(i);
                    }
                    None => read.unread.extend(path_of(item)),
                }
            }
        }
        _ if matches!(locate::kind(node), locate::Kind::Null) => {}
        _ => found.push(Found {
            path: here.clone(),
            message: format!(
                "expected a list, found {}",
                locate::describe(&locate::kind(node))
            ),
            start: node.span.start,
            end: node.span.end,
            unknown_key: false,
        }),
    }
    read
}

/// An item's `path:` text, when it has one.
fn path_of(item: &MarkedYaml<'_>) -> Option<String> {
    let (_, node) = locate::locate(item, &[Seg::Key("path".into())])?;
    match locate::kind(node) {
        locate::Kind::Str(s) => Some(s),
        _ => None,
    }
}

fn resources(node: &MarkedYaml<'_>, here: &KeyPath, spec: &mut Spec, found: &mut Vec<Found>) {
    match &untag(node).data {
        YamlData::Mapping(map) => {
            for (k, v) in map.iter() {
                let Some(name) = key_text(k) else {
                    found.push(Found {
                        path: here.clone(),
                        message: "resource names must be text".into(),
                        start: k.span.start,
                        end: k.span.end,
                        unknown_key: false,
                    });
                    continue;
                };
                let (r, f) = recover::<Resource>(v, locate::at(here, &[&name]));
                found.extend(f);
                if let Some(r) = r {
                    spec.resources.insert(name, r);
                }
            }
        }
        _ if matches!(locate::kind(node), locate::Kind::Null) => {}
        _ => found.push(Found {
            path: here.clone(),
            message: format!(
                "expected a mapping of resource names, found {}",
                locate::describe(&locate::kind(node))
            ),
            start: node.span.start,
            end: node.span.end,
            unknown_key: false,
        }),
    }
}

/// Places problems found in the typed spec at their keys or values in `text`. A key the user
/// left out (so it took its default) is placed at the nearest enclosing key that is there.
pub(crate) fn locate_problems(text: &str, problems: &[Problem]) -> Vec<Diagnostic> {
    if problems.is_empty() {
        return Vec::new();
    }
    let doc = MarkedYaml::load_from_str(text)
        .ok()
        .and_then(|docs| docs.into_iter().next());
    problems
        .iter()
        .map(|p| {
            let mut d = locate_one(doc.as_ref(), p);
            d.severity = p.severity;
            d
        })
        .collect()
}

fn locate_one(doc: Option<&MarkedYaml<'_>>, p: &Problem) -> Diagnostic {
    if let Some(doc) = doc {
        for len in (0..=p.path.len()).rev() {
            if let Some((key, value)) = locate::locate(doc, &p.path[..len]) {
                let node = match key {
                    Some(k) if p.at_key => k,
                    _ => value,
                };
                return span_diagnostic(&p.path, &p.message, node.span.start, node.span.end);
            }
        }
    }
    Diagnostic {
        severity: Severity::Error,
        path: display_path(&p.path),
        message: p.message.clone(),
        line: 1,
        column: 1,
        width: 1,
    }
}

fn span_diagnostic(
    path: &[Seg],
    message: &str,
    start: saphyr::Marker,
    end: saphyr::Marker,
) -> Diagnostic {
    let width = if end.line() == start.line() && end.col() > start.col() {
        end.col() - start.col()
    } else {
        1
    };
    Diagnostic {
        severity: Severity::Error,
        path: display_path(path),
        message: message.to_owned(),
        line: start.line().max(1),
        column: start.col() + 1,
        width,
    }
}

/// A YAML syntax error. saphyr follows YAML 1.2 strictly, so it catches an unclosed `{` that
/// serde_yaml would read as a multi-line string and blame on a type further down.
fn scan_diagnostic(e: &saphyr::ScanError, text: &str) -> Diagnostic {
    // The classic trap: `{ path: /users/{id} }` - braces end a flow mapping unless quoted.
    let hint = if e.info().contains("flow") {
        " (close every { and [; inside them, quote values that contain braces, brackets or \
         commas, e.g. path: \"/users/{id}\")"
    } else {
        ""
    };
    let (mut line, mut column) = (e.marker().line().max(1), e.marker().col() + 1);
    // At the end of the input the scanner stands on the line after the last one: point at the
    // end of the last line instead, which an editor can show.
    let lines: Vec<&str> = text.lines().collect();
    if line > lines.len() {
        line = lines.len().max(1);
        column = lines.last().map_or(0, |l| l.chars().count()) + 1;
    }
    Diagnostic {
        severity: Severity::Error,
        path: String::new(),
        message: format!("invalid YAML: {}{hint}", e.info()),
        line,
        column,
        width: 1,
    }
}

fn serde_yaml_diagnostic(e: &serde_yaml::Error) -> Diagnostic {
    let text = e.to_string();
    let (line, column) = e
        .location()
        .map(|l| (l.line(), l.column()))
        .unwrap_or((1, 1));
    // serde_yaml appends " at line L column C"; the report shows that in front already.
    let message = match text.rfind(" at line ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    };
    let (path, message) = match message.split_once(": ") {
        Some((p, m)) if !p.contains(' ') => (p.to_owned(), m.to_owned()),
        _ => (String::new(), message),
    };
    Diagnostic {
        severity: Severity::Error,
        path,
        message,
        line: line.max(1),
        column: column.max(1),
        width: 1,
    }
}

impl Spec {
    /// One line for `mockrig check` and the startup log.
    pub fn summary(&self) -> String {
        let plural =
            |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        let mut text = format!(
            "{}, {}, {}",
            plural(self.routes.len(), "route", "routes"),
            plural(self.resources.len(), "resource", "resources"),
            plural(self.statics.len(), "static folder", "static folders")
        );
        // Channels are named only when there are some, so existing summaries stay as they were.
        if !self.websockets.is_empty() {
            text += &format!(
                ", {}",
                plural(self.websockets.len(), "websocket", "websockets")
            );
        }
        if !self.sse.is_empty() {
            text += &format!(", {}", plural(self.sse.len(), "sse stream", "sse streams"));
        }
        text
    }
}

#[cfg(test)]
mod tests;
