//! One operation of a document, compiled: its path as a route pattern, its parameters and body
//! with their validators, its security requirements and its responses. Every schema is
//! bundled and compiled here, once; answering a request reads only what this built.

use serde_json::Value;

use crate::spec::Method;

use super::document::Place;
use super::params::{In, Shape, Style};
pub(crate) use super::pass::Checked;
use super::pass::DocPass;
use super::responses::OpResponse;
use super::schema::Direction;
use crate::model::router::{Pattern, Segment};

/// A parameter as the operation declares it.
#[derive(Debug)]
pub(crate) struct Param {
    pub(crate) name: String,
    pub(crate) at: In,
    pub(crate) style: Style,
    pub(crate) explode: bool,
    pub(crate) required: bool,
    pub(crate) shape: Shape,
    pub(crate) schema: Option<Checked>,
    /// The document's example value (the parameter's, else its schema's example, default or
    /// first enum value): what `mockrig import` matches a required query parameter on.
    pub(crate) example: Option<Value>,
}

/// The request body the operation takes.
#[derive(Debug)]
pub(crate) struct Body {
    pub(crate) required: bool,
    /// Media ranges as written (`application/json`, `image/*`) and each one's schema.
    pub(crate) media: Vec<(String, Option<Checked>)>,
}

/// One credential a security requirement needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Credential {
    Header(String),
    Query(String),
    Cookie(String),
    /// `Authorization: <scheme> …` (`Basic`, `Bearer`, `Digest`, …), and the challenge a 401
    /// names it by in `WWW-Authenticate`.
    Authorization {
        scheme: String,
        challenge: String,
    },
}

/// One operation: what it matches and how it answers.
#[derive(Debug)]
pub(crate) struct Operation {
    /// `GET /pets/{petId}`, with the operationId when there is one: logs and 404 reports.
    pub(crate) label: String,
    pub(crate) method: Method,
    /// The path as the document writes it.
    pub(crate) path: String,
    pub(crate) pattern: Pattern,
    /// Segments written with text around their parameter (`{Sid}.json`): the index, the text
    /// before and after. The route pattern has a plain parameter there; these must fit too.
    pub(crate) affixes: Vec<(usize, String, String)>,
    /// The path parameters' names as the document writes them, in order.
    pub(crate) path_names: Vec<String>,
    pub(crate) params: Vec<Param>,
    pub(crate) body: Option<Body>,
    /// Alternatives, any of which is enough; each lists the credentials it needs together.
    /// Empty: no security. An empty alternative: anonymous access allowed.
    pub(crate) security: Vec<Vec<Credential>>,
    pub(crate) responses: Vec<OpResponse>,
    pub(crate) validate: bool,
    pub(crate) dynamic: bool,
}

impl Operation {
    /// The path parameters' values by their names in the document, when the request's
    /// segments also fit the text around affixed parameters (`{Sid}.json`).
    pub(crate) fn path_values<'s>(
        &self,
        segments: &'s [std::borrow::Cow<'_, str>],
    ) -> Option<Vec<(&str, &'s str)>> {
        let mut out = Vec::with_capacity(self.path_names.len());
        let mut n = 0;
        for (i, seg) in self.pattern.segments.iter().enumerate() {
            if !matches!(seg, Segment::Param(_)) {
                continue;
            }
            let mut value: &str = segments.get(i)?;
            if let Some((_, prefix, suffix)) = self.affixes.iter().find(|a| a.0 == i) {
                value = value
                    .strip_prefix(prefix.as_str())?
                    .strip_suffix(suffix.as_str())?;
                if value.is_empty() {
                    return None;
                }
            }
            out.push((self.path_names.get(n)?.as_str(), value));
            n += 1;
        }
        Some(out)
    }
}

/// The route pattern of a document path, and the text around parameters that share their
/// segment with it; the reason when the path cannot be routed.
pub(crate) fn route_pattern(path: &str) -> Result<RoutePath, String> {
    let mut plain = String::new();
    let mut affixes = Vec::new();
    let mut names = Vec::new();
    let trimmed = path.trim_end_matches('/');
    for (i, seg) in trimmed.split('/').skip(1).enumerate() {
        plain.push('/');
        match (seg.find('{'), seg.rfind('}')) {
            (Some(open), Some(close)) if open < close && (open > 0 || close < seg.len() - 1) => {
                let name = &seg[open + 1..close];
                if name.contains(['{', '}']) {
                    return Err(format!(
                        "'{seg}' has more than one parameter in one segment"
                    ));
                }
                affixes.push((i, seg[..open].to_owned(), seg[close + 1..].to_owned()));
                names.push(name.to_owned());
                plain.push('{');
                plain.push_str(&param_ident(name));
                plain.push('}');
            }
            (Some(0), Some(close)) if close == seg.len() - 1 && close > 0 => {
                let name = &seg[1..close];
                if name.contains(['{', '}']) {
                    return Err(format!(
                        "'{seg}' has more than one parameter in one segment"
                    ));
                }
                names.push(name.to_owned());
                plain.push('{');
                plain.push_str(&param_ident(name));
                plain.push('}');
            }
            (None, None) => plain.push_str(seg),
            _ => return Err(format!("'{seg}' has unbalanced braces")),
        }
    }
    if plain.is_empty() {
        plain.push('/');
    }
    let pattern = Pattern::parse(&plain).map_err(|e| e.0)?;
    Ok(RoutePath {
        pattern,
        affixes,
        names,
    })
}

