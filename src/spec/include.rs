//! `include:`: one spec written over several files. The main spec's items come first, then
//! each included file's in the order the entries name them (a glob's files sorted by path, a
//! file's own includes right after it), joined into one [`Spec`] that compiles like a spec
//! written in one file. [`Origins`] remembers where each joined item was written, so that a
//! problem found in the joined spec is placed in the file and at the index it came from.
//!
//! Every included file must lie inside the main spec's folder (after following links), be a
//! regular file, and together they are bounded in number and bytes. A file is joined once: a
//! glob that matches a file already joined (the spec itself, `*.yaml` beside it) skips it, and
//! a plain path back to a file that includes it is reported as a cycle.

use std::collections::{HashMap, HashSet};
use std::path::{Component, Path, PathBuf};

use globset::GlobBuilder;

use crate::files::{FileError, INPUT_CAP, read_regular_text, resolve_inside};

use super::load::{Parsed, SpecSource, locate_problems, parse, parse_document};
use super::locate::{self, KeyPath, Problem, Seg, at, index};
use super::origins::{LISTS, Origins, Part};
use super::report::Severity;
use super::types::Spec;

/// At most this many files are joined into one spec.
pub(crate) const MAX_FILES: usize = 1_000;
/// The included files' bytes, all together.
pub(crate) const MAX_BYTES: u64 = INPUT_CAP;
/// Includes nest at most this deep (a chain of files each including the next).
const MAX_DEPTH: usize = 32;
/// A glob looks at most at this many entries of the folder it searches: `**/*.yaml` over a
/// folder holding `node_modules` is refused rather than walked for minutes.
const MAX_WALK: usize = 100_000;

/// Reads a spec file's text and every file it includes, joined into one spec. An OpenAPI
/// document given in place of a spec is served as a spec holding only
/// `openapi: { file: <itself> }`.
pub(crate) fn parse_source(source: &SpecSource) -> Parsed {
    if let Some(parsed) = parse_document(source) {
        return parsed;
    }
    let mut parsed = parse(&source.text);
    join(source, &mut parsed);
    parsed
}

/// Reads every file `parsed` (the main spec, read from `source`) includes and joins their items
/// into `parsed.spec`; their problems go to `parsed.parts`, those of the main spec's entries to
/// `parsed.problems`.
fn join(source: &SpecSource, parsed: &mut Parsed) {
    let main_path = source
        .file
        .canonicalize()
        .unwrap_or_else(|_| source.dir.join(source.file.file_name().unwrap_or_default()));
    let shown_dir = match source.file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::new(),
    };
    let mut joiner = Joiner {
        root: &source.dir,
        shown_dir,
        seen: HashSet::from([main_path.clone()]),
        bytes: 0,
        files: Vec::new(),
        stopped: false,
        searched: Vec::new(),
    };
    let entries = parsed.spec.include.clone();
    let mut main_problems = Vec::new();
    let chain = vec![(main_path, source.name())];
    joiner.entries(&entries, &source.dir, &chain, &mut main_problems);
    parsed
        .problems
        .extend(locate_problems(&source.text, &main_problems));
    parsed
        .problems
        .sort_by_key(|d| (d.line, d.column, d.severity));
    parsed.searched = joiner.searched;
    joined(source, parsed, joiner.files);
}

/// An included file read, before its items are joined.
struct Read {
    part: Part,
    /// The path inside the spec's folder.
    rel: String,
    parsed: Parsed,
    /// Problems by key path, located once all are known.
    problems: Vec<Problem>,
}

struct Joiner<'a> {
    root: &'a Path,
    shown_dir: PathBuf,
    /// Canonical paths of the files joined so far, the main spec first.
    seen: HashSet<PathBuf>,
    bytes: u64,
    files: Vec<Read>,
    /// A bound was reached: no file more is read.
    stopped: bool,
    /// The folders globs searched: a file added to one may be a new match.
    searched: Vec<PathBuf>,
}

/// At most this many folders searched by globs are watched for new files.
const MAX_SEARCHED: usize = 1_000;

