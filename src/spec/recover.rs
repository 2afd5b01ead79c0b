//! The recovering pass: every error of a spec item that serde_yaml rejected, each with its
//! location, and the item itself when what is wrong with it changes nothing it means.
//!
//! serde_yaml stops at the first error and has no spans for valid nodes. So when it fails, the
//! file is parsed again with saphyr, which keeps a span on every node, and the very same
//! `Deserialize` impls are driven by a deserializer that records a problem and carries on: a
//! wrong scalar type gets a placeholder, an unknown key is skipped with a did-you-mean. A
//! problem that cannot be papered over (a missing key, a mapping where a scalar belongs) fails
//! the nearest list item; that item is then skipped and the pass runs again, so the items after
//! it are checked too. This costs nothing on valid files, which never get here.

use std::cell::RefCell;
use std::collections::HashSet;
use std::fmt;

use saphyr::{AnnotatedMapping, MarkedYaml, Marker};
use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, Visitor};

use super::locate::{KeyPath, Kind, Seg, describe, key_text, kind};
use crate::suggest::did_you_mean;

/// A problem at a node, before its markers become line and column.
#[derive(Debug, Clone)]
pub(crate) struct Found {
    pub(crate) path: KeyPath,
    pub(crate) message: String,
    pub(crate) start: Marker,
    pub(crate) end: Marker,
    /// An unknown key: skipping it leaves the item meaning what it says without it.
    pub(crate) unknown_key: bool,
}

/// Runs the recovering pass for `T` over one node whose key path is `base`. Returns every
/// problem found, and the value when the only problems were unknown keys: a value built from
/// placeholders would bring false errors of its own into the checks that follow.
pub(crate) fn recover<T: DeserializeOwned>(
    node: &MarkedYaml<'_>,
    base: KeyPath,
) -> (Option<T>, Vec<Found>) {
    // Each failed pass skips at least one more item inside this node, so the passes are bounded
    // by the number of broken items in it; past the cap the report is long enough to act on.
    const MAX_PASSES: usize = 200;
    let ctx = Ctx::default();
    let mut value = None;
    for _ in 0..MAX_PASSES {
        let skipped_before = ctx.skip.borrow().len();
        match T::deserialize(De::new(node, base.clone(), &ctx)) {
            Ok(v) => {
                value = Some(v);
                break;
            }
            Err(e) => {
                if !e.recorded {
                    ctx.record(base.clone(), e.msg, node.span.start, node.span.end, false);
                }
                if ctx.skip.borrow().len() == skipped_before {
                    break;
                }
            }
        }
    }
    let found = ctx.found.into_inner();
    let value = value.filter(|_| found.iter().all(|f| f.unknown_key));
    (value, found)
}

#[derive(Default)]
struct Ctx {
    found: RefCell<Vec<Found>>,
    seen: RefCell<HashSet<(KeyPath, String)>>,
    skip: RefCell<HashSet<KeyPath>>,
}

impl Ctx {
    fn record(
        &self,
        path: KeyPath,
        message: String,
        start: Marker,
        end: Marker,
        unknown_key: bool,
    ) {
        // Later passes revisit the items before the one they skip; report each problem once.
        if self
            .seen
            .borrow_mut()
            .insert((path.clone(), message.clone()))
        {
            self.found.borrow_mut().push(Found {
                path,
                message,
                start,
                end,
                unknown_key,
            });
        }
    }
}

#[derive(Debug)]
pub(crate) struct Error {
    msg: String,
    /// Already in the report: the levels above only pass it on.
    recorded: bool,
    /// An enclosing list item or map entry has been marked to skip on the next pass.
    skipped: bool,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error {
            msg: msg.to_string(),
            recorded: false,
            skipped: false,
        }
    }
}

#[derive(Clone)]
struct De<'a, 'i> {
    node: &'a MarkedYaml<'i>,
    path: KeyPath,
    ctx: &'a Ctx,
    /// The struct whose key this value is, for a key written one level too deep.
    outer: Option<Outer<'a, 'i>>,
}

/// A struct's mapping as seen from the value of one of its keys.
#[derive(Clone, Copy)]
struct Outer<'a, 'i> {
    fields: &'static [&'static str],
    map: &'a AnnotatedMapping<'i, MarkedYaml<'i>>,
    /// The key whose value this is, and its line.
    key: &'a MarkedYaml<'i>,
}

impl<'a, 'i> De<'a, 'i> {
    fn new(node: &'a MarkedYaml<'i>, path: KeyPath, ctx: &'a Ctx) -> Self {
        De {
            node,
            path,
            ctx,
            outer: None,
        }
    }

