//! A spec file to a serving model, or to the report of everything wrong with it: the read
//! spec (`spec::load`) compiled (`compile`), and every problem of both placed on its line.

use crate::spec::load::{Parsed, SpecSource, locate_problems};
use crate::spec::locate::{Problem, Seg, display_path};
use crate::spec::{Severity, SpecReport};

use super::compile::compile;
use super::compiled::{CompiledSpec, Stub};
use super::input::CompileInput;
use super::private::PrivateFiles;
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
    /// The stubs' problems of `severity`, one line each.
    pub(crate) fn stub_lines(&self, severity: Severity) -> Vec<String> {
        self.stubs
            .iter()
            .filter(|p| p.severity == severity)
            .map(|p| format!("{}: {}", display_path(&p.path), p.message))
            .collect()
    }
}

/// Compiles the spec `parsed` from `source`, with `stubs` in front of its routes.
/// `known_resources`: what this same spec's resources compiled to before, when only the stubs
/// changed; `template_budget`: `--max-template-bytes`.
pub(crate) fn build(
    source: &SpecSource,
    parsed: &Parsed,
    stubs: &[Stub],
    private: &PrivateFiles,
    known_resources: &[ResourceDef],
    template_budget: usize,
) -> Built {
    let (compiled, problems) = compile(&CompileInput {
        spec: &parsed.spec,
        dir: &source.dir,
        spec_file: Some(&source.file),
        private,
        stubs,
        unread_channels: &parsed.unread_channels,
        file_indices: &parsed.file_indices,
        known_resources,
        template_budget,
    });
    let (stub_problems, spec_problems): (Vec<Problem>, Vec<Problem>) = problems
        .into_iter()
        .partition(|p| p.path.first() == Some(&Seg::Key("stubs".into())));
    let mut diagnostics = parsed.problems.clone();
    diagnostics.extend(locate_problems(&source.text, &spec_problems));
    let report = source.report(diagnostics);
    // The loader's own errors (items it could not read) stop the spec too.
    let compiled = compiled.filter(|_| report.errors() == 0);
    Built {
        compiled,
        report,
        stubs: stub_problems,
    }
}