impl Joiner<'_> {
    /// The files the entries of one `include:` name, each read and joined with its own
    /// includes after it. `dir`: the including file's canonical folder; `chain`: the files
    /// that include it, it last.
    fn entries(
        &mut self,
        entries: &[String],
        dir: &Path,
        chain: &[(PathBuf, String)],
        problems: &mut Vec<Problem>,
    ) {
        for (k, entry) in entries.iter().enumerate() {
            if self.stopped {
                return;
            }
            let here = index(&[Seg::Key("include".into())], k);
            let mut error = |message: String| problems.push(error_at(here.clone(), message));
            let files = match self.expand(entry, dir) {
                Ok(files) => files,
                Err(e) => {
                    error(e);
                    continue;
                }
            };
            for (path, rel, plain) in files {
                if let Some(at) = chain.iter().position(|(p, _)| *p == path) {
                    if plain {
                        let names: Vec<&str> =
                            chain[at..].iter().map(|(_, n)| n.as_str()).collect();
                        error(format!(
                            "'{entry}' makes a cycle: {} → {}",
                            names.join(" → "),
                            chain[at].1
                        ));
                    }
                    continue;
                }
                if !self.seen.insert(path.clone()) {
                    continue;
                }
                if chain.len() > MAX_DEPTH {
                    error(format!("includes nest more than {MAX_DEPTH} files deep"));
                    self.stopped = true;
                    return;
                }
                if self.files.len() >= MAX_FILES {
                    error(format!("a spec includes at most {MAX_FILES} files"));
                    self.stopped = true;
                    return;
                }
                let left = MAX_BYTES.saturating_sub(self.bytes);
                if left < INPUT_CAP && std::fs::metadata(&path).is_ok_and(|m| m.len() > left) {
                    error(format!(
                        "'{rel}': the included files are larger than {MAX_BYTES} bytes in all"
                    ));
                    self.stopped = true;
                    return;
                }
                let text = match read_regular_text(&path, left) {
                    Ok(t) => t,
                    Err(e) => {
                        error(format!("'{rel}' cannot be read: {e}"));
                        continue;
                    }
                };
                self.bytes += text.len() as u64;
                self.read(path, rel, text, chain);
            }
        }
    }

    /// Reads and parses one included file, then the files it includes.
    fn read(&mut self, path: PathBuf, rel: String, text: String, chain: &[(PathBuf, String)]) {
        let name = self.shown_dir.join(&rel).display().to_string();
        // An empty file is an empty part (a file just created), not an error.
        let parsed = if text.trim().is_empty() {
            Parsed::default()
        } else {
            parse(&text)
        };
        let mut problems = Vec::new();
        if parsed.spec.server != Default::default() {
            problems.push(Problem {
                at_key: true,
                ..error_at(
                    at(&[], &["server"]),
                    "only the main spec sets server:".into(),
                )
            });
        }
        if parsed.spec.openapi.is_some() {
            problems.push(Problem {
                at_key: true,
                ..error_at(
                    at(&[], &["openapi"]),
                    "only the main spec sets openapi:".into(),
                )
            });
        }
        let entries = parsed.spec.include.clone();
        let at_index = self.files.len();
        self.files.push(Read {
            part: Part {
                name: name.clone(),
                path: path.clone(),
                text,
                problems: Vec::new(),
            },
            rel,
            parsed,
            problems: Vec::new(),
        });
        if !entries.is_empty() {
            let dir = path.parent().unwrap_or(self.root).to_owned();
            let mut chain = chain.to_vec();
            chain.push((path, name));
            self.entries(&entries, &dir, &chain, &mut problems);
        }
        self.files[at_index].problems = problems;
    }

    /// The files one entry names: (canonical path, path inside the spec's folder, whether
    /// the entry is a plain path). Err: why it names none.
    fn expand(&mut self, entry: &str, dir: &Path) -> Result<Vec<(PathBuf, String, bool)>, String> {
        if entry.trim().is_empty() {
            return Err("must not be empty".into());
        }
        let outside = || format!("'{entry}' is outside the spec's folder");
        let base = dir.strip_prefix(self.root).map_err(|_| outside())?;
        let rel = normalize(base, entry).ok_or_else(outside)?;
        if !is_glob(&rel) {
            let path =
                resolve_inside(self.root, &rel, "the spec's folder").map_err(|e| match e {
                    FileError::Outside(..) => outside(),
                    FileError::Missing(_) => format!("'{entry}' does not exist"),
                    e => e.to_string(),
                })?;
            if !path.is_file() {
                return Err(format!("'{entry}' is not a file"));
            }
            return Ok(vec![(path, rel, true)]);
        }
        let matches = self.glob(&rel).map_err(|e| format!("'{entry}': {e}"))?;
        if matches.is_empty() {
            return Err(format!("'{entry}' matches no file"));
        }
        Ok(matches
            .into_iter()
            .map(|(path, rel)| (path, rel, false))
            .collect())
    }

    /// The files inside the spec's folder that the glob `rel` (a path inside it) matches,
    /// sorted by path. Links are not followed while searching; a link that matches is taken
    /// when it leads to a file inside the folder.
    fn glob(&mut self, rel: &str) -> Result<Vec<(PathBuf, String)>, String> {
        // `*` stays within one folder; `**` crosses folders.
        let matcher = GlobBuilder::new(rel)
            .literal_separator(true)
            .build()
            .map_err(|e| format!("not a valid glob: {}", e.kind()))?
            .compile_matcher();
        let parts: Vec<&str> = rel.split('/').collect();
        let fixed = parts.iter().take_while(|p| !is_glob(p)).count();
        let start = self.root.join(parts[..fixed].join("/"));
        if start.is_dir() {
            self.note_searched(&start);
        }
        let mut walk = walkdir::WalkDir::new(&start)
            .follow_links(false)
            .min_depth(1);
        if !rel.contains("**") {
            walk = walk.max_depth(parts.len() - fixed);
        }
        let mut found = Vec::new();
        for (n, item) in walk.into_iter().enumerate() {
            if n >= MAX_WALK {
                return Err(format!(
                    "searches more than {MAX_WALK} entries; name a narrower folder"
                ));
            }
            // An unreadable folder (or none at the glob's start) holds no match.
            let Ok(item) = item else { continue };
            if item.file_type().is_dir() {
                self.note_searched(item.path());
                continue;
            }
            let Ok(inside) = item.path().strip_prefix(self.root) else {
                continue;
            };
            let Some(inside) = inside.to_str().map(|s| s.replace('\\', "/")) else {
                continue;
            };
            if !matcher.is_match(&inside) {
                continue;
            }
            match resolve_inside(self.root, &inside, "the spec's folder") {
                Ok(path) if path.is_file() => found.push((path, inside)),
                // A link leading outside, or to a folder: not a file of this spec.
                _ => {}
            }
        }
        found.sort_by(|a, b| a.1.cmp(&b.1));
        Ok(found)
    }
}

