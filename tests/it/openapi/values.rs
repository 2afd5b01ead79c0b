//! The test's own values for schemas, each checked before the test vouches for it.

use std::path::Path;

use serde_json::{Map, Value, json};

use super::documents::Files;
use super::schemas::{Checker, Direction, bundle};

// ---------------------------------------------------------------------------------------------
// The test's own values for schemas: simple and checked, never trusted blindly

pub(super) struct Gen<'b> {
    pub(super) defs: &'b Map<String, Value>,
    /// Whether the schema's own `example`s and `default`s come first.
    pub(super) examples: bool,
}

impl Gen<'_> {
    pub(super) fn value(&self, s: &Value, depth: usize) -> Value {
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
pub(super) fn valid_value(
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
