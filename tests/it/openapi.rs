//! OpenAPI 3.x over real public documents (`../shared/fixtures/openapi/`): the OAI's own
//! examples, Spotify's Web API, Twilio's 1.5 MB API and DigitalOcean's API split over ~2,900
//! files joined by relative `$ref`s. Documents nobody on this project wrote are what users
//! bring, and they exercise what hand-made ones do not: `$ref`s into other files, form
//! bodies, patterns on every path parameter, `nullable`, `allOf` chains, hundreds of
//! operations.
//!
//! The test reads each document itself (serde_yaml, its own `$ref` resolver) to know what
//! mockrig should serve, builds for every operation a request it can vouch for (each value
//! checked against its schema with the `jsonschema` crate), and judges mockrig's answers
//! against the document: the status is one the operation declares, the request reached that
//! operation (the journal), a generated body validates against the response's schema, a
//! broken request is refused at the right `location`. Failures are collected per operation
//! and reported together, so one run shows every operation that fails and why.
//!
//! When the fixtures folder is absent (a user's own clone has no `../shared`), each test
//! prints why and returns.

use std::collections::{BTreeMap, HashMap};
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use serde_json::{Map, Value, json};

use crate::common::{self, Mock};

// ---------------------------------------------------------------------------------------------
// Where the documents are

/// The fixtures folder, or `None` (after saying so) when this checkout has none.
fn fixtures() -> Option<PathBuf> {
    let dir = common::repo_path("../shared/fixtures/openapi");
    match std::fs::canonicalize(&dir) {
        Ok(d) if d.is_dir() => Some(d),
        _ => {
            eprintln!(
                "skipped: {} is absent (the shared fixtures are not part of a user's clone)",
                dir.display()
            );
            None
        }
    }
}

/// The load test times mockrig loading the large documents, which the other tests load and
/// query on the same cores: they hold this for reading, the load test for writing, so its
/// times are its own.
static CORES: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

const PETSTORE: &str = "examples/v3.0/petstore.yaml";
const PETSTORE_EXPANDED: &str = "examples/v3.0/petstore-expanded.yaml";
const SPOTIFY: &str = "examples/spotify-web-api.yaml";
const TWILIO: &str = "twilio_api_v2010.yaml";
const DIGITALOCEAN: &str = "digitalocean/specification/DigitalOcean-public.v2.yaml";

/// An operation of each large document that needs credentials and nothing else.
const TWILIO_ACCOUNTS: &str = "/2010-04-01/Accounts.json";
const DIGITALOCEAN_ACCOUNT: &str = "/v2/account";

/// Every document of the fixtures, with the number of operations each has: counted here from
/// the text as a check on the test's own enumeration (a resolver that lost operations would
/// make every other assertion vacuous).
const DOCUMENTS: &[(&str, usize)] = &[
    (PETSTORE, 3),
    (PETSTORE_EXPANDED, 4),
    ("examples/v3.0/api-with-examples.yaml", 2),
    ("examples/v3.0/uspto.yaml", 3),
    ("examples/v3.0/link-example.yaml", 6),
    ("examples/v3.0/callback-example.yaml", 1),
    // Webhooks only: nothing to serve under `paths`.
    ("examples/v3.1/webhook-example.yaml", 0),
    ("examples/v3.1/non-oauth-scopes.yaml", 1),
    (SPOTIFY, 97),
    (TWILIO, 197),
    (DIGITALOCEAN, 659),
];

/// The documents whose generated answers test 2 validates.
const GENERATED: &[&str] = &[PETSTORE, PETSTORE_EXPANDED, SPOTIFY, TWILIO, DIGITALOCEAN];

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// The seed of mockrig's fake data here (`--seed`).
const SEED: u64 = 7;

/// Serves the document at `doc` (absolute) through a spec's `openapi:` key, watched as a
/// user's would be. mockrig reads a document outside the spec's folder, so the fixtures are
/// used where they are. mockrig refusing a document is a finding like any other, so it is
/// returned, not a panic: the other documents are still tested.
fn serve(doc: &Path, validate: bool) -> Result<Mock, String> {
    serve_with(doc, validate, false, true)
}

fn serve_with(doc: &Path, validate: bool, dynamic: bool, watch: bool) -> Result<Mock, String> {
    let dir = tempfile::tempdir().expect("temp dir");
    let spec = dir.path().join("api.yaml");
    std::fs::write(&spec, spec_for(doc, validate, dynamic)).unwrap();
    let mut config = common::config(&spec);
    config.watch = watch;
    // Fake data drawn the same way in every run: a failure seen once is seen again.
    config.seed = Some(SEED);
    let server = mockrig::MockServer::with_config(config).map_err(|e| {
        let text = e.to_string();
        let lines: Vec<&str> = text.lines().take(3).collect();
        format!("mockrig did not start: {}", lines.join(" / "))
    })?;
    let mut m = Mock::attach(server);
    m.dir = dir;
    Ok(m)
}

fn spec_for(doc: &Path, validate: bool, dynamic: bool) -> String {
    format!(
        "openapi:\n  file: '{}'\n  validate: {validate}\n  dynamic: {dynamic}\n",
        doc.display()
    )
}

// ---------------------------------------------------------------------------------------------
// Reading documents: YAML into JSON values, and `$ref`s across files