    fn child(&self, node: &'a MarkedYaml<'i>, seg: Seg) -> Self {
        let mut path = self.path.clone();
        path.push(seg);
        De::new(node, path, self.ctx)
    }

    fn record(&self, message: String) {
        self.ctx.record(
            self.path.clone(),
            message,
            self.node.span.start,
            self.node.span.end,
            false,
        );
    }

    fn mismatch(&self, expected: &str) {
        self.record(format!(
            "expected {expected}, found {}",
            describe(&kind(self.node))
        ));
    }

    /// Records an error raised while visiting this node, unless a deeper node already did.
    fn hard(&self, mut e: Error) -> Error {
        if !e.recorded {
            let msg = match e.msg.strip_prefix("missing field `") {
                Some(rest) => {
                    let field = rest.trim_end_matches('`');
                    if self.typo_names(field) {
                        e.recorded = true;
                        return e;
                    }
                    format!("missing required key '{field}'")
                }
                None => e.msg.clone(),
            };
            self.record(msg);
            e.recorded = true;
        }
        e
    }

    /// Whether an unknown key of this mapping was already reported as a typo of `field`, so
    /// "missing 'path'" would only repeat "unknown key 'pth', did you mean 'path'?".
    fn typo_names(&self, field: &str) -> bool {
        let hint = format!("did you mean '{field}'?");
        self.ctx.found.borrow().iter().any(|f| {
            f.path.len() == self.path.len() + 1
                && f.path.starts_with(&self.path)
                && f.message.ends_with(&hint)
        })
    }

    fn recorded_error(&self) -> Error {
        Error {
            msg: String::new(),
            recorded: true,
            skipped: false,
        }
    }

    fn int<'de, V: Visitor<'de>>(self, v: V, lo: i128, hi: i128) -> Result<V::Value, Error> {
        let r = match kind(self.node) {
            Kind::Int(i) if (lo..=hi).contains(&i128::from(i)) => v.visit_i64(i),
            Kind::Int(i) => {
                self.record(format!("{i} is out of range ({lo}..={hi})"));
                v.visit_i64(0)
            }
            _ => {
                self.mismatch("an integer");
                v.visit_i64(0)
            }
        };
        r.map_err(|e| self.hard(e))
    }

    fn text<'de, V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        // serde_yaml reads `1`, `1.5` and `true` as text where text is wanted; so do we.
        let r = match kind(self.node) {
            Kind::Str(s) => v.visit_str(&s),
            Kind::Int(i) => v.visit_str(&i.to_string()),
            Kind::Float(f) => v.visit_str(&f.to_string()),
            Kind::Bool(b) => v.visit_str(&b.to_string()),
            _ => {
                self.mismatch("a string");
                v.visit_str("")
            }
        };
        r.map_err(|e| self.hard(e))
    }
}

macro_rules! ints {
    ($($name:ident: $t:ty),*) => {$(
        fn $name<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
            self.int(v, i128::from(<$t>::MIN), i128::from(<$t>::MAX))
        }
    )*};
}

