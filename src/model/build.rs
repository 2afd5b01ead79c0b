//! A spec file to a serving model, or to the report of everything wrong with it: the read
//! spec (`spec::load`) compiled (`compile`), and every problem of both placed on its line.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use saphyr::{LoadableYamlNode, MarkedYaml};

use crate::spec::Diagnostic;
use crate::spec::include::line_in;
use crate::spec::load::{Parsed, SpecSource, locate_problems};
use crate::spec::locate::{PLACE, Problem, Seg, display_path};
use crate::spec::{Severity, SpecReport};

use super::compile::compile;
use super::compiled::{CompiledSpec, Stub};
use super::input::CompileInput;
use super::openapi::OpenApiModel;
use super::openapi::document::Locator;
use super::private::PrivateFiles;
use super::problems::DocProblem;
use super::resource::ResourceDef;

/// What a build found.
pub(crate) struct Built {
    /// The model, when nothing is an error.
    pub(crate) compiled: Option<CompiledSpec>,
    /// The spec file's problems (errors and warnings), located.
    pub(crate) report: SpecReport,
    /// The stubs' problems: stubs have no file, so these stay key paths
    /// (`stubs[3].response.status`).
    pub(crate) stubs: Vec<Problem>,
}

impl Built {
    /// The spec's summary line, with the document's operations when it has one.
    pub(crate) fn summary(&self, spec: &crate::spec::Spec) -> String {
        let mut text = spec.summary();
        if let Some(m) = self.compiled.as_ref().and_then(|c| c.openapi.as_ref()) {
            let n = m.operations.len();
            text += &format!(", {n} OpenAPI operation{}", if n == 1 { "" } else { "s" });
        }
        text
    }

    /// The stubs' problems of `severity`, one line each.
    pub(crate) fn stub_lines(&self, severity: Severity) -> Vec<String> {
        self.stubs
            .iter()
            .filter(|p| p.severity == severity)
            .map(|p| format!("{}: {}", display_path(&p.path), p.message))
            .collect()
    }
}

/// What the serving spec compiled to, which a new build may reuse.
#[derive(Default, Clone, Copy)]
pub(crate) struct Known<'a> {
    /// The resources, when only the stubs changed (their seed files are not read again).
    pub(crate) resources: &'a [ResourceDef],
    /// The OpenAPI document, reused when none of its files changed.
    pub(crate) openapi: Option<&'a Arc<OpenApiModel>>,
}

/// Compiles the spec `parsed` from `source`, with `stubs` in front of its routes.
/// `template_budget`: `--max-template-bytes`.
pub(crate) fn build(
    source: &SpecSource,
    parsed: &Parsed,
    stubs: &[Stub],
    private: &PrivateFiles,
    known: Known<'_>,
    template_budget: usize,
) -> Built {
    let (compiled, problems, documents) = compile(&CompileInput {
        spec: &parsed.spec,
        dir: &source.dir,
        spec_file: Some(&source.file),
        private,
        stubs,
        unread_channels: &parsed.unread_channels,
        origins: &parsed.origins,
        known_resources: known.resources,
        known_openapi: known.openapi,
        template_budget,
    });
    let (stub_problems, spec_problems): (Vec<Problem>, Vec<Problem>) = problems
        .into_iter()
        .partition(|p| p.path.first() == Some(&Seg::Key("stubs".into())));
    // Stubs have no file: the stub a message names is named by its key path.
    let stub_problems = stub_problems
        .into_iter()
        .map(|mut p| {
            if let Some(other) = p.refer.take() {
                p.message = p.message.replace(PLACE, &display_path(&other));
            }
            p
        })
        .collect();
    let by_file = by_file(source, parsed, spec_problems);
    let mut diagnostics = parsed.problems.clone();
    diagnostics.extend(locate_problems(&source.text, &by_file[0]));
    let (same_file, others): (Vec<DocProblem>, Vec<DocProblem>) = documents
        .into_iter()
        .partition(|p| is_same_file(&p.file, &source.file));
    diagnostics.extend(doc_diagnostics(&source.text, &same_file));
    let mut report = source.report(diagnostics);
    for (part, problems) in parsed.parts.iter().zip(&by_file[1..]) {
        let mut diagnostics = part.problems.clone();
        diagnostics.extend(locate_problems(&part.text, problems));
        if diagnostics.is_empty() {
            continue;
        }
        diagnostics.sort_by_key(|d| (d.line, d.column, d.severity));
        report.others.push(SpecReport {
            file: part.name.clone(),
            source: part.text.clone(),
            diagnostics,
            others: Vec::new(),
        });
    }
    report.others.extend(document_reports(&source.dir, others));
    // The loader's own errors (items it could not read) stop the spec too.
    let compiled = compiled.filter(|_| report.errors() == 0);
    Built {
        compiled,
        report,
        stubs: stub_problems,
    }
}

