//! The REST endpoints of a resource: what each operation does to the store, and the status
//! codes and headers a REST client expects back.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Map, Value, json};

use super::change::Sink;
use super::computed::WriteContext;
use super::data::Data;
use super::query::ListQuery;
use super::record::{Fields, Record, joined};
use super::store::Store;
use crate::error::{ApiError, BodyError, StoreError};
use crate::model::resource::{
    MAX_DEPTH, Op, ResourceDef, depth, foreign_key, id_key, kind, relation, singular,
};

/// A successful write, for the resource's `emit`.
#[derive(Debug, Clone)]
pub(crate) struct Written {
    /// `created`, `updated` or `deleted`.
    pub(crate) action: &'static str,
    pub(crate) resource: String,
    pub(crate) record: Value,
}

/// Answers one resource request: the response, and what was written if anything was. `id` is
/// the id segment from the path, when the endpoint has one; `stores` are the serving spec's,
/// `store` the index of this endpoint's.
pub(crate) fn handle(
    stores: &[Arc<Store>],
    store: usize,
    op: Op,
    req: &HttpRequest,
    body: &Bytes,
    id: Option<&str>,
    how: &Serving<'_>,
) -> Result<(HttpResponse, Option<Written>), ApiError> {
    let (links, writes, to) = (how.links, how.writes, how.to);
    let s = &stores[store];
    let wrote = |action: &'static str, store: &Store, record: &Value| {
        Some(Written {
            action,
            resource: store.def.name.clone(),
            record: record.clone(),
        })
    };
    let record = if op.takes_body() {
        Some(object_body(req, body)?)
    } else {
        None
    };
    let id = id.unwrap_or_default();
    Ok(match op {
        Op::List => (list(req, links, stores, store, None)?, None),
        // Most reads of one record carry no query: its text is the answer.
        Op::Get if req.query_string().is_empty() => {
            let body = s
                .read(|data| match data {
                    Data::Collection(c) => c.records().get(id).map(|r| r.text().to_owned()),
                    Data::Singleton(m) => serde_json::to_string(m).ok(),
                })
                .ok_or_else(|| StoreError::NotFound(id.to_owned()))
                .map_err(failed(s))?;
            (json_text(StatusCode::OK, body), None)
        }
        Op::Get => {
            let r = s
                .record(id)
                .ok_or_else(|| StoreError::NotFound(id.to_owned()))
                .map_err(failed(s))?;
            let mut v = r.value();
            let mut query = list_query(req, s)?.0;
            query
                .settle(&s.def.id_field, std::iter::once(&r))
                .map_err(|e| ApiError::ListQuery {
                    resource: s.def.name.clone(),
                    reason: e.to_string(),
                })?;
            relate(stores, store, std::slice::from_mut(&mut v), &query)?;
            (ok_json(StatusCode::OK, &v), None)
        }
        Op::Create => {
            let v = s
                .create(record.unwrap_or_default(), &writes.of(store, req, body), to)
                .map_err(failed(s))?;
            (created(s, &v), wrote("created", s, &v))
        }
        Op::Replace => {
            let v = s
                .replace(
                    id,
                    record.unwrap_or_default(),
                    &writes.of(store, req, body),
                    to,
                )
                .map_err(failed(s))?;
            (ok_json(StatusCode::OK, &v), wrote("updated", s, &v))
        }
        Op::Patch => {
            let v = s
                .patch(
                    id,
                    &record.unwrap_or_default(),
                    &writes.of(store, req, body),
                    to,
                )
                .map_err(failed(s))?;
            (ok_json(StatusCode::OK, &v), wrote("updated", s, &v))
        }
        Op::Delete => {
            let v = s.delete(id, to).map_err(failed(s))?;
            (HttpResponse::NoContent().finish(), wrote("deleted", s, &v))
        }
        Op::ChildList { child } => {
            if !s.has(id) {
                return Err(failed(s)(StoreError::NotFound(id.to_owned())));
            }
            let within = (foreign_key(&s.def.name), id);
            (list(req, links, stores, child, Some(within))?, None)
        }
        Op::ChildCreate { child } => {
            let parent = s
                .record(id)
                .ok_or_else(|| StoreError::NotFound(id.to_owned()))
                .map_err(failed(s))?;
            let mut record = record.unwrap_or_default();
            let id_field = &s.def.id_field;
            let parent_id = parent
                .fields(&Fields::Only(vec![id_field.clone()]))
                .get(id_field)
                .cloned()
                .unwrap_or(json!(id));
            record.insert(foreign_key(&s.def.name), parent_id);
            let w = writes.of(child, req, body);
            let child = &stores[child];
            let v = child.create(record, &w, to).map_err(failed(child))?;
            (created(child, &v), wrote("created", child, &v))
        }
        Op::SingletonGet => (ok_json(StatusCode::OK, &s.snapshot()), None),
        Op::SingletonReplace | Op::SingletonPatch | Op::SingletonCreate => {
            let v = s
                .set_singleton(
                    record.unwrap_or_default(),
                    op == Op::SingletonPatch,
                    &writes.of(store, req, body),
                    to,
                )
                .map_err(failed(s))?;
            // json-server answers a POST to a singular resource, which replaces it, with 201.
            let status = if op == Op::SingletonCreate {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            (ok_json(status, &v), wrote("updated", s, &v))
        }
    })
}

