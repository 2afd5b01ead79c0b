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
mod tests {
    use super::Style::*;
    use super::*;
    use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
    use serde_json::json;

    const STR: Shape = Shape::Scalar(Scalar::String);
    const INT: Shape = Shape::Scalar(Scalar::Integer);
    const STRS: Shape = Shape::Array(Scalar::String);
    const INTS: Shape = Shape::Array(Scalar::Integer);

    fn rgb(s: Scalar) -> Shape {
        Shape::Object(["R", "G", "B"].map(|k| (k.to_owned(), s)).to_vec())
    }

    fn spec<'a>(name: &'a str, _at: In, style: Style, x: bool, shape: &'a Shape) -> ParamSpec<'a> {
        ParamSpec {
            name,
            style,
            explode: x,
            shape,
        }
    }

    /// `color` from `text`: a path segment in the path styles, else a query string. Absent is
    /// null, which decoding never yields otherwise.
    fn read(style: Style, x: bool, shape: &Shape, text: &str) -> Result<Value, Malformed> {
        let at = if matches!(style, Matrix | Label | Simple) {
            In::Path
        } else {
            In::Query
        };
        let p = spec("color", at, style, x, shape);
        match at {
            In::Path => path(&p, text),
            _ => query(&p, text, &[]).map(Option::unwrap_or_default),
        }
    }

    fn ok(style: Style, x: bool, shape: &Shape, text: &str) -> Value {
        read(style, x, shape, text).unwrap_or_else(|e| panic!("{style:?} {x} {text:?}: {e:?}"))
    }

    /// `case!(style, explode, shape, text => json)`: `color` read from `text` is `json`.
    macro_rules! case {
        ($style:expr, $x:expr, $shape:expr, $text:expr => $($want:tt)+) => {
            assert_eq!(ok($style, $x, &$shape, $text), json!($($want)+), "{:?} {:?}", $style, $text)
        };
    }

    /// The Style Examples table of OpenAPI 3.1 §4.8.12.4: style and explode, then the empty,
    /// string, array and object columns (None for n/a).
    #[rustfmt::skip]
    const TABLE: [(Style, bool, [Option<&str>; 4]); 11] = [
        (Matrix, false, [Some(";color"), Some(";color=blue"), Some(";color=blue,black,brown"), Some(";color=R,100,G,200,B,150")]),
        (Matrix, true, [Some(";color"), Some(";color=blue"), Some(";color=blue;color=black;color=brown"), Some(";R=100;G=200;B=150")]),
        (Label, false, [Some("."), Some(".blue"), Some(".blue,black,brown"), Some(".R,100,G,200,B,150")]),
        (Label, true, [Some("."), Some(".blue"), Some(".blue.black.brown"), Some(".R=100.G=200.B=150")]),
        (Simple, false, [None, Some("blue"), Some("blue,black,brown"), Some("R,100,G,200,B,150")]),
        (Simple, true, [None, Some("blue"), Some("blue,black,brown"), Some("R=100,G=200,B=150")]),
        (Form, false, [Some("color="), Some("color=blue"), Some("color=blue,black,brown"), Some("color=R,100,G,200,B,150")]),
        (Form, true, [Some("color="), Some("color=blue"), Some("color=blue&color=black&color=brown"), Some("R=100&G=200&B=150")]),
        (SpaceDelimited, false, [None, None, Some("color=blue%20black%20brown"), Some("color=R%20100%20G%20200%20B%20150")]),
        (PipeDelimited, false, [None, None, Some("color=blue|black|brown"), Some("color=R|100|G|200|B|150")]),
        (DeepObject, true, [None, None, None, Some("color[R]=100&color[G]=200&color[B]=150")]),
    ];

    /// Each cell as strings, then typed: the table's colours swapped for digits read as
    /// integers, its object's values as integers.
    #[test]
    fn every_cell_of_the_style_examples_table() {
        let digits = |t: &str| {
            t.replace("blue", "1")
                .replace("black", "2")
                .replace("brown", "3")
        };
        for (style, x, [empty, string, list, object]) in TABLE {
            if let Some(text) = empty {
                case!(style, x, STR, text => "");
                case!(style, x, STRS, text => []);
            }
            if let Some(text) = string {
                case!(style, x, STR, text => "blue");
                case!(style, x, INT, &digits(text) => 1);
            }
            if let Some(text) = list {
                case!(style, x, STRS, text => ["blue", "black", "brown"]);
                case!(style, x, INTS, &digits(text) => [1, 2, 3]);
            }
            if let Some(text) = object {
                case!(style, x, rgb(Scalar::Any), text => {"R": "100", "G": "200", "B": "150"});
                case!(style, x, rgb(Scalar::Integer), text => {"R": 100, "G": 200, "B": 150});
            }
        }
    }

