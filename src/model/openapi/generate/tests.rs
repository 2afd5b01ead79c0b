//! Unit tests of the parent module, kept apart so the code reads in one screenful of files.
use super::*;
use proptest::prelude::*;

/// Schemas covering every keyword the generator reads; all must get valid values.
const TABLE: &str = r##"[
    {"type": "string"}, {"type": "integer"}, {"type": "number"}, {"type": "boolean"}, {"type": "null"},
    {"type": ["string", "null"]}, {"type": ["null", "integer"], "minimum": 3}, true, {},
    {"properties": {"a": {"type": "string"}}, "required": ["a"]}, {"items": {"type": "integer"}, "minItems": 1},
    {"const": {"k": [1, 2]}}, {"enum": ["red", "green", "blue"]},
    {"type": "string", "default": "dflt", "examples": ["ex"]}, {"type": "integer", "example": 7, "minimum": 5},
    {"type": "object", "properties": {"a": {"format": "date-time"}, "b": {"format": "date"}, "c": {"format": "time"},
        "d": {"format": "uuid"}, "e": {"format": "email"}, "f": {"format": "idn-email"}, "g": {"format": "uri"},
        "h": {"format": "url"}, "i": {"format": "uri-reference"}, "j": {"format": "hostname"},
        "k": {"format": "ipv4"}, "l": {"format": "ipv6"}, "m": {"format": "byte"}, "n": {"format": "binary"},
        "o": {"format": "password"}}},
    {"type": "object", "properties": {"a": {"type": "integer", "format": "int32"}, "b": {"format": "int64"},
        "c": {"type": "number", "format": "float"}, "d": {"format": "double", "maximum": -0.5}}},
    {"type": "string", "format": "email", "minLength": 30}, {"type": "string", "format": "hostname", "minLength": 20},
    {"type": "string", "format": "date-time", "maxLength": 30}, {"type": "string", "format": "uuid", "minLength": 36},
    {"type": "string", "minLength": 10, "maxLength": 12}, {"type": "string", "maxLength": 3},
    {"type": "string", "pattern": "^[A-Z]{2}[0-9]{3}$"}, {"type": "string", "pattern": "^\\d{3}-\\d{4}$"},
    {"type": "string", "pattern": "^(foo|bar)+$"}, {"type": "string", "pattern": "^[a-z]+$", "minLength": 5, "maxLength": 8},
    {"type": "string", "pattern": "^[^@\\s]+@x\\.(com|org)$"}, {"pattern": "ab?c*", "maxLength": 4},
    {"type": "string", "format": "email", "pattern": "^[a-z]+@example\\.com$"},
    {"type": "number", "minimum": 0.5, "maximum": 10, "multipleOf": 0.5},
    {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
    {"type": "integer", "exclusiveMinimum": 10, "maximum": 12},
    {"type": "integer", "minimum": -20, "maximum": -10, "multipleOf": 3},
    {"type": "number", "multipleOf": 0.1, "minimum": 0.25, "maximum": 0.45},
    {"type": "integer", "multipleOf": 0.5, "minimum": 1}, {"type": "number", "maximum": -1e6},
    {"type": "object", "minProperties": 2, "additionalProperties": {"type": "integer"}},
    {"type": "object", "properties": {"a": {}, "b": {}, "c": {}}, "maxProperties": 1, "required": ["c"]},
    {"type": "object", "additionalProperties": false, "minProperties": 2,
        "patternProperties": {"^x-[a-z]+$": {"type": "string"}}},
    {"type": "object", "required": ["x"], "additionalProperties": {"type": "boolean"}},
    {"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 4}, {"type": "array", "maxItems": 0},
    {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}], "items": false},
    {"type": "array", "items": {"enum": ["a", "b"]}, "minItems": 2, "uniqueItems": true},
    {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 3}, "minItems": 4, "uniqueItems": true},
    {"type": "array", "items": {"type": "boolean"}, "minItems": 2, "uniqueItems": true},
    {"type": "array", "items": {"type": "string", "format": "uuid"}, "minItems": 3, "uniqueItems": true},
    {"$defs": {"node": {"type": "object", "properties": {"name": {"type": "string"},
        "children": {"type": "array", "items": {"$ref": "#/$defs/node"}}}, "required": ["name"]}},
        "$ref": "#/$defs/node"},
    {"$defs": {"node": {"type": "object", "properties": {"value": {"type": "integer"},
        "next": {"anyOf": [{"$ref": "#/$defs/node"}, {"type": "null"}]}}, "required": ["value", "next"]}},
        "$ref": "#/$defs/node"},
    {"$defs": {"Base": {"type": "object", "properties": {"id": {"type": "integer", "minimum": 1}}, "required": ["id"]},
        "Named": {"properties": {"name": {"type": "string", "minLength": 8}}, "required": ["name"]}},
        "allOf": [{"$ref": "#/$defs/Base"}, {"$ref": "#/$defs/Named"}, {"properties": {"id": {"maximum": 5}}}]},
    {"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"], "oneOf": [
        {"properties": {"meow": {"type": "boolean"}}, "required": ["meow"]},
        {"properties": {"bark": {"type": "string"}}, "required": ["bark"]}]},
    {"anyOf": [{"type": "string", "maxLength": 2}, {"type": "integer"}]},
    {"oneOf": [{"type": "string", "format": "date"}, {"type": "integer", "minimum": 1}, {"type": "null"}]},
    {"type": "string", "nullable": true},
    {"type": "object", "properties": {"id": {"type": "integer", "readOnly": true},
        "pw": {"type": "string", "writeOnly": true}, "secret": {"type": "string", "writeOnly": true}},
        "required": ["secret"]},
    {"$defs": {"x": {"type": "string", "maxLength": 5}}, "$ref": "#/$defs/x", "minLength": 4},
    {"$defs": {"a b": {"type": "integer", "minimum": 2}}, "allOf": [{"$ref": "#/$defs/a%20b"}, {"type": "number"}]}
]"##;

