use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;

fn cond(v: Value, ctx: Ctx) -> Cond {
    let mut out = Vec::new();
    let Value::Object(m) = v else {
        panic!("an operator map")
    };
    let c = compile(&m, ctx, &[], &mut out);
    assert!(out.is_empty(), "{out:?}");
    c.unwrap()
}

fn texts<'a>(v: &'a [&'a str]) -> impl Iterator<Item = Actual<'a>> + Clone {
    v.iter().map(|s| Actual::Text(s))
}

#[test]
fn each_operator_over_text() {
    let c = |v| cond(v, Ctx::Text);
    assert!(c(json!({"present": true})).holds(texts(&["x"])));
    assert!(!c(json!({"present": true})).holds(texts(&[])));
    assert!(c(json!({"present": false})).holds(texts(&[])));
    assert!(c(json!({"regex": "^Bearer .+"})).holds(texts(&["Bearer abc"])));
    assert!(!c(json!({"regex": "^Bearer .+"})).holds(texts(&["Basic abc"])));
    assert!(c(json!({"one_of": ["a", "b"]})).holds(texts(&["b"])));
    assert!(c(json!({"gte": 1, "lte": 10})).holds(texts(&["10"])));
    // One value must meet both bounds: 0 and 20 each meet one.
    assert!(!c(json!({"gte": 1, "lte": 10})).holds(texts(&["0", "20"])));
    assert!(!c(json!({"gt": 1})).holds(texts(&["abc"])));
    assert!(!c(json!({"lt": 1})).holds(texts(&["NaN"])));
    assert!(c(json!({"equals": "2"})).holds(texts(&["2"])));
    // not: no value meets what is inside.
    assert!(!c(json!({"not": "a"})).holds(texts(&["b", "a"])));
    assert!(c(json!({"not": "a"})).holds(texts(&["b"])));
    assert!(c(json!({"not": "a"})).holds(texts(&[])));
    assert!(c(json!({"not": {"present": false}})).holds(texts(&["x"])));
}

#[test]
fn body_operators_keep_json_types() {
    let mut out = Vec::new();
    let b = body(
        &json!({"user": {"role": {"one_of": ["admin", "owner"]}, "age": {"gte": 18}}}),
        &[],
        &mut out,
    )
    .unwrap();
    assert!(b.holds(Some(&json!({"user": {"role": "owner", "age": 30, "x": 1}}))));
    assert!(!b.holds(Some(&json!({"user": {"role": "guest", "age": 30}}))));
    let guest = json!({"user": {"role": "guest", "age": 30}});
    let (path, expected, actual) = b.difference(Some(&guest), "body").unwrap();
    assert_eq!(path, "body.user.role");
    assert_eq!(expected, &json!({"one_of": ["admin", "owner"]}));
    assert_eq!(actual, Some(&json!("guest")));
    // `equals` takes an object whose keys look like operators literally.
    let lit = body(&json!({"q": {"equals": {"regex": "x"}}}), &[], &mut out).unwrap();
    assert!(lit.holds(Some(&json!({"q": {"regex": "x"}}))));
    assert!(!lit.holds(Some(&json!({"q": "x"}))));
    // A key that is absent meets `present: false`.
    let absent = body(&json!({"draft": {"present": false}}), &[], &mut out).unwrap();
    assert!(absent.holds(Some(&json!({"title": "t"}))));
    assert!(!absent.holds(Some(&json!({"draft": null}))));
    assert!(out.is_empty(), "{out:?}");
}

#[test]
fn problems_are_found_each_at_its_key() {
    let mut out = Vec::new();
    let m = json!({"regex": "(", "gt": "x", "one_of": [], "not": {"present": 1}});
    let Value::Object(m) = m else { unreachable!() };
    assert!(compile(&m, Ctx::Text, &["h".into()], &mut out).is_none());
    let paths: Vec<String> = out.iter().map(|p| p.path.join(".")).collect();
    assert_eq!(
        paths,
        ["h.not.present", "h.regex", "h.gt", "h.one_of"],
        "{out:?}"
    );
    out.clear();
    let Value::Object(huge) = json!({"regex": "a{1000}{1000}"}) else {
        unreachable!()
    };
    assert!(compile(&huge, Ctx::Text, &[], &mut out).is_none());
    assert!(out[0].message.contains("too large"), "{out:?}");
}

/// A random operator map over small values, as the spec would write it.
fn operator_map() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        any::<bool>().prop_map(|b| json!({"present": b})),
        prop::sample::select(vec!["^a", "b$", "[0-9]", "^$"]).prop_map(|r| json!({"regex": r})),
        prop::collection::vec(value_text(), 1..3).prop_map(|v| json!({"one_of": v})),
        value_text().prop_map(|v| json!({"equals": v})),
        (
            prop::sample::select(vec!["gt", "gte", "lt", "lte"]),
            -3i64..4
        )
            .prop_map(|(k, n)| json!({ k: n })),
        (-3i64..4, -3i64..4).prop_map(|(a, b)| json!({"gte": a, "lte": b})),
    ];
    leaf.prop_recursive(3, 8, 1, |inner| inner.prop_map(|x| json!({"not": x})))
}

fn value_text() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["a", "ab", "b", "1", "2", "-2", "x1", ""]).prop_map(String::from)
}

proptest! {
    #[test]
    fn not_holds_exactly_when_its_condition_fails(
        x in operator_map(),
        values in prop::collection::vec(value_text(), 0..3),
    ) {
        let inner = cond(x.clone(), Ctx::Text);
        let negated = cond(json!({"not": x}), Ctx::Text);
        let v: Vec<&str> = values.iter().map(String::as_str).collect();
        prop_assert_eq!(negated.holds(texts(&v)), !inner.holds(texts(&v)));
    }

    #[test]
    fn a_range_holds_exactly_for_a_value_inside_it(lo in -5i64..5, hi in -5i64..5, n in -6i64..6) {
        let c = cond(json!({"gte": lo, "lte": hi}), Ctx::Text);
        let text = n.to_string();
        prop_assert_eq!(c.holds(texts(&[text.as_str()])), lo <= n && n <= hi);
    }
}
