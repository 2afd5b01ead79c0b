//! The JSON Schema of the spec, generated from the Rust types so that it cannot drift from
//! what the loader accepts. `schemas/mockrig.schema.json` is this text, checked in.

use super::types::Spec;

/// The schema as pretty JSON with a final newline, exactly as checked in.
pub fn json_schema_text() -> String {
    let schema = schemars::schema_for!(Spec);
    let mut text = serde_json::to_string_pretty(&schema).expect("a schema is plain JSON");
    text.push('\n');
    text
}
