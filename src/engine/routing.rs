//! Which route answers a request: the path tree gives the candidates most specific first, and
//! the first whose method, `match:` and scenario state hold takes it. A static folder takes a
//! request only when it has the file; otherwise the search goes on, as after an unmet `match`.

use std::borrow::Cow;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use actix_web::HttpRequest;
use actix_web::http::Method as HttpMethod;
use actix_web::http::header;
use serde_json::Value;

use super::route_state::RouteState;
use crate::files::resolve_inside;
use crate::model::compiled::{Action, CompiledRoute, CompiledSpec, ScenarioStep};
use crate::model::matcher::Parts;
use crate::model::private::PrivateFiles;
use crate::model::proxy::ProxyTarget;
use crate::model::router::request_segments;
use crate::spec::Method;

/// The route that takes a request.
pub(crate) struct RouteMatch<'s> {
    pub(crate) route: &'s CompiledRoute,
    /// For a static folder: the file it serves.
    pub(crate) file: Option<PathBuf>,
    /// The segments the route's first parameter captured (a resource's id).
    pub(crate) first_capture: Option<Range<usize>>,
}

/// The first route, most specific first, that takes this request.
pub(crate) fn find<'s>(
    spec: &'s CompiledSpec,
    method: &HttpMethod,
    segments: &[Cow<'_, str>],
    view: &impl Parts,
    state: &RouteState,
) -> Option<RouteMatch<'s>> {
    spec.router.find(segments, |ids, captures| {
        ids.iter().find_map(|&index| {
            let route = &spec.routes[index];
            if !route.accepts(method)
                || !route.matcher.as_ref().is_none_or(|m| m.matches(view))
                || !in_state(route, state)
            {
                return None;
            }
            // A document path with text around a parameter (`{Sid}.json`) routes as a plain
            // parameter; the text must fit as well.
            if let Action::OpenApi { op, .. } = &route.action
                && !op.affixes.is_empty()
                && op.path_values(segments).is_none()
            {
                return None;
            }
            let file = match &route.action {
                // A missing file falls through to less specific routes, like an unmet match.
                Action::Static { root, .. } => {
                    let rest = captures
                        .last()
                        .map(|r| segments[r.clone()].join("/"))
                        .unwrap_or_default();
                    Some(static_file(root, &rest, &spec.private)?)
                }
                _ => None,
            };
            Some(RouteMatch {
                route,
                file,
                first_capture: captures.first().cloned(),
            })
        })
    })
}

/// Whether the route's scenario (if any) is in the state it waits for.
pub(crate) fn in_state(route: &CompiledRoute, state: &RouteState) -> bool {
    match &route.scenario {
        Some(ScenarioStep {
            scenario,
            when: Some(when),
            ..
        }) => state.is_in(scenario, when),
        _ => true,
    }
}

/// Whether a route declared for OPTIONS answers this request itself (its `match` and scenario
/// state hold): then a CORS preflight is its to answer.
pub(crate) fn has_options_route(
    spec: &CompiledSpec,
    segments: &[Cow<'_, str>],
    view: &impl Parts,
    state: &RouteState,
) -> bool {
    spec.router
        .find(segments, |ids, _| {
            ids.iter()
                .any(|&id| {
                    let r = &spec.routes[id];
                    r.method == Method::Options
                        && r.matcher.as_ref().is_none_or(|m| m.matches(view))
                        && in_state(r, state)
                })
                .then_some(())
        })
        .is_some()
}

/// The file a static folder serves for a request path below it, or `None` when there is none:
/// a folder serves its `index.html`; the files mockrig writes are never served.
pub(crate) fn static_file(root: &Path, relative: &str, private: &PrivateFiles) -> Option<PathBuf> {
    let path = if relative.is_empty() {
        root.to_path_buf()
    } else {
        resolve_inside(root, relative, "the static folder").ok()?
    };
    let file = if path.is_dir() {
        // Resolved like any other name, so an index.html symlinked outside is refused too.
        resolve_inside(&path, "index.html", "the static folder").ok()?
    } else {
        path
    };
    (file.is_file() && private.which(&file).is_none()).then_some(file)
}

/// A GET asking to upgrade to a WebSocket, on a path with a WebSocket channel or a proxy (or
/// one only the fallback proxy takes): who takes it. Routing ends here for an upgrade, before
/// any body is read: an upgrade request has none to wait for.
pub(crate) fn websocket_upgrade<'s>(
    spec: &'s CompiledSpec,
    req: &HttpRequest,
) -> Option<Upgrade<'s>> {
    let upgrade = req
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if !upgrade || !spec.takes_upgrades || req.method() != HttpMethod::GET {
        return None;
    }
    let segments = request_segments(req.path());
    let found = spec.router.find(&segments, |ids, _| {
        ids.iter().find_map(|&id| {
            let route = &spec.routes[id];
            match &route.action {
                Action::WebSocket(_) => Some(Upgrade::Channel(
                    id,
                    Value::Object(route.pattern.params(&segments)),
                )),
                Action::Proxy(target) if route.accepts(&HttpMethod::GET) => {
                    Some(Upgrade::Proxy(Some(route), target))
                }
                _ => None,
            }
        })
    });
    found.or_else(|| {
        let target = spec.fallback.as_ref()?;
        // A path some route takes is that route's, even if it is no WebSocket.
        let taken = spec
            .router
            .find(&segments, |ids: &[usize], _| ids.first().copied());
        taken.is_none().then_some(Upgrade::Proxy(None, target))
    })
}