/// How this server answers: its links, and what the spec adds to writes.
pub(crate) struct Serving<'a> {
    pub(crate) links: Links,
    pub(crate) writes: &'a WriteContext<'a>,
    /// Where the write goes: made now, or planned for the shared store to commit.
    pub(crate) to: Sink<'a>,
}

/// A store's refusal as an answer naming the resource.
fn failed(s: &Store) -> impl Fn(StoreError) -> ApiError + '_ {
    move |e| ApiError::from((s.def.name.clone(), e))
}

fn ok_json(status: StatusCode, v: &Value) -> HttpResponse {
    json_text(status, v.to_string())
}

/// A JSON answer from text already written.
fn json_text(status: StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("application/json")
        .body(body)
}

/// What an id is escaped from in a `Location` path: everything but RFC 3986's unreserved
/// characters, so `ord-2` and UUIDs stay readable and `/` or `?` in an id cannot change the URL.
const ID_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn created(s: &Store, v: &Value) -> HttpResponse {
    let mut res = ok_json(StatusCode::CREATED, v);
    let key = v.get(&s.def.id_field).and_then(id_key).unwrap_or_default();
    // An id of dots alone (`.`, `..`) would be a path step to a client: escaped whole.
    let segment = if key.bytes().all(|b| b == b'.') {
        key.replace('.', "%2E")
    } else {
        utf8_percent_encode(&key, ID_SEGMENT).to_string()
    };
    let location = format!("{}/{segment}", s.def.path);
    if let Ok(v) = HeaderValue::from_str(&location) {
        res.headers_mut().insert(header::LOCATION, v);
        // A page on another origin may read where its record went, as json-server allows.
        res.headers_mut().insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("Location"),
        );
    }
    res
}

/// The request's query pairs and their reading as a list query (a 400 naming the resource
/// when they cannot be read).
fn list_query(
    req: &HttpRequest,
    s: &Store,
) -> Result<(ListQuery, Vec<(String, String)>), ApiError> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
    let query = ListQuery::parse(&pairs).map_err(|e| ApiError::ListQuery {
        resource: s.def.name.clone(),
        reason: e.to_string(),
    })?;
    Ok((query, pairs))
}

