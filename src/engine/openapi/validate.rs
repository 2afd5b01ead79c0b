//! A request checked against its operation: credentials first, then every parameter and the
//! body, with every violation found rather than the first (up to 100; for a body over
//! 64 KiB, the first only, since the validator builds every error before handing one over).

use std::borrow::Cow;

use actix_web::http::header::{self, HeaderMap};
use serde_json::{Map, Value};

use crate::model::openapi::operation::{Body, Checked, Credential, Operation};
use crate::model::openapi::params::{self, In, ParamSpec, Shape};

/// One thing wrong with a request.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub(crate) struct Violation {
    /// Where: `query/limit`, `path/petId`, `header/X-Request-Id`, `body/items/0/price`.
    pub(crate) location: String,
    pub(crate) message: String,
    /// What the document asks for there (the schema keyword's value), when known.
    #[serde(skip_serializing_if = "Value::is_null")]
    pub(crate) expected: Value,
    /// What the request sent there; null when it sent nothing.
    pub(crate) actual: Value,
}

/// Why a request is refused.
#[derive(Debug)]
pub(crate) enum Refused {
    /// No alternative of the security requirements has all its credentials; the challenges
    /// for `WWW-Authenticate`.
    Unauthorized { challenges: Vec<String> },
    /// 400 (a body that does not parse), 415 (an undeclared content type) or 422.
    Invalid {
        status: u16,
        violations: Vec<Violation>,
    },
}

/// What validation reads of a request.
pub(crate) struct Incoming<'a> {
    /// The path's segments as sent, still percent-encoded ([`raw_segments`]): a parameter's
    /// style splits before it decodes, so an encoded `%2C` stays inside its value.
    pub(crate) segments: &'a [Cow<'a, str>],
    /// The raw query string, without `?`.
    pub(crate) query: &'a str,
    pub(crate) headers: &'a HeaderMap,
    pub(crate) body: &'a [u8],
}

/// A request path's segments as sent, split as the router splits them (one leading and one
/// trailing `/` ignored), not decoded.
pub(crate) fn raw_segments(path: &str) -> Vec<Cow<'_, str>> {
    crate::model::router::split(path)
        .map(Cow::Borrowed)
        .collect()
}

/// The query without Prism's `__code`, `__example` and `__dynamic`: they address mockrig, not
/// the operation, and a free-form object parameter would otherwise take them in.
fn operation_query(query: &str) -> String {
    query
        .split('&')
        .filter(|pair| !pair.starts_with("__"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Whether the request carries the credentials of one of the operation's security
/// alternatives.
pub(crate) fn security(op: &Operation, req: &Incoming<'_>) -> Result<(), Refused> {
    if op.security.is_empty()
        || op
            .security
            .iter()
            .any(|alt| alt.iter().all(|c| has(c, req)))
    {
        return Ok(());
    }
    let mut challenges: Vec<String> = Vec::new();
    for c in op.security.iter().flatten().filter(|c| !has(c, req)) {
        if let Credential::Authorization { challenge, .. } = c
            && !challenges.contains(challenge)
        {
            challenges.push(challenge.clone());
        }
    }
    Err(Refused::Unauthorized { challenges })
}

fn has(c: &Credential, req: &Incoming<'_>) -> bool {
    match c {
        Credential::Header(name) => req
            .headers
            .get(name.as_str())
            .is_some_and(|v| !v.is_empty()),
        Credential::Query(name) => serde_urlencoded::from_str::<Vec<(String, String)>>(req.query)
            .unwrap_or_default()
            .iter()
            .any(|(k, v)| k == name && !v.is_empty()),
        Credential::Cookie(name) => cookies(req.headers).any(|(k, v)| k == name && !v.is_empty()),
        Credential::Authorization { scheme, .. } => req
            .headers
            .get_all(header::AUTHORIZATION)
            .filter_map(|v| v.to_str().ok())
            .any(|v| authorizes(scheme, v)),
    }
}

/// Whether an `Authorization` value is a credential of `scheme`: the scheme's name and
/// something after it; for Basic, base64 of `user:password`.
fn authorizes(scheme: &str, value: &str) -> bool {
    let Some((name, rest)) = value.trim().split_once(' ') else {
        return false;
    };
    if !name.eq_ignore_ascii_case(scheme) || rest.trim().is_empty() {
        return false;
    }
    if scheme.eq_ignore_ascii_case("basic") {
        // `user-id:password`; the password may itself hold colons (RFC 7617).
        return base64_decode(rest.trim()).is_some_and(|d| d.contains(&b':'));
    }
    if scheme.eq_ignore_ascii_case("digest") {
        return ["username=", "realm=", "nonce=", "uri=", "response="]
            .iter()
            .all(|k| rest.contains(k));
    }
    true
}

/// Standard base64, padding optional; `None` for anything else.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut buf, mut bits) = (0u32, 0u32);
    for c in text.trim_end_matches('=').bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        buf = (buf << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
        }
    }
    Some(out)
}

fn cookies(headers: &HeaderMap) -> impl Iterator<Item = (&str, &str)> {
    headers
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            Some((k.trim(), v.trim()))
        })
}

