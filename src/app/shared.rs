//! Before routing, with `--state redis://`: what the replicas share that routing reads — the
//! scenario states and the runtime stubs — read in one call; stubs another replica changed
//! are compiled in here before this request is routed, so a stub added through any replica
//! answers on every one from the next request on.

use std::sync::atomic::Ordering;

use super::state::AppState;
use crate::engine::sessions::Session;
use crate::error::ApiError;
use crate::model::compiled::Stub;
use crate::spec::Route;

/// Brings the scenario states (the session's, for a request in one) and the stubs up to
/// date. Without Redis, what was last read stands: static routes keep serving.
pub(crate) async fn before_routing(app: &AppState, session: Option<&Session>) {
    let Some(shared) = &app.shared_state else {
        return;
    };
    let scenarios = !app.snapshot.load().spec.scenarios.is_empty();
    let name = session.map(|s| s.name.as_str());
    let (version, states) = match shared.routing(name, scenarios).await {
        Ok(read) => read,
        Err(e) => {
            tracing::debug!("shared routing state not read: {e}");
            return;
        }
    };
    if scenarios {
        session
            .map_or(&app.route_state, |s| &s.state)
            .set_states(states);
    }
    if version != app.stubs_seen.load(Ordering::Acquire)
        && let Err(e) = refresh_stubs(app).await
    {
        tracing::debug!("shared stubs not read: {e}");
    }
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

/// After this replica changed the stubs in Redis to `version`: it serves them already when
/// no other replica changed them in between; otherwise the next request reads them again.
pub(crate) fn changed_stubs(app: &AppState, before: u64, version: u64) {
    if version == before + 1 {
        let _ =
            app.stubs_seen
                .compare_exchange(before, version, Ordering::AcqRel, Ordering::Acquire);
    }
}
