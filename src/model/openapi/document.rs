//! Reading an OpenAPI document and every local file its `$ref`s reach, and following those
//! references. Problems are kept by file and JSON pointer; `locate` turns them into lines only
//! when there is something to report, so a valid document is parsed once, by serde.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use percent_encoding::percent_decode_str;
use serde_json::Value;

use crate::files::{INPUT_CAP, read_regular_text};
use crate::spec::Severity;

use crate::model::problems::DocProblem;

/// At most this many files are read for one document: DigitalOcean's, split over ~2,900,
/// fits with room; a reference loop through generated names cannot go on for ever.
const MAX_FILES: usize = 20_000;
/// At most this many bytes over all of them.
const MAX_TOTAL_BYTES: usize = 256 * 1024 * 1024;
/// A chain of references to references longer than this is a loop.
const MAX_REF_HOPS: usize = 64;

/// The OpenAPI version family, which decides the schema dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Version {
    /// 3.0.x: its own JSON Schema subset (`nullable`, boolean `exclusiveMinimum`).
    V30,
    /// 3.1.x: JSON Schema 2020-12.
    V31,
}

/// One of the loaded files, by its index: places are hashed and compared by the thousand,
/// and a path's hash walks its components.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct FileId(u32);

/// A place in the loaded files: a file and a JSON pointer into it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Place {
    pub(crate) file: FileId,
    pub(crate) pointer: String,
}

impl Place {
    /// The place `key` below this one.
    pub(crate) fn child(&self, key: &str) -> Place {
        Place {
            file: self.file,
            pointer: format!("{}/{}", self.pointer, escape(key)),
        }
    }

    /// The place of item `i` below this one.
    pub(crate) fn item(&self, i: usize) -> Place {
        Place {
            file: self.file,
            pointer: format!("{}/{i}", self.pointer),
        }
    }
}

/// A JSON pointer segment for `key`.
pub(crate) fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// The root document and the files it refers to, parsed.
#[derive(Debug)]
pub(crate) struct Documents {
    pub(crate) version: Version,
    /// Each file's canonical path and value, the root first (`FileId(0)`).
    files: Vec<(PathBuf, Value)>,
    by_path: HashMap<PathBuf, FileId>,
    /// Files a reference names that could not be read, and why.
    unreadable: HashMap<PathBuf, String>,
    /// Each (folder, relative path) a reference names, canonical: a document refers to the
    /// same few files thousands of times, and canonicalising is a system call per segment.
    canonical: Canonical,
}

/// Why a document cannot be served at all.
pub(crate) type Fatal = DocProblem;

impl Documents {
    /// Reads the document `file` and every local file its references reach.
    pub(crate) fn load(file: &Path) -> Result<Documents, Fatal> {
        let fatal = |message: String| DocProblem {
            file: file.to_owned(),
            pointer: String::new(),
            message,
            severity: Severity::Error,
        };
        let canonical = file
            .canonicalize()
            .map_err(|e| fatal(format!("cannot read the OpenAPI document: {e}")))?;
        let text = read_regular_text(&canonical, INPUT_CAP)
            .map_err(|e| fatal(format!("cannot read the OpenAPI document: {e}")))?;
        let value = parse(&text).map_err(|e| fatal(e.to_string()))?;
        let version = version_of(&value).map_err(fatal)?;
        let mut docs = Documents {
            version,
            files: Vec::new(),
            by_path: HashMap::new(),
            unreadable: HashMap::new(),
            canonical: RefCell::new(HashMap::new()),
        };
        let mut total = text.len();
        let mut pending = Vec::new();
        refs_in(&value, &canonical, &docs.canonical, &mut pending);
        docs.add(canonical, value);
        // Every file reachable through references, read once.
        while let Some(next) = pending.pop() {
            if docs.by_path.contains_key(&next) || docs.unreadable.contains_key(&next) {
                continue;
            }
            if docs.files.len() >= MAX_FILES || total > MAX_TOTAL_BYTES {
                docs.unreadable.insert(
                    next,
                    format!(
                        "the document's files exceed {MAX_FILES} files or {} MiB",
                        MAX_TOTAL_BYTES >> 20
                    ),
                );
                continue;
            }
            let read = read_regular_text(&next, INPUT_CAP)
                .map_err(|e| e.to_string())
                .and_then(|t| {
                    total += t.len();
                    parse(&t).map_err(|e| e.to_string())
                });
            match read {
                Ok(v) => {
                    refs_in(&v, &next, &docs.canonical, &mut pending);
                    docs.add(next, v);
                }
                Err(e) => {
                    docs.unreadable.insert(next, e);
                }
            }
        }
        Ok(docs)
    }

