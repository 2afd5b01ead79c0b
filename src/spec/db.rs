//! A json-server database (`db.json`) given in place of a spec: `mockrig serve db.json` serves
//! each top-level list as a collection and each object as a singleton, as `json-server db.json`
//! does, so a project moves over without writing a spec first.

use serde_json::{Map, Value, json};

use super::types::Spec;

/// The top-level keys of a spec. A JSON file with any of them is a spec, not a database.
const SPEC_KEYS: [&str; 8] = [
    "server",
    "static",
    "resources",
    "routes",
    "websockets",
    "sse",
    "openapi",
    "include",
];

/// The spec a json-server database stands for, when `text` is one: a JSON object whose keys
/// are none of a spec's and whose values are all lists or objects. Keys starting with `$`
/// (`$schema`) are left out, as json-server leaves them. CORS is on, as it is in json-server,
/// since the page being developed is served from another port.
pub(crate) fn as_spec(file_name: &str, text: &str) -> Option<Spec> {
    if !file_name.ends_with(".json")
        || !text
            .trim_start_matches('\u{feff}')
            .trim_start()
            .starts_with('{')
    {
        return None;
    }
    let Ok(Value::Object(db)) = serde_json::from_str::<Value>(text.trim_start_matches('\u{feff}'))
    else {
        return None;
    };
    let tables: Vec<(&String, &Value)> = db.iter().filter(|(k, _)| !k.starts_with('$')).collect();
    let is_db = !tables.is_empty()
        && tables
            .iter()
            .all(|(k, v)| !SPEC_KEYS.contains(&k.as_str()) && (v.is_array() || v.is_object()));
    if !is_db {
        return None;
    }
    let resources: Map<String, Value> = tables
        .into_iter()
        .map(|(name, data)| {
            let r = json!({"seed": data, "singleton": data.is_object()});
            (name.clone(), r)
        })
        .collect();
    // The shape is built here, so it always fits the types; a table's data the compiler
    // refuses (ids twice, a record that is no object) is reported there, by resource.
    serde_json::from_value(json!({"server": {"cors": true}, "resources": resources})).ok()
}

#[cfg(test)]
mod tests {
    use super::as_spec;

    #[test]
    fn a_database_is_told_from_a_spec() {
        let db = r#"{"$schema": "x", "posts": [{"id": 1}], "profile": {"name": "a"}}"#;
        let spec = as_spec("db.json", db).expect("a database");
        assert_eq!(spec.resources.len(), 2);
        assert!(spec.resources["profile"].singleton);
        assert!(!spec.resources["posts"].singleton);
        assert_eq!(spec.server.cors, Some(crate::spec::Cors::Enabled(true)));
        for not_db in [
            r#"{"routes": [], "posts": []}"#,
            r#"{"posts": 3}"#,
            r#"{}"#,
            r#"[1, 2]"#,
        ] {
            assert!(as_spec("db.json", not_db).is_none(), "{not_db}");
        }
        assert!(
            as_spec("db.yaml", db).is_none(),
            "only .json files are databases"
        );
    }
}
