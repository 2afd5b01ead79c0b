//! Example values for JSON Schemas: the body an operation answers with when its spec gives no
//! example of its own, like Prism's static (`Fill::Static`) and dynamic (`Fill::Random`) modes.
//!
//! Each schema is flattened before use: its `$ref`, `allOf` and chosen `oneOf`/`anyOf` branch
//! are merged into one keyword map, so a constraint weighs the same whatever composition it came
//! through. The merge is an approximation (of two `pattern`s the first is kept), enough for the
//! schemas specs really contain; what it cannot express, the value may then fail.

use fake::Fake;
use fake::faker::{internet::en as internet, lorem::en as lorem};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use regex_syntax::hir::{Class, Hir, HirKind};
use serde_json::{Map, Value, json};

/// How values are filled in.
pub(crate) enum Fill<'r> {
    /// The same value every time: examples and defaults first, then fixed values by type and format (Prism's static mode: "string", 0, true, "2019-08-24T14:15:22Z", "user@example.com", ...).
    Static,
    /// Fake data drawn from `rng` (Prism's dynamic mode).
    Random(&'r mut StdRng),
}

/// A value for `root`, a self-contained JSON Schema (draft 2020-12 form): every `$ref` in it is local — `#` or `#/$defs/<name>` (or any JSON pointer into `root`), resolved against `root`.
pub(crate) fn generate(root: &Value, fill: Fill<'_>) -> Value {
    let rng = match fill {
        Fill::Static => None,
        Fill::Random(r) => Some(r),
    };
    Gen {
        root,
        rng,
        alt: None,
        nodes: 0,
        steps: 0,
    }
    .value(root, 0)
}

/// Past this depth only what the schema requires is generated (a recursive schema must end);
/// past `TINY_DEPTH`, the smallest value of the type.
const LEAN_DEPTH: usize = 8;
const TINY_DEPTH: usize = 16;
/// Past this many values nothing optional is added; past `HARD_NODES`, only the smallest ones:
/// a huge schema must not make a huge answer.
const SOFT_NODES: usize = 2_000;
const HARD_NODES: usize = 20_000;
/// `$ref`/`allOf` expansions for one value: a schema that includes itself must still end, and
/// two branches that both include it must not double at each level.
const FLATTEN_BUDGET: u32 = 64;
/// The longest string made for a `pattern` or `minLength`.
const MAX_STRING: usize = 65_536;

static TRUE: Value = Value::Bool(true);

type Schema = Map<String, Value>;

struct Gen<'a, 'r> {
    root: &'a Value,
    rng: Option<&'r mut StdRng>,
    /// In static mode, a seeded generator used while looking for a different value (unique
    /// items, property names): the output stays the same from run to run.
    alt: Option<StdRng>,
    nodes: usize,
    /// Steps taken writing the current pattern's match: `((|a){65535}){65535}` writes
    /// nothing for billions of steps, which no length check would stop.
    steps: u32,
}

/// The steps one pattern's match may take.
const PATTERN_STEPS: u32 = 200_000;

