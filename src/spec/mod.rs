//! The YAML spec as Rust types: the one source of truth for the loader, the validator and the
//! JSON Schema that editors use.
//!
//! Every struct denies unknown keys so a typo is an error rather than a silently ignored line.
//! Values whose syntax has rules of its own (paths, durations, header names) are kept as text
//! here and checked by [`validate`], which can then point at the exact line; parsing them inside
//! `Deserialize` would stop the loader at the first one.

use std::fmt;

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;

pub mod diagnose;
pub mod duration;
pub mod load;
pub mod report;
pub mod schema;
pub mod seed;
pub mod validate;

pub use load::{LoadError, Loaded, load_file, load_str, load_text};
pub use report::{Diagnostic, SpecErrors};

/// A mockrig spec: the routes, static folders and settings of one mock server.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "mockrig spec")]
pub struct Spec {
    /// Settings that apply to the whole server.
    #[serde(default)]
    pub server: ServerSettings,
    /// Folders served as static files under a URL prefix.
    #[serde(default, rename = "static")]
    pub statics: Vec<StaticMount>,
    /// Stateful REST resources, by name: full CRUD over in-memory records.
    #[serde(default, deserialize_with = "unique_keys")]
    pub resources: IndexMap<String, Resource>,
    /// HTTP routes. The most specific path wins (a fixed segment beats `{param}`, which beats
    /// `{*rest}`); among routes with the same path and method, the first whose `match` holds.
    #[serde(default)]
    pub routes: Vec<Route>,
}

/// Settings that apply to the whole server.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Delay before every response that sets no `delay` of its own, e.g. `150ms` or `1s`.
    #[serde(default)]
    pub delay: Option<DurationText>,
    /// Serve HTTPS with this certificate and key (PEM files relative to the spec). The
    /// `--tls-*` flags override it; it is read at start, not on reload.
    #[serde(default)]
    pub tls: Option<TlsFiles>,
}

/// A PEM certificate chain and its private key.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// Certificate chain, PEM.
    pub cert: String,
    /// Private key (PKCS#8, PKCS#1 or SEC1), PEM.
    pub key: String,
}

/// A stateful REST resource: a collection served with list, get, create, replace, patch and
/// delete, or a single object (`singleton: true`) served with get, replace and patch.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Resource {
    /// URL path, e.g. `/api/users`; default `/` followed by the resource's name.
    #[serde(default)]
    pub path: Option<String>,
    /// The field that holds each record's id.
    #[serde(default = "default_id_field")]
    pub id: String,
    /// Initial data: a list of objects (an object for a singleton).
    #[serde(default)]
    pub seed: Option<serde_json::Value>,
    /// Initial data from a JSON or YAML file, relative to the spec, inside its folder.
    #[serde(default)]
    pub seed_file: Option<String>,
    /// One object instead of a collection.
    #[serde(default)]
    pub singleton: bool,
}

fn default_id_field() -> String {
    "id".into()
}

/// A folder served as static files.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StaticMount {
    /// URL prefix, e.g. `/app`. Only fixed segments.
    pub path: String,
    /// Folder, relative to the spec file; it must lie inside the spec's folder.
    pub dir: String,
}

/// One HTTP route: a method and path, optional extra conditions, and the response.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// HTTP method; `ANY` matches every method. GET routes also answer HEAD.
    #[serde(default)]
    pub method: Method,
    /// Path pattern: `/users/{id}` captures one segment, a final `{*rest}` captures the rest.
    pub path: String,
    /// Conditions the request must meet as well; when they fail, the next route is tried.
    #[serde(default, rename = "match")]
    pub matcher: Option<Match>,
    /// What to answer.
    #[serde(default)]
    pub response: Response,
}

/// HTTP methods a route can answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    #[default]
    #[serde(alias = "get")]
    Get,
    #[serde(alias = "post")]
    Post,
    #[serde(alias = "put")]
    Put,
    #[serde(alias = "patch")]
    Patch,
    #[serde(alias = "delete")]
    Delete,
    #[serde(alias = "head")]
    Head,
    #[serde(alias = "options")]
    Options,
    /// Any method.
    #[serde(alias = "any")]
    Any,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Head => "HEAD",
            Method::Options => "OPTIONS",
            Method::Any => "ANY",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Conditions on the request beyond method and path. All given conditions must hold.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Match {
    /// Query parameters that must have exactly these values (any of a repeated key's values).
    #[serde(default, deserialize_with = "unique_keys")]
    pub query: IndexMap<String, String>,
    /// Request headers that must have exactly these values; names are case-insensitive.
    #[serde(default, deserialize_with = "unique_keys")]
    pub headers: IndexMap<String, String>,
    /// Cookies that must have exactly these values.
    #[serde(default, deserialize_with = "unique_keys")]
    pub cookies: IndexMap<String, String>,
    /// A JSON subset: the request body must contain these keys with these values (nested
    /// objects compare the same way; each listed array element must appear in the array).
    #[serde(default)]
    pub body: Option<serde_json::Value>,
}

