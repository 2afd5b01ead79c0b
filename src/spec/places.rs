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
/// Bytes of an item shown at most, however few lines: a spec written as one line of JSON
/// must not make each of its items the whole file.
const BYTES: usize = 4096;

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
        let offsets = std::cell::OnceCell::new();
        // A list item's own span: a resource's key only gives the line it starts on.
        let place = |node: &MarkedYaml<'_>, span_is_item: bool| {
            let (start, end) = (node.span.start, node.span.end);
            let line = start.line();
            let yaml = if span_is_item && end.line() == line && end.col() > start.col() {
                // A flow item (`{ path: /a }`, or JSON): its own characters on its line.
                // saphyr's span of a flow collection ends on its closing bracket; its
                // markers count characters, so they are mapped to bytes (once per file).
                let offsets = offsets.get_or_init(|| {
                    text.char_indices()
                        .map(|(b, _)| b)
                        .chain(std::iter::once(text.len()))
                        .collect::<Vec<usize>>()
                });
                let byte = |c: usize| offsets[c.min(offsets.len() - 1)];
                let (from, mut to) = (byte(start.index()), byte(end.index()));
                if matches!(text.as_bytes().get(to), Some(b'}' | b']')) {
                    to += 1;
                }
                text.get(from..to.max(from)).unwrap_or_default().to_owned()
            } else {
                block(&lines, line)
            };
            Place {
                at: format!("{name}:{line}"),
                yaml: capped(yaml),
            }
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
                out.insert(key, place(item, true));
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
                    out.insert(format!("resources.{resource}"), place(k, false));
                }
            }
        }
    }
    out
}

/// `text`, cut to [`BYTES`] at a character boundary.
fn capped(mut text: String) -> String {
    if text.len() > BYTES {
        let mut end = BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
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

    #[test]
    fn items_of_a_one_line_spec_are_their_own_text_and_nothing_is_unbounded() {
        let routes: Vec<String> = (0..3000)
            .map(|i| format!(r#"{{"path": "/r{i}", "response": {{"text": "{i}"}}}}"#))
            .collect();
        let text = format!(
            r#"{{"routes": [{}], "resources": {{"a": {{"seed": []}}}}}}"#,
            routes.join(", ")
        );
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("api.json");
        std::fs::write(&file, &text).unwrap();
        let source = SpecSource::read(&file).unwrap();
        let parsed = crate::spec::include::parse_source(&source);
        let all = places(&source, &parsed);
        assert_eq!(
            all["routes[7]"].yaml,
            r#"{"path": "/r7", "response": {"text": "7"}}"#
        );
        assert!(all["routes[7]"].at.ends_with("api.json:1"));
        let longest = all.values().map(|p| p.yaml.len()).max().unwrap();
        assert!(longest <= BYTES + '…'.len_utf8(), "{longest}");
    }
}
