//! A resource's initial data, from `seed:` or `seed_file:`, checked for shape and duplicate ids.

use std::path::Path;

use serde_json::{Map, Value};

use super::Resource;
use crate::files::resolve_inside;

/// Initial data in the shape the resource serves.
#[derive(Debug, Clone, PartialEq)]
pub enum Seed {
    Collection(Vec<Map<String, Value>>),
    Singleton(Map<String, Value>),
}

/// The text form of an id, which is how ids are compared: `1` and `"1"` name the same record.
pub fn id_key(id: &Value) -> Option<String> {
    match id {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Reads and checks the seed. Errors name the problem; the caller places them in the spec.
pub fn read(r: &Resource, dir: &Path) -> Result<Seed, String> {
    let value = match (&r.seed, &r.seed_file) {
        (Some(_), Some(_)) => return Err("give seed or seed_file, not both".into()),
        (Some(v), None) => v.clone(),
        (None, Some(file)) => {
            let path = resolve_inside(dir, file, "the spec's folder").map_err(|e| e.to_string())?;
            let text =
                std::fs::read_to_string(&path).map_err(|e| format!("cannot read '{file}': {e}"))?;
            // JSON is YAML too, but serde_json's messages are the clearer ones for JSON files.
            let parsed = if file.ends_with(".json") {
                serde_json::from_str(&text).map_err(|e| format!("'{file}': {e}"))
            } else {
                serde_yaml::from_str(&text).map_err(|e| format!("'{file}': {e}"))
            };
            parsed?
        }
        (None, None) => Value::Null,
    };
    shape(r, value)
}

fn shape(r: &Resource, value: Value) -> Result<Seed, String> {
    if r.singleton {
        return match value {
            Value::Null => Ok(Seed::Singleton(Map::new())),
            Value::Object(m) => Ok(Seed::Singleton(m)),
            other => Err(format!(
                "a singleton's seed is an object, found {}",
                kind(&other)
            )),
        };
    }
    let items = match value {
        Value::Null => Vec::new(),
        Value::Array(items) => items,
        other => {
            return Err(format!(
                "a seed is a list of objects, found {}",
                kind(&other)
            ));
        }
    };
    let mut records = Vec::with_capacity(items.len());
    let mut seen = std::collections::HashSet::new();
    for (i, item) in items.into_iter().enumerate() {
        let Value::Object(record) = item else {
            return Err(format!("seed item {i} is {}, not an object", kind(&item)));
        };
        match record.get(&r.id) {
            None => {}
            Some(id) => {
                let key = id_key(id).ok_or_else(|| {
                    format!(
                        "seed item {i}: the id '{}' must be a number or a string",
                        r.id
                    )
                })?;
                if !seen.insert(key.clone()) {
                    return Err(format!("seed item {i}: id {key} appears twice"));
                }
            }
        }
        records.push(record);
    }
    Ok(Seed::Collection(records))
}

pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}