impl<'a> Gen<'a, '_> {
    fn rng(&mut self) -> Option<&mut StdRng> {
        self.alt.as_mut().or(self.rng.as_deref_mut())
    }

    fn is_static(&self) -> bool {
        self.rng.is_none() && self.alt.is_none()
    }

    /// An index below `n` (> 0): the first in static mode.
    fn pick(&mut self, n: usize) -> usize {
        self.rng().map_or(0, |r| r.random_range(0..n))
    }

    /// Runs `f` so that it draws other values than before, yet reproducibly in static mode.
    fn with_variant<T>(&mut self, seed: u64, f: impl FnOnce(&mut Self) -> T) -> T {
        if !self.is_static() {
            return f(self);
        }
        self.alt = Some(StdRng::seed_from_u64(seed));
        let v = f(self);
        self.alt = None;
        v
    }

    /// `schema` with what it refers to and its chosen branches merged in.
    fn flat(&mut self, schema: &Value, lean: bool) -> Schema {
        let mut s = Schema::new();
        self.flatten(schema, &mut s, lean, &mut FLATTEN_BUDGET.clone());
        s
    }

    /// Merges into `out`: `schema`'s own keywords first, so that they win over those it refers
    /// to; deep down (`lean`), a `null` branch of `oneOf`/`anyOf` is chosen if there is one.
    fn flatten(&mut self, schema: &Value, out: &mut Schema, lean: bool, budget: &mut u32) {
        let Value::Object(o) = schema else { return };
        if *budget == 0 {
            return;
        }
        *budget -= 1;
        let skip = ["$ref", "allOf", "oneOf", "anyOf", "$defs", "definitions"];
        merge(out, o.iter().filter(|(k, _)| !skip.contains(&k.as_str())));
        if let Some(target) = text(o, "$ref").and_then(|r| self.lookup(r)) {
            self.flatten(target, out, lean, budget);
        }
        for branch in list(o, "allOf") {
            self.flatten(branch, out, lean, budget);
        }
        for branches in [list(o, "oneOf"), list(o, "anyOf")] {
            if branches.is_empty() {
                continue;
            }
            // Deep down a `null` branch ends a recursive chain (a linked list's `next`); above,
            // a null is a poor example when a real value is offered.
            let null = branches.iter().position(|b| b["type"] == "null");
            let i = match null {
                Some(n) if lean => Some(n),
                _ if self.is_static() => branches.iter().position(|b| b["type"] != "null"),
                _ => Some(self.pick(branches.len())),
            };
            self.flatten(&branches[i.unwrap_or(0)], out, lean, budget);
        }
    }

    /// A local `$ref`'s target; other references (remote, by `$id`) count as unresolved.
    fn lookup(&self, reference: &str) -> Option<&'a Value> {
        let fragment = reference.strip_prefix('#')?;
        self.root.pointer(
            &percent_encoding::percent_decode_str(fragment)
                .decode_utf8()
                .ok()?,
        )
    }

    fn value(&mut self, schema: &Value, depth: usize) -> Value {
        self.nodes += 1;
        if *schema == Value::Bool(false) {
            return Value::Null;
        }
        let lean = depth > LEAN_DEPTH || self.nodes > SOFT_NODES;
        let s = self.flat(schema, lean);
        if let Some(c) = s.get("const") {
            return c.clone();
        }
        if self.is_static() {
            let first = list(&s, "examples").first();
            if let Some(example) = first.or(s.get("example")).or(s.get("default")) {
                return example.clone();
            }
        }
        let members = list(&s, "enum");
        if !members.is_empty() {
            return members[self.pick(members.len())].clone();
        }
        let listed = types(s.get("type"));
        let nullable = listed.contains(&"null") || s.get("nullable") == Some(&TRUE);
        let real: Vec<&str> = listed.iter().copied().filter(|t| *t != "null").collect();
        let ty = match real.len() {
            0 if listed.is_empty() => infer(&s),
            0 => "null",
            n => real[self.pick(n)],
        };
        let tiny = depth > TINY_DEPTH || self.nodes > HARD_NODES;
        match ty {
            _ if tiny && nullable => Value::Null,
            "null" => Value::Null,
            "boolean" => Value::Bool(self.rng().is_none_or(|r| r.random())),
            "integer" => self.number(&s, true),
            "number" => self.number(&s, false),
            "string" => Value::String(self.string(&s)),
            "object" if tiny => json!({}),
            "array" if tiny => json!([]),
            "object" => self.object(&s, depth, lean),
            "array" => self.array(&s, depth, lean),
            _ => self.anything(),
        }
    }

    /// A value for a schema that says nothing of its type.
    fn anything(&mut self) -> Value {
        let Some(r) = self.rng() else {
            return json!({});
        };
        match r.random_range(0..4) {
            0 => Value::String(lorem::Word().fake_with_rng(r)),
            1 => json!(r.random_range(0..1000)),
            2 => json!(r.random::<bool>()),
            _ => json!({}),
        }
    }

    fn number(&mut self, s: &Schema, integer: bool) -> Value {
        let lo = bound(s, "minimum", "exclusiveMinimum", true);
        let hi = bound(s, "maximum", "exclusiveMaximum", false);
        let multiple = number(s, "multipleOf").filter(|m| *m > 0.0 && m.is_finite());
        let step = match (integer, multiple) {
            (false, None) => return self.float(lo, hi),
            (false, Some(m)) => m,
            (true, None) => 1.0,
            // The smallest integer that is a multiple of a fractional `multipleOf` (0.5 → 1).
            (true, Some(m)) => {
                let whole = (1..=1000)
                    .map(|k| f64::from(k) * m)
                    .find(|x| (x - x.round()).abs() < 1e-9);
                whole.map_or(m.ceil(), f64::round)
            }
        };
        // Counted in steps, so that every candidate is a multiple.
        let kmin =
            lo.map(|(v, ex)| (v / step).ceil() + f64::from(ex && (v / step).ceil() * step <= v));
        let kmax =
            hi.map(|(v, ex)| (v / step).floor() - f64::from(ex && (v / step).floor() * step >= v));
        let k = match self.rng() {
            None => 0f64
                .max(kmin.unwrap_or(f64::MIN))
                .min(kmax.unwrap_or(f64::MAX)),
            Some(r) => {
                let span = (1000.0 / step).floor().max(10.0);
                let a = kmin.unwrap_or_else(|| kmax.map_or(0.0, |b| b - span));
                draw(r, a, kmax.unwrap_or(a + span)).round()
            }
        };
        to_number(round_like(k * step, step))
    }

    fn float(&mut self, lo: Option<(f64, bool)>, hi: Option<(f64, bool)>) -> Value {
        let above = |x: f64| lo.is_none_or(|(v, ex)| x > v || (!ex && x == v));
        let below = |x: f64| hi.is_none_or(|(v, ex)| x < v || (!ex && x == v));
        let (l, h) = (lo.map(|b| b.0), hi.map(|b| b.0));
        let a = l.unwrap_or_else(|| h.map_or(0.0, |h| h - 1000.0));
        let b = h.unwrap_or(a + 1000.0);
        let drawn = self.rng().map(|r| (draw(r, a, b) * 100.0).round() / 100.0);
        let tries = [
            drawn,
            Some(0.0),
            l,
            h,
            l.map(|l| l + 1.0),
            h.map(|h| h - 1.0),
        ];
        let x = tries.into_iter().flatten().find(|x| above(*x) && below(*x));
        to_number(x.unwrap_or(a / 2.0 + b / 2.0))
    }

    fn string(&mut self, s: &Schema) -> String {
        let min = size(s, "minLength", 0).min(MAX_STRING);
        let max = size(s, "maxLength", usize::MAX);
        if let Some(v) = text(s, "pattern").and_then(|p| self.pattern(p, min, max)) {
            return v;
        }
        let format = text(s, "format").unwrap_or("");
        let v = self.formatted(format);
        // Padding goes where the format survives it: before an address's local part or a host.
        fit(
            v,
            min,
            max,
            matches!(format, "email" | "idn-email" | "hostname"),
        )
    }

    fn formatted(&mut self, format: &str) -> String {
        let Some(r) = self.rng() else {
            let v = match format {
                "date-time" => "2019-08-24T14:15:22Z",
                "date" => "2019-08-24",
                "time" => "14:15:22Z",
                "uuid" => "095be615-a8ad-4c33-8e9c-c7612fbf6c9f",
                "email" => "user@example.com",
                "idn-email" => "пользователь@пример.ру",
                "uri" | "url" | "iri" => "http://example.com",
                "uri-reference" | "iri-reference" => "../dictionary",
                "hostname" => "example.com",
                "ipv4" => "192.168.0.1",
                "ipv6" => "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
                "byte" => "U3dhZ2dlciByb2Nrcw==",
                "password" => "pa$$word",
                _ => "string",
            };
            return v.to_owned();
        };
        let word = |r: &mut StdRng| lorem::Word().fake_with_rng::<String, _>(r);
        match format {
            "date-time" | "date" | "time" => {
                let secs = r.random_range(946_684_800..1_893_456_000); // 2000 to 2030
                let t = chrono::DateTime::from_timestamp(secs, 0).unwrap_or_default();
                let layout = match format {
                    "date" => "%Y-%m-%d",
                    "time" => "%H:%M:%SZ",
                    _ => "%Y-%m-%dT%H:%M:%SZ",
                };
                t.format(layout).to_string()
            }
            "uuid" => uuid::Builder::from_random_bytes(r.random())
                .into_uuid()
                .to_string(),
            "email" | "idn-email" => internet::SafeEmail().fake_with_rng(r),
            "uri" | "url" | "iri" | "uri-reference" | "iri-reference" => {
                format!("https://example.com/{}", word(r))
            }
            "hostname" => format!("{}.example.com", word(r)),
            "ipv4" => {
                let [a, b, c] = r.random::<[u8; 3]>();
                format!("{}.{a}.{b}.{c}", r.random_range(1..224))
            }
            "ipv6" => (0..8)
                .map(|_| format!("{:x}", r.random::<u16>()))
                .collect::<Vec<_>>()
                .join(":"),
            "byte" => base64(word(r).as_bytes()),
            "password" => internet::Password(8..17).fake_with_rng(r),
            _ => lorem::Words(1..4)
                .fake_with_rng::<Vec<String>, _>(r)
                .join(" "),
        }
    }

    /// A string matching `pattern` with a length in `min..=max`, lengthening repetitions until
    /// it fits; `None` when the pattern is beyond regex-syntax (look-arounds, backreferences).
    fn pattern(&mut self, pattern: &str, min: usize, max: usize) -> Option<String> {
        let hir = regex_syntax::Parser::new().parse(pattern).ok()?;
        let mut first = None;
        for extra in [0, 1, 2, 4, 8, 16, 64, 256] {
            let mut out = String::new();
            self.steps = 0;
            if !self.hir(&hir, extra, &mut out) {
                break;
            }
            let n = out.chars().count();
            if (min..=max).contains(&n) {
                return Some(out);
            }
            first.get_or_insert(out);
            // More repetitions only lengthen it.
            if n > max {
                break;
            }
        }
        first.map(|v| fit(v, min, max, false))
    }

    /// Writes a match of `h` to `out`; false when it grows past `MAX_STRING` or cannot match.
    fn hir(&mut self, h: &Hir, extra: u32, out: &mut String) -> bool {
        self.steps += 1;
        if self.steps > PATTERN_STEPS {
            return false;
        }
        match h.kind() {
            HirKind::Empty | HirKind::Look(_) => {}
            HirKind::Literal(l) => out.push_str(&String::from_utf8_lossy(&l.0)),
            HirKind::Class(class) => {
                let ranges: Vec<(u32, u32)> = match class {
                    Class::Unicode(c) => c
                        .ranges()
                        .iter()
                        .map(|r| (r.start().into(), r.end().into()))
                        .collect(),
                    Class::Bytes(c) => c
                        .ranges()
                        .iter()
                        .map(|r| (r.start().into(), r.end().into()))
                        .collect(),
                };
                let Some(c) = self.class_char(ranges) else {
                    return false;
                };
                out.push(c);
            }
            HirKind::Repetition(r) => {
                let more = self.rng().map_or(0, |g| g.random_range(0..=3));
                let n = r
                    .min
                    .saturating_add(more + extra)
                    .min(r.max.unwrap_or(u32::MAX));
                if n as usize > MAX_STRING || !(0..n).all(|_| self.hir(&r.sub, extra, out)) {
                    return false;
                }
            }
            HirKind::Capture(c) => return self.hir(&c.sub, extra, out),
            HirKind::Concat(parts) => return parts.iter().all(|p| self.hir(p, extra, out)),
            HirKind::Alternation(alts) => {
                let i = self.pick(alts.len());
                return self.hir(&alts[i], extra, out);
            }
        }
        out.len() <= MAX_STRING
    }

    /// A member of a class given as code point ranges: static mode takes the first digit or
    /// letter (`.` gives "0", not a control character); random mode prefers printable ASCII.
    fn class_char(&mut self, ranges: Vec<(u32, u32)>) -> Option<char> {
        let clip = |(a, b): (u32, u32), (lo, hi): (u32, u32)| {
            (a.max(lo) <= b.min(hi)).then(|| (a.max(lo), b.min(hi)))
        };
        let Some(r) = self.rng() else {
            let preferred = [
                (0x30, 0x39),
                (0x41, 0x5a),
                (0x61, 0x7a),
                (0x21, 0x7e),
                (0, 0x10ffff),
            ];
            let first = preferred
                .iter()
                .find_map(|&p| ranges.iter().find_map(|&x| clip(x, p)));
            return first.and_then(|(a, _)| char::from_u32(a));
        };
        let printable: Vec<_> = ranges
            .iter()
            .filter_map(|&x| clip(x, (0x20, 0x7e)))
            .collect();
        let pool = if printable.is_empty() {
            ranges
        } else {
            printable
        };
        let total: u64 = pool.iter().map(|(a, b)| u64::from(b - a) + 1).sum();
        let mut i = (total > 0).then(|| r.random_range(0..total))?;
        for (a, b) in pool {
            let n = u64::from(b - a) + 1;
            if i < n {
                // A range across the surrogates holds code points that are no chars.
                return char::from_u32(a + i as u32).or(char::from_u32(a));
            }
            i -= n;
        }
        None
    }

    fn object(&mut self, s: &Schema, depth: usize, lean: bool) -> Value {
        let required: Vec<&str> = list(s, "required")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let (min, max) = (
            size(s, "minProperties", 0),
            size(s, "maxProperties", usize::MAX),
        );
        // Optional properties that fit beside the required ones under `maxProperties`.
        let room = max.saturating_sub(required.len());
        let (mut out, mut optional, mut left) = (Map::new(), 0, Vec::new());
        for (k, sub) in s
            .get("properties")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let req = required.contains(&k.as_str());
            // A response leaves out what only requests carry, unless the schema insists.
            if req
                || (!lean
                    && self.nodes < SOFT_NODES
                    && optional < room
                    && !self.write_only(sub, &mut 16))
            {
                optional += usize::from(!req);
                out.insert(k.clone(), self.value(sub, depth + 1));
            } else {
                left.push((k, sub));
            }
        }
        for k in required {
            if !out.contains_key(k) {
                let sub = extra_schema(s, k).unwrap_or(&TRUE);
                out.insert(k.to_owned(), self.value(sub, depth + 1));
            }
        }
        // Then, for `minProperties`, the properties left out, and new ones.
        let mut left = left.into_iter();
        let additional = s.get("additionalProperties").unwrap_or(&TRUE);
        let patterns: Vec<_> = s
            .get("patternProperties")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .collect();
        let mut n = 0;
        while out.len() < min && self.nodes < HARD_NODES && n < 1_000 {
            n += 1;
            if let Some((k, sub)) = left.next() {
                out.insert(k.clone(), self.value(sub, depth + 1));
            } else if *additional != Value::Bool(false) {
                let k = format!("additionalProp{n}");
                if !out.contains_key(&k) {
                    out.insert(k, self.value(additional, depth + 1));
                }
            } else if let Some((pattern, sub)) = patterns.get(n % patterns.len().max(1)) {
                let key = self.with_variant(n as u64, |g| g.pattern(pattern, 0, usize::MAX));
                if let Some(k) = key.filter(|k| !out.contains_key(k)) {
                    out.insert(k, self.value(sub, depth + 1));
                }
            } else {
                break;
            }
        }
        Value::Object(out)
    }

    /// Whether `schema`, what it refers to or includes (`allOf`) is marked `writeOnly`. Asked of
    /// every optional property of every object, so it reads in place where flattening copies.
    /// `budget` bounds the schemas looked at: `X: {allOf: [{$ref: X}, {$ref: X}, …]}` would
    /// otherwise branch exponentially.
    fn write_only(&self, schema: &Value, budget: &mut u32) -> bool {
        let Value::Object(o) = schema else {
            return false;
        };
        if o.get("writeOnly") == Some(&TRUE) {
            return true;
        }
        if *budget == 0 {
            return false;
        }
        *budget -= 1;
        let target = text(o, "$ref").and_then(|r| self.lookup(r));
        target.is_some_and(|t| self.write_only(t, budget))
            || list(o, "allOf").iter().any(|b| self.write_only(b, budget))
    }

    fn array(&mut self, s: &Schema, depth: usize, lean: bool) -> Value {
        let items = s.get("items").unwrap_or(&TRUE);
        // 2019-09's array form of `items` is 2020-12's `prefixItems`.
        let (prefix, rest) = match (s.get("prefixItems"), items) {
            (Some(Value::Array(p)), _) => (p.as_slice(), items),
            (_, Value::Array(p)) => (p.as_slice(), s.get("additionalItems").unwrap_or(&TRUE)),
            _ => (&[][..], items),
        };
        let min = size(s, "minItems", 0);
        let mut max = size(s, "maxItems", usize::MAX);
        if *rest == Value::Bool(false) {
            max = max.min(prefix.len());
        }
        let want = match self.rng() {
            _ if lean => min,
            None => min.max(1).max(prefix.len()), // Prism shows one item
            Some(r) => r.random_range(min..=min.saturating_add(3)),
        };
        let unique = s.get("uniqueItems") == Some(&TRUE);
        let mut out = Vec::new();
        for i in 0..want.min(max) {
            if self.nodes >= HARD_NODES || (i >= min && self.nodes >= SOFT_NODES) {
                break;
            }
            let sub = prefix.get(i).unwrap_or(rest);
            let mut v = self.value(sub, depth + 1);
            for seed in 1..=64 {
                if !(unique && out.contains(&v)) {
                    break;
                }
                v = self.with_variant(seed, |g| g.value(sub, depth + 1));
            }
            if unique && out.contains(&v) && i >= min {
                break;
            }
            out.push(v);
        }
        Value::Array(out)
    }
}

