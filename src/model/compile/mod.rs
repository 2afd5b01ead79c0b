//! The one compile pass: a spec in, the serving model out, or every problem at once.
//!
//! Each part of the spec is parsed exactly once, here: path patterns, durations, templates,
//! regexes, header names, seeds, files. A part that has a problem is reported at its key path
//! and left out, and compiling goes on with the next, so one run finds everything. Checks that
//! look across items (duplicates, emits to channels, routes that can never answer) run last,
//! in `checks`. `mockrig check` compiles and discards; a reload compiles and swaps.

use std::sync::Arc;

use crate::duration;
use crate::files::resolve_inside;
use crate::hash::fnv1a;
use crate::spec::locate::{KeyPath, Problem, Seg, at, index};
use crate::spec::{self, Method};

use super::channel;
use super::checks;
use super::compiled::{Action, CompiledRoute, CompiledSpec, Counts, ScenarioStep, WaitAction};
use super::computed;
use super::gate;
use super::input::CompileInput;
use super::matcher::Matcher;
use super::openapi;
use super::pass::{CompilePass, RESOURCE_EMIT_NAMES, RESPONSE_NAMES, ROUTE_EMIT_NAMES, WAIT_NAMES};
use super::problems::{DocProblem, reserved};
use super::proxy;
use super::resource;
use super::response;
use super::router::{Pattern, Router};

/// The state every scenario starts in.
pub(crate) const STARTED: &str = "started";