    fn add(&mut self, path: PathBuf, value: Value) {
        let id = FileId(self.files.len() as u32);
        self.by_path.insert(path.clone(), id);
        self.files.push((path, value));
    }

    /// The canonical path of a loaded file.
    pub(crate) fn path(&self, id: FileId) -> &Path {
        &self.files[id.0 as usize].0
    }

    /// The place of the root document's top.
    pub(crate) fn top(&self) -> Place {
        Place {
            file: FileId(0),
            pointer: String::new(),
        }
    }

    /// Every file read, the root first, and those a reference names that could not be read
    /// (creating one is a fix): what a reload watches.
    pub(crate) fn files(&self) -> Vec<PathBuf> {
        let mut list: Vec<PathBuf> = self.files.iter().map(|(p, _)| p.clone()).collect();
        list.extend(self.unreadable.keys().cloned());
        list
    }

    /// The value at `place`.
    pub(crate) fn get(&self, place: &Place) -> Option<&Value> {
        self.files
            .get(place.file.0 as usize)?
            .1
            .pointer(&place.pointer)
    }

    /// Where the reference `target`, written in `from`'s file, points.
    pub(crate) fn target(&self, from: &Place, target: &str) -> Result<Place, String> {
        if target.starts_with("http://")
            || target.starts_with("https://")
            || target.starts_with("//")
        {
            return Err(format!(
                "'{target}' is a remote reference, which mockrig does not fetch: download the \
                 file and refer to it by a relative path"
            ));
        }
        let (path, fragment) = target.split_once('#').unwrap_or((target, ""));
        let fragment = percent_decode_str(fragment).decode_utf8_lossy();
        if !fragment.is_empty() && !fragment.starts_with('/') {
            return Err(format!(
                "'{target}': only JSON pointer fragments (#/components/...) are supported"
            ));
        }
        let file = if path.is_empty() {
            from.file
        } else {
            let folder = self.path(from.file).parent().unwrap_or(Path::new("/"));
            let canonical = canonical(&self.canonical, folder, path);
            if let Some(why) = self.unreadable.get(&canonical) {
                return Err(format!("'{target}' cannot be read: {why}"));
            }
            match self.by_path.get(&canonical) {
                Some(id) => *id,
                None => return Err(format!("'{target}' names no file that was read")),
            }
        };
        let place = Place {
            file,
            pointer: fragment.into_owned(),
        };
        if self.get(&place).is_none() {
            // The nearest key beside the missing one: `Pett` for `Pet`.
            let (parent, last) = place.pointer.rsplit_once('/').unwrap_or(("", ""));
            let last = last.replace("~1", "/").replace("~0", "~");
            let siblings: Vec<&str> = self
                .get(&Place {
                    file: place.file,
                    pointer: parent.to_owned(),
                })
                .and_then(Value::as_object)
                .map(|m| m.keys().map(String::as_str).collect())
                .unwrap_or_default();
            let hint = match crate::suggest::did_you_mean(&last, &siblings) {
                Some(s) => format!("; did you mean '{s}'?"),
                None => String::new(),
            };
            return Err(format!(
                "'{target}' points at nothing: no such key in the file{hint}"
            ));
        }
        Ok(place)
    }

