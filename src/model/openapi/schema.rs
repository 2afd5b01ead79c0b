//! One operation's schema as a self-contained JSON Schema 2020-12 value: every `$ref` (into
//! `components`, into another file) is copied under `$defs` and pointed at there, and 3.0's
//! dialect is rewritten into 2020-12's. The validator and the generator then work on a value
//! with no outside references, so a cycle of references is a cycle of `$defs`, which both
//! handle, and nothing needs the files again at request time.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use super::document::{Documents, Place, Version};

/// Which side of the exchange a schema checks: `readOnly` properties are not required in a
/// request, `writeOnly` ones not in a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    Request,
    Response,
}

/// Keywords whose value is one schema.
const ONE: &[&str] = &[
    "additionalProperties",
    "items",
    "additionalItems",
    "not",
    "if",
    "then",
    "else",
    "contains",
    "propertyNames",
    "unevaluatedProperties",
    "unevaluatedItems",
    "contentSchema",
];
/// Keywords whose value is a list of schemas.
const LIST: &[&str] = &["allOf", "anyOf", "oneOf", "prefixItems"];
/// Keywords whose value maps names to schemas.
const MAP: &[&str] = &["properties", "patternProperties", "dependentSchemas"];
/// Keywords dropped: references into them are copied under `$defs` like any other, and ids
/// would move the base URI the rewritten references resolve against.
const DROPPED: &[&str] = &[
    "$defs",
    "definitions",
    "$id",
    "$schema",
    "$anchor",
    "discriminator",
    "xml",
];

/// The schema at `place` made self-contained, and the references it could not follow, each
/// with the place it was written.
pub(crate) fn bundle(
    docs: &Documents,
    place: &Place,
    direction: Direction,
) -> (Value, Vec<(Place, String)>) {
    let mut b = Bundler {
        docs,
        direction,
        names: HashMap::new(),
        defs: Map::new(),
        problems: Vec::new(),
        depth: 0,
    };
    let mut root = match docs.get(place) {
        Some(v) => b.schema(place, v),
        None => Value::Bool(true),
    };
    if !b.defs.is_empty() {
        match &mut root {
            Value::Object(map) => {
                map.insert("$defs".into(), Value::Object(b.defs));
            }
            // `true` or `false` with definitions: wrap so the definitions have a home.
            other => {
                let inner = std::mem::take(other);
                *other = json!({ "allOf": [inner], "$defs": Value::Object(b.defs) });
            }
        }
    }
    (root, b.problems)
}

struct Bundler<'d> {
    docs: &'d Documents,
    direction: Direction,
    /// Each referenced place's name under `$defs`.
    names: HashMap<Place, String>,
    defs: Map<String, Value>,
    problems: Vec<(Place, String)>,
    /// How deep the schema being copied is, counting both nesting and references followed:
    /// a chain of thousands of distinct schemas would otherwise recurse until the stack ends.
    depth: usize,
}

/// The deepest schema, nesting and references together, that is copied: real documents nest
/// a few dozen; a reload runs on a thread with a 2 MiB stack.
const MAX_DEPTH: usize = 200;