/// A document path as a route: [`route_pattern`].
pub(crate) struct RoutePath {
    pub(crate) pattern: Pattern,
    pub(crate) affixes: Vec<(usize, String, String)>,
    pub(crate) names: Vec<String>,
}

/// A route parameter's name: documents use names such as `pet-id` or `user.name`, which the
/// route pattern writes with `_`; the operation reads values back by position, not by name.
fn param_ident(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if !s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        s.insert(0, '_');
    }
    s
}

impl DocPass<'_> {
    /// The parameters of an operation: the path item's, overridden by the operation's own
    /// with the same name and location.
    pub(crate) fn params(&mut self, item: &Place, op: &Place) -> Vec<Param> {
        let mut list: Vec<Param> = Vec::new();
        for owner in [item, op] {
            let at = owner.child("parameters");
            let Some(Value::Array(items)) = self.docs.get(&at).cloned() else {
                continue;
            };
            for i in 0..items.len() {
                if let Some(p) = self.param(&at.item(i)) {
                    // OpenAPI: header parameters named Accept, Content-Type or Authorization
                    // are ignored; the media types and security schemes say those.
                    let reserved = ["accept", "content-type", "authorization"];
                    if p.at == In::Header
                        && reserved.contains(&p.name.to_ascii_lowercase().as_str())
                    {
                        continue;
                    }
                    list.retain(|q| !(q.name == p.name && q.at == p.at));
                    list.push(p);
                }
            }
        }
        list
    }

    fn param(&mut self, place: &Place) -> Option<Param> {
        let (at, p) = self.deref(place)?;
        let name = p.get("name").and_then(Value::as_str);
        let location = p.get("in").and_then(Value::as_str);
        let (Some(name), Some(location)) = (name, location) else {
            self.error(&at, "a parameter needs `name` and `in`");
            return None;
        };
        let loc = match location {
            "path" => In::Path,
            "query" => In::Query,
            "header" => In::Header,
            "cookie" => In::Cookie,
            other => {
                let places = ["path", "query", "header", "cookie"];
                let hint = match crate::suggest::did_you_mean(other, &places) {
                    Some(s) => format!("did you mean '{s}'?"),
                    None => "expected path, query, header or cookie".into(),
                };
                self.error(
                    &at.child("in"),
                    format!("'{other}' is no parameter location; {hint}"),
                );
                return None;
            }
        };
        let style = match p.get("style").and_then(Value::as_str) {
            None => Style::default_for(loc),
            Some(s) => match Style::parse(s) {
                Some(s) => s,
                None => {
                    self.error(&at.child("style"), format!("unknown style '{s}'"));
                    return None;
                }
            },
        };
        let explode = p
            .get("explode")
            .and_then(Value::as_bool)
            .unwrap_or(style == Style::Form);
        let required = loc == In::Path || p.get("required").and_then(Value::as_bool) == Some(true);
        // A parameter described by `content` instead of `schema` carries its media type's schema.
        let schema_at = if p.get("schema").is_some() {
            Some(at.child("schema"))
        } else {
            p.get("content")
                .and_then(Value::as_object)
                .and_then(|c| c.keys().next().cloned())
                .map(|media| at.child("content").child(&media).child("schema"))
                .filter(|s| self.docs.get(s).is_some())
        };
        let schema = schema_at
            .as_ref()
            .and_then(|s| self.checked(s, Direction::Request));
        let shape = match &schema {
            Some(c) => Shape::of(&c.schema, &c.schema),
            None => Shape::of(&Value::Bool(true), &Value::Bool(true)),
        };
        let schema_value = schema_at
            .as_ref()
            .and_then(|s| self.docs.deref(s).ok())
            .map(|(_, v)| v);
        let example = p
            .get("example")
            .cloned()
            .or_else(|| {
                p.get("examples")
                    .and_then(Value::as_object)
                    .and_then(|e| e.values().next())
                    .and_then(|e| e.get("value"))
                    .cloned()
            })
            .or_else(|| {
                let s = schema_value?;
                s.get("example")
                    .or_else(|| s.get("default"))
                    .or_else(|| s.get("enum").and_then(|e| e.get(0)))
                    .cloned()
            });
        Some(Param {
            name: name.to_owned(),
            at: loc,
            style,
            explode,
            required,
            shape,
            schema,
            example,
        })
    }

    /// The operation's request body, if it declares one.
    pub(crate) fn body(&mut self, op: &Place) -> Option<Body> {
        let place = op.child("requestBody");
        self.docs.get(&place)?;
        let (at, b) = self.deref(&place)?;
        let required = b.get("required").and_then(Value::as_bool) == Some(true);
        let mut media = Vec::new();
        if let Some(Value::Object(content)) = b.get("content") {
            for (name, m) in content {
                let schema = m
                    .get("schema")
                    .map(|_| at.child("content").child(name).child("schema"))
                    .and_then(|s| self.checked(&s, Direction::Request));
                media.push((name.to_ascii_lowercase(), schema));
            }
        }
        Some(Body { required, media })
    }

    /// The security alternatives of an operation (its own `security`, else the document's).
    pub(crate) fn security(&mut self, op: &Place) -> Vec<Vec<Credential>> {
        let own = op.child("security");
        let place = if self.docs.get(&own).is_some() {
            own
        } else {
            self.docs.top().child("security")
        };
        let Some(Value::Array(reqs)) = self.docs.get(&place).cloned() else {
            return Vec::new();
        };
        let schemes = self.docs.top().child("components").child("securitySchemes");
        let mut alternatives = Vec::new();
        for (i, req) in reqs.iter().enumerate() {
            let Some(req) = req.as_object() else {
                self.error(&place.item(i), "a security requirement must be a mapping");
                continue;
            };
            let mut needs = Vec::new();
            for name in req.keys() {
                let Some((at, scheme)) = self
                    .docs
                    .get(&schemes.child(name))
                    .is_some()
                    .then(|| self.deref(&schemes.child(name)))
                    .flatten()
                else {
                    self.error(
                        &place.item(i).child(name),
                        format!("no security scheme '{name}' under components.securitySchemes"),
                    );
                    continue;
                };
                if let Some(c) = self.credential(&at, &scheme) {
                    needs.push(c);
                }
            }
            alternatives.push(needs);
        }
        alternatives
    }

    fn credential(&mut self, at: &Place, scheme: &Value) -> Option<Credential> {
        let text = |k: &str| scheme.get(k).and_then(Value::as_str).map(str::to_owned);
        match text("type").as_deref() {
            Some("apiKey") => {
                let name = text("name").unwrap_or_default();
                match text("in").as_deref() {
                    Some("header") => Some(Credential::Header(name)),
                    Some("query") => Some(Credential::Query(name)),
                    Some("cookie") => Some(Credential::Cookie(name)),
                    _ => {
                        self.error(&at.child("in"), "an apiKey is in header, query or cookie");
                        None
                    }
                }
            }
            Some("http") => {
                let scheme = text("scheme").unwrap_or_else(|| "basic".into());
                let mut s = scheme.to_ascii_lowercase();
                if let Some(first) = s.get_mut(0..1) {
                    first.make_ascii_uppercase();
                }
                // Prism's challenges, so clients written against it see the same header.
                let challenge = match s.as_str() {
                    "Basic" => "Basic realm=\"*\"".to_owned(),
                    "Digest" => "Digest realm=\"*\", nonce=\"abc123\"".to_owned(),
                    other => other.to_owned(),
                };
                Some(Credential::Authorization {
                    scheme: s,
                    challenge,
                })
            }
            Some("oauth2") => Some(Credential::Authorization {
                scheme: "Bearer".into(),
                challenge: "OAuth2".into(),
            }),
            Some("openIdConnect") => Some(Credential::Authorization {
                scheme: "Bearer".into(),
                challenge: "OpenID".into(),
            }),
            // mutualTLS and unknown types cannot be checked on a request: left to pass.
            _ => None,
        }
    }
}