    #[test]
    fn text_that_does_not_read_as_its_type_stays_a_string() {
        let (int, num, boolean) = (Scalar::Integer, Scalar::Number, Scalar::Boolean);
        assert_eq!(coerce("-7", int), json!(-7));
        assert_eq!(coerce("18446744073709551615", int), json!(u64::MAX));
        assert_eq!(coerce("5.0", int), json!(5.0));
        assert_eq!(coerce("1.5", num), json!(1.5));
        assert_eq!(coerce("-2e3", num), json!(-2000.0));
        assert_eq!(coerce("true", boolean), json!(true));
        assert_eq!(coerce("false", boolean), json!(false));
        let integer = [
            "abc", "1.5", "+5", " 5", "5 ", "0x10", "", "1e999", "NaN", "-", "01",
        ];
        for (s, texts) in [
            (int, &integer[..]),
            (num, &["inf", "NaN", "1.", ".5", "1,5", ""]),
            (boolean, &["True", "1", "yes", ""]),
            (Scalar::String, &["5", "true"]),
            (Scalar::Any, &["5", "true"]),
        ] {
            for text in texts {
                assert_eq!(coerce(text, s), json!(text), "{s:?} {text:?}");
            }
        }
    }

    #[test]
    fn absent_and_empty_differ() {
        let (flag, rgb) = (Shape::Scalar(Scalar::Boolean), rgb(Scalar::Integer));
        case!(Form, true, INT, "" => null);
        case!(Form, true, INT, "other=1&colors=2" => null);
        case!(Form, true, INTS, "other=1" => null);
        case!(Form, false, INTS, "other=1" => null);
        case!(Form, true, rgb, "a=1" => null);
        case!(DeepObject, true, rgb, "a=1&colors[R]=1&color[R=2" => null);
        case!(Form, true, INT, "color=" => "");
        case!(Form, true, flag, "a=1&color&b" => "");
        case!(Form, true, INTS, "color" => []);
        case!(Form, true, INTS, "color=&color=1" => ["", 1]);
        case!(Matrix, false, rgb, ";color" => {});
        case!(Matrix, true, rgb, ";color" => {});
        case!(Label, true, rgb, "." => {});
        case!(Form, false, rgb, "color=" => {});
        // A bare `;k` member is RFC 6570's empty value.
        case!(Matrix, true, rgb, ";R;G=2" => {"R": "", "G": 2});
    }

    #[test]
    fn coercion_failures_stay_strings_in_place() {
        case!(Form, false, INTS, "color=1,x,3" => [1, "x", 3]);
        case!(Form, true, rgb(Scalar::Integer), "R=1&page=2&B=x" => {"R": 1, "B": "x"});
        case!(Form, true, INT, "color=1.5" => "1.5");
    }

    #[test]
    fn encoded_delimiters_stay_inside_their_values() {
        case!(Simple, false, STRS, "a%2Cb,c%20d" => ["a,b", "c d"]);
        case!(Simple, false, STR, "a%2Fb,c" => "a/b,c");
        case!(Label, true, STRS, ".a%2Eb.c" => ["a.b", "c"]);
        case!(Matrix, true, STRS, ";color=a%3Bb;color=c%3Dd" => ["a;b", "c=d"]);
        case!(Form, false, STRS, "color=a%2Cb,c%26d" => ["a,b", "c&d"]);
        case!(PipeDelimited, false, STRS, "color=a%7Cb|c" => ["a|b", "c"]);
        // The spec's own example encodes spaceDelimited's spaces, so they are split on.
        case!(SpaceDelimited, false, STRS, "color=a+b%20c" => ["a", "b", "c"]);
        // '+' is a space in a query string, `%2B` a plus.
        case!(Form, true, STR, "color=a+b%2B%26" => "a b+&");
        case!(Simple, true, rgb(Scalar::Any), "R%3D1=2%2C3,G=2" => {"R=1": "2,3", "G": "2"});
    }

