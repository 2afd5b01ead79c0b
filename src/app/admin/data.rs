//! Resource data and sessions: `/reset`, `/state` (export and import) and `/sessions`.

use actix_web::{HttpResponse, web};
use serde_json::json;

use super::extract::{SessionScope, blocking};
use crate::app::live::SwapError;
use crate::app::state::AppState;
use crate::engine::resources::stores::{self, ImportError};
use crate::error::ApiError;
use crate::suggest::did_you_mean;

#[derive(serde::Deserialize)]
pub(crate) struct ResetQuery {
    resource: Option<String>,
}

/// The 404 for a resource the spec does not have, with the name it probably meant.
fn no_resource(app: &AppState, name: Option<String>) -> ApiError {
    let now = app.snapshot.load();
    let names: Vec<&str> = now.spec.resources.iter().map(|r| r.name.as_str()).collect();
    let did_you_mean = name
        .as_deref()
        .and_then(|n| did_you_mean(n, &names))
        .map(str::to_owned);
    ApiError::NoResource {
        resource: name,
        did_you_mean,
    }
}

fn import_error(e: ImportError) -> ApiError {
    match e {
        ImportError::Invalid(reason) => ApiError::BadRequest(reason),
        ImportError::Persist(e) => ApiError::Internal(e.to_string()),
    }
}

/// Puts every resource (or `?resource=NAME`) back to its seed. For a session (`?session=` or
/// the header) only that session's data and journal; otherwise the shared data, the journal,
/// runtime stubs and every session.
pub(crate) async fn reset(
    app: web::Data<AppState>,
    scope: SessionScope,
    q: web::Query<ResetQuery>,
) -> Result<HttpResponse, ApiError> {
    let only = q.into_inner().resource;
    if let Some(session) = scope.session {
        if let Some(shared) = app.stores.shared_store() {
            // Its data, counts, scenarios and journal in Redis, for every replica.
            let mine = session.stores_for(&app.snapshot.load().stores);
            if !stores::reset_shared(shared, mine, only.as_deref()).await? {
                return Err(no_resource(&app, only));
            }
            if only.is_none() {
                if let Some(state) = &app.shared_state {
                    state.reset(Some(&session.name)).await?;
                }
                if let Some(journal) = &app.shared_journal {
                    journal.clear(Some(&session.name)).await?;
                }
            }
        }
        // Dropped whole, so whatever else a session holds starts over with it.
        let Some(name) = only else {
            app.sessions.remove(&session.name);
            return Ok(HttpResponse::Ok().json(json!({"reset": "all", "session": session.name})));
        };
        if !session.reset(&app.snapshot.load().stores, Some(&name)) {
            return Err(no_resource(&app, Some(name)));
        }
        return Ok(HttpResponse::Ok().json(json!({"reset": name, "session": session.name})));
    }
    if let Some(shared) = app.stores.shared_store() {
        if !app.stores.reset_shared(shared, only.as_deref()).await? {
            return Err(no_resource(&app, only));
        }
        if only.is_none() {
            if let Some(journal) = &app.shared_journal {
                journal.clear(None).await?;
            }
            shared.forget_sessions().await?;
            if let Some(state) = &app.shared_state {
                state.reset(None).await?;
                let before = app.stubs_seen.load(std::sync::atomic::Ordering::Acquire);
                let (version, _) = state.remove_stubs(None).await?;
                app.reset_all_but_data()
                    .map_err(|e| ApiError::Internal(e.to_string()))?;
                crate::app::shared::announce(&app, before, version).await?;
            } else {
                app.reset_all_but_data()
                    .map_err(|e| ApiError::Internal(e.to_string()))?;
            }
        }
        return Ok(HttpResponse::Ok().json(json!({"reset": only.unwrap_or("all".into())})));
    }
    let everything = app.clone();
    let name = only.clone();
    // With a state file this writes and flushes a snapshot: keep it off the worker.
    let done = blocking(move || match name {
        Some(name) => everything
            .stores
            .reset(Some(&name))
            .map_err(|e| ApiError::Internal(e.to_string())),
        None => everything.reset_all().map(|()| true).map_err(|e| match e {
            SwapError::State(e) => ApiError::Internal(e.to_string()),
            other => ApiError::Internal(other.to_string()),
        }),
    })
    .await?;
    if !done {
        return Err(no_resource(&app, only));
    }
    Ok(HttpResponse::Ok().json(json!({"reset": only.unwrap_or("all".into())})))
}

/// Replaces resource data with a snapshot taken by `GET /__mockrig/state`.
pub(crate) async fn import(
    app: web::Data<AppState>,
    scope: SessionScope,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let state: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| ApiError::BadBody {
            error: "the body is not JSON",
            reason: e.to_string(),
        })?;
    if let Some(session) = scope.open(&app) {
        if let Some(shared) = app.stores.shared_store() {
            let mine = session.stores_for(&app.snapshot.load().stores);
            let names = stores::import_shared(shared, &mine, &state).await?;
            return Ok(HttpResponse::Ok().json(json!({"imported": names, "session": session.name})));
        }
        let names = session
            .import(&app.snapshot.load().stores, &state)
            .map_err(import_error)?;
        return Ok(HttpResponse::Ok().json(json!({"imported": names, "session": session.name})));
    }
    if let Some(shared) = app.stores.shared_store() {
        let names = app.stores.import_shared(shared, &state).await?;
        return Ok(HttpResponse::Ok().json(json!({"imported": names})));
    }
    let stores = app.stores.clone();
    // With a state file this writes and flushes a snapshot: keep it off the worker.
    let names = blocking(move || stores.import(&state).map_err(import_error)).await?;
    Ok(HttpResponse::Ok().json(json!({"imported": names})))
}

/// Every resource's current data, by name (the session's, for a session).
pub(crate) async fn state(
    app: web::Data<AppState>,
    scope: SessionScope,
) -> Result<HttpResponse, ApiError> {
    Ok(match (scope.session, app.stores.shared_store()) {
        (Some(session), Some(shared)) => {
            let mine = session.stores_for(&app.snapshot.load().stores);
            HttpResponse::Ok().json(stores::dump_shared(shared, mine).await?)
        }
        (Some(session), None) => HttpResponse::Ok().json(session.dump(&app.snapshot.load().stores)),
        (None, Some(shared)) => HttpResponse::Ok().json(app.stores.dump_shared(shared).await?),
        (None, None) => HttpResponse::Ok().json(app.stores.dump()),
    })
}

/// Live sessions, most recently used first.
pub(crate) async fn sessions(app: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "sessions": app.sessions.names(),
        "limit": app.sessions.limit(),
    }))
}