impl Joiner<'_> {
    fn note_searched(&mut self, dir: &Path) {
        if self.searched.len() < MAX_SEARCHED && !self.searched.iter().any(|d| d == dir) {
            self.searched.push(dir.to_owned());
        }
    }
}

fn is_glob(text: &str) -> bool {
    text.contains(['*', '?', '[', '{'])
}

/// `entry`, written in the folder `base` (inside the spec's folder), as a path inside the
/// spec's folder with `/` between names; `None` when it leads outside (an absolute path, or
/// more `..` than folders).
fn normalize(base: &Path, entry: &str) -> Option<String> {
    if entry.contains('\\') || entry.contains('\0') || Path::new(entry).is_absolute() {
        return None;
    }
    let mut names: Vec<String> = Vec::new();
    for c in base.components() {
        match c {
            Component::Normal(n) => names.push(n.to_str()?.to_owned()),
            Component::CurDir => {}
            _ => return None,
        }
    }
    for name in entry.split('/') {
        match name {
            "" | "." => {}
            ".." => {
                names.pop()?;
            }
            n => names.push(n.to_owned()),
        }
    }
    Some(names.join("/"))
}

fn error_at(path: KeyPath, message: String) -> Problem {
    Problem {
        path,
        at_key: false,
        message,
        severity: Severity::Error,
        refer: None,
    }
}

