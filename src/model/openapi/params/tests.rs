//! Unit tests of the parent module, kept apart so the code reads in one screenful of files.
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
    let object =
        |p: &[(&str, Scalar)]| Shape::Object(p.iter().map(|(k, s)| (k.to_string(), *s)).collect());
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