/// Compiles a spec. The model comes back only when there is no error; the problems are
/// every error and warning found, by key path.
pub(crate) fn compile(
    input: &CompileInput<'_>,
) -> (Option<CompiledSpec>, Vec<Problem>, Vec<DocProblem>) {
    let spec = input.spec;
    let mut cx = CompilePass::new(input.dir, input.private, input.template_budget);
    let Server { cors, fallback } = server(&spec.server, &mut cx);
    let mut scenarios: Vec<(String, Vec<String>)> = Vec::new();
    let stubs = input.stubs.iter().map(|s| {
        let here = index(&[Seg::Key("stubs".into())], s.id as usize);
        (true, format!("stubs[{}]", s.id), here, &s.route)
    });
    let spec_routes = spec.routes.iter().enumerate().map(|(i, r)| {
        let here = index(&[Seg::Key("routes".into())], i);
        (false, input.label("routes", i), here, r)
    });
    // Stubs, then the spec's routes, each with its key path for the checks across items.
    let (mut stub_routes, mut spec_routes_compiled) = (Vec::new(), Vec::new());
    for (is_stub, label, here, r) in stubs.chain(spec_routes) {
        let list = if is_stub {
            &mut stub_routes
        } else {
            &mut spec_routes_compiled
        };
        if let Some(route) = route(r, &here, label, &mut cx) {
            if let Some(step) = &route.scenario {
                note_states(&mut scenarios, step);
            }
            list.push((here, route));
        }
    }
    // Channels, resources and static folders, behind the routes.
    let mut routes: Vec<CompiledRoute> = Vec::new();
    let mut ws = Vec::new();
    for (i, w) in spec.websockets.iter().enumerate() {
        let here = index(&[Seg::Key("websockets".into())], i);
        if let Some(def) = channel::websocket(w, &here, &mut cx) {
            routes.push(channel_route(
                input.label("websockets", i),
                &def.path,
                def.pattern.clone(),
                Action::WebSocket(ws.len()),
            ));
            ws.push(Arc::new(def));
        }
    }
    let mut sse = Vec::new();
    for (i, s) in spec.sse.iter().enumerate() {
        let here = index(&[Seg::Key("sse".into())], i);
        if let Some(def) = channel::sse(s, &here, &mut cx) {
            routes.push(channel_route(
                input.label("sse", i),
                &def.path,
                def.pattern.clone(),
                Action::Sse(sse.len()),
            ));
            sse.push(Arc::new(def));
        }
    }
    // The OpenAPI document, compiled before the resources: its collections may become some.
    let openapi = spec.openapi.as_ref().and_then(|o| {
        let mut found = Vec::new();
        let model =
            openapi::compile(o, cx.dir, input.known_openapi, &mut found).unwrap_or_else(|e| {
                cx.problems.value(at(&[], &["openapi", "file"]), e);
                None
            });
        cx.problems.documents(found);
        model
    });
    let mut resources = Vec::new();
    let mut resource_emit = Vec::new();
    let mut resource_writes = Vec::new();
    let mut resource_gate = Vec::new();
    for (name, r) in &spec.resources {
        let here = at(&[], &["resources", name]);
        let def = match input.known_resources.iter().find(|d| d.name == *name) {
            Some(known) => Some(known.clone()),
            None => resource::compile(name, r, cx.dir, &here, &mut cx.problems),
        };
        let emit = channel::emits(&r.emit, &at(&here, &["emit"]), RESOURCE_EMIT_NAMES, &mut cx);
        let writes = computed::compile(r, &here, &mut cx);
        let gate = gate::compile(r, &here, &mut cx);
        if let Some(def) = def {
            resources.push(def);
            resource_emit.push(Arc::from(emit));
            resource_writes.push(Arc::new(writes));
            resource_gate.push(gate);
        }
    }
    let spec_resources = resources.len();
    // The document's collections, unless the spec has a resource of that name: each is
    // answered through its operations (validated first), so it gets no endpoints of its own.
    let mut collection_index = Vec::new();
    for c in openapi.iter().flat_map(|m| &m.collections) {
        let here = at(&[], &["openapi", "resources"]);
        let known = input.known_resources.iter().find(|d| d.name == c.name);
        let def = if resources
            .iter()
            .any(|d: &resource::ResourceDef| d.name == c.name)
        {
            None
        } else if let Some(known) = known {
            Some(known.clone())
        } else {
            resource::compile(&c.name, &c.resource, cx.dir, &here, &mut cx.problems)
        };
        collection_index.push(def.as_ref().map(|_| resources.len()));
        if let Some(def) = def {
            resources.push(def);
            resource_emit.push(Arc::from(Vec::new()));
            resource_writes.push(Arc::default());
            resource_gate.push(None);
        }
    }
    for i in 0..spec_resources {
        for (path, method, op) in resource::endpoints(&resources[..spec_resources], i) {
            // The path was checked with the resource: it is plain text, so it parses.
            let Ok(pattern) = Pattern::parse(&path) else {
                continue;
            };
            routes.push(CompiledRoute {
                source: format!("resources.{}", resources[i].name).into(),
                method,
                path,
                pattern,
                matcher: None,
                action: Action::Resource {
                    resource: i,
                    op,
                    delay: cx.default_delay,
                },
                // A write can land in another resource (`POST /users/1/posts`): its emits
                // are the resource's, in `resource_emit`.
                emit: Arc::new([]),
                scenario: None,
                key: 0,
            });
        }
    }
    let mut static_roots = Vec::new();
    for (i, s) in spec.statics.iter().enumerate() {
        let mount = static_mount(i, input.label("static", i), s, &mut cx);
        if let Some(Action::Static { root, .. }) = mount.first().map(|r| &r.action) {
            static_roots.push((i, root.to_path_buf()));
        }
        routes.extend(mount);
    }
    // The document's operations, beneath everything the spec declares itself.
    for (i, op) in openapi.iter().flat_map(|m| m.operations.iter().enumerate()) {
        let resource = openapi
            .iter()
            .flat_map(|m| m.collections.iter().enumerate())
            .find_map(|(ci, c)| {
                let (_, res_op) = c.ops.iter().find(|(oi, _)| *oi == i)?;
                Some((collection_index[ci]?, *res_op))
            });
        routes.push(CompiledRoute {
            source: op.label.as_str().into(),
            method: op.method,
            path: op.path.clone(),
            pattern: op.pattern.clone(),
            matcher: None,
            action: Action::OpenApi {
                op: op.clone(),
                resource,
            },
            emit: Arc::new([]),
            scenario: None,
            // Answers vary with `--seed` and the count: keyed by the operation.
            key: fnv1a(op.label.as_bytes(), 0x0a91),
        });
    }
    let parsed = checks::Parsed {
        stubs: &stub_routes,
        routes: &spec_routes_compiled,
        ws: &ws,
        sse: &sse,
        static_roots: &static_roots,
    };
    checks::across_items(input, &parsed, &mut cx.problems);
    if cx.problems.has_errors() {
        let (problems, documents) = cx.problems.into_parts();
        return (None, problems, documents);
    }
    let routes: Vec<CompiledRoute> = stub_routes
        .into_iter()
        .chain(spec_routes_compiled)
        .map(|(_, r)| r)
        .chain(routes)
        .collect();
    let mut router = Router::default();
    for (i, r) in routes.iter().enumerate() {
        router.insert(&r.pattern, i);
    }
    let takes_upgrades = fallback.is_some()
        || routes
            .iter()
            .any(|r| matches!(r.action, Action::WebSocket(_) | Action::Proxy(_)));
    let compiled = CompiledSpec {
        takes_upgrades,
        router,
        routes,
        ws,
        sse,
        resources,
        resource_emit,
        resource_writes,
        resource_gate,
        templates: cx.templates.finish(),
        cors,
        fallback,
        openapi,
        scenarios,
        counts: Counts {
            routes: spec.routes.len(),
            statics: spec.statics.len(),
            resources: spec.resources.len(),
            channels: spec.websockets.len() + spec.sse.len(),
        },
        private: input.private.clone(),
    };
    let (problems, documents) = cx.problems.into_parts();
    (Some(compiled), problems, documents)
}

