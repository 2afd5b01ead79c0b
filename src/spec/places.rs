//! Where each item of the spec was written, for people reading the dashboard: `api.yaml:12`
//! and the item's own lines, keyed by the label logs and the journal use (`routes[3]`,
//! `routes/users.yaml:routes[0]`, `resources.todos`). Worked out when asked, from the texts the
//! spec was read from: nothing on the request path pays for it.

use std::collections::HashMap;

use saphyr::{LoadableYamlNode, MarkedYaml, YamlData};

use super::load::{Parsed, SpecSource};
use super::locate::{Seg, key_text, locate};
use super::origins::LISTS;

/// An item's file and line, and its text as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Place {
    /// `api.yaml:12`
    pub(crate) at: String,
    /// The item's lines (at most [`LINES`]), indentation as in the file.
    pub(crate) yaml: String,
}

/// Lines of an item shown at most; a longer item ends with `…`.
const LINES: usize = 60;

/// Every item's place, by label.
pub(crate) fn places(source: &SpecSource, parsed: &Parsed) -> HashMap<String, Place> {
    let mut out = HashMap::new();
    let main = source.name();
    let files = std::iter::once((main.as_str(), None, source.text.as_str())).chain(
        parsed
            .parts
            .iter()
            .zip(&parsed.origins.files)
            .map(|(p, label)| (p.name.as_str(), Some(label.as_str()), p.text.as_str())),
    );
    for (n, (name, label, text)) in files.enumerate() {
        let Some(doc) = MarkedYaml::load_from_str(text)
            .ok()
            .and_then(|d| d.into_iter().next())
        else {
            continue;
        };
        let lines: Vec<&str> = text.lines().collect();
        let place = |line: usize| Place {
            at: format!("{name}:{line}"),
            yaml: block(&lines, line),
        };
        for list in LISTS {
            let Some((_, node)) = locate(&doc, &[Seg::Key(list.into())]) else {
                continue;
            };
            let YamlData::Sequence(items) = &node.data else {
                continue;
            };
            for (j, item) in items.iter().enumerate() {
                let key = match label {
                    None => format!("{list}[{j}]"),
                    Some(file) => format!("{file}:{list}[{j}]"),
                };
                out.insert(key, place(item.span.start.line()));
            }
        }
        let resources = locate(&doc, &[Seg::Key("resources".into())]);
        if let Some((_, node)) = resources
            && let YamlData::Mapping(m) = &node.data
        {
            for (k, _) in m.iter() {
                let Some(resource) = key_text(k) else {
                    continue;
                };
                // A resource's label names no file: it is the one its name says.
                let file = parsed
                    .origins
                    .resources
                    .get(&resource)
                    .copied()
                    .unwrap_or(0);
                if file == n {
                    out.insert(format!("resources.{resource}"), place(k.span.start.line()));
                }
            }
        }
    }
    out
}

/// The lines of the item starting on `line` (1-based): that line and every following one
/// indented deeper, or blank, up to [`LINES`].
fn block(lines: &[&str], line: usize) -> String {
    let Some(first) = line.checked_sub(1).and_then(|i| lines.get(i)) else {
        return String::new();
    };
    let indent = |l: &str| l.len() - l.trim_start().len();
    let base = indent(first);
    let mut end = line;
    while end < lines.len() {
        let l = lines[end];
        if !l.trim().is_empty() && indent(l) <= base {
            break;
        }
        end += 1;
    }
    // Blank lines and comments after the item belong to what follows.
    while end > line && {
        let l = lines[end - 1].trim();
        l.is_empty() || l.starts_with('#')
    } {
        end -= 1;
    }
    let shown = &lines[line - 1..end.min(line - 1 + LINES)];
    let mut text = shown.join("\n");
    if end - (line - 1) > LINES {
        text.push_str("\n…");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_item_is_its_line_and_the_lines_indented_under_it() {
        let text = "routes:\n  - path: /a\n    response:\n      status: 201\n\n  # next\n  - { path: /b }\nresources:\n  todos:\n    seed: []\n";
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            block(&lines, 2),
            "  - path: /a\n    response:\n      status: 201"
        );
        assert_eq!(block(&lines, 7), "  - { path: /b }");
        assert_eq!(block(&lines, 9), "  todos:\n    seed: []");
        assert_eq!(block(&lines, 99), "");
    }
}
