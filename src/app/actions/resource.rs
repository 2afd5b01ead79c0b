//! A resource endpoint: the operation on the session's (or the shared) data, then the
//! resource's emits for a write that happened.

use std::sync::Arc;
use std::time::Duration;

use actix_web::ResponseError;
use serde_json::json;

use super::delay::wait;
use crate::app::context::RequestContext;
use crate::app::outcome::Outcome;
use crate::duration::Delay;
use crate::engine::channels::emit::emit;
use crate::engine::resources::change::Sink;
use crate::engine::resources::computed::WriteContext;
use crate::engine::resources::ops::{self, Links, Serving, Written};
use crate::engine::routing::RouteMatch;
use crate::engine::template_context;
use crate::error::ApiError;
use crate::hash::fnv1a;
use crate::model::resource::Op;
use crate::model::response::RequestParts;
use crate::random::SeededRng;

/// The resource operation `op` on `resource` for the request `found` matched, after the
/// server's delay.
pub(crate) async fn run(
    cx: &RequestContext<'_>,
    found: &RouteMatch<'_>,
    resource: usize,
    op: Op,
    delay: Option<Delay>,
) -> Outcome {
    let route = found.route;
    if let Some(refused) = gate(cx, found, resource, op, delay).await {
        return refused;
    }
    wait(cx, route, delay).await;
    match asked_delay(cx.req.query_string()) {
        Ok(Some(d)) => actix_web::rt::time::sleep(d).await,
        Ok(None) => {}
        Err(reason) => {
            let name = cx.spec().resources[resource].name.clone();
            let e = crate::error::ApiError::ListQuery {
                resource: name,
                reason,
            };
            return Outcome::answered(&route.source, e.error_response());
        }
    }
    let id = found
        .first_capture
        .clone()
        .map(|r| cx.segments[r].join("/"));
    let own;
    let stores = match cx.session {
        Some(s) => {
            own = s.stores_for(&cx.snapshot.stores);
            &own
        }
        None => &cx.snapshot.stores,
    };
    // The resource the write lands in: another one for `POST /users/1/posts`.
    let target = match op {
        Op::ChildCreate { child } => child,
        _ => resource,
    };
    let spec = cx.spec();
    let renders = op.takes_body()
        && spec
            .resource_writes
            .get(target)
            .is_some_and(|w| w.renders());
    // Under `--seed`, ids and computed values draw from a generator of the resource and its
    // count of writes, as its emits do.
    let drawn = match cx.app.seed {
        Some(seed) if renders => {
            let key = fnv1a(
                format!("write {}", spec.resources[target].name).as_bytes(),
                0,
            );
            let n = match cx.hit(key).await {
                Ok(n) => n,
                Err(e) => return Outcome::answered(&route.source, e.error_response()),
            };
            Some((seed, key, n))
        }
        _ => None,
    };
    let params = if renders {
        found.route.pattern.params(&cx.segments)
    } else {
        Default::default()
    };
    let links = Links {
        secure: cx.app.admin.scheme() == Some("https"),
        trust_forwarded: cx.app.trust_forwarded,
    };
    // Each plan draws from the start of the write's generator: a write planned again (on
    // shared data, after another replica's write) answers with what one plan draws.
    let run = |to: Sink<'_>| {
        let writes = WriteContext {
            writes: &spec.resource_writes,
            templates: &spec.templates,
            params: params.clone(),
            rng: drawn.map(|(seed, key, n)| Arc::new(SeededRng::new(seed, key, n))),
        };
        let how = Serving {
            links,
            writes: &writes,
            to,
        };
        ops::handle(stores, resource, op, cx.req, cx.body, id.as_deref(), &how)
    };
    let answered = match cx.app.stores.shared_store() {
        // A session's copies are shared too, under keys of the session's.
        Some(shared) => {
            // The stores the answer reads: a nested list's or create's child too.
            let child = match op {
                Op::ChildList { child } | Op::ChildCreate { child } => Some(child),
                _ => None,
            };
            let involved: Vec<usize> = std::iter::once(resource)
                .chain(child)
                .chain(ops::related(&spec.resources, cx.req.query_string()))
                .collect();
            let name = spec.resources[target].name.as_str();
            let record = match op {
                Op::Replace | Op::Patch | Op::Delete => id.as_deref().map(|id| (name, id)),
                Op::SingletonReplace | Op::SingletonPatch | Op::SingletonCreate => Some((name, "")),
                _ => None,
            };
            let writes = !matches!(
                op,
                Op::List | Op::Get | Op::ChildList { .. } | Op::SingletonGet
            );
            shared.serve(stores, &involved, record, writes, run).await
        }
        _ => match run(Sink::Apply) {
            // Answered once saved: with `--state-file`, after the group commit that holds it.
            Ok((response, Some(written))) => match stores[target].saved().await {
                Ok(()) => Ok((response, Some(written))),
                Err(error) => Err(ApiError::Store {
                    resource: written.resource,
                    error,
                }),
            },
            other => other,
        },
    };
    let response = match answered {
        Ok((response, written)) => {
            if let Some(w) = written {
                emit_write(cx, found, &w).await;
            }
            response
        }
        Err(e) => e.error_response(),
    };
    Outcome::answered(&route.source, response)
}