/// `server:`: the default delay, CORS, the TLS files and the fallback.
fn server(s: &spec::ServerSettings, cx: &mut CompilePass<'_>) -> Server {
    if let Some(d) = &s.delay {
        match duration::parse_delay(&d.0) {
            Ok(d) => cx.default_delay = Some(d),
            Err(e) => cx
                .problems
                .value(at(&[], &["server", "delay"]), e.to_string()),
        }
    }
    if let Some(tls) = &s.tls {
        for (key, file) in [("cert", &tls.cert), ("key", &tls.key)] {
            match resolve_inside(cx.dir, file, "the spec's folder") {
                Ok(p) if !p.is_file() => cx.problems.value(
                    at(&[], &["server", "tls", key]),
                    format!("'{file}' is not a file"),
                ),
                Ok(_) => {}
                Err(e) => cx
                    .problems
                    .value(at(&[], &["server", "tls", key]), e.to_string()),
            }
        }
    }
    let fallback = s.fallback.as_ref().and_then(|f| {
        let here = at(&[], &["server", "fallback", "proxy"]);
        proxy::compile(&f.proxy, &here, &[], &mut cx.problems).map(Arc::new)
    });
    Server {
        cors: s
            .cors
            .as_ref()
            .and_then(|c| super::cors::compile(c, &mut cx.problems)),
        fallback,
    }
}

/// What `server:` compiles to that requests are answered with.
struct Server {
    cors: Option<super::cors::Cors>,
    fallback: Option<Arc<proxy::ProxyTarget>>,
}

