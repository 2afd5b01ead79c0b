//! The REST endpoints of a resource: what each method does to the store, and the status codes
//! and headers a REST client expects back.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Map, Value, json};

use super::query::ListQuery;
use super::{Data, Store, StoreError};
use crate::server::json_error;
use crate::spec::seed::{id_key, kind};

/// What an endpoint of a resource does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    List,
    Create,
    Get,
    Replace,
    Patch,
    Delete,
    /// `GET /users/1/posts`: the child collection's records whose `userId` is 1.
    ChildList {
        child: usize,
    },
    /// `POST /users/1/posts`: creates a post with `userId: 1`.
    ChildCreate {
        child: usize,
    },
    SingletonGet,
    SingletonReplace,
    SingletonPatch,
}

impl Op {
    /// Whether the endpoint reads a JSON object from the body.
    fn takes_body(self) -> bool {
        matches!(
            self,
            Op::Create
                | Op::Replace
                | Op::Patch
                | Op::ChildCreate { .. }
                | Op::SingletonReplace
                | Op::SingletonPatch
        )
    }
}

/// The field of a child record that names its parent: `userId` for a parent called `users`.
pub fn foreign_key(parent: &str) -> String {
    let singular = if let Some(stem) = parent.strip_suffix("ies") {
        format!("{stem}y")
    } else if let Some(stem) = parent
        .strip_suffix("ses")
        .or_else(|| parent.strip_suffix("xes"))
    {
        format!("{stem}{}", &parent[stem.len()..stem.len() + 1])
    } else {
        parent.strip_suffix('s').unwrap_or(parent).to_owned()
    };
    format!("{singular}Id")
}

/// Answers one resource request. `id` is the id segment from the path, when the endpoint has
/// one; `stores` are the runtime's stores, `store` the index of this endpoint's.
pub fn handle(
    stores: &[Arc<Store>],
    store: usize,
    op: Op,
    req: &HttpRequest,
    body: &Bytes,
    id: Option<&str>,
) -> (HttpResponse, Option<Written>) {
    let mut written = None;
    let response = answer(stores, store, op, req, body, id, &mut written);
    (response, written)
}

/// A successful write, for the resource's `emit`.
#[derive(Debug, Clone)]
pub struct Written {
    /// `created`, `updated` or `deleted`.
    pub action: &'static str,
    pub resource: String,
    pub record: Value,
}

fn answer(
    stores: &[Arc<Store>],
    store: usize,
    op: Op,
    req: &HttpRequest,
    body: &Bytes,
    id: Option<&str>,
    written: &mut Option<Written>,
) -> HttpResponse {
    let s = &stores[store];
    let mut wrote = |action: &'static str, store: &Store, record: &Value| {
        *written = Some(Written {
            action,
            resource: store.def.name.clone(),
            record: record.clone(),
        });
    };
    let record = if op.takes_body() {
        match object_body(req, body) {
            Ok(r) => Some(r),
            Err(e) => return e.response(),
        }
    } else {
        None
    };
    let id = id.unwrap_or_default();
    let result = match op {
        Op::List => return list(req, s, |_| true),
        Op::Get => s
            .get(id)
            .ok_or_else(|| StoreError::NotFound(id.to_owned()))
            .map(|v| ok_json(StatusCode::OK, &v)),
        Op::Create => s.create(record.unwrap_or_default()).map(|v| {
            wrote("created", s, &v);
            created(s, &v)
        }),
        Op::Replace => s.replace(id, record.unwrap_or_default()).map(|v| {
            wrote("updated", s, &v);
            ok_json(StatusCode::OK, &v)
        }),
        Op::Patch => s
            .patch(id, &Value::Object(record.unwrap_or_default()))
            .map(|v| {
                wrote("updated", s, &v);
                ok_json(StatusCode::OK, &v)
            }),
        Op::Delete => s.delete(id).map(|v| {
            wrote("deleted", s, &v);
            HttpResponse::NoContent().finish()
        }),
        Op::ChildList { child } => match s.get(id) {
            None => Err(StoreError::NotFound(id.to_owned())),
            Some(_) => {
                let fk = foreign_key(&s.def.name);
                return list(req, &stores[child], |r| {
                    r.get(&fk).and_then(id_key).as_deref() == Some(id)
                });
            }
        },
        Op::ChildCreate { child } => match s.get(id) {
            None => Err(StoreError::NotFound(id.to_owned())),
            Some(parent) => {
                let mut record = record.unwrap_or_default();
                let parent_id = parent.get(&s.def.id_field).cloned().unwrap_or(json!(id));
                record.insert(foreign_key(&s.def.name), parent_id);
                let child = &stores[child];
                return child
                    .create(record)
                    .map(|v| {
                        wrote("created", child, &v);
                        created(child, &v)
                    })
                    .unwrap_or_else(|e| store_error(child, e));
            }
        },
        Op::SingletonGet => Ok(ok_json(StatusCode::OK, &s.snapshot())),
        Op::SingletonReplace | Op::SingletonPatch => s
            .set_singleton(record.unwrap_or_default(), op == Op::SingletonPatch)
            .map(|v| {
                wrote("updated", s, &v);
                ok_json(StatusCode::OK, &v)
            }),
    };
    result.unwrap_or_else(|e| store_error(s, e))
}