/// The longest `?_delay=` honoured: what a test of a slow backend needs, not a way to hold
/// connections open for hours.
const MAX_ASKED_DELAY: Duration = Duration::from_secs(60);

/// json-server's `?_delay=MS`, for one request's answer to come late.
fn asked_delay(query: &str) -> Result<Option<Duration>, String> {
    // Scanned without parsing the query: nearly every request has no `_delay`.
    if !query.contains("_delay=") {
        return Ok(None);
    }
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
    let Some((_, text)) = pairs.iter().find(|(k, _)| k == "_delay") else {
        return Ok(None);
    };
    let ms: u64 = text
        .trim()
        .parse()
        .map_err(|_| format!("_delay takes milliseconds, got '{text}'"))?;
    let d = Duration::from_millis(ms);
    if d > MAX_ASKED_DELAY {
        return Err(format!(
            "_delay={ms} is more than the {} ms mockrig waits at most",
            MAX_ASKED_DELAY.as_millis()
        ));
    }
    Ok(Some(d))
}

/// The answer to a request that fails the `match:` of the resource (or, for a nested
/// endpoint such as `/users/1/posts`, of the child resource too); `None` when it passes.
async fn gate(
    cx: &RequestContext<'_>,
    found: &RouteMatch<'_>,
    resource: usize,
    op: Op,
    delay: Option<Delay>,
) -> Option<Outcome> {
    let spec = cx.spec();
    let child = match op {
        Op::ChildList { child } | Op::ChildCreate { child } => Some(child),
        _ => None,
    };
    // The collections `_embed` and `_expand` would read: their gates hold too, or a gated
    // resource would be read through an open one.
    let related = ops::related(&spec.resources, cx.req.query_string());
    let gated = std::iter::once(resource).chain(child).chain(related);
    let (i, gate, failed) = gated.into_iter().find_map(|i| {
        let gate = spec.resource_gate.get(i)?.as_ref()?;
        let failed = gate.matcher.failures(&cx.view, usize::MAX);
        (!failed.is_empty()).then_some((i, gate, failed))
    })?;
    if let Some(set) = &gate.otherwise {
        return Some(super::respond::run(cx, found.route, set).await);
    }
    wait(cx, found.route, delay).await;
    let error = ApiError::Gate {
        resource: spec.resources[i].name.clone(),
        failed: failed.into_iter().map(|f| json!(f)).collect(),
    };
    Some(Outcome::answered(
        &found.route.source,
        error.error_response(),
    ))
}

/// The emits of the resource the write landed in (which is another one for
/// `POST /users/1/posts`), with `action`, `resource` and `record` in their context.
async fn emit_write(cx: &RequestContext<'_>, found: &RouteMatch<'_>, w: &Written) {
    let spec = cx.spec();
    let Some(i) = spec.resources.iter().position(|r| r.name == w.resource) else {
        return;
    };
    if spec.resource_emit[i].is_empty() {
        return;
    }
    let params = found.route.pattern.params(&cx.segments);
    let mut ctx = template_context::request(cx.req, cx.body, params, RequestParts::ALL);
    ctx["action"] = json!(w.action);
    ctx["resource"] = json!(w.resource);
    ctx["record"] = w.record.clone();
    // Under `--seed`, the emits draw from a generator of the resource and its count of
    // writes, never from whatever other requests left in a shared one.
    let rng = cx.app.seed.map(|seed| {
        let key = fnv1a(format!("emit {}", w.resource).as_bytes(), 0);
        Arc::new(SeededRng::new(seed, key, cx.route_state().hit(key)))
    });
    for e in spec.resource_emit[i].iter() {
        let default = || json!({"action": w.action, "resource": w.resource, "record": w.record});
        emit(&cx.app.hub, &spec.templates, e, &ctx, rng.as_ref(), default).await;
    }
}