/// Every file read so far, as JSON, by normalised absolute path.
#[derive(Default)]
struct Files {
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
fn normalise(path: &Path) -> PathBuf {
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
    fn node(&mut self, file: &Path, pointer: &str) -> Option<Value> {
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
    fn target(file: &Path, reference: &str) -> (PathBuf, String) {
        let (f, p) = reference.split_once('#').unwrap_or((reference, ""));
        let f = if f.is_empty() {
            file.to_path_buf()
        } else {
            normalise(&file.parent().unwrap().join(percent_decode(f)))
        };
        (f, p.to_owned())
    }

    /// `v` with its `$ref`s followed (a chain of them too), and the file the result is in.
    fn deref(&mut self, file: &Path, v: &Value) -> (PathBuf, Value) {
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
struct Param {
    file: PathBuf,
    value: Value,
}

impl Param {
    fn name(&self) -> &str {
        self.value["name"].as_str().unwrap_or("")
    }
    fn location(&self) -> &str {
        self.value["in"].as_str().unwrap_or("")
    }
    fn required(&self) -> bool {
        self.location() == "path" || self.value["required"] == json!(true)
    }
}

struct Op {
    path: String,
    method: String,
    /// The file the operation object is in.
    file: PathBuf,
    op: Value,
    /// Path-level and operation-level parameters, the operation's overriding.
    params: Vec<Param>,
    /// The security requirements that apply (the operation's, else the document's).
    security: Vec<Value>,
}

impl Op {
    fn label(&self) -> String {
        format!("{} {}", self.method.to_uppercase(), self.path)
    }

    /// The keys of `responses`, as written (`200`, `2XX`, `default`).
    fn declared(&self) -> Vec<String> {
        self.op["responses"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }
}

/// A document: its files, operations and security schemes.
struct Doc {
    top: PathBuf,
    v30: bool,
    files: Files,
    ops: Vec<Op>,
    schemes: Map<String, Value>,
}

fn read_doc(dir: &Path, name: &'static str) -> Doc {
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
fn is_declared(declared: &[String], status: u16) -> bool {
    declared.iter().any(|k| {
        k == &status.to_string()
            || k.eq_ignore_ascii_case(&format!("{}XX", status / 100))
            || k == "default"
    })
}

/// The response object answering `status`: the exact code, its range, else `default`.
fn response_for(files: &mut Files, op: &Op, status: u16) -> Option<(PathBuf, Value)> {
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

// ---------------------------------------------------------------------------------------------
// Schemas: made self-contained (every `$ref` into `$defs`) and in JSON Schema 2020-12

#[derive(Clone, Copy, PartialEq)]
enum Direction {
    Request,
    Response,
}

/// A schema with everything it references under `defs`, whatever file that was in.
struct Bundled {
    root: Value,
    defs: Map<String, Value>,
}

impl Bundled {
    /// The schema to compile: `root` beside the `$defs` its references point into.
    fn schema(&self) -> Value {
        json!({ "$defs": self.defs, "allOf": [self.root] })
    }

    /// Every example and default written in the schema: a value mockrig took from the
    /// document itself, which may be wrong without mockrig being so.
    fn document_values(&self) -> Vec<Value> {
        // `names`: the keys of `v` are property names (a property may be called `default`).
        fn walk(v: &Value, names: bool, out: &mut Vec<Value>) {
            match v {
                Value::Object(m) => {
                    for (k, v) in m {
                        match k.as_str() {
                            _ if names => walk(v, false, out),
                            "example" | "default" => out.push(v.clone()),
                            "examples" => out.extend(v.as_array().cloned().unwrap_or_default()),
                            "properties" | "patternProperties" => walk(v, true, out),
                            _ => walk(v, false, out),
                        }
                    }
                }
                Value::Array(a) => a.iter().for_each(|v| walk(v, false, out)),
                _ => {}
            }
        }
        let mut out = Vec::new();
        walk(&self.root, false, &mut out);
        self.defs.values().for_each(|d| walk(d, false, &mut out));
        out
    }
}

struct Bundler<'f> {
    files: &'f mut Files,
    v30: bool,
    direction: Direction,
    names: HashMap<(PathBuf, String), String>,
    defs: Map<String, Value>,
    todo: Vec<(String, PathBuf, String)>,
}

/// `schema` (written in `file`) as a self-contained 2020-12 schema. For 3.0: `nullable`
/// admits null, boolean `exclusiveMinimum`/`Maximum` become numbers, siblings of `$ref` are
/// ignored (as 3.0 says). Properties the direction does not carry (`readOnly` in a request,
/// `writeOnly` in a response) are not required. Where 3.0 readings differ (`nullable` beside
/// `enum`, or without `type`), this takes the lenient one: the test must not fail mockrig
/// for what a reasonable reading allows.
fn bundle(
    files: &mut Files,
    file: &Path,
    schema: &Value,
    v30: bool,
    direction: Direction,
) -> Bundled {
    let mut b = Bundler {
        files,
        v30,
        direction,
        names: HashMap::new(),
        defs: Map::new(),
        todo: Vec::new(),
    };
    let root = b.schema(file, schema);
    while let Some((name, f, p)) = b.todo.pop() {
        let target = b
            .files
            .node(&f, &p)
            .unwrap_or_else(|| panic!("unresolvable $ref {}#{p}", f.display()));
        let s = b.schema(&f, &target);
        b.defs.insert(name, s);
    }
    Bundled { root, defs: b.defs }
}

impl Bundler<'_> {
    fn name_of(&mut self, file: &Path, reference: &str) -> String {
        let key = Files::target(file, reference);
        if let Some(n) = self.names.get(&key) {
            return n.clone();
        }
        let name = format!("d{}", self.names.len());
        self.names.insert(key.clone(), name.clone());
        self.todo.push((name.clone(), key.0, key.1));
        name
    }

    fn schema(&mut self, file: &Path, s: &Value) -> Value {
        let Value::Object(m) = s else {
            return s.clone();
        };
        if let Some(r) = m.get("$ref").and_then(Value::as_str) {
            let reference = format!("#/$defs/{}", self.name_of(file, r));
            if self.v30 {
                // 3.0 ignores what is beside a `$ref`; `nullable` there is honoured all the
                // same, as tools do, since it only admits more.
                if m.get("nullable") == Some(&json!(true)) {
                    return json!({ "anyOf": [{ "type": "null" }, { "$ref": reference }] });
                }
                return json!({ "$ref": reference });
            }
            let mut rest = m.clone();
            rest.remove("$ref");
            let mut out = self.schema(file, &Value::Object(rest));
            out["$ref"] = json!(reference);
            return out;
        }
        let mut out = Map::new();
        for (k, v) in m {
            let v = match k.as_str() {
                "properties" | "patternProperties" | "$defs" | "definitions"
                | "dependentSchemas" => {
                    // DigitalOcean writes `properties: { $ref: attributes.yml#/… }`: the
                    // whole map in another file.
                    let (map_file, map) = self.files.deref(file, v);
                    Value::Object(
                        map.as_object()
                            .map(|o| {
                                o.iter()
                                    .map(|(k, v)| (k.clone(), self.schema(&map_file, v)))
                                    .collect()
                            })
                            .unwrap_or_default(),
                    )
                }
                "allOf" | "anyOf" | "oneOf" | "prefixItems" => Value::Array(
                    v.as_array()
                        .map(|a| a.iter().map(|v| self.schema(file, v)).collect())
                        .unwrap_or_default(),
                ),
                "items" if v.is_array() => Value::Array(
                    v.as_array()
                        .unwrap()
                        .iter()
                        .map(|v| self.schema(file, v))
                        .collect(),
                ),
                "items"
                | "additionalProperties"
                | "not"
                | "if"
                | "then"
                | "else"
                | "contains"
                | "propertyNames"
                | "unevaluatedProperties"
                | "unevaluatedItems"
                | "additionalItems"
                | "contentSchema" => self.schema(file, v),
                // Annotations and OpenAPI's own keywords: nothing to validate. `example`,
                // `examples` (as a list) and `default` stay for the test's own generator.
                "discriminator" | "xml" | "externalDocs" | "$schema" | "$id" | "$anchor"
                | "$dynamicAnchor" | "$comment" | "description" | "title" | "deprecated"
                | "readOnly" | "writeOnly" => continue,
                "examples" if !v.is_array() => continue,
                k if k.starts_with("x-") => continue,
                "nullable" if self.v30 => continue,
                "exclusiveMinimum" | "exclusiveMaximum" if self.v30 && v.is_boolean() => {
                    continue;
                }
                _ => v.clone(),
            };
            out.insert(k.clone(), v);
        }
        if self.v30 {
            for (exclusive, bound) in [
                ("exclusiveMinimum", "minimum"),
                ("exclusiveMaximum", "maximum"),
            ] {
                if m.get(exclusive) == Some(&json!(true))
                    && let Some(b) = out.remove(bound)
                {
                    out.insert(exclusive.to_owned(), b);
                }
            }
        }
        let props = m.get("properties").map(|p| self.files.deref(file, p));
        if let (Some(Value::Array(required)), Some((props_file, Value::Object(props)))) =
            (m.get("required"), &props)
        {
            let skip = match self.direction {
                Direction::Request => "readOnly",
                Direction::Response => "writeOnly",
            };
            let kept: Vec<Value> = required
                .iter()
                .filter(|n| {
                    let Some(p) = n.as_str().and_then(|n| props.get(n)) else {
                        return true;
                    };
                    let (_, p) = self.files.deref(props_file, p);
                    p.get(skip) != Some(&json!(true))
                })
                .cloned()
                .collect();
            out.insert("required".into(), Value::Array(kept));
        }
        let out = Value::Object(out);
        if self.v30 && m.get("nullable") == Some(&json!(true)) {
            return json!({ "anyOf": [{ "type": "null" }, out] });
        }
        out
    }
}

/// A compiled schema, formats checked: a `date-time` that is not one is as wrong to a
/// client as a number where a string belongs.
struct Checker(jsonschema::Validator);

impl Checker {
    fn new(b: &Bundled) -> Result<Checker, String> {
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .should_validate_formats(true)
            .build(&b.schema())
            .map(Checker)
            .map_err(|e| format!("the test could not compile the schema: {e}"))
    }

    fn valid(&self, v: &Value) -> bool {
        self.0.is_valid(v)
    }

    /// Each error as `("/path", "/path: message", whether it is a value valid under more than
    /// one branch of a `oneOf`)`.
    fn errors(&self, v: &Value) -> Vec<(String, String, bool)> {
        self.0
            .iter_errors(v)
            .map(|e| {
                let mut msg = e.to_string();
                if msg.len() > 160 {
                    let cut = (0..=160).rev().find(|i| msg.is_char_boundary(*i)).unwrap();
                    msg.truncate(cut);
                    msg.push('…');
                }
                let at = e.instance_path().to_string();
                let text = format!("{at}: {msg}");
                let overlap = matches!(
                    e.kind(),
                    jsonschema::error::ValidationErrorKind::OneOfMultipleValid { .. }
                );
                (at, text, overlap)
            })
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// The test's own values for schemas: simple and checked, never trusted blindly

struct Gen<'b> {
    defs: &'b Map<String, Value>,
    /// Whether the schema's own `example`s and `default`s come first.
    examples: bool,
}

impl Gen<'_> {
    fn value(&self, s: &Value, depth: usize) -> Value {
        let Value::Object(m) = s else {
            return if *s == json!(true) {
                json!("abc")
            } else {
                Value::Null
            };
        };
        if depth > 24 {
            return Value::Null;
        }
        if let Some(r) = m.get("$ref").and_then(Value::as_str) {
            let name = r.trim_start_matches("#/$defs/");
            return self
                .defs
                .get(name)
                .map_or(Value::Null, |t| self.value(t, depth + 1));
        }
        if self.examples {
            if let Some(e) = m.get("example") {
                return e.clone();
            }
            if let Some(e) = m.get("examples").and_then(|e| e.get(0)) {
                return e.clone();
            }
            if let Some(d) = m.get("default") {
                return d.clone();
            }
        }
        if let Some(c) = m.get("const") {
            return c.clone();
        }
        if let Some(Value::Array(e)) = m.get("enum") {
            return e
                .iter()
                .find(|v| !v.is_null())
                .or(e.first())
                .cloned()
                .unwrap_or_default();
        }
        let mut out = self.by_type(m, depth);
        if let Some(Value::Array(parts)) = m.get("allOf") {
            for p in parts {
                out = Some(merge(out, self.value(p, depth + 1)));
            }
        }
        for key in ["oneOf", "anyOf"] {
            if let Some(Value::Array(alts)) = m.get(key) {
                let alt = alts
                    .iter()
                    .find(|a| a.get("type") != Some(&json!("null")))
                    .or(alts.first());
                if let Some(a) = alt {
                    out = Some(merge(out, self.value(a, depth + 1)));
                }
            }
        }
        out.unwrap_or_else(|| json!("abc"))
    }

    fn by_type(&self, m: &Map<String, Value>, depth: usize) -> Option<Value> {
        let ty = match m.get("type") {
            Some(Value::String(t)) => t.as_str(),
            Some(Value::Array(ts)) => ts
                .iter()
                .filter_map(Value::as_str)
                .find(|t| *t != "null")
                .unwrap_or("null"),
            _ if m.contains_key("properties") || m.contains_key("required") => "object",
            _ if m.contains_key("items") => "array",
            _ => return None,
        };
        Some(match ty {
            "object" => {
                let mut o = Map::new();
                for name in m
                    .get("required")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let Some(name) = name.as_str() else { continue };
                    let s = m
                        .get("properties")
                        .and_then(|p| p.get(name))
                        .or_else(|| m.get("additionalProperties").filter(|a| a.is_object()))
                        .cloned()
                        .unwrap_or(json!(true));
                    o.insert(name.to_owned(), self.value(&s, depth + 1));
                }
                Value::Object(o)
            }
            "array" => {
                let n = m
                    .get("minItems")
                    .and_then(Value::as_u64)
                    .unwrap_or(0)
                    .min(8);
                let item = m.get("items").cloned().unwrap_or(json!(true));
                Value::Array((0..n).map(|_| self.value(&item, depth + 1)).collect())
            }
            "string" => json!(string_for(m)),
            "integer" => json!(number_for(m).ceil() as i64),
            "number" => json!(number_for(m)),
            "boolean" => json!(true),
            _ => Value::Null,
        })
    }
}

/// `b` laid over `a`: objects merged (what `a` has stays), anything else replaced.
fn merge(a: Option<Value>, b: Value) -> Value {
    match (a, b) {
        (Some(Value::Object(mut a)), Value::Object(b)) => {
            for (k, v) in b {
                let merged = merge(a.remove(&k), v);
                a.insert(k, merged);
            }
            Value::Object(a)
        }
        (Some(a), Value::Null) => a,
        (_, b) => b,
    }
}

fn number_for(m: &Map<String, Value>) -> f64 {
    let f = |k: &str| m.get(k).and_then(Value::as_f64);
    let mut v: f64 = 1.0;
    if let Some(lo) = f("minimum") {
        v = v.max(lo);
    }
    if let Some(lo) = f("exclusiveMinimum") {
        v = v.max(lo.floor() + 1.0);
    }
    if let Some(hi) = f("maximum") {
        v = v.min(hi);
    }
    if let Some(hi) = f("exclusiveMaximum") {
        v = v.min(hi.ceil() - 1.0);
    }
    if let Some(k) = f("multipleOf").filter(|k| *k > 0.0) {
        v = (v / k).ceil() * k;
    }
    v
}

fn string_for(m: &Map<String, Value>) -> String {
    let format = m.get("format").and_then(Value::as_str).unwrap_or("");
    let mut s = match format {
        "date-time" => "2024-01-02T03:04:05Z".to_owned(),
        "date" => "2024-01-02".into(),
        "time" => "03:04:05Z".into(),
        "email" => "user@example.com".into(),
        "uri" | "url" | "iri" => "https://example.com/".into(),
        "uri-reference" | "iri-reference" => "/a".into(),
        "hostname" => "example.com".into(),
        "ipv4" => "192.0.2.1".into(),
        "ipv6" => "2001:db8::1".into(),
        "uuid" => "3fa85f64-5717-4562-b3fc-2c963f66afa6".into(),
        "byte" => "YWJj".into(),
        "duration" => "P1D".into(),
        _ => m
            .get("pattern")
            .and_then(Value::as_str)
            .and_then(from_pattern)
            .unwrap_or_else(|| "abc".into()),
    };
    let min = m.get("minLength").and_then(Value::as_u64).unwrap_or(0) as usize;
    while s.chars().count() < min {
        s.push('a');
    }
    if let Some(max) = m.get("maxLength").and_then(Value::as_u64) {
        s = s.chars().take(max as usize).collect();
    }
    s
}

/// A string matching a simple regular expression (`^AC[0-9a-fA-F]{32}$`, `^(SM|MM)…`):
/// literals, classes (their first member), groups (their first alternative), `{n}`, `+`, `*`,
/// `?`. Anything it gets wrong fails the check the value goes through next.
fn from_pattern(p: &str) -> Option<String> {
    fn seq(c: &[char], i: &mut usize, out: &mut String) -> Option<()> {
        while *i < c.len() {
            let atom_start = out.len();
            match c[*i] {
                ')' => return Some(()),
                '|' => {
                    // The first alternative is written: skip the others, to this group's end.
                    let mut depth = 0;
                    while *i < c.len() {
                        match c[*i] {
                            '\\' => *i += 1,
                            '(' => depth += 1,
                            ')' if depth == 0 => return Some(()),
                            ')' => depth -= 1,
                            _ => {}
                        }
                        *i += 1;
                    }
                    return Some(());
                }
                '^' | '$' => {
                    *i += 1;
                    continue;
                }
                '\\' => {
                    *i += 1;
                    out.push(escaped(*c.get(*i)?));
                    *i += 1;
                }
                '[' => {
                    *i += 1;
                    let negated = c.get(*i) == Some(&'^');
                    if negated {
                        *i += 1;
                    }
                    let first = match c.get(*i)? {
                        '\\' => escaped(*c.get(*i + 1)?),
                        ch => *ch,
                    };
                    while *i < c.len() && c[*i] != ']' {
                        if c[*i] == '\\' {
                            *i += 1;
                        }
                        *i += 1;
                    }
                    *i += 1;
                    out.push(if negated {
                        if first == 'a' { 'b' } else { 'a' }
                    } else {
                        first
                    });
                }
                '(' => {
                    *i += 1;
                    if c.get(*i) == Some(&'?') {
                        *i += 2; // `(?:`
                    }
                    seq(c, i, out)?;
                    *i += 1; // `)`
                }
                '.' => {
                    out.push('a');
                    *i += 1;
                }
                ch => {
                    out.push(ch);
                    *i += 1;
                }
            }
            // A quantifier applies to the atom just written.
            let atom = out[atom_start..].to_owned();
            let times = match c.get(*i) {
                Some('*') | Some('?') => {
                    *i += 1;
                    0
                }
                Some('+') => {
                    *i += 1;
                    1
                }
                Some('{') => {
                    let end = c[*i..].iter().position(|x| *x == '}')? + *i;
                    let inner: String = c[*i + 1..end].iter().collect();
                    *i = end + 1;
                    inner.split(',').next()?.trim().parse::<usize>().ok()?
                }
                _ => 1,
            };
            if c.get(*i) == Some(&'?') {
                *i += 1; // lazy
            }
            out.truncate(atom_start);
            out.push_str(&atom.repeat(times));
        }
        Some(())
    }
    fn escaped(ch: char) -> char {
        match ch {
            'd' => '0',
            'w' | 'S' | 'D' => 'a',
            's' => ' ',
            'W' => '-',
            other => other,
        }
    }
    let chars: Vec<char> = p.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    seq(&chars, &mut i, &mut out)?;
    Some(out)
}

/// A value for `schema` (in `file`) and whether it passes the schema: the document's examples
/// (`given`) are tried first, then the test's generator with and without the schema's own
/// examples. The test vouches only for values that pass.
fn valid_value(
    files: &mut Files,
    file: &Path,
    schema: &Value,
    v30: bool,
    given: &[Value],
) -> (Value, bool) {
    let b = bundle(files, file, schema, v30, Direction::Request);
    let Ok(check) = Checker::new(&b) else {
        return (json!("abc"), false);
    };
    let mut candidates: Vec<Value> = given.to_vec();
    for examples in [true, false] {
        candidates.push(
            Gen {
                defs: &b.defs,
                examples,
            }
            .value(&b.root, 0),
        );
    }
    let found = candidates.iter().find(|c| check.valid(c)).cloned();
    let valid = found.is_some();
    (
        found.unwrap_or_else(|| candidates.last().cloned().unwrap()),
        valid,
    )
}

// ---------------------------------------------------------------------------------------------
// Requests

/// A request for an operation, built from the document.
#[derive(Clone)]
struct Req {
    method: String,
    template: String,
    path_values: BTreeMap<String, String>,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    /// The body's media type and value (see [`build`] for when there is one).
    body: Option<(String, Value)>,
    /// Why the test cannot vouch for the request; empty when every part was checked valid.
    unsure: Vec<String>,
}

impl Req {
    fn url_path(&self) -> String {
        let mut p = self.template.clone();
        for (name, value) in &self.path_values {
            p = p.replace(&format!("{{{name}}}"), &encode_segment(value));
        }
        p
    }

    /// The path and query, encoded.
    fn target(&self) -> String {
        let query: Vec<String> = self
            .query
            .iter()
            .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
            .collect();
        if query.is_empty() {
            self.url_path()
        } else {
            format!("{}?{}", self.url_path(), query.join("&"))
        }
    }
}

fn encode_segment(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~:@!$&'()*+,;=".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The examples a parameter or media type gives (`example`, then each of `examples`).
fn given_examples(files: &mut Files, file: &Path, holder: &Value) -> Vec<Value> {
    let mut out: Vec<Value> = holder.get("example").cloned().into_iter().collect();
    for ex in holder["examples"]
        .as_object()
        .into_iter()
        .flat_map(|m| m.values())
    {
        let (_, ex) = files.deref(file, ex);
        if let Some(v) = ex.get("value") {
            out.push(v.clone());
        }
    }
    out
}

/// The request the test vouches for: every required parameter with a value valid for its
/// schema, the credentials of the first security requirement, a valid body. What the test
/// could not check is in `unsure`.
fn build(doc: &mut Doc, i: usize) -> Req {
    let op = &doc.ops[i];
    let files = &mut doc.files;
    let mut req = Req {
        method: op.method.clone(),
        template: op.path.clone(),
        path_values: BTreeMap::new(),
        query: Vec::new(),
        headers: Vec::new(),
        body: None,
        unsure: Vec::new(),
    };
    let mut cookies = Vec::new();
    for p in &op.params {
        let (name, location) = (p.name().to_owned(), p.location().to_owned());
        // OpenAPI ignores these header parameters: they are the protocol's.
        if location == "header"
            && ["accept", "content-type", "authorization"]
                .contains(&name.to_ascii_lowercase().as_str())
        {
            continue;
        }
        if !p.required() {
            continue;
        }
        let Some(schema) = p.value.get("schema") else {
            req.unsure
                .push(format!("{location}/{name}: no schema (content)"));
            if location == "path" {
                req.path_values.insert(name, "abc".into());
            }
            continue;
        };
        let given = given_examples(files, &p.file, &p.value);
        let (value, valid) = valid_value(files, &p.file, schema, doc.v30, &given);
        if !valid {
            req.unsure
                .push(format!("{location}/{name}: no value the test could check"));
        }
        // Arrays in the default styles: `form` for query and cookie (repeated when exploded,
        // the default; else comma-joined), `simple` for path and header (comma-joined).
        let style = p.value["style"].as_str();
        let explode = p.value["explode"]
            .as_bool()
            .unwrap_or(style.is_none_or(|s| s == "form"));
        let default_style = match location.as_str() {
            "query" | "cookie" => style.is_none_or(|s| s == "form"),
            _ => style.is_none_or(|s| s == "simple"),
        };
        let texts: Vec<String> = match &value {
            Value::Array(items) => items.iter().filter_map(text_of).collect(),
            v => text_of(v).into_iter().collect(),
        };
        if value.is_object() || (value.is_array() && !default_style) {
            req.unsure
                .push(format!("{location}/{name}: structured value"));
        }
        match location.as_str() {
            "path" => {
                req.path_values.insert(name, texts.join(","));
            }
            "query" if explode => req
                .query
                .extend(texts.into_iter().map(|t| (name.clone(), t))),
            "query" => req.query.push((name, texts.join(","))),
            "header" => req.headers.push((name, texts.join(","))),
            "cookie" => cookies.push(format!("{name}={}", texts.join(","))),
            _ => {}
        }
    }
    // Path parameters the template names but no parameter declares still need a value.
    for seg in op.path.split('{').skip(1) {
        if let Some(name) = seg.split('}').next()
            && !req.path_values.contains_key(name)
        {
            req.unsure.push(format!("path/{name}: undeclared"));
            req.path_values.insert(name.to_owned(), "1".into());
        }
    }
    // Credentials: the first requirement (an empty one means none are needed).
    let requirement = if op
        .security
        .iter()
        .any(|r| r.as_object().is_some_and(Map::is_empty))
    {
        None
    } else {
        op.security.first().and_then(Value::as_object)
    };
    for scheme_name in requirement.into_iter().flat_map(|r| r.keys()) {
        let Some(s) = doc.schemes.get(scheme_name) else {
            req.unsure
                .push(format!("security scheme {scheme_name} is not declared"));
            continue;
        };
        let kind = s["type"].as_str().unwrap_or("");
        match kind {
            "apiKey" => {
                let name = s["name"].as_str().unwrap_or("").to_owned();
                match s["in"].as_str().unwrap_or("") {
                    "header" => req.headers.push((name, "key".into())),
                    "query" => req.query.push((name, "key".into())),
                    "cookie" => cookies.push(format!("{name}=key")),
                    other => req.unsure.push(format!("apiKey in {other}")),
                }
            }
            "http" => match s["scheme"]
                .as_str()
                .unwrap_or("")
                .to_ascii_lowercase()
                .as_str()
            {
                "basic" => req
                    .headers
                    .push(("Authorization".into(), "Basic dXNlcjpwYXNz".into())),
                "bearer" => req
                    .headers
                    .push(("Authorization".into(), "Bearer token".into())),
                other => req
                    .headers
                    .push(("Authorization".into(), format!("{other} abc"))),
            },
            "oauth2" | "openIdConnect" => req
                .headers
                .push(("Authorization".into(), "Bearer token".into())),
            other => req.unsure.push(format!("security scheme of type {other}")),
        }
    }
    if req
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("authorization"))
        .count()
        > 1
    {
        req.unsure
            .push("two schemes both want Authorization".into());
    }
    if !cookies.is_empty() {
        req.headers.push(("Cookie".into(), cookies.join("; ")));
    }
    // A body: always when required; when optional, only one the test can vouch for (an
    // optional body is sent too, so that its fields are checked, as Twilio's form bodies
    // are all optional yet require fields).
    if let Some(rb) = op.op.get("requestBody") {
        let (rb_file, rb) = files.deref(&op.file, rb);
        let required = rb["required"] == json!(true);
        let content = rb["content"].as_object().cloned().unwrap_or_default();
        let rank = |m: &str| {
            let m = m.to_ascii_lowercase();
            if m == "application/json" {
                0
            } else if m.contains("json") {
                1
            } else if m == "application/x-www-form-urlencoded" {
                2
            } else if m == "multipart/form-data" {
                3
            } else if m.starts_with("text/plain") || m == "application/octet-stream" {
                4
            } else {
                5
            }
        };
        match content.iter().min_by_key(|(m, _)| rank(m)) {
            None if required => req.unsure.push("a required body without content".into()),
            None => {}
            Some((media, media_obj)) => {
                let given = given_examples(files, &rb_file, media_obj);
                let (value, mut valid) = match media_obj.get("schema") {
                    Some(schema) if rank(media) < 4 || media.starts_with("text/") => {
                        let (v, ok) = valid_value(files, &rb_file, schema, doc.v30, &given);
                        (v, ok)
                    }
                    // Bytes: any bytes are a binary body.
                    _ if rank(media) == 4 => (json!("abc"), true),
                    _ => (json!("abc"), false),
                };
                valid &= encode_body(media, &value).is_some();
                if valid || required {
                    if !valid {
                        req.unsure
                            .push(format!("body ({media}): no value the test could check"));
                    }
                    req.body = Some((media.clone(), value));
                }
            }
        }
    }
    req
}

/// `value` as the bytes of a `media` body, and the Content-Type to send; `None` when the test
/// cannot write it so (nested values in a form, XML).
fn encode_body(media: &str, value: &Value) -> Option<(String, Vec<u8>)> {
    let m = media.to_ascii_lowercase();
    if m.contains("json") {
        return Some((media.to_owned(), serde_json::to_vec(value).unwrap()));
    }
    let fields = |v: &Value| -> Option<Vec<(String, String)>> {
        let mut out = Vec::new();
        for (k, v) in v.as_object()? {
            match v {
                Value::Array(items) => {
                    for item in items {
                        out.push((k.clone(), text_of(item)?));
                    }
                }
                v => out.push((k.clone(), text_of(v)?)),
            }
        }
        Some(out)
    };
    if m == "application/x-www-form-urlencoded" {
        let pairs = fields(value)?;
        let body: Vec<String> = pairs
            .iter()
            .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
            .collect();
        return Some((media.to_owned(), body.join("&").into_bytes()));
    }
    if m == "multipart/form-data" {
        let boundary = "mockrig-test-boundary";
        let mut body = String::new();
        for (k, v) in fields(value)? {
            body.push_str(&format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
            ));
        }
        body.push_str(&format!("--{boundary}--\r\n"));
        return Some((
            format!("multipart/form-data; boundary={boundary}"),
            body.into_bytes(),
        ));
    }
    if m.starts_with("text/") || m == "application/octet-stream" {
        return Some((media.to_owned(), text_of(value)?.into_bytes()));
    }
    None
}

fn form_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b' ' => out.push('+'),
            b if b.is_ascii_alphanumeric() || b"-._*".contains(&b) => out.push(b as char),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// An answer, read whole.
struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn content_type(&self) -> String {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    }

    fn excerpt(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        let cut: String = text.chars().take(300).collect();
        if cut.len() < text.len() {
            format!("{cut}…")
        } else {
            cut
        }
    }

    /// The `location`s the refusal names: from mockrig's problem body, or, when the document's
    /// own refusal answered, from `X-Mockrig-Violations` (`location: message; …`).
    fn violation_locations(&self) -> Vec<String> {
        let mut out: Vec<String> = serde_json::from_slice::<Value>(&self.body)
            .ok()
            .and_then(|b| b["violations"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|v| v["location"].as_str().map(str::to_owned))
            .collect();
        if let Some(h) = self
            .headers
            .get("x-mockrig-violations")
            .and_then(|v| v.to_str().ok())
        {
            out.extend(
                h.split("; ")
                    .filter_map(|part| part.split_once(": ").map(|(l, _)| l.to_owned())),
            );
        }
        out
    }
}

async fn send(m: &Mock, req: &Req, prefer: Option<&str>) -> Answer {
    let method = reqwest::Method::from_bytes(req.method.to_uppercase().as_bytes()).unwrap();
    let mut r = m.client.request(method, m.at(&req.target()));
    for (k, v) in &req.headers {
        r = r.header(k.as_str(), v.as_str());
    }
    if let Some(p) = prefer {
        r = r.header("Prefer", p);
    }
    if let Some((media, value)) = &req.body
        && let Some((content_type, bytes)) = encode_body(media, value)
    {
        r = r.header("Content-Type", content_type).body(bytes);
    }
    let resp = r
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{} {}: {e}", req.method, req.url_path()));
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
    Answer {
        status,
        headers,
        body,
    }
}

/// Panics with every failure, one a line, when there is any.
fn report(what: &str, failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{what}: {} failure(s):\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
}

/// The source mockrig gives each operation's route (`GET /pets (listPets)`), by method and
/// path, from `/__mockrig/routes`.
async fn route_sources(m: &Mock) -> HashMap<(String, String), String> {
    let routes: Value = m.get("/__mockrig/routes").await.json().await.unwrap();
    routes
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "openapi")
        .map(|r| {
            (
                (
                    r["method"].as_str().unwrap_or("").to_ascii_uppercase(),
                    r["path"].as_str().unwrap_or("").to_owned(),
                ),
                r["source"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// 1. Every operation answers

/// Whether `status` is a fair answer to a plain request for `op`: one it declares; a success
/// when it declares one (the first 2xx is the answer asked for by nothing); never mockrig's
/// own 404/405/500 for an operation that exists.
fn judge_status(op: &Op, status: u16) -> Result<(), String> {
    let declared = op.declared();
    if declared.is_empty() {
        // 3.1 lets an operation declare no response; it still exists, so an answer it is.
        return match status {
            404 | 405 | 500 => Err(format!(
                "{status} for an operation that declares no response"
            )),
            _ => Ok(()),
        };
    }
    if !is_declared(&declared, status) {
        return Err(format!(
            "{status} is not declared ({})",
            declared.join(", ")
        ));
    }
    let has_success = declared.iter().any(|k| k.starts_with('2') && k.len() == 3);
    if has_success && !(200..300).contains(&status) {
        return Err(format!(
            "{status}, yet the operation declares a success ({})",
            declared.join(", ")
        ));
    }
    if [404, 405, 500].contains(&status) && !declared.contains(&status.to_string()) {
        return Err(format!("{status} reached only through `default`"));
    }
    Ok(())
}

/// Every operation of every document answers a status it declares, through its own route
/// (the journal says which answered), served as users serve it: validating. Each request is
/// one the test vouches for, so a refusal (422, 400, 415, 401, or the document's own answer
/// with `X-Mockrig-Violations`) is mockrig refusing a valid request, as wrong as an invalid one
/// let through. The few operations the test cannot make a valid request for may be refused.
#[tokio::test]
async fn every_operation_of_every_document_answers() {
    let Some(dir) = fixtures() else { return };
    let _cores = CORES.read().await;
    let mut failures = Vec::new();
    let mut total = 0;
    for &(name, expected_ops) in DOCUMENTS {
        let started = Instant::now();
        let mut doc = read_doc(&dir, name);
        assert_eq!(
            doc.ops.len(),
            expected_ops,
            "{name}: the test's own enumeration found {} operations",
            doc.ops.len()
        );
        total += doc.ops.len();
        let reqs: Vec<Req> = (0..doc.ops.len()).map(|i| build(&mut doc, i)).collect();
        let m = match serve(&doc.top, true) {
            Ok(m) => m,
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        let sources = route_sources(&m).await;
        if sources.len() != doc.ops.len() {
            failures.push(format!(
                "{name}: mockrig serves {} operations, the document has {}",
                sources.len(),
                doc.ops.len()
            ));
        }
        let mut unsure = 0;
        for (op, req) in doc.ops.iter().zip(&reqs) {
            let a = send(&m, req, None).await;
            // A refusal status where the operation has a success (or `default`) to give.
            let answers = op
                .declared()
                .iter()
                .any(|k| k.starts_with('2') || k == "default");
            let refused = a.headers.contains_key("x-mockrig-violations")
                || (answers && [400, 401, 415, 422].contains(&a.status));
            if !req.unsure.is_empty() {
                unsure += 1;
                println!(
                    "  not vouched for: {} ({})",
                    op.label(),
                    req.unsure.join("; ")
                );
                if refused {
                    continue;
                }
            }
            let verdict = if refused && req.unsure.is_empty() {
                Err(format!("{}: a valid request refused", a.status))
            } else {
                judge_status(op, a.status)
            };
            if let Err(why) = verdict {
                failures.push(format!("{name} {}: {why}: {}", op.label(), a.excerpt()));
            }
        }
        // The journal (1,000 entries, more than any document has operations) says which
        // route answered each request, in order.
        let journal: Value = m.get("/__mockrig/requests").await.json().await.unwrap();
        let entries = journal["requests"].as_array().cloned().unwrap_or_default();
        if entries.len() != doc.ops.len() {
            failures.push(format!(
                "{name}: {} journal entries for {} requests",
                entries.len(),
                doc.ops.len()
            ));
        }
        for (op, entry) in doc.ops.iter().zip(&entries) {
            let want = sources.get(&(op.method.to_uppercase(), op.path.clone()));
            if want.is_none() || entry["matched"].as_str() != want.map(String::as_str) {
                failures.push(format!(
                    "{name} {}: answered by {} (its own route: {want:?})",
                    op.label(),
                    entry["matched"]
                ));
            }
        }
        println!(
            "{name}: {} operations, {} with a request the test vouches for; {:.1?}",
            doc.ops.len(),
            doc.ops.len() - unsure,
            started.elapsed()
        );
    }
    println!("{total} operations in all");
    report("operations that do not answer as declared", &failures);
}

// ---------------------------------------------------------------------------------------------
// 2. Generated bodies validate

/// The media type object the answer's Content-Type came from: exact, then `type/*`, `*/*`.
fn media_for(response: &Value, content_type: &str) -> Option<(String, Value)> {
    let content = response["content"].as_object()?;
    let bare = |k: &str| {
        k.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    };
    let main = content_type.split('/').next().unwrap_or("");
    content
        .iter()
        .find(|(k, _)| bare(k) == content_type)
        .or_else(|| content.iter().find(|(k, _)| bare(k) == format!("{main}/*")))
        .or_else(|| content.iter().find(|(k, _)| bare(k) == "*/*"))
        .map(|(k, v)| (k.clone(), v.clone()))
}

/// What one answer's body says against its schema.
enum Judged {
    Valid,
    /// Nothing to judge: no content declared, or not JSON, or no schema.
    Skipped,
    /// Only values the document wrote itself (examples, defaults) are wrong, or values
    /// under `oneOf` branches that overlap: noted, not mockrig's fault.
    Document(String),
}

/// The answer's body against the schema of the response and media type it was sent as;
/// `Err` says what is wrong.
fn judge_body(
    doc: &mut Doc,
    i: usize,
    a: &Answer,
    checkers: &mut HashMap<String, (Checker, Vec<Value>)>,
) -> Result<Judged, String> {
    let op = &doc.ops[i];
    let Some((rfile, response)) = response_for(&mut doc.files, op, a.status) else {
        return Err(format!("status {} is not declared", a.status));
    };
    if response
        .get("content")
        .is_none_or(|c| c.as_object().is_none_or(Map::is_empty))
    {
        return Ok(Judged::Skipped);
    }
    let ct = a.content_type();
    if ct.is_empty() && a.status != 204 {
        return Err(format!(
            "no Content-Type (body: {:?}), though the response declares content",
            a.excerpt()
        ));
    }
    if !(ct.ends_with("json") || ct.contains("+json")) {
        return Ok(Judged::Skipped);
    }
    let Some((media, media_obj)) = media_for(&response, &ct) else {
        return Err(format!(
            "Content-Type {ct} is none of the response's media types"
        ));
    };
    let Some(schema) = media_obj.get("schema") else {
        return Ok(Judged::Skipped);
    };
    let body: Value = match serde_json::from_slice(&a.body) {
        Ok(b) => b,
        Err(_) => return Err(format!("{ct} body is not JSON: {}", a.excerpt())),
    };
    let key = format!("{i} {} {media}", a.status);
    if !checkers.contains_key(&key) {
        let b = bundle(&mut doc.files, &rfile, schema, doc.v30, Direction::Response);
        let checker = Checker::new(&b).map_err(|e| format!("{key}: {e}"))?;
        checkers.insert(key.clone(), (checker, b.document_values()));
    }
    let (checker, written) = &checkers[&key];
    let errors = checker.errors(&body);
    if errors.is_empty() {
        return Ok(Judged::Valid);
    }
    let shown: Vec<&str> = errors.iter().take(4).map(|(_, e, _)| e.as_str()).collect();
    let more = if errors.len() > 4 {
        format!(" (+{} more)", errors.len() - 4)
    } else {
        String::new()
    };
    let text = format!("{} {media}: {}{more}", a.status, shown.join(" | "));
    // An error inside a value the document wrote (an example or default, whole, at the
    // error's place or above it) is the document's: mockrig only repeated it.
    let from_document = |at: &str| {
        let mut prefix = String::new();
        std::iter::once("")
            .chain(at.split('/').skip(1))
            .enumerate()
            .any(|(n, seg)| {
                if n > 0 {
                    prefix.push('/');
                    prefix.push_str(seg);
                }
                body.pointer(&prefix).is_some_and(|v| written.contains(v))
            })
    };
    // A `oneOf` whose branches overlap (DigitalOcean's `[string, boolean, string]`) rejects
    // values of the overlap whoever writes them: the document's to fix, noted.
    if errors
        .iter()
        .all(|(at, _, overlap)| *overlap || from_document(at))
    {
        Ok(Judged::Document(text))
    } else {
        Err(text)
    }
}

/// The test's own schema handling rejects what it must and accepts what it must: without
/// this, a resolver that lost a `$ref` (a schema of `true`) would pass every body.
fn check_the_checker(dir: &Path) {
    let mut files = Files::default();
    let pets = normalise(&dir.join(PETSTORE));
    let b = bundle(
        &mut files,
        &pets,
        &json!({ "$ref": "#/components/schemas/Pets" }),
        true,
        Direction::Response,
    );
    let c = Checker::new(&b).unwrap();
    assert!(c.valid(&json!([{ "id": 1, "name": "rex" }])));
    assert!(
        !c.valid(&json!([{ "id": "1", "name": "rex" }])),
        "Pet.id is an integer"
    );
    assert!(!c.valid(&json!([{ "name": "rex" }])), "Pet requires id");
    // DigitalOcean: `properties: { $ref: attributes.yml#/… }` across files, `allOf`, formats.
    let lb = normalise(
        &dir.join("digitalocean/specification/resources/load_balancers/models/load_balancer.yml"),
    );
    let b = bundle(
        &mut files,
        &lb,
        &json!({ "$ref": "load_balancer.yml" }),
        true,
        Direction::Response,
    );
    let c = Checker::new(&b).unwrap();
    let base = [true, false]
        .into_iter()
        .map(|examples| {
            Gen {
                defs: &b.defs,
                examples,
            }
            .value(&b.root, 0)
        })
        .find(|v| c.valid(v))
        .expect("the test's generator makes a valid load balancer");
    for (key, wrong, why) in [
        ("droplet_ids", json!(["x"]), "droplet_ids are integers"),
        ("id", json!("not-a-uuid"), "formats are checked"),
        (
            "forwarding_rules",
            json!([]),
            "minItems of a property of a `$ref`'d file",
        ),
    ] {
        let mut v = base.clone();
        v[key] = wrong;
        assert!(!c.valid(&v), "{why}: {v}");
    }
}

/// Every operation's generated answer is valid against the schema of the response and media
/// type it was sent as: with `Prefer: dynamic=true` (fake data), and without it for media
/// types with no example (static values from the schema). Served with `validate: false`,
/// so every request reaches its answer; the schema the body is checked against is the one
/// the answer's own status and Content-Type name.
#[tokio::test]
async fn generated_bodies_validate_against_their_response_schema() {
    let Some(dir) = fixtures() else { return };
    let _cores = CORES.read().await;
    check_the_checker(&dir);
    let mut failures = Vec::new();
    let mut document_faults = Vec::new();
    for &name in GENERATED {
        let started = Instant::now();
        let mut doc = read_doc(&dir, name);
        let m = match serve(&doc.top, false) {
            Ok(m) => m,
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        let mut checkers = HashMap::new();
        // [dynamic, static]: bodies validated, answers with nothing to judge.
        let (mut valid, mut skipped) = ([0; 2], [0; 2]);
        // Dynamic answers of media types with examples, and how many were an example.
        let (mut with_example, mut was_example) = (0, 0);
        for i in 0..doc.ops.len() {
            let req = build(&mut doc, i);
            let label = doc.ops[i].label();
            for (n, mode) in ["dynamic", "static"].into_iter().enumerate() {
                let prefer = (mode == "dynamic").then_some("dynamic=true");
                let a = send(&m, &req, prefer).await;
                let examples = match response_for(&mut doc.files, &doc.ops[i], a.status) {
                    Some((rfile, r)) => match media_for(&r, &a.content_type()) {
                        Some((_, mo)) => given_examples(&mut doc.files, &rfile, &mo),
                        None => Vec::new(),
                    },
                    None => Vec::new(),
                };
                if mode == "dynamic" && !examples.is_empty() {
                    with_example += 1;
                    let body = serde_json::from_slice::<Value>(&a.body).ok();
                    if body.is_some_and(|b| examples.contains(&b)) {
                        was_example += 1;
                    }
                }
                // Static answers only where the media type gives no example: what is sent is
                // then mockrig's own value from the schema, not the document's example.
                if mode == "static" && !examples.is_empty() {
                    continue;
                }
                match judge_body(&mut doc, i, &a, &mut checkers) {
                    Ok(Judged::Valid) => valid[n] += 1,
                    Ok(Judged::Skipped) => skipped[n] += 1,
                    Ok(Judged::Document(why)) => {
                        document_faults.push(format!("{name} {label} {mode}: {why}"))
                    }
                    Err(why) => failures.push(format!("{name} {label} {mode}: {why}")),
                }
            }
        }
        println!(
            "{name}: {} operations; valid bodies: {} dynamic, {} static (no example); nothing \
             to judge: {} dynamic, {} static; {:.1?}",
            doc.ops.len(),
            valid[0],
            valid[1],
            skipped[0],
            skipped[1],
            started.elapsed()
        );
        // Guards against a vacuous pass: `Prefer: dynamic=true` must generate, not repeat
        // the document's examples, and most operations of these documents answer JSON.
        if was_example * 2 > with_example {
            failures.push(format!(
                "{name}: Prefer: dynamic=true answered the document's example for {was_example} \
                 of {with_example} operations that have one"
            ));
        }
        if valid[0] * 2 < doc.ops.len() {
            failures.push(format!(
                "{name}: only {} of {} dynamic answers had a JSON body to validate",
                valid[0],
                doc.ops.len()
            ));
        }
    }
    if !document_faults.is_empty() {
        println!(
            "not counted: the documents' own examples or defaults are invalid, or their `oneOf` \
             branches overlap:\n  {}",
            document_faults.join("\n  ")
        );
    }
    report("generated bodies that do not validate", &failures);
}

// ---------------------------------------------------------------------------------------------
// 3. Invalid requests

/// A request broken in one place, and where mockrig must say it is broken.
struct Broken {
    /// What kind of defect, for sampling evenly: `path wrong`, `query missing`, …
    kind: &'static str,
    what: String,
    req: Req,
    location: String,
    /// The operation declares its own answer to a refusal (422, else 400), which mockrig sends
    /// instead of its own, naming the violations in `X-Mockrig-Violations`.
    status: u16,
    /// The wrong value sent, which the violation's `actual` must show; `None` when missing.
    actual: Option<Value>,
}

/// The status a refused invalid request gets: the operation's own 422 or 400 when it
/// declares one (the document's contract), else mockrig's 422.
fn refusal_status(op: &Op) -> u16 {
    let d = op.declared();
    if d.iter()
        .any(|k| k == "422" || k.eq_ignore_ascii_case("4XX"))
    {
        422
    } else if d.iter().any(|k| k == "400") {
        400
    } else {
        422
    }
}

/// Broken copies of the operation's valid request, one defect each: a path parameter of the
/// wrong type or pattern, a required query parameter missing, an integer query parameter
/// that is not one, a required body field missing or of the wrong type.
fn breakages(doc: &mut Doc, i: usize, req: &Req) -> Vec<Broken> {
    let mut out = Vec::new();
    let status = refusal_status(&doc.ops[i]);
    let label = doc.ops[i].label();
    let params = doc.ops[i].params.clone();
    for p in &params {
        let (name, location) = (p.name().to_owned(), p.location().to_owned());
        let Some(schema) = p.value.get("schema") else {
            continue;
        };
        let b = bundle(&mut doc.files, &p.file, schema, doc.v30, Direction::Request);
        let Ok(check) = Checker::new(&b) else {
            continue;
        };
        let (_, s) = doc.files.deref(&p.file, schema);
        let ty = s["type"].as_str().unwrap_or("");
        match location.as_str() {
            // "abc" where an integer or a patterned string belongs.
            "path"
                if !check.valid(&json!("abc"))
                    && (ty == "integer" || s.get("pattern").is_some()) =>
            {
                let mut r = req.clone();
                r.path_values.insert(name.clone(), "abc".into());
                out.push(Broken {
                    kind: "path wrong",
                    what: format!("{label}: path {name} = abc ({ty})"),
                    req: r,
                    location: format!("path/{name}"),
                    status,
                    actual: Some(json!("abc")),
                });
            }
            "query" if p.required() => {
                let mut r = req.clone();
                r.query.retain(|(k, _)| *k != name);
                out.push(Broken {
                    kind: "query missing",
                    what: format!("{label}: required query {name} missing"),
                    req: r,
                    location: format!("query/{name}"),
                    status,
                    actual: None,
                });
            }
            "query" if ty == "integer" => {
                let mut r = req.clone();
                r.query.push((name.clone(), "abc".into()));
                out.push(Broken {
                    kind: "query wrong",
                    what: format!("{label}: query {name}=abc (integer)"),
                    req: r,
                    location: format!("query/{name}"),
                    status,
                    actual: Some(json!("abc")),
                });
            }
            _ => {}
        }
    }
    // A required field of a body whose schema requires it at the top (not through allOf or
    // oneOf, where which field is missing depends on the branch).
    let op = &doc.ops[i];
    if let (Some((media, Value::Object(body))), Some(rb)) = (&req.body, op.op.get("requestBody")) {
        let (rb_file, rb) = doc.files.deref(&op.file, rb);
        let (sfile, schema) = doc.files.deref(&rb_file, &rb["content"][media]["schema"]);
        let plain = ["allOf", "oneOf", "anyOf"]
            .iter()
            .all(|k| schema.get(*k).is_none());
        let field = schema["required"].as_array().and_then(|r| {
            r.iter()
                .filter_map(Value::as_str)
                .find(|f| body.contains_key(*f))
        });
        if let (true, Some(field)) = (plain, field) {
            let mut missing = body.clone();
            missing.remove(field);
            // An empty body is no body, which an optional one may be (Twilio's): keep the body
            // by giving it an optional field of its own, with a value checked valid.
            let (props_file, props) = doc.files.deref(&sfile, &schema["properties"]);
            if missing.is_empty() && rb["required"] != json!(true) {
                for (name, prop) in props.as_object().into_iter().flatten() {
                    if body.contains_key(name) {
                        continue;
                    }
                    let (v, ok) = valid_value(&mut doc.files, &props_file, prop, doc.v30, &[]);
                    if ok && text_of(&v).is_some() {
                        missing.insert(name.clone(), v);
                        break;
                    }
                }
            }
            if missing.is_empty() && rb["required"] != json!(true) {
                return out;
            }
            let mut r = req.clone();
            r.body = Some((media.clone(), Value::Object(missing)));
            out.push(Broken {
                kind: "body missing",
                what: format!("{label}: body ({media}) without required {field}"),
                req: r,
                location: format!("body/{field}"),
                status,
                actual: None,
            });
            // A number where a string belongs: JSON only (a form carries text either way).
            let (_, fs) = doc.files.deref(&props_file, &props[field]);
            if media.contains("json") && fs["type"] == "string" {
                let mut wrong = body.clone();
                wrong.insert(field.to_owned(), json!(5));
                let mut r = req.clone();
                r.body = Some((media.clone(), Value::Object(wrong)));
                out.push(Broken {
                    kind: "body wrong",
                    what: format!("{label}: body ({media}) {field} = 5 (string)"),
                    req: r,
                    location: format!("body/{field}"),
                    status,
                    actual: Some(json!(5)),
                });
            }
        }
    }
    out
}

/// Whether the refusal is the one expected: the status, and `location` among the
/// violations; mockrig's own refusal is a problem document with each violation's fields.
fn judge_refusal(b: &Broken, a: &Answer) -> Result<(), String> {
    if a.status != b.status {
        return Err(format!(
            "{} instead of {}: {}",
            a.status,
            b.status,
            a.excerpt()
        ));
    }
    let locations = a.violation_locations();
    if !locations.contains(&b.location) {
        return Err(format!(
            "no violation at {} (found {locations:?}): {}",
            b.location,
            a.excerpt()
        ));
    }
    if !a.headers.contains_key("x-mockrig-violations") {
        if a.content_type() != "application/problem+json" {
            return Err(format!("Content-Type {}", a.content_type()));
        }
        let body: Value = serde_json::from_slice(&a.body).unwrap_or_default();
        let v = body["violations"]
            .as_array()
            .and_then(|vs| vs.iter().find(|v| v["location"] == json!(b.location)))
            .cloned()
            .unwrap_or_default();
        // What was expected is said of a wrong value, and what came; of a missing one, the
        // message says it.
        let wrong = b.actual.is_some();
        if !body["error"].is_string()
            || !v["message"].is_string()
            || (wrong && v.get("expected").is_none())
            || (wrong && v.get("actual") != b.actual.as_ref())
        {
            return Err(format!(
                "a violation without error, message, expected or actual ({:?}): {}",
                b.actual,
                a.excerpt()
            ));
        }
    }
    Ok(())
}

/// Requests broken in one known place are refused with the status the contract gives and a
/// violation at that place: petstore-expanded's `POST /pets` by hand, then every kind of
/// defect over Twilio and DigitalOcean, each starting from a request the test vouches for
/// (so the defect is the only one). Also the other refusals: 415, 400 and 401.
#[tokio::test]
async fn invalid_requests_get_422_at_the_right_location() {
    let Some(dir) = fixtures() else { return };
    let _cores = CORES.read().await;
    let mut failures = Vec::new();

    let pets = normalise(&dir.join(PETSTORE_EXPANDED));
    let m = serve(&pets, true).unwrap_or_else(|e| panic!("{PETSTORE_EXPANDED}: {e}"));
    let post = |kind, body: Value, actual| Broken {
        kind,
        what: format!("POST /pets {body}"),
        req: Req {
            method: "post".into(),
            template: "/pets".into(),
            path_values: BTreeMap::new(),
            query: Vec::new(),
            headers: Vec::new(),
            body: Some(("application/json".into(), body)),
            unsure: Vec::new(),
        },
        location: "body/name".into(),
        status: 422,
        actual,
    };
    for b in [
        post("body missing", json!({ "tag": "dog" }), None),
        post(
            "body wrong",
            json!({ "name": 5, "tag": "dog" }),
            Some(json!(5)),
        ),
    ] {
        let a = send(&m, &b.req, None).await;
        if let Err(why) = judge_refusal(&b, &a) {
            failures.push(format!("{PETSTORE_EXPANDED} {}: {why}", b.what));
        }
    }
    // The body's own media type, undeclared: 415; JSON that does not parse: 400.
    for (content_type, body, status) in [
        ("text/plain", "name=rex", 415),
        ("application/json", "{\"name\": ", 400),
    ] {
        let r = m
            .client
            .post(m.at("/pets"))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        if r.status() != status {
            failures.push(format!(
                "{PETSTORE_EXPANDED} POST /pets ({content_type}) {body}: {} instead of {status}: {}",
                r.status(),
                r.text().await.unwrap()
            ));
        }
    }
    drop(m);

    // Twilio and DigitalOcean: up to `PER_KIND` defects of each kind per document, spread
    // over the document (every operation's defects are computed, the kinds sampled evenly).
    const PER_KIND: usize = 8;
    let mut checked = 0;
    for name in [TWILIO, DIGITALOCEAN] {
        let mut doc = read_doc(&dir, name);
        let m = match serve(&doc.top, true) {
            Ok(m) => m,
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        let mut by_kind: BTreeMap<&str, Vec<Broken>> = BTreeMap::new();
        let mut first_vouched = None;
        for i in 0..doc.ops.len() {
            let req = build(&mut doc, i);
            if !req.unsure.is_empty() {
                continue;
            }
            first_vouched.get_or_insert((i, req.clone()));
            for b in breakages(&mut doc, i, &req) {
                by_kind.entry(b.kind).or_default().push(b);
            }
        }
        for (kind, list) in &by_kind {
            let step = list.len().div_ceil(PER_KIND).max(1);
            let sample: Vec<&Broken> = list.iter().step_by(step).collect();
            println!(
                "{name}: {kind}: {} candidates, {} sent",
                list.len(),
                sample.len()
            );
            for b in sample {
                checked += 1;
                let a = send(&m, &b.req, None).await;
                if let Err(why) = judge_refusal(b, &a) {
                    failures.push(format!("{name} {}: {why}", b.what));
                }
            }
        }
        // Without its credentials, a valid request is refused with 401.
        if let Some((i, mut req)) = first_vouched
            && !doc.ops[i].security.is_empty()
        {
            req.headers
                .retain(|(k, _)| !k.eq_ignore_ascii_case("authorization"));
            let a = send(&m, &req, None).await;
            if a.status != 401 {
                failures.push(format!(
                    "{name} {} without credentials: {} instead of 401: {}",
                    doc.ops[i].label(),
                    a.status,
                    a.excerpt()
                ));
            }
        }
    }
    assert!(
        checked >= 20,
        "only {checked} broken requests could be made from the documents"
    );
    println!("{checked} broken requests sent to Twilio and DigitalOcean");
    report("invalid requests not refused as expected", &failures);
}

// ---------------------------------------------------------------------------------------------
// 4. Load and reload

/// Twilio (one 1.5 MB file) and DigitalOcean (~2,900 files) load in under 5 s in a debug
/// build (release aims at 1 s, measured elsewhere); so does a reload that must compile the
/// document again (its settings changed), and the reload takes effect.
#[tokio::test]
async fn load_and_reload_are_fast() {
    let Some(dir) = fixtures() else { return };
    let _cores = CORES.write().await;
    // The target is a second in a release build (`bench/run` measures it there); this debug
    // build is several times slower, and CI runs other tests beside it on two cores.
    let limit = if cfg!(debug_assertions) {
        Duration::from_secs(15)
    } else {
        Duration::from_secs(1)
    };
    let mut failures = Vec::new();
    for (name, guarded) in [
        (TWILIO, TWILIO_ACCOUNTS),
        (DIGITALOCEAN, DIGITALOCEAN_ACCOUNT),
    ] {
        let doc = normalise(&dir.join(name));
        let clock = Clock::start();
        // No watcher: the reload below is the test's, not a race with one.
        let m = match serve_with(&doc, true, false, false) {
            Ok(m) => m,
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        let load = clock.read();
        if load.0 >= limit {
            failures.push(format!("{name}: loading took {}", show(load)));
        }
        // Serving the operations, not just listening: credentials are checked.
        let routes = route_sources(&m).await.len();
        let before = m.get(guarded).await.status();
        if routes < 100 || before != 401 {
            failures.push(format!(
                "{name}: after loading, {routes} operations, GET {guarded} without \
                 credentials {before}"
            ));
            continue;
        }

        // `validate: false, dynamic: true` is a different compilation: nothing is reused.
        std::fs::write(m.dir.path().join("api.yaml"), spec_for(&doc, false, true)).unwrap();
        let clock = Clock::start();
        let r = m
            .client
            .post(m.at("/__mockrig/reload"))
            .send()
            .await
            .unwrap();
        let reload = clock.read();
        let status = r.status();
        let body = r.text().await.unwrap();
        let after = m.get(guarded).await.status();
        if status != 200 || !after.is_success() {
            failures.push(format!(
                "{name}: reload {status} {body}; then GET {guarded} without credentials {after}"
            ));
        }
        if reload.0 >= limit {
            failures.push(format!("{name}: reloading took {}", show(reload)));
        }

        let clock = Clock::start();
        let r = m
            .client
            .post(m.at("/__mockrig/reload"))
            .send()
            .await
            .unwrap();
        let unchanged = clock.read();
        if r.status() != 200 || unchanged.0 >= limit {
            failures.push(format!(
                "{name}: reloading unchanged: {} in {}",
                r.status(),
                show(unchanged)
            ));
        }
        println!(
            "{name}: load {}, reload after a change {}, reload unchanged {}",
            show(load),
            show(reload),
            show(unchanged)
        );
    }
    report("slow or failed loads", &failures);
}

/// Wall time and this process's CPU time since `start`: the limit is on wall time, what a
/// user waits; the CPU time beside it tells a slow load from a machine busy with other work
/// (CPU time well under wall time).
struct Clock(Instant, Option<Duration>);

impl Clock {
    fn start() -> Clock {
        Clock(Instant::now(), process_cpu())
    }

    fn read(&self) -> (Duration, Option<Duration>) {
        let cpu = process_cpu()
            .zip(self.1)
            .map(|(now, then)| now.saturating_sub(then));
        (self.0.elapsed(), cpu)
    }
}

fn show((wall, cpu): (Duration, Option<Duration>)) -> String {
    match cpu {
        Some(cpu) => format!("{wall:.2?} (CPU {cpu:.2?})"),
        None => format!("{wall:.2?}"),
    }
}

/// User and system CPU time of this process so far, from `/proc/self/stat` (Linux; `None`
/// elsewhere). Ticks are taken as the usual 100 a second.
fn process_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after `) state`.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}
