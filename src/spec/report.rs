//! Located spec problems and how they are printed: `file:line:col: key.path: message`, then the
//! source line with a caret under the column. Errors stop a spec from serving; warnings are
//! printed and served past.

use std::fmt;

/// How bad a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The spec cannot be served as written.
    Error,
    /// The spec serves, but something in it probably does not do what was meant.
    Warning,
}

/// One problem in a spec, located in its source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Whether it stops the spec from serving.
    pub severity: Severity,
    /// Key path in the document, e.g. `routes[2].response.status`; empty for the whole file.
    pub path: String,
    /// What is wrong, and how to write it instead where that is known.
    pub message: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// How many characters the caret underlines (at least 1).
    pub width: usize,
}

/// Every problem found in one spec file, with the source needed to show them.
#[derive(Debug, Clone)]
pub struct SpecReport {
    /// The file name as given by the user.
    pub file: String,
    /// The file's text, for the lines shown under each problem.
    pub source: String,
    /// Errors and warnings, in the order of the file.
    pub diagnostics: Vec<Diagnostic>,
    /// The problems of other files the spec names (an OpenAPI document and the files it
    /// refers to), one report each.
    pub others: Vec<SpecReport>,
}

impl SpecReport {
    /// How many problems stop the spec from serving.
    pub fn errors(&self) -> usize {
        self.count(Severity::Error)
    }

    /// How many problems are only warnings.
    pub fn warnings(&self) -> usize {
        self.count(Severity::Warning)
    }

    fn count(&self, severity: Severity) -> usize {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == severity)
            .count()
            + self.others.iter().map(|o| o.count(severity)).sum::<usize>()
    }

    fn headline(&self, d: &Diagnostic) -> String {
        let mut line = format!("{}:{}:{}: ", self.file, d.line, d.column);
        if d.severity == Severity::Warning {
            line.push_str("warning: ");
        }
        if !d.path.is_empty() {
            line.push_str(&d.path);
            line.push_str(": ");
        }
        line.push_str(&d.message);
        line
    }
}

fn plural(n: usize, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

impl fmt::Display for SpecReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_located(f)?;
        for other in &self.others {
            other.write_located(f)?;
        }
        match (self.errors(), self.warnings()) {
            (e, 0) => write!(f, "{}", plural(e, "error")),
            (0, w) => write!(f, "{}", plural(w, "warning")),
            (e, w) => write!(f, "{}, {}", plural(e, "error"), plural(w, "warning")),
        }
    }
}

impl SpecReport {
    /// Each problem with its line and a caret under the column.
    fn write_located(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let gutter = self
            .diagnostics
            .iter()
            .map(|d| d.line.to_string().len())
            .max()
            .unwrap_or(1);
        // Lines are found in one pass over the source, however many problems there are: a
        // file with thousands of broken routes prints in time linear in its size.
        let lines: Vec<&str> = self.source.lines().collect();
        for d in &self.diagnostics {
            writeln!(f, "{}", self.headline(d))?;
            if let Some(src) = lines.get(d.line.saturating_sub(1)) {
                let src = src.trim_end_matches('\r');
                // The caret must not run past the end of the line it underlines.
                let len = src.chars().count();
                let col = d.column.saturating_sub(1).min(len);
                let width = d.width.max(1).min(len.saturating_sub(col).max(1));
                // Tabs stay tabs under the caret so it lines up however the terminal shows them.
                let pad: String = src
                    .chars()
                    .take(col)
                    .map(|c| if c == '\t' { '\t' } else { ' ' })
                    .collect();
                writeln!(f, "{:>gutter$} | {src}", d.line)?;
                writeln!(f, "{:>gutter$} | {pad}{}", "", "^".repeat(width))?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for SpecReport {}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(severity: Severity, line: usize, column: usize, message: &str) -> Diagnostic {
        Diagnostic {
            severity,
            path: "routes[0].path".into(),
            message: message.into(),
            line,
            column,
            width: 3,
        }
    }

    #[test]
    fn prints_each_problem_with_its_line_and_a_caret_then_the_counts() {
        let report = SpecReport {
            file: "api.yaml".into(),
            source: "routes:\n  - path: x\n".into(),
            diagnostics: vec![
                d(Severity::Error, 2, 11, "must start with '/'"),
                d(Severity::Warning, 2, 5, "never answers"),
            ],
            others: Vec::new(),
        };
        assert_eq!(
            report.to_string(),
            "api.yaml:2:11: routes[0].path: must start with '/'\n\
             2 |   - path: x\n  \
               |           ^\n\
             api.yaml:2:5: warning: routes[0].path: never answers\n\
             2 |   - path: x\n  \
               |     ^^^\n\
             1 error, 1 warning"
        );
    }
}
