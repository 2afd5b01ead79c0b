//! With `--state redis://`, what the replicas share that routing reads: the scenario states,
//! read before routing, and the runtime stubs, read again when a replica announces a change —
//! which is answered only once every replica serves it, so a stub added through any replica
//! answers on every one from the next request on.

use std::sync::atomic::Ordering;

use super::state::AppState;
use crate::engine::channels::relayed::StubsChanged;
use crate::engine::sessions::Session;
use crate::error::ApiError;
use crate::model::compiled::Stub;
use crate::spec::Route;

/// What reading the scenario states may take before a request is routed with those last
/// read.
const STATES_READ: std::time::Duration = std::time::Duration::from_millis(250);

/// Brings the scenario states (the session's, for a request in one) up to date, when the spec
/// has scenarios. Without Redis, what was last read stands: the routes serve on. (Stubs are
/// not read here: a change is announced to every replica, which reads it before the change
/// is answered; see [`announce`].)
pub(crate) async fn before_routing(app: &AppState, session: Option<&Session>) {
    let Some(shared) = &app.shared_state else {
        return;
    };
    if app.snapshot.load().spec.scenarios.is_empty() {
        return;
    }
    let name = session.map(|s| s.name.as_str());
    // A Redis that hangs must not hold up every answer for its full timeout.
    match tokio::time::timeout(STATES_READ, shared.states(name)).await {
        Ok(Ok(states)) => session
            .map_or(&app.route_state, |s| &s.state)
            .set_states(states),
        Ok(Err(e)) => tracing::debug!("scenario states not read: {e}"),
        Err(_) => tracing::debug!("scenario states not read in time"),
    }
}

/// What the relay runs when the stubs changed: read them again, then (for an announced
/// version) say this replica serves them.
pub(crate) fn on_stubs_changed(app: &actix_web::web::Data<AppState>) -> StubsChanged {
    // Weak: the hub holding the hook is the state's own; a strong one would keep it for ever.
    let app = std::sync::Arc::downgrade(&app.clone().into_inner());
    Box::new(move |version| {
        let app = app.upgrade();
        Box::pin(async move {
            let Some(app) = app else {
                return;
            };
            if let Err(e) = refresh_stubs(&app).await {
                tracing::warn!("the replicas' stubs were not read: {e}");
                return;
            }
            if let (Some(shared), Some(v)) = (&app.shared_state, version)
                && let Err(e) = shared.ack_stubs(v).await
            {
                tracing::debug!("stubs version {v} not acknowledged: {e}");
            }
        })
    })
}

/// Serves the stubs Redis holds now. One refresh at a time; those waiting find it done.
pub(crate) async fn refresh_stubs(app: &AppState) -> Result<(), ApiError> {
    let Some(shared) = &app.shared_state else {
        return Ok(());
    };
    let _one = app.stubs_refresh.lock().await;
    let set = shared.stubs().await?;
    if set.version == app.stubs_seen.load(Ordering::Acquire) {
        return Ok(());
    }
    let stubs: Vec<Stub> = set
        .routes
        .into_iter()
        .filter_map(|(id, text)| match serde_yaml::from_str::<Route>(&text) {
            Ok(route) => Some(Stub { id, route }),
            Err(e) => {
                tracing::warn!("stub {id} from another replica is not a route here: {e}");
                None
            }
        })
        .collect();
    let live = app.live_spec.clone();
    let applied = actix_web::web::block(move || live.set_stubs(stubs))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    if let Err(e) = applied {
        // Another replica's spec took them; this one does not: it serves without them.
        tracing::warn!("the stubs the other replicas serve do not compile here: {e}");
    }
    app.stubs_seen.store(set.version, Ordering::Release);
    Ok(())
}

/// After this replica changed the stubs in Redis to `version` (from `before`): it serves
/// them already when no other replica changed them in between; then every replica is told,
/// and the change is answered once each serves it.
pub(crate) async fn announce(app: &AppState, before: u64, version: u64) -> Result<(), ApiError> {
    if version == before + 1 {
        let _ =
            app.stubs_seen
                .compare_exchange(before, version, Ordering::AcqRel, Ordering::Acquire);
    }
    match &app.shared_state {
        Some(shared) => shared.announce_stubs(version).await,
        None => Ok(()),
    }
}
