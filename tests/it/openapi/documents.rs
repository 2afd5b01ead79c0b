//! Reading the documents: YAML into JSON, `$ref`s across files, and the operations.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

use serde_json::{Map, Value, json};

use super::METHODS;

// ---------------------------------------------------------------------------------------------
// Reading documents: YAML into JSON values, and `$ref`s across files

/// Every file read so far, as JSON, by normalised absolute path.
#[derive(Default)]
pub(super) struct Files {
    files: HashMap<PathBuf, Value>,
}

/// YAML to JSON with every key a string: status codes are often written `200:`, which
/// serde_json's own map would refuse as an integer key.
fn yaml_to_json(v: serde_yaml::Value) -> Value {
    use serde_yaml::Value as Y;
    match v {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                json!(i)
            } else if let Some(u) = n.as_u64() {
                json!(u)
            } else {
                n.as_f64()
                    .and_then(serde_json::Number::from_f64)
                    .map_or(Value::Null, Value::Number)
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(items.into_iter().map(yaml_to_json).collect()),
        Y::Mapping(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| {
                    let key = match k {
                        Y::String(s) => s,
                        Y::Number(n) => n.to_string(),
                        Y::Bool(b) => b.to_string(),
                        Y::Null => "null".to_owned(),
                        other => serde_yaml::to_string(&other).unwrap().trim().to_owned(),
                    };
                    (key, yaml_to_json(v))
                })
                .collect(),
        ),
        Y::Tagged(t) => yaml_to_json(t.value),
    }
}