impl Bundler<'_> {
    fn schema(&mut self, at: &Place, value: &Value) -> Value {
        if self.depth >= MAX_DEPTH {
            self.problems.push((
                at.clone(),
                format!("schemas nest more than {MAX_DEPTH} deep (references included)"),
            ));
            return Value::Bool(true);
        }
        self.depth += 1;
        let out = self.schema_inner(at, value);
        self.depth -= 1;
        out
    }

    fn schema_inner(&mut self, at: &Place, value: &Value) -> Value {
        let Value::Object(map) = value else {
            // `true`/`false` are schemas; anything else is a mistake the validator reports.
            return value.clone();
        };
        if let Some(target) = map.get("$ref") {
            let reference = match target.as_str() {
                Some(t) => self.reference(at, t),
                None => {
                    self.problems
                        .push((at.child("$ref"), "`$ref` must be text".into()));
                    Value::Bool(true)
                }
            };
            // 3.0: a reference's siblings are ignored; 3.1 (2020-12): they apply beside it.
            if self.docs.version == Version::V30 || map.len() == 1 {
                return reference;
            }
            let mut rest = map.clone();
            rest.remove("$ref");
            let mut out = self.object(at, &rest);
            if let (Value::Object(out), Value::Object(r)) = (&mut out, reference) {
                out.extend(r);
            }
            return out;
        }
        self.object(at, map)
    }

    fn object(&mut self, at: &Place, map: &Map<String, Value>) -> Value {
        let mut out = Map::with_capacity(map.len());
        for (key, v) in map {
            let k = key.as_str();
            let here = || at.child(k);
            let converted = if DROPPED.contains(&k) || k.starts_with("x-") {
                continue;
            } else if ONE.contains(&k) {
                self.schema(&here(), v)
            } else if LIST.contains(&k) {
                match v {
                    Value::Array(items) => Value::Array(
                        items
                            .iter()
                            .enumerate()
                            .map(|(i, s)| self.schema(&here().item(i), s))
                            .collect(),
                    ),
                    other => other.clone(),
                }
            } else if MAP.contains(&k) {
                // JSON Reference: real documents write `properties: { $ref: attrs.yml#/x }`,
                // the map itself elsewhere.
                let (at_map, map_value) = match v.get("$ref") {
                    Some(_) => match self.docs.deref(&here()) {
                        Ok((p, target)) => (p, target.clone()),
                        Err(why) => {
                            self.problems.push((here().child("$ref"), why));
                            continue;
                        }
                    },
                    None => (here(), v.clone()),
                };
                match map_value {
                    Value::Object(props) => Value::Object(
                        props
                            .iter()
                            .map(|(name, s)| (name.clone(), self.schema(&at_map.child(name), s)))
                            .collect(),
                    ),
                    other => other,
                }
            } else {
                v.clone()
            };
            out.insert(key.clone(), converted);
        }
        if self.docs.version == Version::V30 {
            dialect_30(&mut out);
        }
        self.drop_one_sided(&mut out);
        Value::Object(out)
    }

    /// `{"$ref": "#/$defs/<name>"}` for the schema `target` names, copied under `$defs` the
    /// first time it is met.
    fn reference(&mut self, at: &Place, target: &str) -> Value {
        let place = match self.docs.target(at, target) {
            Ok(p) => p,
            Err(why) => {
                self.problems.push((at.child("$ref"), why));
                return Value::Bool(true);
            }
        };
        if let Some(name) = self.names.get(&place) {
            return json!({ "$ref": format!("#/$defs/{name}") });
        }
        let name = self.name_for(&place);
        self.names.insert(place.clone(), name.clone());
        // Reserved first, so a reference back to it from inside finds the name.
        self.defs.insert(name.clone(), Value::Bool(true));
        let value = self.docs.get(&place).cloned().unwrap_or(Value::Bool(true));
        let converted = self.schema(&place, &value);
        self.defs.insert(name.clone(), converted);
        json!({ "$ref": format!("#/$defs/{name}") })
    }

    /// A readable, unique name: the pointer's last segment (`Pet`), numbered when taken.
    fn name_for(&self, place: &Place) -> String {
        let last = place
            .pointer
            .rsplit('/')
            .next()
            .filter(|s| !s.is_empty())
            .or_else(|| {
                self.docs
                    .path(place.file)
                    .file_stem()
                    .and_then(|s| s.to_str())
            })
            .unwrap_or("schema");
        let base: String = last
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if !self.defs.contains_key(&base) {
            return base;
        }
        (2..)
            .map(|n| format!("{base}_{n}"))
            .find(|n| !self.defs.contains_key(n))
            .expect("an unused name")
    }

    /// A request need not carry the server's read-only fields, nor a response the client's
    /// write-only ones: they leave `required`.
    fn drop_one_sided(&self, out: &mut Map<String, Value>) {
        let flag = match self.direction {
            Direction::Request => "readOnly",
            Direction::Response => "writeOnly",
        };
        let Some(Value::Object(props)) = out.get("properties") else {
            return;
        };
        let one_sided: Vec<String> = props
            .iter()
            .filter(|(_, s)| self.flagged(s, flag))
            .map(|(n, _)| n.clone())
            .collect();
        if one_sided.is_empty() {
            return;
        }
        if let Some(Value::Array(required)) = out.get_mut("required") {
            required.retain(|r| !r.as_str().is_some_and(|r| one_sided.iter().any(|o| o == r)));
        }
    }

    /// Whether a (converted) property schema carries `flag`, directly or in what it refers to.
    fn flagged(&self, schema: &Value, flag: &str) -> bool {
        if schema.get(flag) == Some(&Value::Bool(true)) {
            return true;
        }
        let name = schema
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix("#/$defs/"));
        name.and_then(|n| self.defs.get(n))
            .is_some_and(|s| s.get(flag) == Some(&Value::Bool(true)))
    }
}