    /// `place` with its references followed: the place of the value it stands for. A value
    /// that is no reference is its own target.
    pub(crate) fn deref(&self, place: &Place) -> Result<(Place, &Value), String> {
        let mut at = place.clone();
        for _ in 0..MAX_REF_HOPS {
            let value = self
                .get(&at)
                .ok_or_else(|| format!("nothing at {}", at.pointer))?;
            match value.get("$ref").and_then(Value::as_str) {
                Some(target) => at = self.target(&at, target)?,
                None => return Ok((at, value)),
            }
        }
        Err("a loop of references that only refer to each other".into())
    }
}

/// YAML or JSON text (JSON is read as YAML; a JSON file also parses as YAML).
fn parse(text: &str) -> Result<Value, serde_yaml::Error> {
    serde_yaml::from_str::<Lenient>(text).map(|l| l.0)
}

/// A JSON value read from YAML, with integers beyond 64 bits kept as numbers (as floats)
/// instead of refused: real documents write `maximum: 18446744073709552000`.
struct Lenient(Value);

impl<'de> serde::Deserialize<'de> for Lenient {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(LenientVisitor).map(Lenient)
    }
}

struct LenientVisitor;

impl<'de> serde::de::Visitor<'de> for LenientVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_i128<E>(self, v: i128) -> Result<Value, E> {
        Ok(Value::from(v as f64))
    }
    fn visit_u128<E>(self, v: u128) -> Result<Value, E> {
        Ok(Value::from(v as f64))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(LenientVisitor)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Lenient(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = serde_json::Map::new();
        while let Some((Lenient(k), Lenient(v))) = map.next_entry()? {
            // Keys such as `200:` are integers in YAML; JSON keys are text.
            let key = match k {
                Value::String(s) => s,
                other => other.to_string(),
            };
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

/// The version family of a document, or why it is not one mockrig serves.
fn version_of(doc: &Value) -> Result<Version, String> {
    if doc.get("swagger").is_some() {
        return Err(
            "this is a Swagger 2.0 document; mockrig serves OpenAPI 3.0 and 3.1. \
             Convert it first, e.g. with `npx swagger2openapi in.yaml -o out.yaml` or at \
             https://converter.swagger.io"
                .into(),
        );
    }
    let version = match doc.get("openapi") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(other) => {
            return Err(format!(
                "`openapi` must be a version such as 3.1.0, found {other}"
            ));
        }
        None => return Err("no `openapi: 3.x` key: this is no OpenAPI document".into()),
    };
    if version.starts_with("3.0") {
        Ok(Version::V30)
    } else if version.starts_with("3.1") {
        Ok(Version::V31)
    } else {
        Err(format!(
            "OpenAPI {version} is not supported: mockrig serves 3.0.x and 3.1.x"
        ))
    }
}

/// The files named by references anywhere in `value` (written in `file`), canonical
/// through `cache`.
fn refs_in(value: &Value, file: &Path, cache: &Canonical, out: &mut Vec<PathBuf>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(target)) = map.get("$ref") {
                let path = target.split('#').next().unwrap_or("");
                if !path.is_empty() && !path.contains("://") && !path.starts_with("//") {
                    out.push(canonical(
                        cache,
                        file.parent().unwrap_or(Path::new("/")),
                        path,
                    ));
                }
            }
            for v in map.values() {
                refs_in(v, file, cache, out);
            }
        }
        Value::Array(items) => {
            for v in items {
                refs_in(v, file, cache, out);
            }
        }
        _ => {}
    }
}

type Canonical = RefCell<HashMap<(PathBuf, String), PathBuf>>;

