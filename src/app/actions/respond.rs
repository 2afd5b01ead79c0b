//! `response`, `responses` and `content`: answer with one of the route's compiled responses,
//! then take the route's scenario step and send its emits.

use std::sync::Arc;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde_json::Value;

use crate::app::context::RequestContext;
use crate::app::outcome::Outcome;
use crate::engine::channels::emit::emit;
use crate::engine::respond::respond;
use crate::engine::template_context;
use crate::error::ApiError;
use crate::model::compiled::CompiledRoute;
use crate::model::response::{RequestParts, ResponseSet};
use crate::random::SeededRng;
use crate::spec::Fault;

/// Answers with the response `set` chooses for this request (its sequence, its `Accept`).
pub(crate) async fn run(
    cx: &RequestContext<'_>,
    route: &CompiledRoute,
    set: &ResponseSet,
) -> Outcome {
    run_with(cx, route, set, &[]).await
}

/// [`run`], with more names for the templates (a long poll's `event`).
pub(crate) async fn run_with(
    cx: &RequestContext<'_>,
    route: &CompiledRoute,
    set: &ResponseSet,
    extra: &[(&'static str, minijinja::Value)],
) -> Outcome {
    let (req, seed) = (cx.req, cx.app.seed);
    // Only routes whose answer can vary count their answers; a fixed one costs nothing here.
    // The count also seeds the answer's generator under `--seed`, which the route's emits
    // draw from too.
    let seeded_emits = seed.is_some() && !route.emit.is_empty();
    let (n, rng) = if set.counted(seed.is_some()) || seeded_emits {
        // Boxed, as the other rare steps below: a held request (a long poll) keeps this
        // future, and these would make it larger for every route.
        let hit = Box::pin(cx.hit(route.key));
        let n = match hit.await {
            Ok(n) => n,
            Err(e) => return Outcome::answered(&route.source, e.error_response()),
        };
        (n, SeededRng::for_answer(seed, route.key, n).map(Arc::new))
    } else {
        (0, None)
    };
    // Only a negotiating route reads `Accept`: a lookup the others need not pay for.
    let accept = set
        .negotiates()
        .then(|| req.headers().get(header::ACCEPT))
        .flatten()
        .and_then(|v| v.to_str().ok());
    let answer: Result<(HttpResponse, Option<Fault>), ApiError> =
        match set.choose(accept, n, rng.as_deref()) {
            Ok(t) => {
                if let Some(d) = t.delay.and_then(|d| d.draw(rng.as_deref())) {
                    // The generator waits with the request: others drawing meanwhile leave it
                    // as it was.
                    actix_web::rt::time::sleep(d).await;
                }
                let ctx = t.reads.map(|parts| {
                    let params = route.pattern.params(&cx.segments);
                    template_context::for_response(
                        req,
                        cx.body,
                        &params,
                        parts,
                        rng.as_ref(),
                        extra,
                    )
                });
                respond(t, req, &route.source, cx.spec(), ctx.as_ref())
                    .await
                    .map(|res| (res, t.fault))
            }
            Err(e) => Err(e),
        };
    // A step is taken when the route answered as written; not when mockrig could not (a 406,
    // a template that failed). A `file:` that cannot be read is the route's answer going
    // wrong, not the request's: the step is taken, as it always was.
    let answered = match &answer {
        Ok(_) => true,
        Err(e) => matches!(e, ApiError::ResponseFile { .. }),
    };
    if answered
        && let Some(step) = &route.scenario
        && let Some(then) = &step.then
    {
        {
            let boxed = Box::pin(cx.step(step, then));
            boxed.await
        };
    }
    let (mut response, fault) = match answer {
        Ok(ok) => ok,
        Err(e) => (e.error_response(), None),
    };
    if set.negotiates() {
        response
            .headers_mut()
            .append(header::VARY, HeaderValue::from_static("Accept"));
    }
    if !route.emit.is_empty() {
        {
            let boxed = Box::pin(send_emits(cx, route, rng.as_ref()));
            boxed.await
        };
    }
    Outcome {
        fault,
        ..Outcome::answered(&route.source, response)
    }
}

/// Sends the route's emits (after it answered), with the request in their templates.
pub(crate) async fn send_emits(
    cx: &RequestContext<'_>,
    route: &CompiledRoute,
    rng: Option<&Arc<SeededRng>>,
) {
    if route.emit.is_empty() {
        return;
    }
    let params = route.pattern.params(&cx.segments);
    let ctx = template_context::request(cx.req, cx.body, params, RequestParts::ALL);
    for e in route.emit.iter() {
        let request_body = || -> Value { ctx["request"]["body"].clone() };
        emit(
            &cx.app.hub,
            &cx.spec().templates,
            e,
            &ctx,
            rng,
            request_body,
        )
        .await;
    }
}