/// Adds `incoming` keywords to `out`: bounds tighten, properties and required lists join,
/// types intersect; for anything else the keyword already there stays.
fn merge<'v>(out: &mut Schema, incoming: impl Iterator<Item = (&'v String, &'v Value)>) {
    for (k, v) in incoming {
        let Some(old) = out.get_mut(k) else {
            out.insert(k.clone(), v.clone());
            continue;
        };
        let lower = k.starts_with("min") || k == "exclusiveMinimum";
        match (k.as_str(), &mut *old, v) {
            ("properties" | "patternProperties", Value::Object(a), Value::Object(b)) => {
                for (pk, pv) in b {
                    match a.get_mut(pk) {
                        Some(prev) => *prev = both(prev.take(), pv.clone()),
                        None => _ = a.insert(pk.clone(), pv.clone()),
                    }
                }
            }
            ("required", Value::Array(a), Value::Array(b)) => {
                a.extend(
                    b.iter()
                        .filter(|x| !a.contains(x))
                        .cloned()
                        .collect::<Vec<_>>(),
                );
            }
            ("enum", Value::Array(a), Value::Array(b)) => {
                let kept: Vec<Value> = a.iter().filter(|x| b.contains(x)).cloned().collect();
                if !kept.is_empty() {
                    *a = kept;
                }
            }
            ("type", _, _) => {
                let (a, b) = (types(Some(old)), types(Some(v)));
                // An integer is a number: the two meet at "integer".
                let numeric = b.contains(&"integer") || b.contains(&"number");
                let meet = |x: &&str| match *x {
                    _ if b.contains(x) => Some(Value::from(*x)),
                    "integer" | "number" if numeric => Some(Value::from("integer")),
                    _ => None,
                };
                let t: Vec<Value> = a.iter().filter_map(meet).collect();
                if !t.is_empty() {
                    *old = Value::Array(t);
                }
            }
            ("minimum" | "exclusiveMinimum" | "minLength" | "minItems" | "minProperties", ..)
            | ("maximum" | "exclusiveMaximum" | "maxLength" | "maxItems" | "maxProperties", ..) => {
                if let (Some(a), Some(b)) = (old.as_f64(), v.as_f64())
                    && (b > a) == lower
                    && a != b
                {
                    *old = v.clone();
                }
            }
            ("multipleOf", ..) => {
                if let (Some(a), Some(b)) = (old.as_f64(), v.as_f64()) {
                    let divides =
                        |x: f64, y: f64| y != 0.0 && ((x / y) - (x / y).round()).abs() < 1e-9;
                    *old = to_number(if divides(a, b) {
                        a
                    } else if divides(b, a) {
                        b
                    } else {
                        a * b
                    });
                }
            }
            ("items" | "additionalProperties" | "contains" | "propertyNames", ..) => {
                *old = both(old.take(), v.clone());
            }
            ("uniqueItems", _, Value::Bool(true)) => *old = TRUE.clone(),
            _ => {}
        }
    }
}