/// The canonical path of the reference `path` written in `folder`, looked up once.
fn canonical(cache: &Canonical, folder: &Path, path: &str) -> PathBuf {
    let key = (folder.to_path_buf(), path.to_owned());
    if let Some(c) = cache.borrow().get(&key) {
        return c.clone();
    }
    let decoded = percent_decode_str(path).decode_utf8_lossy();
    let joined = folder.join(&*decoded);
    let c = joined.canonicalize().unwrap_or(joined);
    cache.borrow_mut().insert(key, c.clone());
    c
}

/// The line and column (1-based) of `pointer` in `text`, at the key that names it where there
/// is one; the nearest enclosing place that exists when the pointer runs past the file.
#[cfg(test)]
pub(crate) fn locate(text: &str, pointer: &str) -> (usize, usize, usize) {
    Locator::new(text).locate(pointer)
}

/// A file parsed once with its positions, to place any number of problems in it.
pub(crate) struct Locator<'t> {
    docs: Vec<saphyr::MarkedYaml<'t>>,
}

impl<'t> Locator<'t> {
    pub(crate) fn new(text: &'t str) -> Locator<'t> {
        use saphyr::LoadableYamlNode;
        Locator {
            docs: saphyr::MarkedYaml::load_from_str(text).unwrap_or_default(),
        }
    }

    /// The line, column (1-based) and width of `pointer`, at the key that names it where
    /// there is one; the nearest enclosing place that exists when the pointer runs past the
    /// file.
    pub(crate) fn locate(&self, pointer: &str) -> (usize, usize, usize) {
        use crate::spec::locate::{Seg, locate as find};
        let Some(doc) = self.docs.first() else {
            return (1, 1, 1);
        };
        let segs: Vec<String> = pointer
            .split('/')
            .skip(1)
            .map(|s| s.replace("~1", "/").replace("~0", "~"))
            .collect();
        // The longest prefix of the pointer that is in the file.
        for len in (0..=segs.len()).rev() {
            let path: Vec<Seg> = segs[..len].iter().map(|s| Seg::Key(s.clone())).collect();
            let found = find(doc, &path).or_else(|| {
                // A list index is written as a number in the pointer.
                let path: Vec<Seg> = segs[..len]
                    .iter()
                    .map(|s| match s.parse::<usize>() {
                        Ok(i) => Seg::Index(i),
                        Err(_) => Seg::Key(s.clone()),
                    })
                    .collect();
                find(doc, &path)
            });
            if let Some((key, node)) = found {
                let at = key.unwrap_or(node);
                let width = at
                    .span
                    .end
                    .index()
                    .saturating_sub(at.span.start.index())
                    .max(1);
                return (at.span.start.line(), at.span.start.col() + 1, width);
            }
        }
        (1, 1, 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_and_swagger() {
        let v = |t: &str| version_of(&parse(t).unwrap());
        assert_eq!(v("openapi: 3.0.3").unwrap(), Version::V30);
        assert_eq!(v("openapi: 3.1.0").unwrap(), Version::V31);
        assert!(v("swagger: '2.0'").unwrap_err().contains("swagger2openapi"));
        assert!(v("openapi: 4.0.0").unwrap_err().contains("3.0.x and 3.1.x"));
    }

    #[test]
    fn yaml_beyond_json_is_read() {
        let v = parse("max: 18446744073709552000\n200: ok\ntrue: yes\nn: ~\n").unwrap();
        assert_eq!(v["max"].as_f64(), Some(18446744073709552000.0));
        assert_eq!(v["200"], "ok");
        assert_eq!(v["true"], "yes");
        assert!(v["n"].is_null());
    }

    #[test]
    fn pointers_are_located_at_their_keys() {
        let text = "openapi: 3.0.0\npaths:\n  /pets:\n    get:\n      responses:\n        200:\n          description: ok\n";
        assert_eq!(locate(text, "/paths/~1pets/get").0, 4);
        assert_eq!(locate(text, "/paths/~1pets/get/responses/200").0, 6);
        // Past the end: the nearest enclosing key.
        assert_eq!(locate(text, "/paths/~1pets/get/parameters/0").0, 4);
    }
}
