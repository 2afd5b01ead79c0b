//! Located spec errors and how they are printed: `file:line:col: key.path: message`, then the
//! source line with a caret under the column.

use std::fmt;

/// One problem in a spec, located in its source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Key path in the document, e.g. `routes[2].response.status`; empty for the whole file.
    pub path: String,
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
pub struct SpecErrors {
    /// The file name as given by the user.
    pub file: String,
    pub source: String,
    pub diagnostics: Vec<Diagnostic>,
}

impl SpecErrors {
    fn headline(&self, d: &Diagnostic) -> String {
        if d.path.is_empty() {
            format!("{}:{}:{}: {}", self.file, d.line, d.column, d.message)
        } else {
            format!(
                "{}:{}:{}: {}: {}",
                self.file, d.line, d.column, d.path, d.message
            )
        }
    }
}

impl fmt::Display for SpecErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let gutter = self
            .diagnostics
            .iter()
            .map(|d| d.line.to_string().len())
            .max()
            .unwrap_or(1);
        for d in &self.diagnostics {
            writeln!(f, "{}", self.headline(d))?;
            if let Some(src) = self.source.lines().nth(d.line.saturating_sub(1)) {
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
        let n = self.diagnostics.len();
        write!(f, "{n} error{}", if n == 1 { "" } else { "s" })
    }
}

impl std::error::Error for SpecErrors {}