/// `path` without `.` and `..`, so one file has one key whatever route led to it.
pub(super) fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Some(v) = std::str::from_utf8(&b[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `text` with each integer beyond 64 bits (a MySQL maximum of 2^64 in DigitalOcean's
/// document) written as a float, which serde_yaml's values can hold.
fn widen_huge_integers(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        match line.rsplit_once(": ") {
            Some((head, tail)) if tail.len() >= 20 && tail.bytes().all(|b| b.is_ascii_digit()) => {
                out.push_str(&format!("{head}: {tail}.0"));
            }
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

impl Files {
    fn load(&mut self, file: &Path) -> &Value {
        self.files.entry(file.to_path_buf()).or_insert_with(|| {
            let text =
                std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            let y: serde_yaml::Value = serde_yaml::from_str(&text)
                .or_else(|_| serde_yaml::from_str(&widen_huge_integers(&text)))
                .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            yaml_to_json(y)
        })
    }

    /// The node at `pointer` (a JSON pointer, percent-encoded as in a `$ref`) of `file`.
    pub(super) fn node(&mut self, file: &Path, pointer: &str) -> Option<Value> {
        let mut at = self.load(file);
        for seg in pointer.split('/').skip(1) {
            let seg = percent_decode(seg).replace("~1", "/").replace("~0", "~");
            at = match at {
                Value::Object(m) => m.get(&seg)?,
                Value::Array(a) => a.get(seg.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(at.clone())
    }

    /// The file and pointer a `$ref` written in `file` names.
    pub(super) fn target(file: &Path, reference: &str) -> (PathBuf, String) {
        let (f, p) = reference.split_once('#').unwrap_or((reference, ""));
        let f = if f.is_empty() {
            file.to_path_buf()
        } else {
            normalise(&file.parent().unwrap().join(percent_decode(f)))
        };
        (f, p.to_owned())
    }

    /// `v` with its `$ref`s followed (a chain of them too), and the file the result is in.
    pub(super) fn deref(&mut self, file: &Path, v: &Value) -> (PathBuf, Value) {
        let (mut file, mut v) = (file.to_path_buf(), v.clone());
        for _ in 0..64 {
            let Some(r) = v.get("$ref").and_then(Value::as_str) else {
                return (file, v);
            };
            let (f, p) = Files::target(&file, r);
            v = self
                .node(&f, &p)
                .unwrap_or_else(|| panic!("unresolvable $ref {r} in {}", file.display()));
            file = f;
        }
        panic!("a cycle of $refs at {}", file.display())
    }
}

// ---------------------------------------------------------------------------------------------
// Operations

/// A parameter, resolved, with the file it was written in (for its schema's `$ref`s).
#[derive(Clone)]
pub(super) struct Param {
    pub(super) file: PathBuf,
    pub(super) value: Value,
}

impl Param {
    pub(super) fn name(&self) -> &str {
        self.value["name"].as_str().unwrap_or("")
    }
    pub(super) fn location(&self) -> &str {
        self.value["in"].as_str().unwrap_or("")
    }
    pub(super) fn required(&self) -> bool {
        self.location() == "path" || self.value["required"] == json!(true)
    }
}

pub(super) struct Op {
    pub(super) path: String,
    pub(super) method: String,
    /// The file the operation object is in.
    pub(super) file: PathBuf,
    pub(super) op: Value,
    /// Path-level and operation-level parameters, the operation's overriding.
    pub(super) params: Vec<Param>,
    /// The security requirements that apply (the operation's, else the document's).
    pub(super) security: Vec<Value>,
}

impl Op {
    pub(super) fn label(&self) -> String {
        format!("{} {}", self.method.to_uppercase(), self.path)
    }

    /// The keys of `responses`, as written (`200`, `2XX`, `default`).
    pub(super) fn declared(&self) -> Vec<String> {
        self.op["responses"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }
}

/// A document: its files, operations and security schemes.
pub(super) struct Doc {
    pub(super) top: PathBuf,
    pub(super) v30: bool,
    pub(super) files: Files,
    pub(super) ops: Vec<Op>,
    pub(super) schemes: Map<String, Value>,
}

pub(super) fn read_doc(dir: &Path, name: &'static str) -> Doc {
    let top = normalise(&dir.join(name));
    let mut files = Files::default();
    let root = files.load(&top).clone();
    let v30 = root["openapi"]
        .as_str()
        .is_some_and(|v| v.starts_with("3.0"));
    let mut schemes = Map::new();
    if let Some(s) = root["components"]["securitySchemes"].as_object() {
        for (k, v) in s {
            schemes.insert(k.clone(), files.deref(&top, v).1);
        }
    }
    let top_security = root["security"].as_array().cloned().unwrap_or_default();
    let mut ops = Vec::new();
    for (path, item) in root["paths"].as_object().cloned().unwrap_or_default() {
        if !path.starts_with('/') {
            continue;
        }
        let (item_file, item) = files.deref(&top, &item);
        let path_params = params_of(&mut files, &item_file, &item["parameters"]);
        for method in METHODS {
            let Some(op) = item.get(*method) else {
                continue;
            };
            let (file, op) = files.deref(&item_file, op);
            let mut params = path_params.clone();
            for p in params_of(&mut files, &file, &op["parameters"]) {
                params.retain(|q| (q.name(), q.location()) != (p.name(), p.location()));
                params.push(p);
            }
            let security = op["security"]
                .as_array()
                .cloned()
                .unwrap_or_else(|| top_security.clone());
            ops.push(Op {
                path: path.clone(),
                method: (*method).to_owned(),
                file,
                op,
                params,
                security,
            });
        }
    }
    Doc {
        top,
        v30,
        files,
        ops,
        schemes,
    }
}

fn params_of(files: &mut Files, file: &Path, list: &Value) -> Vec<Param> {
    list.as_array()
        .map(|l| {
            l.iter()
                .map(|p| {
                    let (file, value) = files.deref(file, p);
                    Param { file, value }
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Whether `status` is one of `declared` (a code, its `NXX` range, or `default`).
pub(super) fn is_declared(declared: &[String], status: u16) -> bool {
    declared.iter().any(|k| {
        k == &status.to_string()
            || k.eq_ignore_ascii_case(&format!("{}XX", status / 100))
            || k == "default"
    })
}

/// The response object answering `status`: the exact code, its range, else `default`.
pub(super) fn response_for(files: &mut Files, op: &Op, status: u16) -> Option<(PathBuf, Value)> {
    let responses = op.op["responses"].as_object()?;
    let key = responses
        .keys()
        .find(|k| **k == status.to_string())
        .or_else(|| {
            responses
                .keys()
                .find(|k| k.eq_ignore_ascii_case(&format!("{}XX", status / 100)))
        })
        .or_else(|| responses.keys().find(|k| *k == "default"))?;
    Some(files.deref(&op.file, &responses[key]))
}