/// A schema both `a` and `b` hold for.
fn both(a: Value, b: Value) -> Value {
    match (a, b) {
        (Value::Bool(false), _) | (_, Value::Bool(false)) => Value::Bool(false),
        (Value::Bool(true), x) | (x, Value::Bool(true)) => x,
        (a, b) if a == b => a,
        (a, b) => json!({ "allOf": [a, b] }),
    }
}

fn types(t: Option<&Value>) -> Vec<&str> {
    match t {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// The type a schema without `type` implies by its other keywords; "any" when none.
fn infer(s: &Schema) -> &'static str {
    let has = |keys: &str| keys.split(' ').any(|k| s.contains_key(k));
    let format = text(s, "format");
    if has("properties required additionalProperties patternProperties minProperties maxProperties")
    {
        "object"
    } else if has("items prefixItems minItems maxItems uniqueItems contains") {
        "array"
    } else if matches!(format, Some("int32" | "int64")) {
        "integer"
    } else if matches!(format, Some("float" | "double"))
        || has("minimum maximum exclusiveMinimum exclusiveMaximum multipleOf")
    {
        "number"
    } else if format.is_some() || has("pattern minLength maxLength") {
        "string"
    } else {
        "any"
    }
}

/// The tighter of a bound's inclusive and exclusive forms, as (limit, exclusive); OpenAPI 3.0's
/// boolean `exclusiveMinimum` makes `minimum` itself exclusive.
fn bound(s: &Schema, inclusive: &str, exclusive: &str, lower: bool) -> Option<(f64, bool)> {
    let inc = number(s, inclusive).map(|v| (v, false));
    let exc = match s.get(exclusive) {
        Some(Value::Bool(b)) => return inc.map(|(v, _)| (v, *b)),
        v => v.and_then(Value::as_f64).map(|v| (v, true)),
    };
    match (inc, exc) {
        (Some(a), Some(b)) => Some(if (b.0 >= a.0) == lower || a.0 == b.0 {
            b
        } else {
            a
        }),
        (a, b) => a.or(b),
    }
}

fn list<'s>(s: &'s Schema, key: &str) -> &'s [Value] {
    s.get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn number(s: &Schema, key: &str) -> Option<f64> {
    s.get(key).and_then(Value::as_f64)
}