fn ok_json(status: StatusCode, v: &Value) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("application/json")
        .body(v.to_string())
}

fn created(s: &Store, v: &Value) -> HttpResponse {
    let mut res = ok_json(StatusCode::CREATED, v);
    let key = v.get(&s.def.id_field).and_then(id_key).unwrap_or_default();
    let location = format!(
        "{}/{}",
        s.def.path,
        utf8_percent_encode(&key, NON_ALPHANUMERIC)
    );
    if let Ok(v) = HeaderValue::from_str(&location) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    res
}

fn store_error(s: &Store, e: StoreError) -> HttpResponse {
    let status = match &e {
        StoreError::NotFound(_) => StatusCode::NOT_FOUND,
        StoreError::Conflict(_) => StatusCode::CONFLICT,
        StoreError::BadId(_) => StatusCode::BAD_REQUEST,
        StoreError::Persist(_) => StatusCode::INTERNAL_SERVER_ERROR,
        StoreError::Retired => StatusCode::SERVICE_UNAVAILABLE,
    };
    json_error(
        status,
        json!({"error": e.to_string(), "resource": s.def.name}),
    )
}

/// Lists the records `keep` accepts, with the request's filters, sort and paging applied.
fn list(req: &HttpRequest, s: &Store, keep: impl Fn(&Map<String, Value>) -> bool) -> HttpResponse {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
    let query = match ListQuery::parse(&pairs) {
        Ok(q) => q,
        Err(e) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                json!({"error": e, "resource": s.def.name}),
            );
        }
    };
    s.read(|data| {
        let Data::Collection(c) = data else {
            return ok_json(StatusCode::OK, &data.to_json());
        };
        let page = query.apply(
            c.records
                .values()
                .filter(|v| v.as_object().is_some_and(&keep)),
        );
        let body = serde_json::to_vec(&page.items).unwrap_or_default();
        let mut res = HttpResponse::Ok();
        res.content_type("application/json")
            .insert_header(("X-Total-Count", page.total.to_string()))
            // Browsers hide both headers from scripts on another origin unless told.
            .insert_header((header::ACCESS_CONTROL_EXPOSE_HEADERS, "X-Total-Count, Link"));
        if let Some((page_no, limit, last)) = page.pages {
            res.insert_header((header::LINK, link_header(req, &pairs, page_no, limit, last)));
        }
        res.body(body)
    })
}