/// Schemas and the values Prism's static mode gives for them.
const PRISM: &str = r##"[
    [{"type": "string"}, "string"], [{"type": "integer"}, 0], [{"type": "number"}, 0], [{"type": "boolean"}, true],
    [{"type": ["null", "boolean"]}, true], [{"type": "array", "items": {"type": "integer"}}, [0]],
    [{"type": "string", "format": "date-time"}, "2019-08-24T14:15:22Z"], [{"format": "date"}, "2019-08-24"],
    [{"type": "string", "format": "email"}, "user@example.com"],
    [{"type": "string", "format": "idn-email"}, "пользователь@пример.ру"],
    [{"format": "uuid"}, "095be615-a8ad-4c33-8e9c-c7612fbf6c9f"],
    [{"type": "string", "example": "hi", "default": "d", "enum": ["e"]}, "hi"],
    [{"type": "string", "examples": ["first", "second"], "example": "hi"}, "first"],
    [{"type": "integer", "default": 3, "enum": [1, 3]}, 3], [{"const": 9, "example": 1}, 9],
    [{"type": "string", "pattern": "^[A-Z]{2}[0-9]{3}$"}, "AA000"],
    [{"type": "string", "pattern": "^\\d{3}-\\d{4}$"}, "000-0000"],
    [{"type": "string", "pattern": "^(foo|bar)+$"}, "foo"], [{"pattern": "^.[a-z]{2,}$"}, "0aa"],
    [{"type": "string", "minLength": 8}, "stringxx"], [{"type": "string", "maxLength": 3}, "str"],
    [{"type": "number", "exclusiveMinimum": 0, "maximum": 0.5}, 0.5],
    [{"type": "number", "minimum": 0.25, "multipleOf": 0.1}, 0.3],
    [{"type": "integer", "minimum": 5, "exclusiveMinimum": true}, 6],
    [{"type": "integer", "maximum": -5, "exclusiveMaximum": true}, -6],
    [{"type": "array", "items": {"enum": [1, 2]}, "minItems": 2, "uniqueItems": true}, [1, 2]],
    [false, null], [{"$ref": "#/$defs/missing", "type": "integer"}, 0],
    [{"oneOf": [{"type": "null"}, {"type": "integer"}]}, 0],
    [{"type": "object", "properties": {"b": {"type": "string"}, "a": {"type": "integer"}}}, {"b": "string", "a": 0}],
    [{"properties": {"id": {"readOnly": true, "type": "integer"}, "pw": {"$ref": "#/$defs/pw"},
        "secret": {"type": "string", "writeOnly": true}}, "required": ["secret"],
        "$defs": {"pw": {"type": "string", "writeOnly": true}}}, {"id": 0, "secret": "string"}]
]"##;

fn table() -> Vec<Value> {
    serde_json::from_str(TABLE).unwrap()
}

/// Asserts that `values` validate against `schema`, formats ignored (the default) and checked.
fn check(schema: &Value, values: impl IntoIterator<Item = Value>) {
    let options = jsonschema::options().with_draft(jsonschema::Draft::Draft202012);
    let validators = [false, true].map(|f| {
        options
            .clone()
            .should_validate_formats(f)
            .build(schema)
            .unwrap()
    });
    for v in values {
        for validator in &validators {
            let errors: Vec<String> = validator.iter_errors(&v).map(|e| e.to_string()).collect();
            assert!(errors.is_empty(), "{schema}\n gave {v}\n{errors:?}");
        }
    }
}

fn random(schema: &Value, seed: u64) -> Value {
    generate(schema, Fill::Random(&mut StdRng::seed_from_u64(seed)))
}

#[test]
fn static_values_validate_and_repeat() {
    let table = table();
    assert!(table.len() >= 50, "{}", table.len());
    for schema in table {
        let v = generate(&schema, Fill::Static);
        assert_eq!(
            v.to_string(),
            generate(&schema, Fill::Static).to_string(),
            "{schema}"
        );
        check(&schema, [v]);
    }
}

#[test]
fn random_values_validate_for_every_seed() {
    for schema in table() {
        check(&schema, (0..50).map(|seed| random(&schema, seed)));
    }
}

