//! Why no route took a request: 405 when the path exists for other methods, an automatic
//! answer to OPTIONS, else 404 with the routes that came closest and every criterion each one
//! failed. The same account goes into the journal (`/__mockrig/unmatched`).

use std::borrow::Cow;
use std::collections::BTreeSet;

use actix_web::HttpResponse;
use actix_web::http::Method as HttpMethod;
use actix_web::http::header;
use serde_json::{Value, json};

use super::route_state::RouteState;
use super::routing::in_state;
use crate::error::ApiError;
use crate::model::compiled::{Action, CompiledRoute, CompiledSpec};
use crate::model::matcher::Parts;
use crate::spec::Method;

/// How many near misses a 404 lists.
const NEAR_MISSES: usize = 3;

const METHOD_ORDER: [Method; 7] = [
    Method::Get,
    Method::Head,
    Method::Post,
    Method::Put,
    Method::Patch,
    Method::Delete,
    Method::Options,
];

/// The answer to a request no route took, and for the journal the nearest route and why it
/// missed.
pub(crate) fn no_match(
    spec: &CompiledSpec,
    method: &HttpMethod,
    path: &str,
    segments: &[Cow<'_, str>],
    view: &impl Parts,
    state: &RouteState,
    reload_error: Option<String>,
) -> (Result<HttpResponse, ApiError>, Option<Value>) {
    let mut allowed: BTreeSet<usize> = BTreeSet::new();
    let mut path_known = false;
    let mut method_known = false;
    spec.router.find::<()>(segments, |ids, _| {
        for &id in ids {
            let route = &spec.routes[id];
            path_known = true;
            method_known |= route.accepts(method);
            for (i, m) in METHOD_ORDER.iter().enumerate() {
                let implied = route.method == Method::Any
                    || route.method == *m
                    || (*m == Method::Head && route.accepts(&HttpMethod::HEAD));
                if implied {
                    allowed.insert(i);
                }
            }
        }
        None
    });
    allowed.insert(METHOD_ORDER.len() - 1);
    let allowed: Vec<&'static str> = allowed.iter().map(|&i| METHOD_ORDER[i].as_str()).collect();
    if path_known && method == HttpMethod::OPTIONS {
        let res = HttpResponse::NoContent()
            .insert_header((header::ALLOW, allowed.join(", ")))
            .finish();
        return (Ok(res), None);
    }
    let misses = near_misses(spec, method, path, segments, view, state);
    let nearest = misses.first().cloned();
    let error = if path_known && !method_known {
        ApiError::MethodNotAllowed {
            method: method.as_str().to_owned(),
            path: Some(path.to_owned()),
            allowed,
        }
    } else {
        ApiError::NoRoute {
            method: method.as_str().to_owned(),
            path: path.to_owned(),
            near_misses: misses,
            reload_error,
        }
    };
    (Err(error), nearest)
}

/// The routes closest to the request, each with every criterion it failed. This scans every
/// route, which is fine: it only runs for requests that are already going to get a 404.
pub(crate) fn near_misses(
    spec: &CompiledSpec,
    method: &HttpMethod,
    path: &str,
    segments: &[Cow<'_, str>],
    view: &impl Parts,
    state: &RouteState,
) -> Vec<Value> {
    let mut scored: Vec<(usize, usize, &str, Value)> = Vec::new();
    for (order, route) in spec.routes.iter().enumerate() {
        let (score, failed) = misses_of(route, method, path, segments, view, state);
        scored.push((
            score,
            order,
            &route.source,
            json!({
                "route": &*route.source,
                "method": route.method.as_str(),
                "path": route.path,
                "failed": failed,
            }),
        ));
    }
    scored.sort_by_key(|(score, order, ..)| (*score, *order));
    // A static folder has two entries (the folder and below it); report its closer one.
    let mut labels = BTreeSet::new();
    scored
        .into_iter()
        .filter(|s| labels.insert(s.2))
        .take(NEAR_MISSES)
        .map(|s| s.3)
        .collect()
}

/// How far `route` is from the request (lower is nearer) and each criterion it failed.
fn misses_of(
    route: &CompiledRoute,
    method: &HttpMethod,
    path: &str,
    segments: &[Cow<'_, str>],
    view: &impl Parts,
    state: &RouteState,
) -> (usize, Vec<Value>) {
    let mut failed = Vec::new();
    let mut score = 0;
    if !route.accepts(method) {
        score += 5;
        failed.push(json!({
            "criterion": "method",
            "expected": route.method.as_str(),
            "actual": method.as_str(),
        }));
    }
    if let Some(miss) = route.pattern.explain_mismatch(segments) {
        // A path that differs weighs more than any condition on the right path.
        score += 100 + route.pattern.distance(segments);
        failed.push(json!({
            "criterion": "path",
            "segment": miss.segment,
            "expected": miss.expected,
            "actual": miss.actual,
        }));
        return (score, failed);
    }
    if let Some(m) = &route.matcher {
        let fails = m.failures(view, usize::MAX);
        score += fails.len();
        failed.extend(fails.into_iter().map(|f| json!(f)));
    }
    if !in_state(route, state)
        && let Some(step) = &route.scenario
    {
        score += 1;
        failed.push(json!({
            "criterion": format!("scenario.{}", step.scenario),
            "expected": step.when,
            "actual": state.state(&step.scenario),
        }));
    }
    if let Action::Static { .. } = route.action {
        score += 1;
        failed.push(json!({
            "criterion": "file",
            "expected": "a file in the static folder",
            "actual": path,
        }));
    }
    (score, failed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::router::request_segments;
    use crate::model::testing::{FakeRequest as Fake, compile_yaml};

    fn spec(yaml: &str) -> CompiledSpec {
        compile_yaml(yaml).0.expect("a valid spec")
    }

    fn ranked(spec: &CompiledSpec, method: &str, path: &str, view: &Fake) -> Vec<String> {
        let method = HttpMethod::from_bytes(method.as_bytes()).unwrap();
        near_misses(
            spec,
            &method,
            path,
            &request_segments(path),
            view,
            &RouteState::default(),
        )
        .iter()
        .map(|m| m["route"].as_str().unwrap().to_owned())
        .collect()
    }

    #[test]
    fn a_failed_condition_on_the_right_path_ranks_before_a_typo_before_another_path() {
        let s = spec(
            "routes:
  - { path: /health }
  - { path: '/users/{id}', match: { headers: { x-api-key: secret } } }
  - { path: '/usres/{id}/posts' }
  - { method: POST, path: '/users/{id}' }
",
        );
        assert_eq!(
            ranked(&s, "GET", "/users/7", &Fake::default()),
            ["routes[1]", "routes[3]", "routes[2]"]
        );
        // A typo in the path is nearer than an unrelated path.
        assert_eq!(
            ranked(&s, "GET", "/usres/7", &Fake::default())[..2],
            ["routes[1]", "routes[3]"]
        );
    }

    #[test]
    fn every_failed_criterion_is_listed_with_expected_and_actual() {
        let s = spec(
            "routes:
  - path: /search
    match: { query: { q: rust, page: '2' }, body: { user: { name: ada } } }
",
        );
        let view = Fake {
            query: vec![("q".into(), "go".into())],
            json: Some(json!({"user": {"name": "bob"}})),
            ..Fake::default()
        };
        let method = HttpMethod::GET;
        let misses = near_misses(
            &s,
            &method,
            "/search",
            &request_segments("/search"),
            &view,
            &RouteState::default(),
        );
        let failed = &misses[0]["failed"];
        assert_eq!(
            failed,
            &json!([
                {"criterion": "query.q", "expected": "rust", "actual": "go"},
                {"criterion": "query.page", "expected": "2", "actual": null},
                {"criterion": "body.user.name", "expected": "ada", "actual": "bob"},
            ])
        );
    }

    #[test]
    fn a_known_path_with_another_method_is_405_with_allow() {
        let s = spec("routes:\n  - { path: /a }\n  - { method: DELETE, path: /a }\n");
        let segments = request_segments("/a");
        let state = RouteState::default();
        let (answer, nearest) = no_match(
            &s,
            &HttpMethod::PUT,
            "/a",
            &segments,
            &Fake::default(),
            &state,
            None,
        );
        match answer {
            Err(ApiError::MethodNotAllowed { allowed, .. }) => {
                assert_eq!(allowed, ["GET", "HEAD", "DELETE", "OPTIONS"])
            }
            other => panic!("{other:?}"),
        }
        assert!(nearest.is_some(), "the journal learns the nearest route");
        let (answer, _) = no_match(
            &s,
            &HttpMethod::OPTIONS,
            "/a",
            &segments,
            &Fake::default(),
            &state,
            None,
        );
        let res = answer.unwrap();
        assert_eq!(res.status(), 204);
        assert_eq!(
            res.headers().get(header::ALLOW).unwrap(),
            "GET, HEAD, DELETE, OPTIONS"
        );
    }
}
