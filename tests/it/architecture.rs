//! The layering of `src/`, checked: each file imports only from its own layer or the layers
//! below it (leaf → spec → model → engine → app), and no files import each other in a cycle.
//! `docs/architecture.md` explains the rule; this test reads every `use crate::…`,
//! `use super::…` and inline `crate::…` path of the library (its unit tests aside) and fails
//! with the offending file and path.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::common;

/// The layers, lowest first, by the first segment of a module path.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "leaf",
        &[
            "error", "files", "duration", "hash", "random", "suggest", "sync",
        ],
    ),
    ("spec", &["spec"]),
    ("model", &["model", "template"]),
    ("engine", &["engine"]),
    ("app", &["app"]),
];

fn layer_of(module: &[String]) -> Option<usize> {
    let first = module.first()?;
    LAYERS
        .iter()
        .position(|(_, roots)| roots.contains(&first.as_str()))
}

/// A source file and the module path it defines (`engine::channels::ws`; a `mod.rs` defines
/// its folder's module, `lib.rs` the crate's).
struct File {
    path: PathBuf,
    module: Vec<String>,
}

fn files(src: &Path) -> Vec<File> {
    let mut out = Vec::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(src).unwrap();
            let mut module: Vec<String> = rel
                .with_extension("")
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if matches!(
                module.last().map(String::as_str),
                Some("mod" | "lib" | "main")
            ) {
                module.pop();
            }
            out.push(File { path, module });
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// The file's code without its comments and its unit tests.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => &text[..],
    };
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every path a `use` names, braces expanded: `use a::{b, c::{d, e}}` → a::b, a::c::d, a::c::e.
fn expand(prefix: &str, tree: &str, out: &mut Vec<String>) {
    let tree = tree.trim();
    if tree.is_empty() {
        return;
    }
    match tree.find('{') {
        None => {
            for part in split_top(tree) {
                let part = part.split(" as ").next().unwrap().trim();
                if !part.is_empty() {
                    out.push(format!("{prefix}{part}"));
                }
            }
        }
        Some(open) if split_top(tree).len() == 1 => {
            let head = &tree[..open];
            let inner = &tree[open + 1..tree.rfind('}').unwrap()];
            for part in split_top(inner) {
                expand(&format!("{prefix}{head}"), part, out);
            }
        }
        Some(_) => {
            for part in split_top(tree) {
                expand(prefix, part, out);
            }
        }
    }
}

/// Splits at the commas outside braces.
fn split_top(s: &str) -> Vec<&str> {
    let (mut depth, mut start, mut parts) = (0, 0, Vec::new());
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts.into_iter().filter(|p| !p.trim().is_empty()).collect()
}

/// The crate-absolute module paths a file refers to.
fn references(file: &File, code: &str) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    // `use` statements, which may span lines.
    let mut rest = code;
    while let Some(i) = rest.find("use ") {
        let at_start = i == 0 || rest[..i].ends_with(['\n', ' ', '(', ';', '{']);
        let end = rest[i..].find(';').map(|e| i + e);
        match (at_start, end) {
            (true, Some(end)) => {
                expand("", &rest[i + 4..end].replace(['\n', ' '], ""), &mut paths);
                rest = &rest[end..];
            }
            _ => rest = &rest[i + 4..],
        }
    }
    // Inline `crate::a::b` paths.
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        let tail: String = rest[i..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        paths.push(tail.trim_end_matches(':').to_owned());
        rest = &rest[i + 7..];
    }
    // `super` is the parent of this file's module (for a `mod.rs`, its folder's parent).
    let parent: Vec<String> = file.module[..file.module.len().saturating_sub(1)].to_vec();
    paths
        .into_iter()
        .filter_map(|p| {
            let segments: Vec<&str> = p.split("::").collect();
            match *segments.first()? {
                "crate" => Some(segments[1..].iter().map(|s| s.to_string()).collect()),
                "super" => {
                    let mut abs = parent.clone();
                    let mut rest = &segments[1..];
                    while rest.first() == Some(&"super") {
                        abs.pop();
                        rest = &rest[1..];
                    }
                    abs.extend(rest.iter().map(|s| s.to_string()));
                    Some(abs)
                }
                "self" => {
                    let mut abs = file.module.clone();
                    abs.extend(segments[1..].iter().map(|s| s.to_string()));
                    Some(abs)
                }
                _ => None,
            }
        })
        .collect()
}

/// What `lib.rs` re-exports at the crate root (`pub use app::config::ServeConfig`), by name:
/// `crate::ServeConfig` in a lower layer is an upward import all the same.
fn root_reexports(src: &Path) -> BTreeMap<String, Vec<String>> {
    let lib = code(&src.join("lib.rs"));
    let mut paths = Vec::new();
    for statement in lib.split(';') {
        if let Some(tree) = statement.trim().strip_prefix("pub use ") {
            expand("", &tree.replace(['\n', ' '], ""), &mut paths);
        }
    }
    paths
        .into_iter()
        .map(|p| {
            let full: Vec<String> = p.split("::").map(str::to_owned).collect();
            (full.last().unwrap().clone(), full)
        })
        .collect()
}