#[test]
fn static_values_are_prisms() {
    let cases: Vec<(Value, Value)> = serde_json::from_str(PRISM).unwrap();
    for (schema, want) in cases {
        // to_string: the order of keys counts too.
        assert_eq!(
            generate(&schema, Fill::Static).to_string(),
            want.to_string(),
            "{schema}"
        );
    }
}

fn depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        Value::Object(o) => 1 + o.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

fn count(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(count).sum::<usize>(),
        Value::Object(o) => 1 + o.values().map(count).sum::<usize>(),
        _ => 1,
    }
}

#[test]
fn recursion_and_size_are_bounded() {
    // Ten children per node: far more than the node budget if nothing stopped it.
    let children: Map<_, _> = (0..10)
        .map(|i| (format!("p{i}"), json!({"$ref": "#/$defs/n"})))
        .collect();
    let wide =
        json!({"$defs": {"n": {"type": "object", "properties": children}}, "$ref": "#/$defs/n"});
    let values = [
        generate(&wide, Fill::Static),
        random(&wide, 1),
        random(&wide, 2),
    ];
    for v in &values {
        assert!((1_000..2_500).contains(&count(v)), "{}", count(v));
    }
    check(&wide, values);
    let endless =
        json!({"type": "object", "properties": {"self": {"$ref": "#"}}, "required": ["self"]});
    assert_eq!(depth(&generate(&endless, Fill::Static)), TINY_DEPTH + 2);
    let table = table();
    let tree = table
        .iter()
        .find(|s| s.pointer("/$defs/node/properties/children").is_some());
    let v = generate(tree.unwrap(), Fill::Static);
    assert!((4..=LEAN_DEPTH + 2).contains(&depth(&v)), "{v}");
}

#[test]
fn random_values_vary_and_repeat_per_seed() {
    let schema = json!({"properties": {"n": {"type": "integer"}, "s": {"type": "string"}}});
    assert_eq!(random(&schema, 7), random(&schema, 7));
    let distinct: std::collections::HashSet<String> =
        (0..10).map(|s| random(&schema, s).to_string()).collect();
    assert!(distinct.len() > 5, "{distinct:?}");
    // Random mode draws from the enum and ignores examples.
    let colors = json!({"enum": ["red", "green", "blue"], "example": "red"});
    assert_eq!(
        (0..30)
            .map(|s| random(&colors, s))
            .collect::<std::collections::HashSet<_>>()
            .len(),
        3
    );
}

#[test]
fn malformed_schemas_do_not_panic() {
    let odd = r##"[
        {"$ref": "#"}, {"allOf": [{"$ref": "#"}, {"$ref": "#"}]}, {"$ref": "https://x/y"}, {"$ref": "#/a/~1"},
        {"type": 5}, {"type": ["file"]}, {"minimum": "x"}, {"items": 3, "minItems": -1}, {"pattern": "("},
        {"pattern": "^(?=a)a+$"}, {"pattern": "a{1000000}"}, {"pattern": "[^\\x00-\\x{10FFFF}]"},
        {"minLength": 1e300}, {"type": "integer", "minimum": 10, "maximum": 1}, {"multipleOf": 1e-300},
        {"minimum": 1e308, "multipleOf": 1e-10}, {"minItems": 1000000000}, {"minProperties": 1000000000},
        {"oneOf": []}, {"enum": []}, null, [1], {"type": "integer", "multipleOf": 0.3333}
    ]"##;
    for schema in serde_json::from_str::<Vec<Value>>(odd).unwrap() {
        generate(&schema, Fill::Static);
        random(&schema, 1);
    }
}

/// Schema-shaped JSON: keywords with values of any type, references to itself.
fn schemas() -> impl Strategy<Value = Value> {
    let words = "type properties items $ref allOf oneOf anyOf pattern minimum exclusiveMaximum multipleOf \
        enum required minItems uniqueItems additionalProperties format string object array integer null \
        # #/properties/a a ^[a-c]{2,}$ uuid";
    let words: Vec<&str> = words.split_whitespace().collect();
    let leaf = prop_oneof![
        any::<bool>().prop_map(Value::from),
        (-5i64..5).prop_map(Value::from),
        (-2.0f64..2.0).prop_map(Value::from),
        proptest::sample::select(words.clone()).prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 5, move |inner| {
        let entry = (proptest::sample::select(words.clone()), inner.clone());
        prop_oneof![
            proptest::collection::vec(inner, 0..4).prop_map(Value::from),
            proptest::collection::vec(entry, 0..5).prop_map(|kv| Value::Object(
                kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
            )),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..Default::default() })]

    /// Whatever the schema, an answer comes, a bounded one, the same every time in static mode.
    #[test]
    fn any_schema_gets_a_bounded_value(schema in schemas(), seed in any::<u64>()) {
        prop_assert!(count(&random(&schema, seed)) <= HARD_NODES + 100);
        prop_assert_eq!(generate(&schema, Fill::Static), generate(&schema, Fill::Static));
    }
}