macro_rules! texts {
    ($($name:ident),*) => {$(
        fn $name<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
            self.text(v)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for De<'_, '_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        let r = match kind(self.node) {
            Kind::Null => v.visit_unit(),
            Kind::Bool(b) => v.visit_bool(b),
            Kind::Int(i) => v.visit_i64(i),
            Kind::Float(f) => v.visit_f64(f),
            Kind::Str(s) => v.visit_str(&s),
            Kind::Seq(items) => v.visit_seq(SeqAcc::new(&self, items)),
            Kind::Map(m) => v.visit_map(MapAcc::new(&self, m, None)),
            Kind::Bad => {
                self.record("invalid value".into());
                return Err(self.recorded_error());
            }
        };
        r.map_err(|e| self.hard(e))
    }

    ints!(deserialize_i8: i8, deserialize_i16: i16, deserialize_i32: i32, deserialize_i64: i64,
          deserialize_u8: u8, deserialize_u16: u16, deserialize_u32: u32, deserialize_u64: u64);
    texts!(
        deserialize_str,
        deserialize_string,
        deserialize_char,
        deserialize_bytes,
        deserialize_byte_buf,
        deserialize_identifier
    );

    fn deserialize_bool<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        let r = match kind(self.node) {
            Kind::Bool(b) => v.visit_bool(b),
            _ => {
                self.mismatch("true or false");
                v.visit_bool(false)
            }
        };
        r.map_err(|e| self.hard(e))
    }

    fn deserialize_f32<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        self.deserialize_f64(v)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        let r = match kind(self.node) {
            Kind::Float(f) => v.visit_f64(f),
            Kind::Int(i) => v.visit_i64(i),
            _ => {
                self.mismatch("a number");
                v.visit_f64(0.0)
            }
        };
        r.map_err(|e| self.hard(e))
    }

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        let r = match kind(self.node) {
            Kind::Null => v.visit_none(),
            _ => v.visit_some(self.clone()),
        };
        r.map_err(|e| self.hard(e))
    }

    fn deserialize_unit<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        if !matches!(kind(self.node), Kind::Null) {
            self.mismatch("nothing (null)");
        }
        v.visit_unit().map_err(|e| self.hard(e))
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        v: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_unit(v)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        v: V,
    ) -> Result<V::Value, Error> {
        v.visit_newtype_struct(self.clone())
            .map_err(|e| self.hard(e))
    }

    fn deserialize_seq<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        let r = match kind(self.node) {
            Kind::Seq(items) => v.visit_seq(SeqAcc::new(&self, items)),
            _ => {
                self.mismatch("a list");
                v.visit_seq(SeqAcc::new(&self, &[]))
            }
        };
        r.map_err(|e| self.hard(e))
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _: usize, v: V) -> Result<V::Value, Error> {
        self.deserialize_seq(v)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: usize,
        v: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(v)
    }

    fn deserialize_map<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        let r = match kind(self.node) {
            Kind::Map(m) => v.visit_map(MapAcc::new(&self, m, None)),
            _ => {
                self.mismatch("a mapping");
                v.visit_map(de::value::MapDeserializer::new(std::iter::empty::<(
                    &str,
                    &str,
                )>()))
            }
        };
        r.map_err(|e| self.hard(e))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, Error> {
        match kind(self.node) {
            Kind::Map(m) => v
                .visit_map(MapAcc::new(&self, m, Some(fields)))
                .map_err(|e| self.hard(e)),
            _ => {
                self.mismatch(&format!("a mapping with keys {}", fields.join(", ")));
                Err(self.recorded_error())
            }
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        variants: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, Error> {
        // Aliases are in the list too; name each variant once, as the spec writes it.
        let mut shown: Vec<&str> = Vec::new();
        for v in variants {
            if !shown.iter().any(|s| s.eq_ignore_ascii_case(v)) {
                shown.push(v);
            }
        }
        let shown = shown.join(", ");
        let name = match kind(self.node) {
            Kind::Str(s) => s,
            _ => {
                self.mismatch(&format!("one of {shown}"));
                return Err(self.recorded_error());
            }
        };
        let chosen = if variants.contains(&name.as_str()) {
            name
        } else if let Some(upper) = variants.iter().find(|c| c.eq_ignore_ascii_case(&name)) {
            upper.to_string()
        } else {
            let hint = did_you_mean(&name, variants)
                .map(|c| format!(", did you mean '{c}'?"))
                .unwrap_or_default();
            self.record(format!(
                "unknown value '{name}', expected one of {shown}{hint}"
            ));
            variants.first().copied().unwrap_or_default().to_string()
        };
        v.visit_enum(chosen.into_deserializer())
            .map_err(|e: Error| self.hard(e))
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        v.visit_unit()
    }
}

struct SeqAcc<'p, 'a, 'i> {
    parent: &'p De<'a, 'i>,
    items: &'a [MarkedYaml<'i>],
    next: usize,
}

impl<'p, 'a, 'i> SeqAcc<'p, 'a, 'i> {
    fn new(parent: &'p De<'a, 'i>, items: &'a [MarkedYaml<'i>]) -> Self {
        SeqAcc {
            parent,
            items,
            next: 0,
        }
    }
}

impl<'de> de::SeqAccess<'de> for SeqAcc<'_, '_, '_> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        while let Some(item) = self.items.get(self.next) {
            let de = self.parent.child(item, Seg::Index(self.next));
            self.next += 1;
            if self.parent.ctx.skip.borrow().contains(&de.path) {
                continue;
            }
            let path = de.path.clone();
            return match seed.deserialize(de) {
                Ok(v) => Ok(Some(v)),
                Err(mut e) => {
                    if !e.skipped {
                        self.parent.ctx.skip.borrow_mut().insert(path);
                        e.skipped = true;
                    }
                    Err(e)
                }
            };
        }
        Ok(None)
    }
}

/// The keys of the mappings that a key of the same mapping opens, for the commonest
/// indentation slip: a key written one level too shallow, beside the key it belongs under.
fn child_fields(key: &str) -> Option<&'static [&'static str]> {
    use super::fields::fields_of;
    use super::types::{Match, Response, ServerSettings};
    Some(match key {
        "response" | "on_timeout" => fields_of::<Response>(),
        "match" => fields_of::<Match>(),
        "server" => fields_of::<ServerSettings>(),
        "openapi" => fields_of::<super::openapi::OpenApi>(),
        _ => return None,
    })
}

