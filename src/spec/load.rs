//! Reading a spec: the only place that calls serde_yaml.
//!
//! Valid files take the fast path: serde_yaml, then the checks in `validate`. Only when
//! something is wrong is the file parsed a second time with saphyr, whose spans turn key paths
//! into lines and columns, and, for files serde_yaml rejects, whose recovering pass in
//! `diagnose` finds every error rather than the first.

use std::path::{Path, PathBuf};

use saphyr::{LoadableYamlNode, MarkedYaml};

use super::diagnose::{self, Found, KeyPath, Seg, display_path};
use super::report::{Diagnostic, SpecErrors};
use super::validate::{self, Base, Problem, Problems};
use super::{Resource, Route, ServerSettings, Spec, StaticMount};

/// A spec that passed every check, with where it came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub spec: Spec,
    /// The path as the user gave it.
    pub file: PathBuf,
    /// The spec's folder, canonical: the root for `file:` and `static:` paths.
    pub dir: PathBuf,
}

/// Why a spec could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {0}: {1}")]
    Read(String, std::io::Error),
    #[error("{0}")]
    Invalid(SpecErrors),
}

/// Reads, parses and checks a spec file.
pub fn load_file(file: &Path) -> Result<Loaded, LoadError> {
    let source = std::fs::read_to_string(file)
        .map_err(|e| LoadError::Read(file.display().to_string(), e))?;
    load_text(file, &source)
}

/// Parses and checks the text of the spec file `file` (already read, e.g. by the watcher).
pub fn load_text(file: &Path, source: &str) -> Result<Loaded, LoadError> {
    let name = file.display().to_string();
    let dir = file
        .parent()
        .map(|p| {
            if p.as_os_str().is_empty() {
                Path::new(".")
            } else {
                p
            }
        })
        .unwrap_or(Path::new("."))
        .canonicalize()
        .map_err(|e| LoadError::Read(name.clone(), e))?;
    let spec = load_str(source, &name, &dir).map_err(LoadError::Invalid)?;
    Ok(Loaded {
        spec,
        file: file.to_owned(),
        dir,
    })
}

/// Parses and checks spec text; `dir` is the canonical folder that relative paths start from.
pub fn load_str(source: &str, name: &str, dir: &Path) -> Result<Spec, SpecErrors> {
    let base = Base { dir };
    let errors = |diagnostics: Vec<Diagnostic>| SpecErrors {
        file: name.to_owned(),
        source: source.to_owned(),
        diagnostics,
    };
    match serde_yaml::from_str::<Spec>(source) {
        Ok(spec) => {
            let problems = validate::validate(&spec, &base);
            if problems.is_empty() {
                return Ok(spec);
            }
            let doc = MarkedYaml::load_from_str(source)
                .ok()
                .and_then(|docs| docs.into_iter().next());
            Err(errors(sorted(
                problems
                    .iter()
                    .map(|p| locate_problem(doc.as_ref(), p))
                    .collect(),
            )))
        }
        Err(e) => Err(errors(diagnose_rejected(source, &base, &e))),
    }
}