/// Compiles one route of the spec or a stub.
fn route(
    r: &spec::Route,
    here: &KeyPath,
    label: String,
    cx: &mut CompilePass<'_>,
) -> Option<CompiledRoute> {
    let mark = cx.problems.mark();
    let pattern = match Pattern::parse(&r.path) {
        Ok(p) => {
            reserved(&r.path, at(here, &["path"]), &mut cx.problems);
            Some(p)
        }
        Err(e) => {
            cx.problems.value(at(here, &["path"]), e.to_string());
            None
        }
    };
    let matcher = r
        .matcher
        .as_ref()
        .and_then(|m| Matcher::compile_at(m, &at(here, &["match"]), &mut cx.problems));
    let action = match (&r.proxy, &r.wait) {
        (Some(_), Some(_)) => {
            cx.problems.key(
                at(here, &["wait"]),
                "a route proxies or waits for an event, not both",
            );
            None
        }
        (None, Some(w)) => wait(r, w, here, cx).map(|w| Action::Wait(Box::new(w))),
        (Some(p), None) => {
            for (key, given) in [
                ("response", r.response.is_some()),
                ("responses", !r.responses.is_empty()),
                ("content", !r.content.is_empty()),
            ] {
                if given {
                    cx.problems.key(
                        at(here, &[key]),
                        format!("a route answers with proxy or with {key}, not both"),
                    );
                }
            }
            let captures: Vec<&str> = pattern.iter().flat_map(|p| p.captures()).collect();
            proxy::compile(p, &at(here, &["proxy"]), &captures, &mut cx.problems)
                .map(|t| Action::Proxy(Arc::new(t)))
        }
        (None, None) => response::compile_set(r, here, cx).map(Action::Respond),
    };
    if r.scenario.is_none() {
        for (key, v) in [("when", &r.when), ("then", &r.then)] {
            if v.is_some() {
                cx.problems.key(
                    at(here, &[key]),
                    format!("{key} needs a scenario: on the route"),
                );
            }
        }
    }
    for (key, v) in [
        ("scenario", &r.scenario),
        ("when", &r.when),
        ("then", &r.then),
    ] {
        if v.as_deref().is_some_and(|v| v.trim().is_empty()) {
            cx.problems.value(at(here, &[key]), "must not be empty");
        }
    }
    let emit = channel::emits(&r.emit, &at(here, &["emit"]), ROUTE_EMIT_NAMES, cx);
    if cx.problems.failed_since(mark) {
        return None;
    }
    let action = action?;
    // Only a route whose answers can vary (or whose emits may draw random values under
    // `--seed`) needs a count, and so a key for it: the fingerprint of a route's whole
    // definition is not free with 10,000 routes.
    let varies = match &action {
        Action::Respond(set) => set.counted(true),
        Action::Wait(w) => w.answer.counted(true),
        _ => false,
    };
    let key = if varies || !emit.is_empty() {
        fnv1a(format!("{r:?}").as_bytes(), 0)
    } else {
        0
    };
    Some(CompiledRoute {
        source: label.into(),
        method: r.method,
        path: r.path.clone(),
        pattern: pattern?,
        matcher,
        action,
        emit: Arc::from(emit),
        scenario: r.scenario.as_ref().map(|name| ScenarioStep {
            scenario: name.clone(),
            when: r.when.clone(),
            then: r.then.clone(),
        }),
        key,
    })
}

/// A long-polling route: its topic, timeout and two answers.
fn wait(
    r: &spec::Route,
    w: &spec::Wait,
    here: &KeyPath,
    cx: &mut CompilePass<'_>,
) -> Option<WaitAction> {
    let mark = cx.problems.mark();
    let wait_here = at(here, &["wait"]);
    let topic = cx.text(&w.topic, at(&wait_here, &["topic"]), RESPONSE_NAMES);
    if w.topic.trim().is_empty() {
        cx.problems
            .value(at(&wait_here, &["topic"]), "name the topic to wait on");
    }
    let timeout = match &w.timeout {
        None => DEFAULT_WAIT,
        Some(t) => match duration::parse(&t.0) {
            Ok(d) if d.is_zero() => {
                cx.problems
                    .value(at(&wait_here, &["timeout"]), "must be more than 0");
                DEFAULT_WAIT
            }
            Ok(d) => d,
            Err(e) => {
                cx.problems
                    .value(at(&wait_here, &["timeout"]), e.to_string());
                DEFAULT_WAIT
            }
        },
    };
    let on_timeout = match &w.on_timeout {
        Some(resp) => response::compile_one(resp, &at(&wait_here, &["on_timeout"]), cx),
        None => response::compile_one(
            &spec::Response {
                status: 204,
                ..spec::Response::default()
            },
            &wait_here,
            cx,
        ),
    };
    cx.response_names = WAIT_NAMES;
    let answer = response::compile_set(r, here, cx);
    cx.response_names = RESPONSE_NAMES;
    if cx.problems.failed_since(mark) {
        return None;
    }
    Some(WaitAction {
        topic: topic?,
        timeout,
        answer: answer?,
        on_timeout: response::ResponseSet::One(on_timeout?),
    })
}