/// Every parameter and the body against the operation.
pub(crate) fn check(op: &Operation, req: &Incoming<'_>) -> Result<(), Refused> {
    let mut violations = Vec::new();
    let path_values = op.path_values(req.segments).unwrap_or_default();
    let query = operation_query(req.query);
    let query_names: Vec<&str> = op
        .params
        .iter()
        .filter(|p| p.at == In::Query)
        .map(|p| p.name.as_str())
        .collect();
    let cookie_header: String = req
        .headers
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join("; ");
    for p in &op.params {
        let spec = ParamSpec {
            name: &p.name,
            style: p.style,
            explode: p.explode,
            shape: &p.shape,
        };
        let prefix = match p.at {
            In::Path => "path",
            In::Query => "query",
            In::Header => "header",
            In::Cookie => "cookie",
        };
        let location = format!("{prefix}/{}", p.name);
        let value = match p.at {
            In::Path => path_values
                .iter()
                .find(|(n, _)| *n == p.name)
                .map(|(_, raw)| params::path(&spec, raw).map(Some))
                .unwrap_or(Ok(None)),
            In::Query => {
                let others: Vec<&str> = query_names
                    .iter()
                    .copied()
                    .filter(|n| *n != p.name)
                    .collect();
                params::query(&spec, &query, &others)
            }
            In::Header => match req.headers.get(p.name.as_str()) {
                Some(v) => params::header(&spec, &String::from_utf8_lossy(v.as_bytes())).map(Some),
                None => Ok(None),
            },
            In::Cookie => params::cookie(&spec, &cookie_header),
        };
        match value {
            Err(params::Malformed(why)) => violations.push(Violation {
                location,
                message: why,
                expected: Value::Null,
                actual: Value::Null,
            }),
            Ok(None) if p.required => violations.push(Violation {
                location,
                message: format!("the {prefix} parameter '{}' is required", p.name),
                expected: Value::Null,
                actual: Value::Null,
            }),
            Ok(None) => {}
            Ok(Some(v)) => {
                if let Some(checked) = &p.schema {
                    schema_violations(checked, &v, &location, true, &mut violations);
                }
            }
        }
    }
    let mut status = 422;
    match &op.body {
        Some(body) => {
            if let Err(refused) = check_body(body, req, &mut violations) {
                let (s, v) = *refused;
                status = s;
                violations.push(v);
            }
        }
        // A body the operation does not take is a client mistake worth telling (Prism: 415).
        None if !req.body.is_empty() => {
            status = 415;
            violations.push(Violation {
                location: "body".into(),
                message: "the operation takes no request body".into(),
                expected: Value::Null,
                actual: Value::String(format!("{} bytes", req.body.len())),
            });
        }
        None => {}
    }
    if violations.is_empty() {
        Ok(())
    } else {
        Err(Refused::Invalid { status, violations })
    }
}

/// The body: present when required, of a declared media type, parsed, and valid against that
/// media type's schema. A body that cannot be read at all is `Err` with its status.
fn check_body(
    body: &Body,
    req: &Incoming<'_>,
    violations: &mut Vec<Violation>,
) -> Result<(), Box<(u16, Violation)>> {
    let at = |message: String, actual: Value| Violation {
        location: "body".into(),
        message,
        expected: Value::Null,
        actual,
    };
    if req.body.is_empty() {
        if body.required {
            violations.push(at("the request body is required".into(), Value::Null));
        }
        return Ok(());
    }
    let content_type = req
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let Some((_, schema)) = body
        .media
        .iter()
        .find(|(range, _)| media_fits(range, &media))
    else {
        if body.media.is_empty() {
            return Ok(());
        }
        let declared: Vec<Value> = body
            .media
            .iter()
            .map(|(m, _)| Value::String(m.clone()))
            .collect();
        return Err(Box::new((
            415,
            Violation {
                location: "header/Content-Type".into(),
                message: format!("the content type '{media}' is not one the operation takes"),
                expected: Value::Array(declared),
                actual: Value::String(content_type.into()),
            },
        )));
    };
    let Some(checked) = schema else {
        return Ok(());
    };
    let value = if is_json(&media) {
        match serde_json::from_slice::<Value>(req.body) {
            Ok(v) => v,
            Err(e) => {
                return Err(Box::new((
                    400,
                    at(format!("the body is not valid JSON: {e}"), Value::Null),
                )));
            }
        }
    } else if media == "application/x-www-form-urlencoded" {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_bytes(req.body).unwrap_or_default();
        form_object(pairs, &checked.schema)
    } else if media == "multipart/form-data" {
        match super::multipart::fields(content_type, req.body) {
            Some(pairs) => form_object(pairs, &checked.schema),
            None => {
                return Err(Box::new((
                    400,
                    at("the multipart body cannot be read".into(), Value::Null),
                )));
            }
        }
    } else if media.starts_with("text/") {
        Value::String(String::from_utf8_lossy(req.body).into_owned())
    } else {
        // Binary and other media types: nothing to check the bytes against.
        return Ok(());
    };
    let small = req.body.len() <= 64 * 1024;
    schema_violations(checked, &value, "body", small, violations);
    Ok(())
}

