//! Properties of the spec loader over arbitrary input: whatever the text, `check` answers, and
//! every problem it reports is placed on a line of that text. (The properties of the router,
//! list queries, merge patches and compiling are unit tests beside that code.)

use crate::common;

use proptest::prelude::*;
use serde_json::Value;

/// Keys of the spec format, so arbitrary documents reach the checks behind them.
const KEYS: &[&str] = &[
    "routes",
    "static",
    "resources",
    "server",
    "websockets",
    "sse",
    "method",
    "path",
    "match",
    "response",
    "responses",
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
    "emit",
    "websocket",
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

/// Checks `text` as `examples/NAME`, and asserts the relation every answer keeps: a refusal
/// names at least one error, and each problem sits on a line (and column) of the text.
fn check_is_located(text: &str, name: &str) -> Result<(), TestCaseError> {
    let path = common::repo_path("examples").join(name);
    let report = match mockrig::check_text(text, &path) {
        Ok(checked) => checked.warnings,
        Err(mockrig::spec::LoadError::Invalid(report)) => {
            prop_assert!(report.errors() >= 1, "a refusal names an error");
            report
        }
        Err(e) => return Err(TestCaseError::fail(format!("unexpected: {e}"))),
    };
    let lines = text.lines().count().max(1);
    for d in &report.diagnostics {
        prop_assert!(
            (1..=lines).contains(&d.line) && d.column >= 1,
            "{}:{} is outside the {lines} lines of the text: {}",
            d.line,
            d.column,
            d.message
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn problems_of_mangled_specs_are_located(text in mangled_example()) {
        check_is_located(&text, "basic.yaml")?;
    }

    #[test]
    fn problems_of_any_yaml_value_are_located(value in json()) {
        check_is_located(&serde_yaml::to_string(&value).unwrap(), "x.yaml")?;
        let wrapped = serde_yaml::to_string(&serde_json::json!({"routes": [value]})).unwrap();
        check_is_located(&wrapped, "x.yaml")?;
    }

    #[test]
    fn problems_of_any_text_are_located(text in "[ -~\n\t]{0,300}") {
        check_is_located(&text, "x.yaml")?;
    }
}
