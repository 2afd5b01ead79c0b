//! `mockrig import openapi.yaml [--resources]`: a document written out as an editable spec.
//! Each operation becomes a route answering what serving the document answers first (its
//! lowest success, the first example or the value generated from the schema, with the
//! document's headers); a required query parameter becomes a `match` (its example, or
//! `{present: true}` without one);
//! recognised collections become resources with `--resources`.

use std::path::Path;

use serde_json::{Map, Value, json};

use crate::engine::openapi::answer::{body_bytes, default_response};
use crate::model::openapi::operation::Operation;
use crate::model::openapi::params::In;
use crate::model::openapi::responses::OpResponse;
use crate::model::openapi::{self, OpenApiModel};
use crate::model::router::Segment;
use crate::spec::{OpenApi, SpecReport};

/// Why a document cannot be imported.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ImportError {
    #[error("{0}")]
    Read(String),
    #[error("{0}")]
    Invalid(SpecReport),
}

/// The spec text for the document `file`.
pub(crate) fn import(file: &Path, resources: bool) -> Result<String, ImportError> {
    // Checked as `serve` would: the same report for the same mistakes.
    crate::app::check::check_file(file).map_err(|e| match e {
        crate::spec::LoadError::Invalid(report) => ImportError::Invalid(report),
        other => ImportError::Read(other.to_string()),
    })?;
    let dir = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let settings = OpenApi {
        resources,
        ..OpenApi::document(name.clone())
    };
    let mut problems = Vec::new();
    let model = openapi::compile(&settings, dir, None, &mut problems)
        .map_err(ImportError::Read)?
        .ok_or_else(|| ImportError::Read(format!("{name} cannot be compiled")))?;
    Ok(spec_text(&model, &name))
}

fn spec_text(model: &OpenApiModel, name: &str) -> String {
    let as_resource: Vec<usize> = model
        .collections
        .iter()
        .flat_map(|c| c.ops.iter().map(|(i, _)| *i))
        .collect();
    let routes: Vec<Value> = model
        .operations
        .iter()
        .enumerate()
        .filter(|(i, _)| !as_resource.contains(i))
        .map(|(_, op)| route(op))
        .collect();
    let mut spec = Map::new();
    if !model.collections.is_empty() {
        let resources: Map<String, Value> = model
            .collections
            .iter()
            .filter_map(|c| {
                let r = &c.resource;
                Some((
                    c.name.clone(),
                    json!({ "path": r.path.clone()?, "id": r.id, "seed": r.seed }),
                ))
            })
            .collect();
        spec.insert("resources".into(), Value::Object(resources));
    }
    spec.insert("routes".into(), Value::Array(routes));
    let yaml = serde_yaml::to_string(&Value::Object(spec)).unwrap_or_default();
    format!(
        "# Imported from {name} by `mockrig import`: {} operations{}.\n\
         # Edit freely; `mockrig check` this file after editing.\n{yaml}",
        model.operations.len(),
        if model.collections.is_empty() {
            String::new()
        } else {
            format!(
                ", {} as resources",
                plural(model.collections.len(), "collection")
            )
        }
    )
}

/// One operation as a route.
fn route(op: &Operation) -> Value {
    let mut r = Map::new();
    r.insert("method".into(), json!(op.method.as_str()));
    r.insert("path".into(), json!(route_path(op)));
    let query: Map<String, Value> = op
        .params
        .iter()
        .filter(|p| p.at == In::Query && p.required)
        .map(|p| {
            // Without an example, any value does: the route still asks for the parameter.
            let want = p
                .example
                .as_ref()
                .map_or_else(|| json!({"present": true}), |e| json!(example_text(e)));
            (p.name.clone(), want)
        })
        .collect();
    if !query.is_empty() {
        r.insert("match".into(), json!({ "query": query }));
    }
    match default_response(op) {
        Some((status, response)) => {
            let contents = response_bodies(status, response);
            match contents.len() {
                0 => {
                    r.insert("response".into(), plain(status, response));
                }
                1 => {
                    r.insert(
                        "response".into(),
                        contents.into_iter().next().expect("one").1,
                    );
                }
                _ => {
                    r.insert(
                        "content".into(),
                        Value::Object(contents.into_iter().collect()),
                    );
                }
            }
        }
        None => {
            r.insert("response".into(), json!({ "status": 500 }));
        }
    }
    Value::Object(r)
}

/// The route path: the document's, with a parameter that shares its segment with text
/// (`{Sid}.json`) widened to the whole segment, which is what a route pattern can say.
fn route_path(op: &Operation) -> String {
    let mut out = String::new();
    for seg in &op.pattern.segments {
        out.push('/');
        match seg {
            Segment::Static(s) => out.push_str(s),
            Segment::Param(n) => out.push_str(&format!("{{{n}}}")),
            Segment::CatchAll(n) => out.push_str(&format!("{{*{n}}}")),
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

fn example_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A response with no body.
fn plain(status: u16, response: &OpResponse) -> Value {
    let mut r = json!({ "status": status });
    if !response.headers.is_empty() {
        r["headers"] = headers(response, None);
    }
    r
}

fn headers(response: &OpResponse, content_type: Option<&str>) -> Value {
    let mut h: Map<String, Value> = response
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    if let Some(ct) = content_type {
        h.insert("Content-Type".into(), json!(ct));
    }
    Value::Object(h)
}

/// Each media type's response: JSON as `body`, text as `text`, with the media type as the
/// content type where it is not what those send by default.
fn response_bodies(status: u16, response: &OpResponse) -> Vec<(String, Value)> {
    response
        .contents
        .iter()
        .filter_map(|c| {
            let value = c.static_body()?;
            let media = if c.media_type == "*/*" {
                "text/plain"
            } else {
                c.media_type.as_str()
            };
            let json_type = media.contains("json");
            let mut r = json!({ "status": status });
            if json_type {
                r["body"] = value.clone();
                if media != "application/json" {
                    r["headers"] = headers(response, Some(media));
                } else if !response.headers.is_empty() {
                    r["headers"] = headers(response, None);
                }
            } else {
                let bytes = body_bytes(media, value)?;
                r["text"] = json!(String::from_utf8_lossy(&bytes));
                r["headers"] = headers(response, Some(media));
            }
            Some((media.to_owned(), r))
        })
        .collect()
}

fn plural(n: usize, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}
