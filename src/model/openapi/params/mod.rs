//! Request parameters read from their serialisation (`style` and `explode`, OpenAPI 3.1
//! §4.8.12.4) into JSON values typed by the parameter's schema, for the JSON Schema validator.
//!
//! Text that does not read as the schema's type stays a string rather than failing here, so
//! the validator's message names what was sent ("expected integer, got string \"abc\"").
//! `Malformed` is only for text that cannot be read in its style at all.
//!
//! Each piece is percent-decoded after splitting on the style's delimiters, so an encoded
//! delimiter (`%2C`) stays inside its value. Header values are never percent-decoded: OpenAPI
//! (3.1.1, Appendix D) has headers sent as they are; cookies in form style are encoded.

use std::borrow::Cow;

use percent_encoding::percent_decode_str;
use serde_json::{Map, Number, Value};

/// Where a parameter is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum In {
    Path,
    Query,
    Header,
    Cookie,
}

/// A parameter's serialisation style.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    Matrix,
    Label,
    Simple,
    Form,
    SpaceDelimited,
    PipeDelimited,
    DeepObject,
}

impl Style {
    /// The style named in a document (`"form"`, …); None for an unknown name.
    pub(crate) fn parse(name: &str) -> Option<Style> {
        Some(match name {
            "matrix" => Style::Matrix,
            "label" => Style::Label,
            "simple" => Style::Simple,
            "form" => Style::Form,
            "spaceDelimited" => Style::SpaceDelimited,
            "pipeDelimited" => Style::PipeDelimited,
            "deepObject" => Style::DeepObject,
            _ => return None,
        })
    }

    /// The default per location: form for query and cookie, simple for path and header.
    pub(crate) fn default_for(at: In) -> Style {
        match at {
            In::Query | In::Cookie => Style::Form,
            In::Path | In::Header => Style::Simple,
        }
    }
}

/// The JSON type a string becomes, read off the parameter's schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scalar {
    String,
    Integer,
    Number,
    Boolean,
    Any,
}

/// The shape of a parameter's schema, as far as decoding needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Shape {
    Scalar(Scalar),
    Array(Scalar),
    /// The known properties; any other member is `Any`.
    Object(Vec<(String, Scalar)>),
}

/// Schemas looked at for one shape. A `$ref` cycle must end, and so must `allOf`s that refer
/// back to themselves, which branch exponentially under a mere depth limit.
const BUDGET: u32 = 256;

impl Shape {
    /// The shape of `schema`, a self-contained JSON Schema whose `$ref`s are local
    /// (`#/$defs/x`, resolved against `root`).
    pub(crate) fn of(schema: &Value, root: &Value) -> Shape {
        shape(schema, root, &mut { BUDGET })
    }
}

fn shape(schema: &Value, root: &Value, budget: &mut u32) -> Shape {
    let Some(schema) = resolve(schema, root, budget) else {
        return Shape::Scalar(Scalar::Any);
    };
    let ty = match schema.get("type") {
        // `["integer", "null"]`: text never reads as null, so the other type decides.
        Some(Value::Array(types)) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null"),
        ty => ty.and_then(Value::as_str),
    };
    let scalar = match ty {
        Some("array") => return Shape::Array(items(schema, root, budget)),
        Some("object") => return Shape::Object(properties(schema, root, budget)),
        Some("string") => Scalar::String,
        Some("integer") => Scalar::Integer,
        Some("number") => Scalar::Number,
        Some("boolean") => Scalar::Boolean,
        Some(_) => Scalar::Any,
        // Untyped but plainly an object or an array: a deepObject's schema often says no more.
        None if schema.get("properties").is_some() => {
            return Shape::Object(properties(schema, root, budget));
        }
        None if schema.get("items").is_some() => return Shape::Array(items(schema, root, budget)),
        None => {
            for keyword in ["allOf", "oneOf", "anyOf"] {
                let Some(first) = schema.get(keyword).and_then(|b| b.as_array()?.first()) else {
                    continue;
                };
                return match shape(first, root, budget) {
                    // allOf's branches all apply: `allOf: [Base, {properties: extra}]` has both.
                    Shape::Object(_) if keyword == "allOf" => {
                        Shape::Object(properties(schema, root, budget))
                    }
                    found => found,
                };
            }
            Scalar::Any
        }
    };
    Shape::Scalar(scalar)
}