/// Form fields as an object typed by the schema's properties: a field the schema calls an
/// array collects its repeats.
fn form_object(pairs: Vec<(String, String)>, schema: &Value) -> Value {
    let shape = Shape::of(schema, schema);
    let props: &[(String, params::Scalar)] = match &shape {
        Shape::Object(props) => props,
        _ => &[],
    };
    let arrays: Vec<&str> = schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| {
            p.iter()
                .filter(|(_, s)| matches!(Shape::of(s, schema), Shape::Array(_)))
                .map(|(k, _)| k.as_str())
                .collect()
        })
        .unwrap_or_default();
    let mut out = Map::new();
    for (k, v) in pairs {
        let scalar = props
            .iter()
            .find(|(n, _)| *n == k)
            .map(|(_, s)| *s)
            .unwrap_or(params::Scalar::Any);
        let typed = params::coerce(&v, scalar);
        if arrays.contains(&k.as_str()) {
            match out.entry(k).or_insert_with(|| Value::Array(Vec::new())) {
                Value::Array(items) => items.push(typed),
                other => *other = typed,
            }
        } else {
            out.insert(k, typed);
        }
    }
    Value::Object(out)
}

fn is_json(media: &str) -> bool {
    media == "application/json" || media.ends_with("+json") || media == "text/json"
}

/// Whether the request's media type is one of the range `range` (`image/*`, `*/*`).
pub(crate) fn media_fits(range: &str, media: &str) -> bool {
    let range = range.split(';').next().unwrap_or("").trim();
    if range == "*/*" || range == media {
        return true;
    }
    match (range.split_once('/'), media.split_once('/')) {
        (Some((rt, "*")), Some((mt, _))) => rt == mt,
        _ => false,
    }
}

/// The validator's errors for `value`, each at `prefix/<instance path>`: all of them (up to
/// 100) when `every`, else the first. jsonschema builds every error before the first is
/// handed over, so a large body full of mistakes would cost one error object per mistake.
fn schema_violations(
    checked: &Checked,
    value: &Value,
    prefix: &str,
    every: bool,
    out: &mut Vec<Violation>,
) {
    if checked.validator.is_valid(value) {
        return;
    }
    let errors: Vec<jsonschema::ValidationError<'_>> = if every {
        checked.validator.iter_errors(value).take(100).collect()
    } else {
        checked
            .validator
            .validate(value)
            .err()
            .into_iter()
            .collect()
    };
    for e in errors {
        let path = e.instance_path().as_str();
        // A missing property is reported where it is missing: `body/name`, not `body`.
        let location = match e.kind() {
            jsonschema::error::ValidationErrorKind::Required {
                property: Value::String(name),
            } => format!("{prefix}{path}/{name}"),
            _ => format!("{prefix}{path}"),
        };
        let keyword = e.kind().keyword().to_owned();
        let expected = checked
            .schema
            .pointer(e.schema_path().as_str())
            .cloned()
            .map(|v| serde_json::json!({ keyword.clone(): v }))
            .unwrap_or(Value::Null);
        let actual = if keyword == "required" {
            Value::Null
        } else {
            e.instance().clone().into_owned()
        };
        out.push(Violation {
            location,
            message: e.to_string(),
            expected,
            actual,
        });
        if out.len() >= 100 {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_ranges() {
        assert!(media_fits("application/json", "application/json"));
        assert!(media_fits("image/*", "image/png"));
        assert!(media_fits("*/*", "text/plain"));
        assert!(!media_fits("application/json", "text/plain"));
        assert!(media_fits(
            "application/json; charset=utf-8",
            "application/json"
        ));
    }

    #[test]
    fn basic_credentials_must_decode() {
        assert!(authorizes("Basic", "Basic dXNlcjpwYXNz"));
        assert!(authorizes("Basic", "basic dXNlcjpwYXNz"));
        assert!(!authorizes("Basic", "Basic dXNlcg=="), "no colon");
        assert!(authorizes("Basic", "Basic dXNlcjpwYTpzcw=="), "user:pa:ss");
        assert!(!authorizes("Basic", "Basic !!"));
        assert!(!authorizes("Basic", "Bearer abc"));
        assert!(authorizes("Bearer", "Bearer abc"));
        assert!(!authorizes("Bearer", "Bearer "));
    }
}