    #[test]
    fn repeated_query_parameters() {
        case!(Form, true, INTS, "color=1&page=2&color=2&color=x" => [1, 2, "x"]);
        case!(SpaceDelimited, true, INTS, "color=1&color=2" => [1, 2]);
        let free = Shape::Object(Vec::new());
        let p = spec("rest", In::Query, Form, true, &free);
        let text = "page=2&a=1&filter[x]=3&b%20c=d+e&rest=z";
        let got = query(&p, text, &["page", "filter"]).unwrap();
        assert_eq!(
            got,
            Some(json!({"a": "1", "b c": "d e", "rest": "z"})),
            "unclaimed pairs"
        );
        assert_eq!(query(&p, "page=2", &["page"]).unwrap(), None);
    }

    #[test]
    fn deep_objects_are_typed_by_their_properties() {
        let props = [
            ("min", Scalar::Integer),
            ("max", Scalar::Number),
            ("on", Scalar::Boolean),
        ];
        let shape = Shape::Object(props.map(|(k, s)| (k.to_owned(), s)).to_vec());
        let text = "page=2&color[min]=1&color%5Bmax%5D=2.5&color[on]=true&color[x]=y+z";
        case!(DeepObject, true, shape, text => {"min": 1, "max": 2.5, "on": true, "x": "y z"});
        case!(DeepObject, true, shape, "color[min]=low&color[on]=1" => {"min": "low", "on": "1"});
    }

    #[test]
    fn text_not_in_its_style_is_malformed() {
        let rgb = rgb(Scalar::Integer);
        for (style, x, shape, text) in [
            (Label, false, &STR, "blue"),
            (Label, true, &STRS, ""),
            (Label, true, &rgb, ".R=1.G"),
            (Matrix, false, &STR, "color=blue"),
            (Matrix, false, &STR, ";colour=blue"),
            (Matrix, false, &STR, ";"),
            (Matrix, false, &STRS, ";color=a;color=b"),
            (Matrix, true, &STRS, ";color=a;other=b"),
            (Matrix, true, &STRS, ";color=a;;color=b"),
            (Matrix, true, &rgb, ";R=1;R=2"),
            (Simple, true, &rgb, "R=1,G"),
            (Simple, false, &rgb, "R,1,G"),
            (Form, false, &rgb, "color=R,1,G"),
            (Form, true, &INT, "color=1&color=2"),
            (Form, false, &INTS, "color=1,2&color=3"),
            (Form, true, &rgb, "R=1&R=2"),
            (DeepObject, true, &rgb, "color=1"),
            (DeepObject, true, &rgb, "color[R][x]=1"),
            (DeepObject, true, &rgb, "color[R]=1&color[R]=2"),
        ] {
            let got = read(style, x, shape, text);
            assert!(got.is_err(), "{style:?} {x} {text:?}: {got:?}");
        }
    }

    #[test]
    fn headers_are_read_as_sent_around_optional_whitespace() {
        let rgb = rgb(Scalar::Integer);
        let read = |x, shape, text| header(&spec("X-Color", In::Header, Simple, x, shape), text);
        assert_eq!(read(false, &INTS, "1, 2 ,3"), Ok(json!([1, 2, 3])));
        assert_eq!(read(false, &STR, "a%2Cb, c"), Ok(json!("a%2Cb, c")));
        assert_eq!(
            read(true, &rgb, "R=100, G=200"),
            Ok(json!({"R": 100, "G": 200}))
        );
    }

    #[test]
    fn cookies_are_found_among_the_others_and_percent_decoded() {
        let rgb = rgb(Scalar::Integer);
        let read = |x, shape, text| {
            let got = cookie(&spec("ids", In::Cookie, Form, x, shape), text).unwrap();
            got.unwrap_or_default()
        };
        assert_eq!(
            read(false, &INTS, "sid=abc; ids=1,2%2C3;x=y"),
            json!([1, "2,3"])
        );
        assert_eq!(read(false, &INTS, "sid=abc"), Value::Null);
        assert_eq!(read(false, &INTS, ""), Value::Null);
        assert_eq!(read(true, &INTS, "ids=1; x=0; ids=2"), json!([1, 2]));
        // A repeated name is a cookie of a nested path, sent first: that one is meant.
        assert_eq!(read(true, &STR, "ids=a+b%20c; ids=older"), json!("a+b c"));
        assert_eq!(read(true, &rgb, "R=1; sid=x; G=2"), json!({"R": 1, "G": 2}));
    }