/// OpenAPI 3.0's schema dialect in 2020-12 terms: `nullable` as a `null` type, and the boolean
/// `exclusiveMinimum`/`exclusiveMaximum` of draft 4 as the numbers of 2020-12.
fn dialect_30(out: &mut Map<String, Value>) {
    if let Some(Value::Bool(nullable)) = out.remove("nullable")
        && nullable
    {
        match out.get_mut("type") {
            Some(Value::String(t)) => {
                let t = std::mem::take(t);
                out.insert("type".into(), json!([t, "null"]));
            }
            Some(Value::Array(types)) if !types.contains(&json!("null")) => {
                types.push(json!("null"));
            }
            _ => {}
        }
        if let Some(Value::Array(values)) = out.get_mut("enum")
            && !values.contains(&Value::Null)
        {
            values.push(Value::Null);
        }
    }
    for (flag, bound) in [
        ("exclusiveMinimum", "minimum"),
        ("exclusiveMaximum", "maximum"),
    ] {
        if let Some(Value::Bool(exclusive)) = out.get(flag).cloned() {
            out.remove(flag);
            if exclusive && let Some(b) = out.remove(bound) {
                out.insert(flag.into(), b);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn docs(text: &str) -> (tempfile::TempDir, Documents) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("api.yaml");
        std::fs::File::create(&path)
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let d = Documents::load(&path).unwrap();
        (dir, d)
    }

    #[test]
    fn references_become_defs_and_cycles_close() {
        let (_dir, d) = docs(
            "openapi: 3.0.0\ncomponents:\n  schemas:\n    Node:\n      type: object\n      properties:\n        children:\n          type: array\n          items: { $ref: '#/components/schemas/Node' }\n        name: { type: string, nullable: true }\n",
        );
        let (s, problems) = bundle(
            &d,
            &d.top().child("components").child("schemas").child("Node"),
            Direction::Response,
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            s["properties"]["children"]["items"],
            json!({"$ref": "#/$defs/Node"})
        );
        assert_eq!(
            s["$defs"]["Node"]["properties"]["name"]["type"],
            json!(["string", "null"])
        );
        let v = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .build(&s)
            .unwrap();
        assert!(v.is_valid(&json!({"name": null, "children": [{"children": []}]})));
        assert!(!v.is_valid(&json!({"children": [{"name": 3}]})));
    }

    #[test]
    fn dialect_and_directions() {
        let (_dir, d) = docs(
            "openapi: 3.0.0\ncomponents:\n  schemas:\n    Pet:\n      type: object\n      required: [id, name, secret]\n      properties:\n        id: { type: integer, readOnly: true, minimum: 0, exclusiveMinimum: true }\n        name: { type: string }\n        secret: { type: string, writeOnly: true }\n",
        );
        let pet = d.top().child("components").child("schemas").child("Pet");
        let (req, _) = bundle(&d, &pet, Direction::Request);
        assert_eq!(req["required"], json!(["name", "secret"]));
        assert_eq!(req["properties"]["id"]["exclusiveMinimum"], json!(0));
        assert!(req["properties"]["id"].get("minimum").is_none());
        let (resp, _) = bundle(&d, &pet, Direction::Response);
        assert_eq!(resp["required"], json!(["id", "name"]));
    }

    #[test]
    fn a_chain_of_references_too_deep_to_follow_is_a_problem_not_a_stack_overflow() {
        let mut text = String::from("openapi: 3.1.0\ncomponents:\n  schemas:\n");
        for i in 0..2000 {
            text.push_str(&format!(
                "    S{i}: {{ type: object, properties: {{ next: {{ $ref: '#/components/schemas/S{}' }} }} }}\n",
                i + 1
            ));
        }
        text.push_str("    S2000: { type: string }\n");
        // On a stack the size of the watcher's, where reloads compile.
        let problems = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || {
                let (_dir, d) = docs(&text);
                let s0 = d.top().child("components").child("schemas").child("S0");
                bundle(&d, &s0, Direction::Response).1
            })
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].1.contains("nest more than 200"),
            "{}",
            problems[0].1
        );
    }

    #[test]
    fn a_missing_reference_is_reported_where_it_is_written() {
        let (_dir, d) = docs(
            "openapi: 3.1.0\ncomponents:\n  schemas:\n    A: { $ref: '#/components/schemas/Nope' }\n",
        );
        let (_, problems) = bundle(
            &d,
            &d.top().child("components").child("schemas").child("A"),
            Direction::Request,
        );
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].0.pointer, "/components/schemas/A/$ref");
        assert!(
            problems[0].1.contains("points at nothing"),
            "{}",
            problems[0].1
        );
    }
}
