//! `openapi:`: an OpenAPI 3.x document whose operations are served beneath the spec's own
//! routes, and how a document given in place of a spec is recognised.

use schemars::JsonSchema;
use serde::Deserialize;

fn yes() -> bool {
    true
}

/// An OpenAPI 3.0 or 3.1 document (YAML or JSON) served beneath the spec's own routes and
/// resources: a route of the spec with the same method and path answers instead of the
/// document's operation.
///
/// ```yaml
/// openapi:
///   file: petstore.yaml
///   validate: true
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenApi {
    /// The document, relative to the spec. Files its `$ref`s name are read too; every one of
    /// them is watched.
    pub file: String,
    /// Check each request against its operation (parameters, body, security) and answer a
    /// violation with 422 (400 for a body that does not parse, 415 for an undeclared content
    /// type, 401 for a missing credential). Default `true`.
    #[serde(default = "yes")]
    pub validate: bool,
    /// Generate fake data from the schemas for every answer instead of using the examples, as
    /// `Prefer: dynamic=true` asks for one request. Default `false`.
    #[serde(default)]
    pub dynamic: bool,
    /// Serve collections (`GET`/`POST /things` with `GET`/`PUT`/`PATCH`/`DELETE
    /// /things/{id}`) as stateful resources seeded from the document's examples, with
    /// request bodies validated before they are stored. Default `false`.
    #[serde(default)]
    pub resources: bool,
}

impl OpenApi {
    /// The document itself, served as it is (`mockrig serve openapi.yaml`).
    pub(crate) fn document(file: String) -> OpenApi {
        OpenApi {
            file,
            validate: true,
            dynamic: false,
            resources: false,
        }
    }
}

/// Whether `text` is an OpenAPI or Swagger document rather than a mockrig spec: its top level
/// has `openapi: 3…` or `swagger:`. Cheap: looks at lines, parses nothing.
pub(crate) fn looks_like_document(text: &str) -> bool {
    let t = text.trim_start_matches('\u{feff}').trim_start();
    if t.starts_with('{') {
        // JSON: the key with a version string is unmistakable.
        let compact: String = t
            .chars()
            .take(64 * 1024)
            .filter(|c| !c.is_whitespace())
            .collect();
        return compact.contains("\"openapi\":\"") || compact.contains("\"swagger\":\"");
    }
    t.lines().any(|line| {
        let Some(rest) = [
            "openapi:",
            "swagger:",
            "\"openapi\":",
            "'openapi':",
            "\"swagger\":",
        ]
        .iter()
        .find_map(|k| line.strip_prefix(k)) else {
            return false;
        };
        let v = rest.trim().trim_matches(['"', '\'']);
        v.starts_with('2') || v.starts_with('3')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_told_from_specs() {
        assert!(looks_like_document("openapi: 3.0.2\npaths: {}\n"));
        assert!(looks_like_document("# c\nopenapi: '3.1.0'\n"));
        assert!(looks_like_document("swagger: \"2.0\"\n"));
        assert!(looks_like_document("{\n  \"openapi\": \"3.0.0\"\n}"));
        assert!(!looks_like_document(
            "openapi: { file: petstore.yaml }\nroutes: []\n"
        ));
        assert!(!looks_like_document("openapi:\n  file: petstore.yaml\n"));
        assert!(!looks_like_document("routes:\n  - path: /openapi\n"));
    }
}