/// "it belongs beside 'response:' (line 3)" when `name` is a key the enclosing struct takes
/// and does not have yet: the slip of a key indented one level too deep.
fn belongs_beside(outer: Option<Outer<'_, '_>>, name: &str) -> Option<String> {
    let o = outer?;
    let taken = o
        .map
        .iter()
        .any(|(k, _)| key_text(k).as_deref() == Some(name));
    (o.fields.contains(&name) && !taken).then(|| {
        format!(
            "it belongs beside '{}:' (line {}), indented one level less",
            key_text(o.key).unwrap_or_default(),
            o.key.span.start.line()
        )
    })
}

/// "it belongs under 'response:' (line 4)" when `name` is a key of the mapping a sibling key
/// opens.
fn belongs_under(map: &AnnotatedMapping<'_, MarkedYaml<'_>>, name: &str) -> Option<String> {
    map.iter().find_map(|(k, _)| {
        let key = key_text(k)?;
        child_fields(&key)?.contains(&name).then(|| {
            format!(
                "it belongs under '{key}:' (line {}), indented one level deeper",
                k.span.start.line()
            )
        })
    })
}

struct MapAcc<'p, 'a, 'i> {
    parent: &'p De<'a, 'i>,
    /// Each entry's name, key and value.
    entries: Vec<(String, &'a MarkedYaml<'i>, &'a MarkedYaml<'i>)>,
    next: usize,
    /// Set for structs: the keys serde knows, to catch the ones it does not.
    is_struct: bool,
    map: &'a AnnotatedMapping<'i, MarkedYaml<'i>>,
    fields: Option<&'static [&'static str]>,
}

impl<'p, 'a, 'i> MapAcc<'p, 'a, 'i> {
    fn new(
        parent: &'p De<'a, 'i>,
        map: &'a AnnotatedMapping<'i, MarkedYaml<'i>>,
        fields: Option<&'static [&'static str]>,
    ) -> Self {
        let mut entries = Vec::with_capacity(map.len());
        for (k, v) in map.iter() {
            let Some(name) = key_text(k) else {
                parent.ctx.record(
                    parent.path.clone(),
                    format!("keys must be text, found {}", describe(&kind(k))),
                    k.span.start,
                    k.span.end,
                    false,
                );
                continue;
            };
            if let Some(fields) = fields
                && !fields.contains(&name.as_str())
            {
                let home =
                    belongs_under(map, &name).or_else(|| belongs_beside(parent.outer, &name));
                let hint = match (home, did_you_mean(&name, fields)) {
                    (Some(home), _) => home,
                    (None, Some(c)) => format!("did you mean '{c}'?"),
                    (None, None) => format!("expected one of {}", fields.join(", ")),
                };
                let mut path = parent.path.clone();
                path.push(Seg::Key(name.clone()));
                parent.ctx.record(
                    path,
                    format!("unknown key '{name}', {hint}"),
                    k.span.start,
                    k.span.end,
                    true,
                );
                continue;
            }
            entries.push((name, k, v));
        }
        MapAcc {
            parent,
            entries,
            next: 0,
            is_struct: fields.is_some(),
            map,
            fields,
        }
    }
}

impl<'de> de::MapAccess<'de> for MapAcc<'_, '_, '_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        while let Some((name, _, _)) = self.entries.get(self.next) {
            if !self.is_struct {
                let mut path = self.parent.path.clone();
                path.push(Seg::Key(name.clone()));
                if self.parent.ctx.skip.borrow().contains(&path) {
                    self.next += 1;
                    continue;
                }
            }
            let key: de::value::StrDeserializer<'_, Error> = name.as_str().into_deserializer();
            return seed.deserialize(key).map(Some);
        }
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let (name, key, node) = self.entries[self.next].clone();
        self.next += 1;
        let mut de = self.parent.child(node, Seg::Key(name));
        de.outer = self.fields.map(|fields| Outer {
            fields,
            map: self.map,
            key,
        });
        let path = de.path.clone();
        seed.deserialize(de).map_err(|mut e| {
            // A free-form map (headers, a JSON body) can drop one entry and go on; a struct
            // cannot drop a field, so its error goes up to the enclosing list item.
            if !self.is_struct && !e.skipped {
                self.parent.ctx.skip.borrow_mut().insert(path);
                e.skipped = true;
            }
            e
        })
    }
}