fn text<'s>(s: &'s Schema, key: &str) -> Option<&'s str> {
    s.get(key).and_then(Value::as_str)
}

fn size(s: &Schema, key: &str, default: usize) -> usize {
    s.get(key)
        .and_then(Value::as_u64)
        .map_or(default, |n| usize::try_from(n).unwrap_or(usize::MAX))
}

/// The schema of a required property that `properties` does not list.
fn extra_schema<'s>(s: &'s Schema, key: &str) -> Option<&'s Value> {
    let patterns = s.get("patternProperties").and_then(Value::as_object);
    let matching = patterns.and_then(|p| {
        p.iter()
            .find(|(p, _)| regex::Regex::new(p).is_ok_and(|re| re.is_match(key)))
    });
    matching.map(|(_, v)| v).or(s.get("additionalProperties"))
}

fn draw(r: &mut StdRng, a: f64, b: f64) -> f64 {
    if a < b && (b - a).is_finite() {
        r.random_range(a..=b)
    } else {
        a
    }
}

/// `x` rounded to the decimals of `step`: 3 × 0.1 is 0.30000000000000004 in floating point,
/// which is no multiple of 0.1 for a validator that reads the decimal digits.
fn round_like(x: f64, step: f64) -> f64 {
    let decimals = format!("{step}")
        .split_once('.')
        .map_or(0, |(_, f)| f.len());
    let p = 10f64.powi(decimals as i32);
    if decimals > 15 || !(x * p).is_finite() {
        x
    } else {
        (x * p).round() / p
    }
}

/// Whole numbers as JSON integers (Prism answers 0, not 0.0).
fn to_number(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 9e15 {
        Value::from(x as i64)
    } else {
        serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
    }
}

/// Pads or truncates `v` to a length in `min..=max` (in characters, as JSON Schema counts).
fn fit(mut v: String, min: usize, max: usize, pad_front: bool) -> String {
    let n = v.chars().count();
    if n < min {
        let pad = "x".repeat(min - n);
        v = if pad_front { pad + &v } else { v + &pad };
    } else if n > max {
        v = v.chars().take(max).collect();
    }
    v
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        let digit = |i: usize| char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]);
        out.extend((0..4).map(|i| if i <= chunk.len() { digit(i) } else { '=' }));
    }
    out
}

#[cfg(test)]
mod tests;