    #[test]
    fn shapes_are_read_off_schemas() {
        let root = json!({"$defs": {
            "Id": {"type": ["integer", "null"]},
            "Ids": {"type": "array", "items": {"$ref": "#/$defs/Id"}},
            "Base": {"type": "object", "properties": {"a": {"type": "number"}}},
            "Loop": {"$ref": "#/$defs/Loop"},
            "Fork": {"allOf": [{"$ref": "#/$defs/Fork"}, {"$ref": "#/$defs/Fork"}]},
            "a~b/c": {"type": "boolean"},
        }});
        let of = |schema: Value| Shape::of(&schema, &root);
        let object = |p: &[(&str, Scalar)]| {
            Shape::Object(p.iter().map(|(k, s)| (k.to_string(), *s)).collect())
        };
        let any = Shape::Scalar(Scalar::Any);
        assert_eq!(of(json!({"$ref": "#/$defs/Id"})), INT);
        assert_eq!(of(json!({"$ref": "#/$defs/Ids"})), INTS);
        assert_eq!(
            of(json!({"$ref": "#/$defs/a~0b~1c"})),
            Shape::Scalar(Scalar::Boolean)
        );
        assert_eq!(of(json!({"type": "string", "format": "date"})), STR);
        let nested = json!({"type": "array", "items": {"type": "array"}});
        assert_eq!(of(nested), Shape::Array(Scalar::Any));
        assert_eq!(
            of(json!({"oneOf": [{"type": "integer"}, {"type": "string"}]})),
            INT
        );
        assert_eq!(of(json!({"anyOf": [{"$ref": "#/$defs/Ids"}]})), INTS);
        let untyped = json!({"properties": {"n": {"type": "integer"}}});
        assert_eq!(of(untyped), object(&[("n", Scalar::Integer)]));
        let extra = json!({"properties": {"b": {"type": "boolean"}}});
        let merged = object(&[("a", Scalar::Number), ("b", Scalar::Boolean)]);
        assert_eq!(
            of(json!({"allOf": [{"$ref": "#/$defs/Base"}, extra]})),
            merged
        );
        for nothing in [
            "#/$defs/Loop",
            "#/$defs/Fork",
            "#/$defs/Nope",
            "other.json#/x",
        ] {
            assert_eq!(of(json!({"$ref": nothing})), any, "{nothing}");
        }
        assert_eq!(of(json!({})), any);
    }

    #[test]
    fn styles_by_name_and_location() {
        assert_eq!(Style::parse("spaceDelimited"), Some(SpaceDelimited));
        assert_eq!(Style::parse("deepObject"), Some(DeepObject));
        assert_eq!(Style::parse("Form"), None);
        let defaults = [In::Query, In::Cookie, In::Path, In::Header].map(Style::default_for);
        assert_eq!(defaults, [Form, Form, Simple, Simple]);
    }

    /// What a careful client encodes: both styles' delimiters, '%' and '+' themselves, and
    /// (as every client does) controls and non-ASCII.
    const ENCODE: &AsciiSet = &CONTROLS
        .add(b' ')
        .add(b'%')
        .add(b',')
        .add(b'&')
        .add(b'=')
        .add(b'+');

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 256, ..Default::default() })]

        /// Encoded arrays read back as themselves, except the one-empty-item array, which is
        /// written the same as the empty one.
        #[test]
        fn encoded_arrays_read_back(items in proptest::collection::vec(".{0,6}", 0..6)) {
            proptest::prop_assume!(items != [""]);
            let enc = |s: &String| utf8_percent_encode(s, ENCODE).to_string();
            let want = json!(items);
            let simple = items.iter().map(enc).collect::<Vec<_>>().join(",");
            proptest::prop_assert_eq!(ok(Simple, false, &STRS, &simple), want.clone());
            let form: String = items.iter().map(|s| format!("&color={}&a=1", enc(s))).collect();
            let want = if items.is_empty() { Value::Null } else { want };
            proptest::prop_assert_eq!(ok(Form, true, &STRS, &form), want);
        }

        /// No text makes decoding panic, in any style, explode or shape.
        #[test]
        fn no_text_panics(
            text in "[;.,=&|%+ a-cR0-9\\[\\]]{0,24}|.{0,12}",
            (style, x, shape) in (0..7usize, proptest::bool::ANY, 0..4usize),
        ) {
            let style = [Matrix, Label, Simple, Form, SpaceDelimited, PipeDelimited, DeepObject][style];
            let shapes = [INT, Shape::Array(Scalar::Number), rgb(Scalar::Boolean), Shape::Object(vec![])];
            let p = spec("color", In::Path, style, x, &shapes[shape]);
            let _ = (path(&p, &text), header(&p, &text), query(&p, &text, &["R"]), cookie(&p, &text));
        }
    }
}