/// Follows `$ref`s to the schema they name; None for a dangling, remote or cyclic one.
fn resolve<'v>(mut schema: &'v Value, root: &'v Value, budget: &mut u32) -> Option<&'v Value> {
    *budget = budget.checked_sub(1)?;
    while let Some(target) = schema.get("$ref").and_then(Value::as_str) {
        *budget = budget.checked_sub(1)?;
        let pointer = percent_decode_str(target.strip_prefix('#')?)
            .decode_utf8()
            .ok()?;
        schema = root.pointer(&pointer)?;
    }
    Some(schema)
}

/// A nested array or object inside one parameter has no serialisation: its text stays.
fn scalar(schema: &Value, root: &Value, budget: &mut u32) -> Scalar {
    match shape(schema, root, budget) {
        Shape::Scalar(s) => s,
        _ => Scalar::Any,
    }
}

/// `items` as one schema; its 2019-09 tuple form (an array) reads as untyped.
fn items(schema: &Value, root: &Value, budget: &mut u32) -> Scalar {
    schema
        .get("items")
        .map_or(Scalar::Any, |items| scalar(items, root, budget))
}

/// The properties of `schema` and of its `allOf` branches; the first mention of a name wins.
fn properties(schema: &Value, root: &Value, budget: &mut u32) -> Vec<(String, Scalar)> {
    let mut found: Vec<(String, Scalar)> = Vec::new();
    let mut todo = vec![schema];
    while let Some(next) = todo.pop() {
        let Some(next) = resolve(next, root, budget) else {
            continue;
        };
        for (name, prop) in next
            .get("properties")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            if !found.iter().any(|(known, _)| known == name) {
                let s = scalar(prop, root, budget);
                found.push((name.clone(), s));
            }
        }
        let branches = next.get("allOf").and_then(Value::as_array);
        todo.extend(branches.into_iter().flatten().rev());
    }
    found
}

/// One declared parameter, as decoding needs it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ParamSpec<'a> {
    pub(crate) name: &'a str,
    pub(crate) style: Style,
    pub(crate) explode: bool,
    pub(crate) shape: &'a Shape,
}

/// Why a parameter's text cannot be read in its style (e.g. a label-style path value without
/// the leading '.'); the validator reports it as a 400/422 at the parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Malformed(pub(crate) String);

fn bad<T>(why: impl Into<String>) -> Result<T, Malformed> {
    Err(Malformed(why.into()))
}

/// A path parameter: `raw` is the segment text as captured, still percent-encoded.
pub(crate) fn path(p: &ParamSpec<'_>, raw: &str) -> Result<Value, Malformed> {
    styled(p, raw, Enc::Percent)
}

/// A header parameter (simple style) from the header's value; None when absent is the
/// caller's business.
pub(crate) fn header(p: &ParamSpec<'_>, value: &str) -> Result<Value, Malformed> {
    styled(p, value, Enc::Header)
}

/// Text as the scalar type `s` when it reads as one, else the string: for values that come
/// already split and decoded (form fields of a request body).
pub(crate) fn coerce(text: &str, s: Scalar) -> Value {
    typed(Cow::Borrowed(text), s)
}

/// A query parameter from the raw query string (still percent-encoded, without '?'); Ok(None)
/// when absent. `claimed` names the operation's other query parameters, which an exploded
/// object without known properties leaves to them.
pub(crate) fn query(
    p: &ParamSpec<'_>,
    raw_query: &str,
    claimed: &[&str],
) -> Result<Option<Value>, Malformed> {
    let pairs: Vec<(Cow<'_, str>, &str)> = raw_query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(name, Enc::Form), value)
        })
        .collect();
    if p.style == Style::DeepObject {
        return deep_object(p, &pairs);
    }
    let exploded = p.explode
        && matches!(
            p.style,
            Style::Form | Style::SpaceDelimited | Style::PipeDelimited
        );
    among(p, &pairs, Enc::Form, exploded, claimed, false)
}