/// The response of a route. At most one of `body`, `text` and `file`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Response {
    /// HTTP status code, 100-599.
    #[serde(default = "default_status")]
    #[schemars(range(min = 100, max = 599))]
    pub status: u16,
    /// Response headers. A list gives the header once per item (e.g. several `Set-Cookie`).
    #[serde(default, deserialize_with = "unique_keys")]
    pub headers: IndexMap<String, HeaderValues>,
    /// Any YAML value, served as JSON (`Content-Type: application/json` unless set in headers).
    #[serde(default)]
    pub body: Option<serde_json::Value>,
    /// Plain text (`Content-Type: text/plain; charset=utf-8` unless set in headers).
    #[serde(default)]
    pub text: Option<String>,
    /// A file relative to the spec, inside its folder; content type from the extension.
    #[serde(default)]
    pub file: Option<String>,
    /// Wait this long before answering, e.g. `200ms` or `1.5s`.
    #[serde(default)]
    pub delay: Option<DurationText>,
}

/// Reads a map in which a key given twice is an error; serde_yaml would keep the last one and
/// say nothing. (The error is then located by the diagnostic pass, whose YAML parser refuses
/// duplicate keys with their position.)
fn unique_keys<'de, D, V>(d: D) -> Result<IndexMap<String, V>, D::Error>
where
    D: serde::Deserializer<'de>,
    V: Deserialize<'de>,
{
    struct Unique<V>(std::marker::PhantomData<V>);
    impl<'de, V: Deserialize<'de>> serde::de::Visitor<'de> for Unique<V> {
        type Value = IndexMap<String, V>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a mapping")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> Result<Self::Value, A::Error> {
            let mut out = IndexMap::new();
            while let Some((key, value)) = map.next_entry::<String, V>()? {
                if out.contains_key(&key) {
                    return Err(serde::de::Error::custom(format!("duplicate key '{key}'")));
                }
                out.insert(key, value);
            }
            Ok(out)
        }
    }
    d.deserialize_map(Unique(std::marker::PhantomData))
}

fn default_status() -> u16 {
    200
}

impl Default for Response {
    fn default() -> Self {
        Response {
            status: default_status(),
            headers: IndexMap::new(),
            body: None,
            text: None,
            file: None,
            delay: None,
        }
    }
}

/// A duration such as `250ms`, `2s`, `1.5s` or `1m`; checked by the validator.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct DurationText(
    #[schemars(regex(pattern = r"^\s*[0-9]+(\.[0-9]+)?\s*(ms|s|m)?\s*$"))] pub String,
);

/// One header value or a list of them. Numbers and booleans are taken as their text, as YAML
/// users expect `X-Count: 3` to work.
#[derive(Debug, Clone, PartialEq)]
pub struct HeaderValues(pub Vec<String>);

impl<'de> Deserialize<'de> for HeaderValues {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(HeaderVisitor { list: true })
    }
}

/// Accepts a scalar, and a list of scalars when `list` is set.
struct HeaderVisitor {
    list: bool,
}

impl<'de> serde::de::Visitor<'de> for HeaderVisitor {
    type Value = HeaderValues;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.list {
            "a header value or a list of header values"
        } else {
            "a header value (string, number or boolean)"
        })
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<HeaderValues, E> {
        Ok(HeaderValues(vec![v.to_owned()]))
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<HeaderValues, E> {
        Ok(HeaderValues(vec![v.to_string()]))
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<HeaderValues, E> {
        Ok(HeaderValues(vec![v.to_string()]))
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<HeaderValues, E> {
        Ok(HeaderValues(vec![v.to_string()]))
    }
    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<HeaderValues, E> {
        Ok(HeaderValues(vec![v.to_string()]))
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<HeaderValues, A::Error> {
        if !self.list {
            return Err(serde::de::Error::invalid_type(
                serde::de::Unexpected::Seq,
                &self,
            ));
        }
        let mut out = Vec::new();
        while let Some(v) = seq.next_element::<ScalarText>()? {
            out.push(v.0);
        }
        Ok(HeaderValues(out))
    }
}

/// One item of a header list.
struct ScalarText(String);

impl<'de> Deserialize<'de> for ScalarText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut v = d.deserialize_any(HeaderVisitor { list: false })?;
        Ok(ScalarText(v.0.pop().unwrap_or_default()))
    }
}

impl JsonSchema for HeaderValues {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "HeaderValues".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A header value, or a list of values sent as repeated headers.",
            "anyOf": [
                { "type": ["string", "number", "boolean"] },
                { "type": "array", "items": { "type": ["string", "number", "boolean"] } }
            ]
        })
    }
}
