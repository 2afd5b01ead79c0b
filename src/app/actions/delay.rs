//! The wait before a resource or static answer (`server.delay`); a route's own responses
//! draw theirs in `respond`.

use std::sync::Arc;

use crate::app::context::RequestContext;
use crate::duration::Delay;
use crate::hash::fnv1a;
use crate::model::compiled::CompiledRoute;
use crate::random::SeededRng;

/// `server.delay` before a resource or static answer. A range under `--seed` draws from a
/// generator of the route and how many times it waited before.
pub(crate) async fn wait(cx: &RequestContext<'_>, route: &CompiledRoute, delay: Option<Delay>) {
    let Some(delay) = delay else {
        return;
    };
    let rng = match cx.app.seed {
        Some(seed) if delay.is_range() => {
            let key = fnv1a(route.source.as_bytes(), 0);
            // Without Redis a delay still draws, from this replica's count.
            let n = match cx.hit(key).await {
                Ok(n) => n,
                Err(_) => cx.route_state().hit(key),
            };
            Some(Arc::new(SeededRng::new(seed, key, n)))
        }
        _ => None,
    };
    if let Some(d) = delay.draw(rng.as_deref()) {
        actix_web::rt::time::sleep(d).await;
    }
}