/// RFC 8288 links to the first, previous, next and last pages, keeping the other parameters.
fn link_header(
    req: &HttpRequest,
    pairs: &[(String, String)],
    page: usize,
    limit: usize,
    last: usize,
) -> String {
    let info = req.connection_info();
    let base = format!("{}://{}{}", info.scheme(), info.host(), req.path());
    let explicit_limit = pairs.iter().any(|(k, _)| k == "_limit");
    let url = |p: usize| {
        let mut q: Vec<(String, String)> = pairs
            .iter()
            .filter(|(k, _)| k != "_page" && k != "_limit")
            .cloned()
            .collect();
        q.push(("_page".into(), p.to_string()));
        if explicit_limit {
            q.push(("_limit".into(), limit.to_string()));
        }
        format!(
            "{base}?{}",
            serde_urlencoded::to_string(&q).unwrap_or_default()
        )
    };
    let mut links = vec![format!("<{}>; rel=\"first\"", url(1))];
    if page > 1 {
        links.push(format!("<{}>; rel=\"prev\"", url((page - 1).min(last))));
    }
    if page < last {
        links.push(format!("<{}>; rel=\"next\"", url(page + 1)));
    }
    links.push(format!("<{}>; rel=\"last\"", url(last)));
    links.join(", ")
}

/// Why a request body is not a JSON object; each becomes a 4xx answer.
enum BodyError {
    Unsupported(String),
    Empty,
    NotObject(&'static str),
    Invalid(String),
}

impl BodyError {
    fn response(self) -> HttpResponse {
        let (status, body) = match self {
            BodyError::Unsupported(t) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                json!({
                    "error": format!("unsupported content type '{t}'"),
                    "supported": ["application/json", "application/x-www-form-urlencoded"],
                }),
            ),
            BodyError::Empty => (
                StatusCode::BAD_REQUEST,
                json!({"error": "the request body is empty; send a JSON object"}),
            ),
            BodyError::NotObject(found) => (
                StatusCode::BAD_REQUEST,
                json!({"error": format!("the request body must be a JSON object, found {found}")}),
            ),
            BodyError::Invalid(reason) => (
                StatusCode::BAD_REQUEST,
                json!({"error": "the request body is not valid JSON", "reason": reason}),
            ),
        };
        json_error(status, body)
    }
}

/// The body as a JSON object.
fn object_body(req: &HttpRequest, body: &Bytes) -> Result<Map<String, Value>, BodyError> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
    let json = || serde_json::from_slice::<Value>(body).map_err(|e| e.to_string());
    let parsed = match content_type.as_deref() {
        None | Some("application/json") => json(),
        Some(t) if t.ends_with("+json") => json(),
        // `curl -d '{"a":1}'` sends JSON labelled as a form; take it as the JSON it is, and a
        // real form as an object of its fields.
        Some("application/x-www-form-urlencoded") => json().or_else(|_| {
            serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
                .map(|pairs| {
                    Value::Object(
                        pairs
                            .into_iter()
                            .map(|(k, v)| (k, Value::String(v)))
                            .collect(),
                    )
                })
                .map_err(|e| e.to_string())
        }),
        Some(other) => return Err(BodyError::Unsupported(other.to_owned())),
    };
    if body.is_empty() {
        return Err(BodyError::Empty);
    }
    match parsed {
        Ok(Value::Object(m)) => Ok(m),
        Ok(other) => Err(BodyError::NotObject(kind(&other))),
        Err(e) => Err(BodyError::Invalid(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::foreign_key;

    #[test]
    fn foreign_keys_follow_json_server() {
        assert_eq!(foreign_key("users"), "userId");
        assert_eq!(foreign_key("posts"), "postId");
        assert_eq!(foreign_key("categories"), "categoryId");
        assert_eq!(foreign_key("addresses"), "addressId");
        assert_eq!(foreign_key("boxes"), "boxId");
        assert_eq!(foreign_key("staff"), "staffId");
    }
}