/// Lists the records of `stores[store]` (those whose field `within.0` names the record with
/// id `within.1`: a nested route's), with the request's filters, sort, paging, `_embed` and
/// `_expand` applied.
fn list(
    req: &HttpRequest,
    links: Links,
    stores: &[Arc<Store>],
    store: usize,
    within: Option<(String, &str)>,
) -> Result<HttpResponse, ApiError> {
    let s = &stores[store];
    let (mut query, pairs) = list_query(req, s)?;
    if let Some((field, id)) = within {
        query.within(field, id);
    }
    let relations = !query.embed.is_empty() || !query.expand.is_empty();
    let refused = |e: crate::error::Invalid| ApiError::ListQuery {
        resource: s.def.name.clone(),
        reason: e.to_string(),
    };
    // Without relations the page is written while the records are borrowed; with them it is
    // parsed out first, since filling them in reads other stores.
    let (body, total, pages) = s
        .read(|data| {
            let Data::Collection(c) = data else {
                return Ok((Err(data.to_json()), 0, None));
            };
            let all = c.records();
            query.settle(&s.def.id_field, all.values())?;
            // A session's copies are not indexed: there may be a thousand of them, each
            // sharing the seed's records until it writes, and none is large for long.
            let indexed = match s.session {
                None => s.indexes.candidates(c, &query),
                Some(_) => None,
            };
            let page = match indexed {
                Some(at) => query.apply(
                    at.iter()
                        .filter_map(|&i| all.get_index(i as usize).map(|(_, v)| v)),
                    all.values(),
                ),
                None => query.apply(all.values(), all.values()),
            };
            let body = if relations {
                Err(Value::Array(
                    page.items.into_iter().map(Record::value).collect(),
                ))
            } else {
                Ok(joined(page.items.iter().copied()).into_bytes())
            };
            Ok((body, page.total, page.pages))
        })
        .map_err(refused)?;
    let body = match body {
        Ok(bytes) => bytes,
        Err(Value::Array(mut items)) => {
            relate(stores, store, &mut items, &query)?;
            serde_json::to_vec(&items).unwrap_or_default()
        }
        Err(other) => return Ok(ok_json(StatusCode::OK, &other)),
    };
    let mut res = HttpResponse::Ok();
    res.content_type("application/json")
        .insert_header(("X-Total-Count", total.to_string()));
    // Browsers hide these headers from scripts on another origin unless told.
    if let Some((page_no, limit, last)) = pages {
        res.insert_header((
            header::LINK,
            link_header(req, links, &pairs, page_no, limit, last),
        ))
        .insert_header((header::ACCESS_CONTROL_EXPOSE_HEADERS, "X-Total-Count, Link"));
    } else {
        res.insert_header((header::ACCESS_CONTROL_EXPOSE_HEADERS, "X-Total-Count"));
    }
    Ok(res.body(body))
}

/// json-server's relations, filled into `records` of `stores[store]`: `_embed=comments` adds
/// each record's comments (those whose `postId` is its id), `_expand=user` adds the user its
/// `userId` names. A name that is no collection is a 400 that lists the ones there are.
fn relate(
    stores: &[Arc<Store>],
    store: usize,
    records: &mut [Value],
    query: &ListQuery,
) -> Result<(), ApiError> {
    let s = &stores[store];
    let collections = || {
        stores
            .iter()
            .filter(|o| !o.def.singleton)
            .map(|o| o.def.name.as_str())
            .collect::<Vec<_>>()
    };
    let unknown = |what: &str, name: &str, known: Vec<String>| {
        let names: Vec<&str> = known.iter().map(String::as_str).collect();
        let hint = crate::suggest::did_you_mean(name, &names)
            .map(|n| format!(" (did you mean {n}?)"))
            .unwrap_or_default();
        ApiError::ListQuery {
            resource: s.def.name.clone(),
            reason: format!(
                "{what}={name}: no such collection{hint}; {what} takes one of: {}",
                known.join(", ")
            ),
        }
    };
    let own_id = |r: &Value| r.get(&s.def.id_field).and_then(id_key);
    let mut budget = Budget(RELATIONS_MAX_BYTES);
    for name in &query.embed {
        let child = relation(stores.iter().map(|o| &o.def), false, name)
            .map(|i| &stores[i])
            .ok_or_else(|| {
                let known = collections().iter().map(|n| n.to_string()).collect();
                unknown("_embed", name, known)
            })?;
        let fk = foreign_key(&s.def.name);
        let wanted: HashSet<String> = records.iter().filter_map(own_id).collect();
        // One pass over the child collection for the whole page, each match measured once.
        let by_parent: HashMap<String, Vec<(Value, usize)>> = child.read(|data| {
            let mut out: HashMap<String, Vec<(Value, usize)>> = HashMap::new();
            if let Data::Collection(c) = data {
                let fields = Fields::Only(vec![fk.clone()]);
                for r in c.records().values() {
                    if let Some(key) = r.fields(&fields).get(&fk).and_then(id_key)
                        && wanted.contains(&key)
                    {
                        out.entry(key)
                            .or_default()
                            .push((r.value(), r.text().len()));
                    }
                }
            }
            out
        });
        for r in records.iter_mut() {
            let found = own_id(r).and_then(|k| by_parent.get(&k));
            let mut list = Vec::new();
            for (child, bytes) in found.into_iter().flatten() {
                budget.take(*bytes, &s.def.name)?;
                list.push(child.clone());
            }
            if let Some(m) = r.as_object_mut() {
                m.insert(name.clone(), Value::Array(list));
            }
        }
    }
    for name in &query.expand {
        // `_expand=user` names the collection whose singular is `user` (`users`).
        let parent = relation(stores.iter().map(|o| &o.def), true, name)
            .map(|i| &stores[i])
            .ok_or_else(|| {
                let known = collections().iter().map(|n| singular(n)).collect();
                unknown("_expand", name, known)
            })?;
        let fk = format!("{name}Id");
        // Many records name the same parent: each is read and measured once.
        let mut seen: HashMap<String, Option<(Value, usize)>> = HashMap::new();
        for r in records.iter_mut() {
            let Some(m) = r.as_object_mut() else { continue };
            let Some(key) = m.get(&fk).and_then(id_key) else {
                continue;
            };
            let found = seen
                .entry(key)
                .or_insert_with_key(|k| parent.record(k).map(|r| (r.value(), r.text().len())));
            // Like json-server: no parent, no field.
            if let Some((found, bytes)) = found {
                budget.take(*bytes, &s.def.name)?;
                m.insert(name.clone(), found.clone());
            }
        }
    }
    Ok(())
}