/// A cookie parameter (form style) from the whole Cookie header value(s); Ok(None) when
/// absent.
pub(crate) fn cookie(p: &ParamSpec<'_>, cookie_header: &str) -> Result<Option<Value>, Malformed> {
    let pairs: Vec<(Cow<'_, str>, &str)> = cookie_header
        .split(';')
        .map(|c| c.trim_matches([' ', '\t']))
        .filter(|c| !c.is_empty())
        .map(|c| c.split_once('=').unwrap_or((c, "")))
        .map(|(name, value)| (Cow::Borrowed(name), value))
        .collect();
    // A browser sends a name twice for cookies set on nested paths, most specific first
    // (RFC 6265 §5.4): that one is meant, so a repeat is no error. Cookies carry no list of
    // the other parameters' names: a free-form exploded object takes them all.
    let exploded = p.explode && p.style == Style::Form;
    among(p, &pairs, Enc::Percent, exploded, &[], true)
}

/// A parameter among `name=value` pairs: an exploded object takes the pairs of its known
/// properties (or, with none known, every pair not `claimed`), an exploded array every pair
/// of its name, anything else its one pair.
fn among(
    p: &ParamSpec<'_>,
    pairs: &[(Cow<'_, str>, &str)],
    enc: Enc,
    exploded: bool,
    claimed: &[&str],
    first_wins: bool,
) -> Result<Option<Value>, Malformed> {
    let named: Vec<&str> = pairs
        .iter()
        .filter(|(n, _)| n == p.name)
        .map(|(_, v)| *v)
        .collect();
    match (p.shape, &named[..]) {
        (Shape::Object(props), _) if exploded => {
            let known = |name: &str| props.iter().any(|(known, _)| known == name);
            let unclaimed = |name: &str| !claimed.iter().any(|c| is_claimed(name, c));
            let mine = |name: &str| {
                if props.is_empty() {
                    unclaimed(name)
                } else {
                    known(name)
                }
            };
            let members = pairs.iter().filter(|(n, _)| mine(n));
            object(props, members.map(|(n, v)| (n.clone(), decode(v, enc)))).map(present)
        }
        (_, []) => Ok(None),
        (Shape::Array(s), _) if exploded => Ok(Some(array(
            named.iter().map(|v| decode(v, enc)).collect(),
            *s,
        ))),
        (_, [value]) => styled(p, value, enc).map(Some),
        (_, [value, ..]) if first_wins => styled(p, value, enc).map(Some),
        // Servers disagree on which of two values counts; a client sending both has a bug
        // that the mock should show rather than hide by picking one.
        _ => bad("given more than once; only an exploded array repeats its name"),
    }
}

/// Whether a pair belongs to the other parameter `claimed`, a deepObject's `name[key]` too.
fn is_claimed(name: &str, claimed: &str) -> bool {
    name.strip_prefix(claimed)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('['))
}

/// `name[key]=value` pairs. Nesting (`name[a][b]`) is left undefined by OpenAPI, so it is
/// refused rather than guessed.
fn deep_object(
    p: &ParamSpec<'_>,
    pairs: &[(Cow<'_, str>, &str)],
) -> Result<Option<Value>, Malformed> {
    let props: &[(String, Scalar)] = match p.shape {
        Shape::Object(props) => props,
        _ => &[],
    };
    let mut members = Vec::new();
    for (name, value) in pairs {
        if name == p.name {
            return bad(format!("a deepObject is written `{0}[key]=value`", p.name));
        }
        let key = name
            .strip_prefix(p.name)
            .and_then(|k| k.strip_prefix('[')?.strip_suffix(']'));
        let Some(key) = key else {
            continue;
        };
        if key.contains(['[', ']']) {
            return bad(format!(
                "`{name}` nests; a deepObject has one level of keys"
            ));
        }
        members.push((Cow::Owned(key.to_owned()), decode(value, Enc::Form)));
    }
    object(props, members).map(present)
}

/// How a piece of raw text is decoded once split off.
#[derive(Debug, Clone, Copy)]
enum Enc {
    /// Path segments and cookies.
    Percent,
    /// Query strings: percent-encoding with '+' for a space (HTML form encoding).
    Form,
    /// Sent as it is; the blanks around a list's commas (`1, 2`) are HTTP's optional
    /// whitespace, not part of the items.
    Header,
    /// Already decoded.
    Plain,
}

fn decode(raw: &str, enc: Enc) -> Cow<'_, str> {
    match enc {
        Enc::Percent => percent_decode_str(raw).decode_utf8_lossy(),
        // '+' before decoding, so an encoded `%2B` stays a plus.
        Enc::Form if raw.contains('+') => {
            let spaced = raw.replace('+', " ");
            Cow::Owned(percent_decode_str(&spaced).decode_utf8_lossy().into_owned())
        }
        Enc::Form => percent_decode_str(raw).decode_utf8_lossy(),
        Enc::Header => Cow::Borrowed(raw.trim_matches([' ', '\t'])),
        Enc::Plain => Cow::Borrowed(raw),
    }
}

/// One parameter's text (a path segment, a header, the value of one query or cookie pair) in
/// its style.
fn styled(p: &ParamSpec<'_>, raw: &str, enc: Enc) -> Result<Value, Malformed> {
    match p.style {
        Style::Matrix => matrix(p, raw, enc),
        Style::Label => match (raw.strip_prefix('.'), p.explode) {
            (Some(rest), true) => joined(rest, p.shape, '.', true, enc),
            (Some(rest), false) => joined(rest, p.shape, ',', false, enc),
            (None, _) => bad("a label-style value starts with '.'"),
        },
        Style::Simple => joined(raw, p.shape, ',', p.explode, enc),
        // Form's own text after `name=`; deepObject reaches here only outside a query string,
        // where it has no meaning and this is the nearest reading.
        Style::Form | Style::DeepObject => joined(raw, p.shape, ',', false, enc),
        // The spec's own example encodes the spaces (`blue%20black`): decode, then split.
        Style::SpaceDelimited => joined(&decode(raw, enc), p.shape, ' ', false, Enc::Plain),
        Style::PipeDelimited => joined(raw, p.shape, '|', false, enc),
    }
}

/// `;name=value` once, or `;name=a;name=b` / `;k=v;k2=v2` exploded. A bare `;name` is the
/// empty value, as RFC 6570 writes it.
fn matrix(p: &ParamSpec<'_>, raw: &str, enc: Enc) -> Result<Value, Malformed> {
    let Some(rest) = raw.strip_prefix(';') else {
        return bad(format!("a matrix-style value starts with `;{}=`", p.name));
    };
    let mut parts = rest.split(';').map(|part| match part {
        "" => bad("a matrix-style value has an empty `;` part"),
        _ => Ok(part.split_once('=').unwrap_or((part, ""))),
    });
    let own = |name: &str| {
        let wrong = decode(name, enc) != p.name;
        if wrong {
            bad(format!("a matrix-style value is named `;{}=`", p.name))
        } else {
            Ok(())
        }
    };
    match p.shape {
        Shape::Array(s) if p.explode => {
            let mut items = Vec::new();
            for part in parts {
                let (name, value) = part?;
                own(name)?;
                items.push(decode(value, enc));
            }
            Ok(array(items, *s))
        }
        Shape::Object(_) if p.explode && decode(rest, enc) == p.name => Ok(Map::new().into()),
        Shape::Object(props) if p.explode => {
            let members: Vec<_> = parts
                .map(|part| part.map(|(k, v)| (decode(k, enc), decode(v, enc))))
                .collect::<Result<_, _>>()?;
            object(props, members).map(Value::Object)
        }
        _ if rest.contains(';') => bad(format!("a matrix-style value is one `;{}=…`", p.name)),
        _ => {
            let (name, value) = parts.next().unwrap_or(Ok(("", "")))?;
            own(name)?;
            joined(value, p.shape, ',', false, enc)
        }
    }
}

/// A value whose array items or object members are joined by `sep`: an object's members are
/// either `key=value` (`kv`) or keys and values alternating (`R,100,G,200`).
fn joined(raw: &str, shape: &Shape, sep: char, kv: bool, enc: Enc) -> Result<Value, Malformed> {
    let pieces = || raw.split(sep).map(|piece| decode(piece, enc));
    let props = match shape {
        Shape::Scalar(s) => return Ok(typed(decode(raw, enc), *s)),
        Shape::Array(s) => return Ok(array(pieces().collect(), *s)),
        _ if raw.is_empty() => return Ok(Map::new().into()),
        Shape::Object(props) => props,
    };
    let members = if kv {
        let mut members = Vec::new();
        for piece in raw.split(sep) {
            let Some((key, value)) = piece.split_once('=') else {
                return bad(format!("each member is written `key=value`, not `{piece}`"));
            };
            members.push((decode(key, enc), decode(value, enc)));
        }
        members
    } else {
        let flat: Vec<_> = pieces().collect();
        if flat.len() % 2 != 0 {
            return bad(format!(
                "an object is keys and values alternating (`key{sep}value`): {} parts is odd",
                flat.len()
            ));
        }
        let mut flat = flat.into_iter();
        std::iter::from_fn(|| Some((flat.next()?, flat.next()?))).collect()
    };
    object(props, members).map(Value::Object)
}

/// Array items typed; the one empty text (`ids=`, `;ids`, `.`) is the empty array, which is
/// how the spec writes one.
fn array(mut texts: Vec<Cow<'_, str>>, s: Scalar) -> Value {
    if texts.len() == 1 && texts[0].is_empty() {
        texts.clear();
    }
    Value::Array(texts.into_iter().map(|text| typed(text, s)).collect())
}

/// An object from decoded members typed by the known properties.
fn object<'t>(
    props: &[(String, Scalar)],
    members: impl IntoIterator<Item = (Cow<'t, str>, Cow<'t, str>)>,
) -> Result<Map<String, Value>, Malformed> {
    let mut map = Map::new();
    for (key, value) in members {
        if map.contains_key(key.as_ref()) {
            return bad(format!("member `{key}` is given twice"));
        }
        let s = props
            .iter()
            .find(|(name, _)| *name == key)
            .map_or(Scalar::Any, |(_, s)| *s);
        map.insert(key.into_owned(), typed(value, s));
    }
    Ok(map)
}

/// An object gathered from separate pairs is absent when no pair was its member.
fn present(map: Map<String, Value>) -> Option<Value> {
    (!map.is_empty()).then_some(Value::Object(map))
}

/// The text as the JSON type the schema wants when it reads as one (JSON's own number
/// grammar: no `+5`, `NaN` or ` 5`); otherwise the string itself, for the validator to refuse.
fn typed(text: Cow<'_, str>, s: Scalar) -> Value {
    let bytes = text.as_bytes();
    let numeric = matches!(bytes.first(), Some(b'-' | b'0'..=b'9'))
        && bytes.last().is_some_and(u8::is_ascii_digit);
    let number = || {
        numeric
            .then(|| serde_json::from_str::<Number>(&text).ok())
            .flatten()
    };
    let found = match s {
        // `5.0` is an integer to JSON Schema; `1.5` is not one, so it stays text.
        Scalar::Integer => number()
            .filter(|n| n.as_f64().is_some_and(|f| f.fract() == 0.0))
            .map(Value::Number),
        Scalar::Number => number().map(Value::Number),
        Scalar::Boolean => match text.as_ref() {
            "true" => Some(Value::Bool(true)),
            "false" => Some(Value::Bool(false)),
            _ => None,
        },
        Scalar::String | Scalar::Any => None,
    };
    found.unwrap_or_else(|| Value::String(text.into_owned()))
}

#[cfg(test)]
mod tests;
