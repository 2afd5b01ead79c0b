//! Schemas made self-contained and in JSON Schema 2020-12, and the test's checker of them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use super::documents::Files;

// ---------------------------------------------------------------------------------------------
// Schemas: made self-contained (every `$ref` into `$defs`) and in JSON Schema 2020-12

#[derive(Clone, Copy, PartialEq)]
pub(super) enum Direction {
    Request,
    Response,
}

/// A schema with everything it references under `defs`, whatever file that was in.
pub(super) struct Bundled {
    pub(super) root: Value,
    pub(super) defs: Map<String, Value>,
}

impl Bundled {
    /// The schema to compile: `root` beside the `$defs` its references point into.
    fn schema(&self) -> Value {
        json!({ "$defs": self.defs, "allOf": [self.root] })
    }

    /// Every example and default written in the schema: a value mockrig took from the
    /// document itself, which may be wrong without mockrig being so.
    pub(super) fn document_values(&self) -> Vec<Value> {
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
pub(super) fn bundle(
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
pub(super) struct Checker(jsonschema::Validator);

impl Checker {
    pub(super) fn new(b: &Bundled) -> Result<Checker, String> {
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .should_validate_formats(true)
            .build(&b.schema())
            .map(Checker)
            .map_err(|e| format!("the test could not compile the schema: {e}"))
    }

    pub(super) fn valid(&self, v: &Value) -> bool {
        self.0.is_valid(v)
    }

    /// Each error as `("/path", "/path: message", whether it is a value valid under more than
    /// one branch of a `oneOf`)`.
    pub(super) fn errors(&self, v: &Value) -> Vec<(String, String, bool)> {
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