/// The most bytes of related records one answer adds: `_expand` copies a parent into every
/// child that names it, so a page of small records can ask for many copies of a large one.
const RELATIONS_MAX_BYTES: usize = 32 << 20;

/// What the related records of one answer may still add.
struct Budget(usize);

impl Budget {
    fn take(&mut self, bytes: usize, resource: &str) -> Result<(), ApiError> {
        self.0 = self
            .0
            .checked_sub(bytes)
            .ok_or_else(|| ApiError::ListQuery {
                resource: resource.to_owned(),
                reason: format!(
                    "with its _embed and _expand this answer would pass {} MiB; ask for fewer \
                 records (_limit, _page) or fewer relations",
                    RELATIONS_MAX_BYTES >> 20
                ),
            })?;
        Ok(())
    }
}

/// The collections a request's `_embed` and `_expand` name, by index (unknown names left
/// out: answering those is `relate`'s), so their own `match:` can be asked before anything is
/// read from them.
pub(crate) fn related(defs: &[ResourceDef], query_string: &str) -> Vec<usize> {
    if !query_string.contains("_embed") && !query_string.contains("_expand") {
        return Vec::new();
    }
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query_string).unwrap_or_default();
    // A query that cannot be read is a 400 before anything is read: no gate to ask.
    let Ok(query) = ListQuery::parse(&pairs) else {
        return Vec::new();
    };
    let embeds = query.embed.iter().map(|n| (false, n));
    let expands = query.expand.iter().map(|n| (true, n));
    let mut out = Vec::new();
    for (expand, name) in embeds.chain(expands) {
        if let Some(i) = relation(defs.iter(), expand, name).filter(|i| !out.contains(i)) {
            out.push(i);
        }
    }
    out
}

/// How absolute links name this server.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Links {
    /// Served over TLS.
    pub(crate) secure: bool,
    /// `--trust-forwarded`: a proxy in front sets `X-Forwarded-*` / `Forwarded`.
    pub(crate) trust_forwarded: bool,
}

/// `scheme://host` of the request as this server received it: the connection's scheme and
/// the request's own `Host`. `X-Forwarded-Host`/`-Proto` and `Forwarded` are anyone's to
/// send, so they are read only with `--trust-forwarded` (behind a proxy that sets them).
fn own_origin(req: &HttpRequest, links: Links) -> String {
    let scheme = if links.secure { "https" } else { "http" };
    if links.trust_forwarded {
        let info = req.connection_info();
        // Without forwarded headers actix falls back on its app config, which does not know
        // about TLS here: the connection's own scheme is the better default.
        let forwarded = req.headers().contains_key("x-forwarded-proto")
            || req.headers().contains_key(header::FORWARDED);
        let scheme = if forwarded { info.scheme() } else { scheme };
        return format!("{scheme}://{}", info.host());
    }
    let host = req
        .uri()
        .authority()
        .map(|a| a.as_str().to_owned())
        .or_else(|| {
            req.headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_owned)
        })
        .unwrap_or_default();
    format!("{scheme}://{host}")
}

/// RFC 8288 links to the first, previous, next and last pages, keeping the other parameters.
fn link_header(
    req: &HttpRequest,
    links: Links,
    pairs: &[(String, String)],
    page: usize,
    limit: usize,
    last: usize,
) -> String {
    let base = format!("{}{}", own_origin(req, links), req.path());
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
        Ok(v @ Value::Object(_)) if depth(&v) > MAX_DEPTH => Err(BodyError::TooDeep(MAX_DEPTH)),
        Ok(Value::Object(m)) => Ok(m),
        Ok(other) => Err(BodyError::NotObject(kind(&other))),
        Err(e) => Err(BodyError::Invalid(e)),
    }
}
