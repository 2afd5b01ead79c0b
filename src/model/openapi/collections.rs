//! `openapi.resources`: the REST collections a document describes (`GET`/`POST /things`
//! with `GET`/`PUT`/`PATCH`/`DELETE /things/{id}`), recognised so they can be served as
//! stateful resources seeded from the document's examples: a contract-checked json-server.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::model::resource::Op;
use crate::model::router::Segment;
use crate::spec::{Method, Resource};

use super::operation::Operation;
use super::responses::{Content, StatusKey};

/// A collection of the document, as a resource.
#[derive(Debug)]
pub(crate) struct Collection {
    pub(crate) name: String,
    pub(crate) resource: Resource,
    /// Which operations (indices into the document's) are which of the resource's endpoints.
    pub(crate) ops: Vec<(usize, Op)>,
}

/// The collections among `ops`, in the document's order.
pub(crate) fn find(ops: &[Arc<Operation>]) -> Vec<Collection> {
    let mut out: Vec<Collection> = Vec::new();
    for (li, list) in ops.iter().enumerate() {
        if list.method != Method::Get || !list.affixes.is_empty() {
            continue;
        }
        let segs = &list.pattern.segments;
        let Some(Segment::Static(last)) = segs.last() else {
            continue;
        };
        if !segs.iter().all(|s| matches!(s, Segment::Static(_))) {
            continue;
        }
        let at = |method: Method, item: bool| {
            ops.iter().position(|o| {
                o.method == method
                    && o.affixes.is_empty()
                    && o.pattern.segments.len() == segs.len() + usize::from(item)
                    && o.pattern.segments[..segs.len()] == segs[..]
                    && (!item || matches!(o.pattern.segments.last(), Some(Segment::Param(_))))
            })
        };
        let (Some(create), Some(get)) = (at(Method::Post, false), at(Method::Get, true)) else {
            continue;
        };
        let writes: Vec<(usize, Op)> = [
            (Method::Put, Op::Replace),
            (Method::Patch, Op::Patch),
            (Method::Delete, Op::Delete),
        ]
        .into_iter()
        .filter_map(|(m, op)| at(m, true).map(|i| (i, op)))
        .collect();
        if writes.is_empty() {
            continue;
        }
        let name: String = last
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if out.iter().any(|c| c.name == name) {
            continue;
        }
        let item = &ops[get];
        let id = id_field(item);
        let seed = seed(list, item);
        let path = format!(
            "/{}",
            segs.iter()
                .filter_map(static_text)
                .collect::<Vec<_>>()
                .join("/")
        );
        let Ok(resource) = serde_json::from_value::<Resource>(json!({
            "path": path,
            "id": id,
            "seed": seed,
        })) else {
            continue;
        };
        let mut ops_of = vec![(li, Op::List), (create, Op::Create), (get, Op::Get)];
        ops_of.extend(writes);
        out.push(Collection {
            name,
            resource,
            ops: ops_of,
        });
    }
    out
}

fn static_text(s: &Segment) -> Option<&str> {
    match s {
        Segment::Static(t) => Some(t),
        _ => None,
    }
}

/// The JSON content of an operation's first success.
fn success_json(op: &Operation) -> Option<&Content> {
    op.responses
        .iter()
        .filter(|r| matches!(r.key, StatusKey::Code(200..=299) | StatusKey::Range(2)))
        .flat_map(|r| &r.contents)
        .find(|c| c.media_type.contains("json"))
}

/// The record's id field: `id` when the item's schema has one, else the path parameter's
/// name when the schema has that (`petId`), else `id`.
fn id_field(item: &Operation) -> String {
    let param = item
        .path_names
        .last()
        .cloned()
        .unwrap_or_else(|| "id".into());
    let props = success_json(item)
        .and_then(|c| c.schema.as_deref())
        .and_then(|s| properties(s, s, 32));
    match props {
        Some(p) if p.contains_key("id") => "id".into(),
        Some(p) if p.contains_key(&param) => param,
        _ => "id".into(),
    }
}

/// A schema's `properties`, through a top-level `$ref` into `$defs` and `allOf` branches,
/// at most `budget` steps deep: a cycle of references (`A: {$ref: B}`, `B: {$ref: A}`) ends.
fn properties<'s>(
    schema: &'s Value,
    root: &'s Value,
    budget: u32,
) -> Option<&'s serde_json::Map<String, Value>> {
    if let Some(p) = schema.get("properties").and_then(Value::as_object) {
        return Some(p);
    }
    let budget = budget.checked_sub(1)?;
    if let Some(name) = schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix("#/$defs/"))
    {
        let target = root.get("$defs")?.get(name)?;
        return properties(target, root, budget);
    }
    schema
        .get("allOf")
        .and_then(Value::as_array)?
        .iter()
        .find_map(|b| properties(b, root, budget))
}

/// The records the resource starts with: the list's example when it is a list of objects,
/// else the item's example as the one record, else none.
fn seed(list: &Operation, item: &Operation) -> Value {
    let example = |op: &Operation| {
        success_json(op)
            .and_then(|c| c.examples.first())
            .map(|(_, v)| v.clone())
    };
    match example(list) {
        Some(Value::Array(items)) if items.iter().all(Value::is_object) => Value::Array(items),
        _ => match example(item) {
            Some(v @ Value::Object(_)) => Value::Array(vec![v]),
            _ => Value::Array(Vec::new()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_end_on_a_cycle_of_references() {
        let root = json!({
            "$ref": "#/$defs/A",
            "$defs": { "A": { "$ref": "#/$defs/B" }, "B": { "allOf": [{ "$ref": "#/$defs/A" }] } }
        });
        assert!(properties(&root, &root, 32).is_none());
        let found = json!({ "allOf": [{ "$ref": "#/$defs/P" }], "$defs": { "P": { "properties": { "id": {} } } } });
        assert!(properties(&found, &found, 32).unwrap().contains_key("id"));
    }
}
