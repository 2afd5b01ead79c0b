//! Property tests: whatever the input, the spec loader, path matching, list queries and JSON
//! merge patch answer or refuse; they never panic.

mod common;

use std::borrow::Cow;

use mockrig::resources::merge_patch;
use mockrig::resources::query::ListQuery;
use mockrig::router::{Pattern, Router, request_segments};
use proptest::prelude::*;
use serde_json::Value;

/// Keys of the spec format, so arbitrary documents reach the checks behind them.
const KEYS: &[&str] = &[
    "routes",
    "static",
    "resources",
    "server",
    "method",
    "path",
    "match",
    "response",
    "status",
    "headers",
    "body",
    "text",
    "file",
    "delay",
    "query",
    "cookies",
    "dir",
    "seed",
    "seed_file",
    "singleton",
    "id",
    "tls",
    "cert",
    "key",
];

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(KEYS).prop_map(str::to_owned),
        "[a-z_]{1,8}",
    ]
}

fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1e9f64..1e9).prop_map(Value::from),
        "[a-z{}:/ .-]{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// The example spec with one random edit: bytes cut out and others put in.
fn mangled_example() -> impl Strategy<Value = String> {
    let text = std::fs::read_to_string(common::repo_path("examples/basic.yaml")).unwrap();
    let len = text.len();
    (0..len, 0..40usize, "[ -~\n\t{}\\[\\]:,\"'&*!|>#-]{0,20}").prop_map(
        move |(at, cut, insert)| {
            let mut bytes = text.clone().into_bytes();
            let end = (at + cut).min(bytes.len());
            bytes.splice(at..end, insert.bytes());
            String::from_utf8_lossy(&bytes).into_owned()
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn loader_never_panics_on_mangled_specs(text in mangled_example()) {
        let dir = common::repo_path("examples").canonicalize().unwrap();
        let _ = mockrig::spec::load_str(&text, "basic.yaml", &dir);
    }

    #[test]
    fn loader_never_panics_on_any_yaml_value(value in json()) {
        let dir = common::repo_path("examples").canonicalize().unwrap();
        let text = serde_yaml::to_string(&value).unwrap();
        let _ = mockrig::spec::load_str(&text, "x.yaml", &dir);
        let wrapped = serde_yaml::to_string(&serde_json::json!({"routes": [value]})).unwrap();
        let _ = mockrig::spec::load_str(&wrapped, "x.yaml", &dir);
    }

    #[test]
    fn loader_never_panics_on_any_text(text in "[ -~\n\t]{0,300}") {
        let dir = common::repo_path("examples").canonicalize().unwrap();
        let _ = mockrig::spec::load_str(&text, "x.yaml", &dir);
    }

    #[test]
    fn path_matching_never_panics(
        patterns in prop::collection::vec("(/([a-z]{1,3}|\\{[a-z*]{0,3}\\}?|%[0-9a-f]{0,2})){0,4}/?", 0..8),
        path in "(/([a-z]{0,3}|%[0-9a-fA-F]{0,2}|\\.\\.)){0,6}/?",
    ) {
        let mut router = Router::default();
        let mut parsed = Vec::new();
        for (i, p) in patterns.iter().enumerate() {
            if let Ok(pattern) = Pattern::parse(p) {
                router.insert(&pattern, i);
                parsed.push(pattern);
            }
        }
        let segments: Vec<Cow<'_, str>> = request_segments(&path);
        router.find::<()>(&segments, |_, captures| {
            for c in captures {
                let _ = segments[c.clone()].join("/");
            }
            None
        });
        for p in &parsed {
            let _ = p.explain_mismatch(&segments);
            let _ = p.distance(&segments);
        }
    }

    #[test]
    fn list_queries_never_panic(
        pairs in prop::collection::vec(("[a-z_.]{0,10}(_gte|_lte|_ne|_like)?", "[ -~]{0,8}"), 0..6),
        records in prop::collection::vec(json(), 0..8),
    ) {
        if let Ok(q) = ListQuery::parse(&pairs) {
            let page = q.apply(records.iter());
            prop_assert!(page.items.len() <= records.len());
        }
    }

    #[test]
    fn merge_patch_is_idempotent(target in json(), patch in json()) {
        let mut once = target.clone();
        merge_patch(&mut once, &patch);
        let mut twice = once.clone();
        merge_patch(&mut twice, &patch);
        prop_assert_eq!(once, twice);
    }
}