/// The included files' items joined after the main spec's, each noted in `parsed.origins`.
fn joined(source: &SpecSource, parsed: &mut Parsed, files: Vec<Read>) {
    let spec = &mut parsed.spec;
    let mut lists: Vec<(&'static str, Vec<(usize, usize)>)> = LISTS
        .iter()
        .map(|list| {
            let n = list_len(spec, list);
            let places = (0..n)
                .map(|i| (0, parsed.file_indices.index(list, i)))
                .collect();
            (*list, places)
        })
        .collect();
    let mut resources = HashMap::new();
    let mut files_out = Vec::new();
    let mut parts = Vec::new();
    for (n, mut read) in files.into_iter().enumerate() {
        let file = n + 1;
        let part_spec = std::mem::take(&mut read.parsed.spec);
        for (list, places) in &mut lists {
            let count = list_len(&part_spec, list);
            places.extend((0..count).map(|i| (file, read.parsed.file_indices.index(list, i))));
        }
        spec.routes.extend(part_spec.routes);
        spec.websockets.extend(part_spec.websockets);
        spec.sse.extend(part_spec.sse);
        spec.statics.extend(part_spec.statics);
        for (name, r) in part_spec.resources {
            if spec.resources.contains_key(&name) {
                let first = resources.get(&name).copied().unwrap_or(0);
                let (first_name, first_text) = if first == 0 {
                    (source.name(), source.text.as_str())
                } else {
                    let p: &Part = &parts[first - 1];
                    (p.name.clone(), p.text.as_str())
                };
                let key = at(&[], &["resources", &name]);
                let line = line_of(first_text, &key);
                read.problems.push(Problem {
                    at_key: true,
                    ..error_at(
                        key,
                        format!("resource '{name}' is already defined at {first_name}:{line}"),
                    )
                });
                continue;
            }
            resources.insert(name.clone(), file);
            spec.resources.insert(name, r);
        }
        parsed.unread_channels.extend(read.parsed.unread_channels);
        let mut diagnostics = read.parsed.problems;
        diagnostics.extend(locate_problems(&read.part.text, &read.problems));
        diagnostics.sort_by_key(|d| (d.line, d.column, d.severity));
        read.part.problems = diagnostics;
        files_out.push(read.rel);
        parts.push(read.part);
    }
    parsed.origins = Origins {
        lists,
        resources,
        files: files_out,
    };
    parsed.parts = parts;
}

fn list_len(spec: &Spec, list: &str) -> usize {
    match list {
        "routes" => spec.routes.len(),
        "websockets" => spec.websockets.len(),
        "sse" => spec.sse.len(),
        _ => spec.statics.len(),
    }
}

/// The line of the key (or, for a list item, the value) at `path` in `text`: of the nearest
/// enclosing node that is there.
pub(crate) fn line_of(text: &str, path: &[Seg]) -> usize {
    use saphyr::LoadableYamlNode;
    let Some(doc) = saphyr::MarkedYaml::load_from_str(text)
        .ok()
        .and_then(|d| d.into_iter().next())
    else {
        return 1;
    };
    line_in(&doc, path)
}

/// [`line_of`] in a document already parsed.
pub(crate) fn line_in(doc: &saphyr::MarkedYaml<'_>, path: &[Seg]) -> usize {
    for len in (0..=path.len()).rev() {
        if let Some((key, value)) = locate::locate(doc, &path[..len]) {
            return key.unwrap_or(value).span.start.line().max(1);
        }
    }
    1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_normalized_inside_the_folder_or_refused() {
        let n = |base: &str, e: &str| normalize(Path::new(base), e);
        assert_eq!(n("", "routes/*.yaml").as_deref(), Some("routes/*.yaml"));
        assert_eq!(
            n("routes", "../shared.yaml").as_deref(),
            Some("shared.yaml")
        );
        assert_eq!(
            n("routes", "./a/./b.yaml").as_deref(),
            Some("routes/a/b.yaml")
        );
        assert_eq!(n("", "../outside.yaml"), None);
        assert_eq!(n("routes", "../../x.yaml"), None);
        assert_eq!(n("", "/etc/passwd"), None);
        assert_eq!(n("", "a\\..\\..\\b"), None);
    }

    #[test]
    fn a_joined_key_path_is_placed_in_its_file() {
        let origins = Origins {
            lists: vec![("routes", vec![(0, 0), (0, 2), (1, 0), (2, 1)])],
            resources: HashMap::from([("users".to_owned(), 2)]),
            files: vec!["a.yaml".into(), "b.yaml".into()],
        };
        let path = |p: &[Seg]| p.to_vec();
        let routes = |i| vec![Seg::Key("routes".into()), Seg::Index(i)];
        assert_eq!(origins.split(&routes(1)), (0, routes(2)), "a left-out item");
        let mut deep = routes(3);
        deep.push(Seg::Key("path".into()));
        let mut local = routes(1);
        local.push(Seg::Key("path".into()));
        assert_eq!(origins.split(&deep), (2, local));
        let users = at(&[], &["resources", "users", "seed"]);
        assert_eq!(origins.split(&users), (2, path(&users)));
        assert_eq!(origins.split(&at(&[], &["server"])).0, 0);
        assert_eq!(origins.label("routes", 1), "routes[2]");
        assert_eq!(origins.label("routes", 2), "a.yaml:routes[0]");
        assert_eq!(origins.label("static", 4), "static[4]");
    }
}
