//! An operation of the OpenAPI document: the request checked against it (credentials, then
//! parameters and body), then answered with the response it prefers, negotiated.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use serde_json::{Value, json};

use crate::app::context::RequestContext;
use crate::app::outcome::Outcome;
use crate::engine::openapi::answer::{self, Chosen, Preferences};
use crate::engine::openapi::validate::{self, Incoming, Refused};
use crate::engine::routing::RouteMatch;
use crate::model::openapi::operation::Operation;
use crate::model::resource::Op;
use crate::random::{SeededRng, with_rng};

/// Answers the request as the document's operation `op` describes; with `resource`, the
/// operation is that resource's endpoint, which answers once the request is valid.
pub(crate) async fn run(
    cx: &RequestContext<'_>,
    found: &RouteMatch<'_>,
    op: &Operation,
    resource: Option<(usize, Op)>,
) -> Outcome {
    let (req, route) = (cx.req, found.route);
    let query = req.query_string();
    let prefs = Preferences::read(
        req.headers()
            .get_all("prefer")
            .filter_map(|v| v.to_str().ok()),
        query,
    );
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    if op.validate {
        let raw = validate::raw_segments(req.path());
        let incoming = Incoming {
            segments: &raw,
            query,
            headers: req.headers(),
            body: cx.body,
        };
        let checked =
            validate::security(op, &incoming).and_then(|()| validate::check(op, &incoming));
        if let Err(refused) = checked {
            // A contract's answer holds no state: without Redis it still answers.
            let n = match cx.hit(route.key).await {
                Ok(n) => n,
                Err(_) => cx.route_state().hit(route.key),
            };
            let seeded = SeededRng::for_answer(cx.app.seed, route.key, n);
            let answer = with_rng(seeded.as_ref(), |rng| refusal(op, refused, &prefs, rng));
            return Outcome::answered(&route.source, answer);
        }
    }
    // A request that asks for one of the contract's answers by name gets it, even from a
    // collection served as a resource.
    let asks = prefs.code.is_some() || prefs.example.is_some();
    if let Some((index, res_op)) = resource
        && !asks
    {
        return super::resource::run(cx, found, index, res_op, None).await;
    }
    let n = match cx.hit(route.key).await {
        Ok(n) => n,
        Err(_) => cx.route_state().hit(route.key),
    };
    let seeded = SeededRng::for_answer(cx.app.seed, route.key, n);
    let chosen = with_rng(seeded.as_ref(), |rng| {
        answer::choose(op, &prefs, accept, rng)
    });
    Outcome::answered(&route.source, respond(op, chosen, accept))
}

/// The HTTP answer for what was chosen.
fn respond(op: &Operation, chosen: Chosen<'_>, accept: Option<&str>) -> HttpResponse {
    match chosen {
        Chosen::Answer {
            status,
            response,
            body,
        } => {
            let mut r = HttpResponse::build(status_code(status));
            for (name, value) in &response.headers {
                if let (Ok(n), Ok(v)) = (
                    HeaderName::try_from(name.as_str()),
                    HeaderValue::try_from(value.as_str()),
                ) {
                    r.insert_header((n, v));
                }
            }
            if response.contents.len() > 1 {
                r.insert_header((header::VARY, "Accept"));
            }
            match body {
                // A `*/*` media type names no type to send: text, as Prism sends it.
                Some((media, value)) => match answer::body_bytes(media, &value) {
                    Some(bytes) => r
                        .insert_header((
                            header::CONTENT_TYPE,
                            if media == "*/*" { "text/plain" } else { media },
                        ))
                        .body(bytes),
                    None => problem(
                        500,
                        &format!("the example is structured data, which {media} cannot carry"),
                        json!({ "operation": op.label }),
                    ),
                },
                None => r.finish(),
            }
        }
        Chosen::NotAcceptable(offered) => problem(
            406,
            "none of the operation's media types is acceptable",
            json!({ "accept": accept, "offered": offered, "operation": op.label }),
        ),
        Chosen::NoSuchStatus(code) => problem(
            404,
            &format!("the operation declares no response for status {code}"),
            json!({ "operation": op.label, "declared": declared(op) }),
        ),
        Chosen::NoSuchExample(name) => problem(
            404,
            &format!("the response has no example named '{name}'"),
            json!({ "operation": op.label }),
        ),
    }
}

/// The answer to a request the operation refuses: the document's own 401 (or 422, 400…)
/// when it declares one, else mockrig's: 401 with the challenges, or 400/415/422 with every
/// violation.
fn refusal(
    op: &Operation,
    refused: Refused,
    prefs: &Preferences,
    rng: &mut rand::rngs::StdRng,
) -> HttpResponse {
    let codes: &[u16] = match &refused {
        Refused::Unauthorized { .. } => &[401],
        Refused::Invalid { status: 415, .. } => &[415, 422, 400],
        Refused::Invalid { status: 400, .. } => &[400, 422],
        Refused::Invalid { .. } => &[422, 400],
    };
    // An example asked for by name applies only when the code asked for is this one.
    let example = prefs
        .example
        .as_deref()
        .filter(|_| prefs.code.is_some_and(|c| codes.contains(&c)));
    if let Some((status, response)) = answer::for_refusal(op, codes) {
        let chosen = answer::refusal(status, response, example, rng);
        let mut r = respond(op, chosen, None);
        if let Refused::Invalid { violations, .. } = &refused {
            // The document's answer says what the contract promises; the header says why.
            if let Ok(v) = HeaderValue::try_from(violation_summary(violations)) {
                r.headers_mut()
                    .insert(HeaderName::from_static("x-mockrig-violations"), v);
            }
        }
        return r;
    }
    match refused {
        Refused::Unauthorized { challenges } => {
            let mut r = problem(
                401,
                "the request lacks the credentials the operation's security requires",
                json!({ "operation": op.label }),
            );
            if !challenges.is_empty()
                && let Ok(v) = HeaderValue::try_from(challenges.join(","))
            {
                r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
            }
            r
        }
        Refused::Invalid { status, violations } => problem(
            status,
            "the request does not match the OpenAPI document",
            json!({ "operation": op.label, "violations": violations }),
        ),
    }
}

/// The violations in one line: `query/limit: …; body/name: …`.
fn violation_summary(violations: &[validate::Violation]) -> String {
    let line: String = violations
        .iter()
        .map(|v| format!("{}: {}", v.location, v.message))
        .collect::<Vec<_>>()
        .join("; ");
    line.chars()
        .filter(|c| c.is_ascii() && !c.is_ascii_control())
        .take(1024)
        .collect()
}

/// The statuses the operation declares, for a 404 that says what could be asked for.
fn declared(op: &Operation) -> Vec<String> {
    use crate::model::openapi::responses::StatusKey;
    op.responses
        .iter()
        .map(|r| match r.key {
            StatusKey::Code(c) => c.to_string(),
            StatusKey::Range(d) => format!("{d}XX"),
            StatusKey::Default => "default".into(),
        })
        .collect()
}

/// mockrig's JSON error body, with the fields of `more`, as an RFC 9457 problem document
/// (`title` and `status` beside mockrig's `error`): what Prism's users' clients parse.
fn problem(status: u16, message: &str, more: Value) -> HttpResponse {
    let mut body = json!({ "title": message, "status": status, "error": message });
    if let (Value::Object(b), Value::Object(m)) = (&mut body, more) {
        b.extend(m);
    }
    HttpResponse::build(status_code(status))
        .content_type("application/problem+json")
        .body(body.to_string())
}

fn status_code(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}
