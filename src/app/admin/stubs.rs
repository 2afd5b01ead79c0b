//! The compiled routes (`GET /routes`) and runtime stubs: routes added in front of the spec's
//! (`POST /routes`) and removed again (`DELETE /routes/{id}`). Stubs are compiled with the
//! spec, so they are checked exactly like the spec's own routes.

use std::collections::HashMap;

use actix_web::{HttpResponse, web};
use serde_json::json;

use super::extract::{SessionScope, blocking};
use crate::app::live::SwapError;
use crate::app::shared;
use crate::app::state::AppState;
use crate::error::ApiError;
use crate::model::compiled::{CompiledRoute, Stub};
use crate::model::router::request_segments;
use crate::spec::Route;

/// A failed change of the stubs as an answer: what is wrong with them is the client's to fix
/// (400); a state file that cannot be written is not (500).
fn refused(e: SwapError) -> ApiError {
    match e {
        SwapError::State(e) => ApiError::Internal(e.to_string()),
        other => ApiError::BadRequest(other.to_string()),
    }
}

/// The compiled routes, most specific first: the order in which a request's candidates are
/// tried (a fixed segment before `{param}` before `{*rest}`, then the order in the spec). Each
/// with where it was written, how often it answered (in the session, for a session) and its
/// part in a scenario.
pub(crate) async fn routes(
    app: web::Data<AppState>,
    scope: SessionScope,
) -> Result<HttpResponse, ApiError> {
    let live_spec = app.live_spec.clone();
    // Parsing the spec's files again takes milliseconds for a large one: off the worker.
    let places = blocking(move || Ok(live_spec.places())).await?;
    // Answers as the journal holds them: routes whose answers never vary keep no count of
    // their own, and the journal is what the dashboard shows next to them anyway.
    let mut answers: HashMap<&str, Vec<(&str, &str)>> = HashMap::new();
    let journal = scope.journal(&app).all();
    for r in &journal {
        if let Some(route) = &r.route {
            answers
                .entry(route)
                .or_default()
                .push((r.method.as_str(), r.path()));
        }
    }
    let now = app.snapshot.load();
    let mut order: Vec<(Vec<u8>, usize)> = now
        .spec
        .routes
        .iter()
        .enumerate()
        .map(|(i, r)| (r.pattern.specificity(), i))
        .collect();
    order.sort();
    let list: Vec<serde_json::Value> = order
        .into_iter()
        .map(|(_, i)| {
            let r = &now.spec.routes[i];
            let place = places.get(&*r.source);
            let stub_id = r
                .source
                .strip_prefix("stubs[")
                .and_then(|s| s.strip_suffix(']'))
                .and_then(|s| s.parse::<u64>().ok());
            json!({
                "source": &*r.source,
                "kind": r.action.kind(),
                "method": r.method.as_str(),
                "path": r.path,
                "conditions": r.matcher.is_some(),
                "at": place.map(|p| &p.at),
                "yaml": place.map(|p| &p.yaml),
                "stub": stub_id.is_some(),
                "stub_id": stub_id,
                "answers": answers_of(&answers, r),
                "scenario": r.scenario.as_ref().map(|s| json!({
                    "name": s.scenario, "when": s.when, "then": s.then,
                })),
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(list))
}

/// How many journal entries the route answered: those of its entry in the spec (a resource's
/// endpoints share one) with its method (`ANY`: any; GET also HEAD) and a path of its shape.
fn answers_of(answers: &HashMap<&str, Vec<(&str, &str)>>, route: &CompiledRoute) -> usize {
    let method = route.method.as_str();
    answers.get(&*route.source).map_or(0, |entries| {
        entries
            .iter()
            .filter(|(m, path)| {
                (method == "ANY" || *m == method || (method == "GET" && *m == "HEAD"))
                    && route
                        .pattern
                        .explain_mismatch(&request_segments(path))
                        .is_none()
            })
            .count()
    })
}

/// One route or a list, in the spec's shape (JSON or YAML), in front of the spec's routes.
pub(crate) async fn add(
    app: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    // YAML is a superset of JSON, so one parser takes both.
    let values = serde_yaml::from_slice::<serde_yaml::Value>(&body)
        .map(|v| match v {
            serde_yaml::Value::Sequence(items) => items,
            one => vec![one],
        })
        .map_err(|e| ApiError::BadBody {
            error: "the body is not a route or a list of routes",
            reason: e.to_string(),
        })?;
    let routes = values
        .iter()
        .map(|v| serde_yaml::from_value::<Route>(v.clone()))
        .collect::<Result<Vec<Route>, _>>()
        .map_err(|e| ApiError::BadBody {
            error: "the body is not a route or a list of routes",
            reason: e.to_string(),
        })?;
    let live_spec = app.live_spec.clone();
    let (ids, swapped) = match &app.shared_state {
        // Shared: ids from the replicas' counter, checked here, then in Redis for all.
        Some(shared) => {
            shared::refresh_stubs(&app).await?;
            let ids = shared.stub_ids(routes.len()).await?;
            let before = app.stubs_seen.load(std::sync::atomic::Ordering::Acquire);
            let stubs: Vec<Stub> = ids
                .iter()
                .zip(routes)
                .map(|(&id, route)| Stub { id, route })
                .collect();
            let swapped = blocking(move || live_spec.add_stubs_as(stubs).map_err(refused)).await?;
            let texts: Vec<(u64, String)> = ids
                .iter()
                .zip(&values)
                .map(|(&id, v)| (id, serde_json::to_string(v).unwrap_or_default()))
                .collect();
            let version = match shared.add_stubs(&texts).await {
                Ok(version) => version,
                Err(e) => {
                    // Not in Redis: not served here either, or this replica alone would.
                    let (live_spec, ids) = (app.live_spec.clone(), ids.clone());
                    blocking(move || {
                        for id in ids {
                            live_spec.remove_stub(id).map_err(refused)?;
                        }
                        Ok(())
                    })
                    .await?;
                    return Err(e);
                }
            };
            shared::announce(&app, before, version).await?;
            (ids, swapped)
        }
        None => blocking(move || live_spec.add_stubs(routes).map_err(refused)).await?,
    };
    let mut body = json!({"ids": ids});
    if !swapped.stub_warnings.is_empty() {
        body["warnings"] = json!(swapped.stub_warnings);
    }
    Ok(HttpResponse::Created().json(body))
}

/// Removes a route added at run time.
pub(crate) async fn remove(
    app: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id
        .parse::<u64>()
        .map_err(|_| ApiError::NoStub { id: None })?;
    if let Some(shared) = &app.shared_state {
        let before = app.stubs_seen.load(std::sync::atomic::Ordering::Acquire);
        let (version, removed) = shared.remove_stubs(Some(id)).await?;
        if !removed {
            return Err(ApiError::NoStub { id: Some(id) });
        }
        let live_spec = app.live_spec.clone();
        blocking(move || live_spec.remove_stub(id).map_err(refused)).await?;
        shared::announce(&app, before, version).await?;
        return Ok(HttpResponse::NoContent().finish());
    }
    let live_spec = app.live_spec.clone();
    if blocking(move || live_spec.remove_stub(id).map_err(refused)).await? {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::NoStub { id: Some(id) })
    }
}