/// The file that defines the longest prefix of `path`.
fn resolve(path: &[String], by_module: &BTreeMap<Vec<String>, usize>) -> Option<usize> {
    (1..=path.len())
        .rev()
        .find_map(|n| by_module.get(&path[..n]).copied())
}

#[test]
fn layers_import_only_downward_and_files_form_no_cycle() {
    let src = common::repo_path("src");
    let files = files(&src);
    let by_module: BTreeMap<Vec<String>, usize> = files
        .iter()
        .enumerate()
        .map(|(i, f)| (f.module.clone(), i))
        .collect();
    let name = |i: usize| {
        files[i]
            .path
            .strip_prefix(&src)
            .unwrap()
            .display()
            .to_string()
    };
    let reexports = root_reexports(&src);
    assert!(
        reexports.contains_key("ServeConfig"),
        "lib.rs re-exports read: {reexports:?}"
    );
    let mut upward = BTreeSet::new();
    let mut edges: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); files.len()];
    for (i, file) in files.iter().enumerate() {
        let code = code(&file.path);
        for path in references(file, &code) {
            let path = match path.first().and_then(|name| reexports.get(name)) {
                Some(full) => full.iter().chain(&path[1..]).cloned().collect(),
                None => path,
            };
            let Some(j) = resolve(&path, &by_module) else {
                continue;
            };
            if j == i || files[j].module.is_empty() {
                continue;
            }
            edges[i].insert(j);
            if let (Some(from), Some(to)) = (layer_of(&file.module), layer_of(&path))
                && to > from
            {
                upward.insert(format!(
                    "{} ({}) uses crate::{} ({})",
                    name(i),
                    LAYERS[from].0,
                    path.join("::"),
                    LAYERS[to].0
                ));
            }
        }
    }
    assert!(
        upward.is_empty(),
        "imports from a higher layer:\n{}",
        upward.into_iter().collect::<Vec<_>>().join("\n")
    );
    // Depth-first search for a back edge: a cycle of files.
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    fn visit(
        n: usize,
        edges: &[BTreeSet<usize>],
        marks: &mut [Mark],
        stack: &mut Vec<usize>,
    ) -> Option<Vec<usize>> {
        marks[n] = Mark::Open;
        stack.push(n);
        for &m in &edges[n] {
            match marks[m] {
                Mark::Open => {
                    let start = stack.iter().position(|&s| s == m).unwrap();
                    let mut cycle = stack[start..].to_vec();
                    cycle.push(m);
                    return Some(cycle);
                }
                Mark::New => {
                    if let Some(c) = visit(m, edges, marks, stack) {
                        return Some(c);
                    }
                }
                Mark::Done => {}
            }
        }
        stack.pop();
        marks[n] = Mark::Done;
        None
    }
    let mut marks = vec![Mark::New; files.len()];
    for n in 0..files.len() {
        if marks[n] == Mark::New
            && let Some(cycle) = visit(n, &edges, &mut marks, &mut Vec::new())
        {
            let names: Vec<String> = cycle.into_iter().map(name).collect();
            panic!("files import each other in a cycle: {}", names.join(" → "));
        }
    }
    // The check must see the crate: a layer per module root, and edges to check.
    let unplaced: Vec<String> = files
        .iter()
        .enumerate()
        .filter(|(_, f)| !f.module.is_empty() && layer_of(&f.module).is_none())
        .map(|(i, _)| name(i))
        .collect();
    assert!(unplaced.is_empty(), "files in no layer: {unplaced:?}");
    assert!(edges.iter().map(BTreeSet::len).sum::<usize>() > 100);
}

#[test]
fn the_reader_finds_grouped_and_relative_imports() {
    let mut out = Vec::new();
    expand("", "crate::a::{self,b::{C,D},e::F as G}", &mut out);
    assert_eq!(
        out,
        [
            "crate::a::self",
            "crate::a::b::C",
            "crate::a::b::D",
            "crate::a::e::F"
        ]
    );
    let file = File {
        path: PathBuf::from("src/engine/channels/ws.rs"),
        module: vec!["engine".into(), "channels".into(), "ws".into()],
    };
    let refs = references(
        &file,
        "use super::hub::Hub;\nlet x = crate::model::router::Pattern::parse(p);",
    );
    assert_eq!(
        refs,
        [
            vec!["engine", "channels", "hub", "Hub"],
            vec!["model", "router", "Pattern", "parse"],
        ]
    );
}