/// The problems of the joined spec, each in the file its item was written in (0: the spec,
/// `n`: its `n`th included file), at its key path there; a place a message names is its key
/// path in the same file, or `file:line` in another.
fn by_file(source: &SpecSource, parsed: &Parsed, problems: Vec<Problem>) -> Vec<Vec<Problem>> {
    let texts: Vec<&str> = std::iter::once(source.text.as_str())
        .chain(parsed.parts.iter().map(|p| p.text.as_str()))
        .collect();
    let names: Vec<String> = std::iter::once(source.name())
        .chain(parsed.parts.iter().map(|p| p.name.clone()))
        .collect();
    // Each file parsed at most once for the lines of the places named, however many there are.
    let mut docs: HashMap<usize, Option<MarkedYaml<'_>>> = HashMap::new();
    let mut out: Vec<Vec<Problem>> = vec![Vec::new(); texts.len()];
    for mut p in problems {
        let (file, path) = parsed.origins.split(&p.path);
        p.path = path;
        if let Some(other) = p.refer.take() {
            let (other_file, other_path) = parsed.origins.split(&other);
            let place = if other_file == file {
                display_path(&other_path)
            } else {
                let doc = docs.entry(other_file).or_insert_with(|| {
                    MarkedYaml::load_from_str(texts[other_file])
                        .ok()
                        .and_then(|d| d.into_iter().next())
                });
                let line = doc.as_ref().map_or(1, |d| line_in(d, &other_path));
                format!(
                    "{} at {}:{line}",
                    display_path(&other_path),
                    names[other_file]
                )
            };
            p.message = p.message.replace(PLACE, &place);
        }
        out[file].push(p);
    }
    out
}

fn is_same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// Problems in a document's file placed on their lines, the JSON pointer as their path.
fn doc_diagnostics(text: &str, problems: &[DocProblem]) -> Vec<Diagnostic> {
    if problems.is_empty() {
        return Vec::new();
    }
    // Parsed once for all of them: a large file can have thousands.
    let locator = Locator::new(text);
    problems
        .iter()
        .map(|p| {
            let (line, column, width) = locator.locate(&p.pointer);
            Diagnostic {
                severity: p.severity,
                path: if p.pointer.is_empty() {
                    String::new()
                } else {
                    format!("#{}", p.pointer)
                },
                message: p.message.clone(),
                line,
                column,
                width,
            }
        })
        .collect()
}

/// One report per document file with problems, each named relative to the spec's folder.
fn document_reports(dir: &Path, problems: Vec<DocProblem>) -> Vec<SpecReport> {
    let mut files: Vec<&Path> = problems.iter().map(|p| p.file.as_path()).collect();
    files.sort();
    files.dedup();
    files
        .into_iter()
        .map(|file| {
            let here: Vec<DocProblem> = problems
                .iter()
                .filter(|p| p.file == file)
                .cloned()
                .collect();
            let text =
                crate::files::read_regular_text(file, crate::files::INPUT_CAP).unwrap_or_default();
            let mut diagnostics = doc_diagnostics(&text, &here);
            diagnostics.sort_by_key(|d| (d.line, d.column, d.severity));
            let name = file.strip_prefix(dir).unwrap_or(file).display().to_string();
            SpecReport {
                file: name,
                source: text,
                diagnostics,
                others: Vec::new(),
            }
        })
        .collect()
}