/// Whether the request asks to switch protocols (`Connection: upgrade` and an `Upgrade`):
/// actix then hands the rest of the connection over as its body.
pub(crate) fn asks_to_upgrade(req: &HttpRequest) -> bool {
    let h = req.headers();
    h.contains_key(header::UPGRADE)
        && h.get_all(header::CONNECTION)
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
}

/// Who takes a WebSocket upgrade.
pub(crate) enum Upgrade<'s> {
    /// The channel of route `.0`, with the path's captures.
    Channel(usize, Value),
    /// A proxying route (none: the fallback) and its backend.
    Proxy(Option<&'s CompiledRoute>, &'s Arc<ProxyTarget>),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::response::ResponseSet;
    use crate::model::testing::{FakeRequest, compile_yaml};

    const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

    proptest::proptest! {
        /// A spec compiled and served answers every route's own request with that route, as
        /// written: the compile pass keeps each route's method, path and status.
        #[test]
        fn every_route_answers_its_own_request_as_written(
            routes in proptest::collection::vec(
                (0..METHODS.len(), "[a-c]{1,3}(/[a-c]{1,3}){0,2}", 100u16..600),
                1..12,
            ),
        ) {
            let mut seen = std::collections::BTreeSet::new();
            let routes: Vec<_> = routes
                .into_iter()
                .filter(|(m, p, _)| seen.insert((*m, p.clone())))
                .collect();
            let yaml: String = std::iter::once("routes:\n".to_owned())
                .chain(routes.iter().map(|(m, p, s)| {
                    format!("  - {{ method: {}, path: /{p}, response: {{ status: {s} }} }}\n", METHODS[*m])
                }))
                .collect();
            let (spec, problems) = compile_yaml(&yaml);
            proptest::prop_assert!(problems.is_empty(), "{problems:?}");
            let spec = spec.unwrap();
            let state = RouteState::default();
            for (i, (m, p, status)) in routes.iter().enumerate() {
                let method = HttpMethod::from_bytes(METHODS[*m].as_bytes()).unwrap();
                let path = format!("/{p}");
                let segments = request_segments(&path);
                let found = find(&spec, &method, &segments, &FakeRequest::default(), &state);
                let found = found.expect("the route's own request finds a route");
                proptest::prop_assert_eq!(&*found.route.source, format!("routes[{i}]"));
                let Action::Respond(ResponseSet::One(t)) = &found.route.action else {
                    return Err(proptest::test_runner::TestCaseError::fail("not a response"));
                };
                proptest::prop_assert_eq!(t.status.as_u16(), *status);
            }
        }
    }

    #[test]
    fn a_static_folder_serves_its_files_and_its_index_only() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::create_dir(root.join("sub")).unwrap();
        std::fs::write(root.join("index.html"), "home").unwrap();
        std::fs::write(root.join("a.css"), "a").unwrap();
        std::fs::write(root.join("state.json"), "{}").unwrap();
        let private = PrivateFiles::new([("the state file", root.join("state.json").as_path())]);
        let file = |rel: &str| static_file(&root, rel, &private);
        assert_eq!(file(""), Some(root.join("index.html")));
        assert_eq!(file("a.css"), Some(root.join("a.css")));
        assert_eq!(file("sub"), None, "a folder without index.html");
        assert_eq!(file("../x"), None);
        assert_eq!(file("missing.js"), None);
        assert_eq!(file("state.json"), None, "the state file is never served");
    }
}