/// The methods an OpenAPI path item may hold, as mockrig's.
pub(crate) const METHODS: &[(&str, Method)] = &[
    ("get", Method::Get),
    ("put", Method::Put),
    ("post", Method::Post),
    ("delete", Method::Delete),
    ("options", Method::Options),
    ("head", Method::Head),
    ("patch", Method::Patch),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_with_text_around_parameters() {
        let r = route_pattern("/Accounts/{AccountSid}/Calls/{Sid}.json").unwrap();
        assert_eq!(r.pattern.segments.len(), 4);
        assert_eq!(r.affixes, vec![(3, String::new(), ".json".to_owned())]);
        assert_eq!(r.names, vec!["AccountSid", "Sid"]);
        let r = route_pattern("/pets/{pet-id}/").unwrap();
        assert!(r.affixes.is_empty());
        assert_eq!(r.pattern.captures().collect::<Vec<_>>(), vec!["pet_id"]);
        assert_eq!(r.names, vec!["pet-id"]);
        assert!(route_pattern("/a/{x}{y}").is_err());
        assert!(
            route_pattern("/}{é").is_err(),
            "no slicing inside a character"
        );
        assert!(route_pattern("/a/}x{").is_err());
        assert_eq!(route_pattern("/").unwrap().pattern.segments.len(), 0);
    }
}