/// Every error of a file that serde_yaml rejected.
fn diagnose_rejected(source: &str, base: &Base<'_>, e: &serde_yaml::Error) -> Vec<Diagnostic> {
    let fallback = || vec![serde_yaml_diagnostic(e)];
    let docs = match MarkedYaml::load_from_str(source) {
        Ok(docs) => docs,
        Err(scan) => return vec![scan_diagnostic(&scan)],
    };
    let Some(doc) = docs.first() else {
        return fallback();
    };
    let found = diagnose::diagnose::<Spec>(doc);
    if found.is_empty() {
        // The two parsers disagree about this file; trust the one that loads it.
        return fallback();
    }
    let mut out: Vec<Diagnostic> = found.iter().map(found_diagnostic).collect();
    // Items free of structural errors still get the semantic checks, so one broken route does
    // not hide a bad status three routes further down.
    let broken = |path: &KeyPath| found.iter().any(|f| f.path.starts_with(path));
    let mut problems = Problems::default();
    let server_path = vec![Seg::Key("server".into())];
    if let Some((_, node)) = diagnose::locate(doc, &server_path)
        && !broken(&server_path)
        && let Some(s) = diagnose::deserialize_clean::<ServerSettings>(node)
    {
        validate::server(&s, base, &mut problems);
    }
    for_each_item::<StaticMount>(doc, "static", &broken, |i, s| {
        validate::static_mount(i, &s, base, &mut problems)
    });
    for_each_item::<Route>(doc, "routes", &broken, |i, r| {
        validate::route(i, &r, base, &mut problems)
    });
    for_each_item::<super::WebSocket>(doc, "websockets", &broken, |i, w| {
        validate::websocket(i, &w, &mut problems)
    });
    for_each_item::<super::SseStream>(doc, "sse", &broken, |i, s| {
        validate::sse(i, &s, &mut problems)
    });
    let resources = vec![Seg::Key("resources".into())];
    if let Some((_, node)) = diagnose::locate(doc, &resources)
        && let saphyr::YamlData::Mapping(map) = &node.data
    {
        for (key, value) in map.iter() {
            let Some(name) = key.data.as_str() else {
                continue;
            };
            let mut path = resources.clone();
            path.push(Seg::Key(name.to_owned()));
            if !broken(&path)
                && let Some(r) = diagnose::deserialize_clean::<Resource>(value)
            {
                validate::resource(name, &r, base, &mut problems);
            }
        }
    }
    out.extend(problems.list.iter().map(|p| locate_problem(Some(doc), p)));
    sorted(out)
}

fn for_each_item<T: serde::de::DeserializeOwned>(
    doc: &MarkedYaml<'_>,
    key: &str,
    broken: &impl Fn(&KeyPath) -> bool,
    mut check: impl FnMut(usize, T),
) {
    let list = vec![Seg::Key(key.into())];
    let Some((_, node)) = diagnose::locate(doc, &list) else {
        return;
    };
    let saphyr::YamlData::Sequence(items) = &node.data else {
        return;
    };
    for (i, item) in items.iter().enumerate() {
        let mut path = list.clone();
        path.push(Seg::Index(i));
        if !broken(&path)
            && let Some(value) = diagnose::deserialize_clean::<T>(item)
        {
            check(i, value);
        }
    }
}

fn sorted(mut list: Vec<Diagnostic>) -> Vec<Diagnostic> {
    list.sort_by_key(|d| (d.line, d.column));
    list
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
        path: display_path(path),
        message: message.to_owned(),
        line: start.line().max(1),
        column: start.col() + 1,
        width,
    }
}

fn found_diagnostic(f: &Found) -> Diagnostic {
    span_diagnostic(&f.path, &f.message, f.start, f.end)
}

/// Places a semantic problem at its key or value; a key the user left out (so it took its
/// default) is placed at the nearest enclosing key that is there.
fn locate_problem(doc: Option<&MarkedYaml<'_>>, p: &Problem) -> Diagnostic {
    if let Some(doc) = doc {
        for len in (0..=p.path.len()).rev() {
            if let Some((key, value)) = diagnose::locate(doc, &p.path[..len]) {
                let node = match key {
                    Some(k) if p.at_key => k,
                    _ => value,
                };
                return span_diagnostic(&p.path, &p.message, node.span.start, node.span.end);
            }
        }
    }
    Diagnostic {
        path: display_path(&p.path),
        message: p.message.clone(),
        line: 1,
        column: 1,
        width: 1,
    }
}

/// A YAML syntax error. saphyr follows YAML 1.2 strictly, so it catches an unclosed `{` that
/// serde_yaml would read as a multi-line string and blame on a type further down.
fn scan_diagnostic(e: &saphyr::ScanError) -> Diagnostic {
    // The classic trap: `{ path: /users/{id} }` - braces end a flow mapping unless quoted.
    let hint = if e.info().contains("flow") {
        " (close every { and [; inside them, quote values that contain braces, brackets or \
         commas, e.g. path: \"/users/{id}\")"
    } else {
        ""
    };
    Diagnostic {
        path: String::new(),
        message: format!("invalid YAML: {}{hint}", e.info()),
        line: e.marker().line().max(1),
        column: e.marker().col() + 1,
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
