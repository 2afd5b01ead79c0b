//! What the mock was asked: `/requests` (filtered), `/unmatched` (with why each missed) and
//! `/verify` (how many matched a pattern, and the closest when the count is wrong).

use actix_web::{HttpResponse, web};
use serde_json::json;

use super::extract::SessionScope;
use crate::app::state::AppState;
use crate::engine::journal::{RequestPattern, glob, verify as verify_entries};
use crate::error::ApiError;

#[derive(serde::Deserialize)]
pub(crate) struct RequestFilter {
    method: Option<String>,
    /// A glob over the path: `/users/*`.
    path: Option<String>,
    matched: Option<bool>,
    /// Each entry without headers, bodies and the answer (what a list of requests shows).
    #[serde(default)]
    summary: bool,
    /// Only the latest this many (of those the filters keep).
    limit: Option<usize>,
}

/// The journal, oldest first, filtered by `method`, `path` (a glob) and `matched`.
pub(crate) async fn requests(
    app: web::Data<AppState>,
    scope: SessionScope,
    q: web::Query<RequestFilter>,
) -> Result<HttpResponse, ApiError> {
    let journal = scope.journal(&app);
    let glob = q
        .path
        .as_deref()
        .map(glob)
        .transpose()
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let kept: Vec<_> = scope
        .entries(&app)
        .await?
        .into_iter()
        .filter(|r| {
            q.method
                .as_ref()
                .is_none_or(|m| m.eq_ignore_ascii_case(r.method.as_str()))
        })
        .filter(|r| glob.as_ref().is_none_or(|g| g.is_match(r.path())))
        .filter(|r| q.matched.is_none_or(|m| m == r.route.is_some()))
        .collect();
    let skip = q.limit.map_or(0, |n| kept.len().saturating_sub(n));
    let list: Vec<serde_json::Value> = kept[skip..]
        .iter()
        .map(|r| {
            let mut v = if q.summary { r.summary() } else { r.to_json() };
            v["session"] = json!(scope.name());
            v
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({"requests": list, "enabled": journal.enabled()})))
}

/// One entry of the journal, with the answer it got.
pub(crate) async fn request(
    app: web::Data<AppState>,
    scope: SessionScope,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let wanted = id.parse::<u64>().ok();
    let entry = match (&app.shared_journal, wanted) {
        (Some(_), Some(n)) => scope.entries(&app).await?.into_iter().find(|r| r.id == n),
        (None, Some(n)) => scope.journal(&app).get(n),
        (_, None) => None,
    }
    .ok_or_else(|| ApiError::NoRequest { id: id.to_string() })?;
    let mut v = entry.to_json();
    v["session"] = json!(scope.name());
    Ok(HttpResponse::Ok().json(v))
}

pub(crate) async fn clear(
    app: web::Data<AppState>,
    scope: SessionScope,
) -> Result<HttpResponse, ApiError> {
    if let Some(shared) = &app.shared_journal {
        shared.clear(scope.name()).await?;
    }
    scope.journal(&app).clear();
    Ok(HttpResponse::NoContent().finish())
}

/// Requests nothing answered, each with the nearest route and why it missed.
pub(crate) async fn unmatched(
    app: web::Data<AppState>,
    scope: SessionScope,
) -> Result<HttpResponse, ApiError> {
    let list: Vec<serde_json::Value> = scope
        .entries(&app)
        .await?
        .iter()
        .filter(|r| r.route.is_none() && (r.status == 404 || r.status == 405))
        .map(|r| {
            let mut v = r.to_json();
            v["session"] = json!(scope.name());
            v
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({"requests": list})))
}

/// Checks how many journal entries match a request pattern: 200 when the count holds, 417
/// with the closest entries when it does not.
pub(crate) async fn verify(
    app: web::Data<AppState>,
    scope: SessionScope,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let journal = scope.journal(&app);
    let pattern: RequestPattern = serde_json::from_slice(&body).map_err(|e| ApiError::BadBody {
        error: "the body is not a request pattern",
        reason: e.to_string(),
    })?;
    let v = verify_entries(&scope.entries(&app).await?, &pattern)
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    if !v.holds {
        return Err(ApiError::VerificationFailed {
            matched: v.matched,
            expected: v.expected,
            journal_enabled: journal.enabled(),
            closest: v.closest,
        });
    }
    Ok(HttpResponse::Ok().json(json!({"matched": v.matched, "expected": v.expected})))
}