/// How long a long-polling route holds a request when its `wait` says nothing: below the 60 s
/// that proxies and browsers commonly allow an idle request.
const DEFAULT_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Adds the states a route's step mentions to its scenario's list.
fn note_states(scenarios: &mut Vec<(String, Vec<String>)>, step: &ScenarioStep) {
    let states = match scenarios.iter_mut().position(|(n, _)| *n == step.scenario) {
        Some(i) => &mut scenarios[i].1,
        None => {
            scenarios.push((step.scenario.clone(), vec![STARTED.to_owned()]));
            &mut scenarios.last_mut().expect("just pushed").1
        }
    };
    for s in step.when.iter().chain(&step.then) {
        if !states.contains(s) {
            states.push(s.clone());
        }
    }
}

fn channel_route(label: String, path: &str, pattern: Pattern, action: Action) -> CompiledRoute {
    CompiledRoute {
        source: label.into(),
        method: Method::Get,
        path: path.to_owned(),
        pattern,
        matcher: None,
        action,
        emit: Arc::new([]),
        scenario: None,
        key: 0,
    }
}

/// `static[i]`: the folder itself (its index.html) and everything below it.
fn static_mount(
    i: usize,
    label: String,
    s: &spec::StaticMount,
    cx: &mut CompilePass<'_>,
) -> Vec<CompiledRoute> {
    let here = index(&[Seg::Key("static".into())], i);
    let mark = cx.problems.mark();
    match Pattern::parse(&s.path) {
        Ok(p) if !p.is_static() => cx.problems.value(
            at(&here, &["path"]),
            format!("'{}' must be a plain prefix, without parameters", s.path),
        ),
        Ok(_) => reserved(&s.path, at(&here, &["path"]), &mut cx.problems),
        Err(e) => cx.problems.value(at(&here, &["path"]), e.to_string()),
    }
    let root = match resolve_inside(cx.dir, &s.dir, "the spec's folder") {
        Ok(dir) if !dir.is_dir() => {
            cx.problems
                .value(at(&here, &["dir"]), format!("'{}' is not a folder", s.dir));
            None
        }
        Ok(dir) => Some(dir),
        Err(e) => {
            cx.problems.value(at(&here, &["dir"]), e.to_string());
            None
        }
    };
    let Some(root) = root.filter(|_| !cx.problems.failed_since(mark)) else {
        return Vec::new();
    };
    let label: Arc<str> = label.into();
    let prefix = s.path.trim_end_matches('/');
    let folder = if prefix.is_empty() {
        "/".to_owned()
    } else {
        prefix.to_owned()
    };
    [folder, format!("{prefix}/{{*path}}")]
        .into_iter()
        .filter_map(|path| {
            let pattern = Pattern::parse(&path).ok()?;
            Some(CompiledRoute {
                source: label.clone(),
                method: Method::Get,
                path,
                pattern,
                matcher: None,
                action: Action::Static {
                    root: root.clone(),
                    delay: cx.default_delay,
                },
                emit: Arc::new([]),
                scenario: None,
                key: 0,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests;
