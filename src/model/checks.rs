//! Checks across items, after each item compiled on its own: two items that claim one path, an
//! `emit` to a channel nobody declared, and the warnings (a route that can never answer, a
//! static folder that would serve the spec or the state file, an emit whose templated target
//! can reach no channel). They take what compiling already parsed ([`Parsed`]) and read the
//! spec as written only for what did not compile, so an item that failed is still known here
//! by its path, and nothing is parsed or reported twice.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::spec::locate::{KeyPath, PLACE, Seg, at, index};
use crate::spec::{Method, Severity};
use crate::suggest::did_you_mean;
use crate::template::is_template;

use super::channel::{SseChannel, WsChannel};
use super::compiled::CompiledRoute;
use super::input::CompileInput;
use super::private::canonical;
use super::problems::Problems;
use super::resource::resource_path;
use super::router::{Pattern, Segment, request_segments};

/// What the compile pass made of the items, for the checks to read instead of parsing again.
pub(crate) struct Parsed<'a> {
    /// The stubs' and the spec's routes that compiled, stubs first, each with its key path.
    pub(crate) stubs: &'a [(KeyPath, CompiledRoute)],
    pub(crate) routes: &'a [(KeyPath, CompiledRoute)],
    pub(crate) ws: &'a [Arc<WsChannel>],
    pub(crate) sse: &'a [Arc<SseChannel>],
    /// Each static mount that compiled: its index in the file and its canonical folder.
    pub(crate) static_roots: &'a [(usize, PathBuf)],
}

/// Every check that needs more than one item, its problems added to `problems`.
pub(crate) fn across_items(input: &CompileInput<'_>, parsed: &Parsed<'_>, problems: &mut Problems) {
    duplicates(input, problems);
    emit_targets(input, parsed, problems);
    // A stub in front of a spec route overrides it on purpose: each list is checked alone.
    unreachable_routes(parsed.routes, problems);
    unreachable_routes(parsed.stubs, problems);
    served_secrets(input, parsed, problems);
}

fn duplicates(input: &CompileInput<'_>, problems: &mut Problems) {
    let spec = input.spec;
    let mut paths: Vec<(String, &str)> = Vec::new();
    for (name, r) in &spec.resources {
        let path = resource_path(name, r).trim_end_matches('/').to_owned();
        if let Some((_, first)) = paths.iter().find(|(p, _)| *p == path) {
            problems.value(
                at(&[], &["resources", name, "path"]),
                format!("'{path}' is already the path of resource '{first}'"),
            );
        }
        paths.push((path, name));
    }
    // The first item at each path: one lookup per item, not a scan of those before it.
    let mut first_at = |list: &'static str, paths: Vec<&str>, what: &str| {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (i, path) in paths.into_iter().enumerate() {
            let here = index(&[Seg::Key(list.into())], i);
            match seen.get(path) {
                Some(&first) => problems.referring(
                    at(&here, &["path"]),
                    format!("'{path}' is already {what}{PLACE}"),
                    index(&[Seg::Key(list.into())], first),
                    Severity::Error,
                ),
                None => {
                    seen.insert(path, i);
                }
            }
        }
    };
    first_at(
        "websockets",
        spec.websockets.iter().map(|w| w.path.as_str()).collect(),
        "",
    );
    first_at(
        "sse",
        spec.sse.iter().map(|s| s.path.as_str()).collect(),
        "",
    );
    first_at(
        "static",
        spec.statics.iter().map(|s| s.path.as_str()).collect(),
        "served by ",
    );
}

/// The declared channels of one kind: their paths as written and parsed.
struct Channels<'a> {
    kind: &'static str,
    paths: Vec<&'a str>,
    patterns: Vec<&'a Pattern>,
}

impl<'a> Channels<'a> {
    /// The channels that compiled, with their patterns; and the paths of those that did not
    /// (declared all the same: an emit to them is not dangling), parsed here, once.
    fn new(
        kind: &'static str,
        compiled: impl Iterator<Item = (&'a str, &'a Pattern)>,
        others: impl Iterator<Item = &'a str>,
        parsed_here: &'a mut Vec<Pattern>,
    ) -> Channels<'a> {
        let (mut paths, mut patterns): (Vec<&str>, Vec<&Pattern>) = compiled.unzip();
        let uncompiled: Vec<&str> = others.filter(|p| !paths.contains(p)).collect();
        parsed_here.extend(uncompiled.iter().filter_map(|p| Pattern::parse(p).ok()));
        paths.extend(uncompiled);
        patterns.extend(parsed_here.iter());
        Channels {
            kind,
            paths,
            patterns,
        }
    }

    fn hint(&self, path: &str) -> String {
        did_you_mean(path, &self.paths)
            .map(|p| format!(" (did you mean '{p}'?)"))
            .unwrap_or_default()
    }
}

/// An emit to a path no channel serves would reach no one, silently: a typo, or a pattern
/// (`/ws/rooms/{room}`) where a concrete path belongs. A templated target is known only when
/// it is sent; its fixed beginning is checked, as a warning.
fn emit_targets(input: &CompileInput<'_>, parsed: &Parsed<'_>, problems: &mut Problems) {
    let spec = input.spec;
    let unread = |kind: &'static str| {
        input
            .unread_channels
            .iter()
            .filter(move |(k, _)| *k == kind)
            .map(|(_, p)| p.as_str())
    };
    let (mut ws_here, mut sse_here) = (Vec::new(), Vec::new());
    let ws = Channels::new(
        "WebSocket channel",
        parsed.ws.iter().map(|w| (w.path.as_str(), &w.pattern)),
        spec.websockets
            .iter()
            .map(|w| w.path.as_str())
            .chain(unread("websockets")),
        &mut ws_here,
    );
    let sse = Channels::new(
        "SSE stream",
        parsed.sse.iter().map(|s| (s.path.as_str(), &s.pattern)),
        spec.sse
            .iter()
            .map(|s| s.path.as_str())
            .chain(unread("sse")),
        &mut sse_here,
    );
    let stubs = input.stubs.iter().map(|s| {
        (
            at(
                &index(&[Seg::Key("stubs".into())], s.id as usize),
                &["emit"],
            ),
            &s.route.emit,
        )
    });
    let routes = spec.routes.iter().enumerate().map(|(i, r)| {
        (
            at(&index(&[Seg::Key("routes".into())], i), &["emit"]),
            &r.emit,
        )
    });
    let resources = spec
        .resources
        .iter()
        .map(|(name, r)| (at(&[], &["resources", name, "emit"]), &r.emit));
    for (here, list) in stubs.chain(routes).chain(resources) {
        for (i, e) in list.iter().enumerate() {
            let (key, path, channels) = match (&e.websocket, &e.sse) {
                (Some(p), None) => ("websocket", p, &ws),
                (None, Some(p)) => ("sse", p, &sse),
                _ => continue,
            };
            let key = at(&index(&here, i), &[key]);
            if is_template(path) {
                templated_target(path, key, channels, problems);
            } else {
                concrete_target(path, key, channels, problems);
            }
        }
    }
}

fn concrete_target(path: &str, key: KeyPath, channels: &Channels<'_>, problems: &mut Problems) {
    if path.contains('{') {
        problems.value(
            key,
            format!(
                "'{path}' is a pattern; an emit goes to a concrete path (`/ws/rooms/a`, or a template: `/ws/rooms/{{{{ params.room }}}}`)"
            ),
        );
        return;
    }
    let segments = request_segments(path);
    if !channels
        .patterns
        .iter()
        .any(|p| p.explain_mismatch(&segments).is_none())
    {
        problems.value(
            key,
            format!(
                "no {} is declared at '{path}'{}",
                channels.kind,
                channels.hint(path)
            ),
        );
    }
}

/// The segments before the first templated one are fixed: when no channel starts with them,
/// the emit reaches no one whatever the template renders.
fn templated_target(path: &str, key: KeyPath, channels: &Channels<'_>, problems: &mut Problems) {
    let Some(first_template) = [path.find("{{"), path.find("{%")]
        .into_iter()
        .flatten()
        .min()
    else {
        return;
    };
    // Only whole segments before the template are fixed: `/ws/room-{{ x }}` fixes `/ws`.
    let fixed = &path[..first_template];
    let fixed = &fixed[..fixed.rfind('/').unwrap_or(0)];
    let segments = request_segments(fixed);
    let fits = |p: &&Pattern| {
        segments
            .iter()
            .enumerate()
            .all(|(i, s)| match p.segments.get(i) {
                Some(Segment::Static(t)) => t == s,
                Some(Segment::Param(_) | Segment::CatchAll(_)) => true,
                None => false,
            })
            || p.segments
                .iter()
                .take(segments.len())
                .any(|s| matches!(s, Segment::CatchAll(_)))
    };
    if !segments.is_empty() && !channels.patterns.iter().any(fits) {
        problems.warn(
            key,
            format!(
                "no {} starts with '{fixed}/', so '{path}' reaches no one{}",
                channels.kind,
                channels.hint(fixed)
            ),
        );
    }
}

/// A route after another with the same method and path and no condition never answers: the
/// first takes every request. (A `match:` or a scenario state on the first lets requests
/// through; a stub in front of a spec route overrides it on purpose.)
fn unreachable_routes(routes: &[(KeyPath, CompiledRoute)], problems: &mut Problems) {
    // Routes that take every request of their paths, by what those paths are: a lookup per
    // route, not a scan of all before it (10,000 routes would be 50 million comparisons).
    let mut takers: HashMap<String, Vec<(&KeyPath, Method, &str)>> = HashMap::new();
    for (here, r) in routes {
        let key = paths_key(&r.pattern);
        let shadowed_by = takers.get(&key).and_then(|list| {
            list.iter().find(|(_, method, _)| {
                *method == r.method
                    || *method == Method::Any
                    || (*method == Method::Get && r.method == Method::Head)
            })
        });
        if let Some((first, method, first_path)) = shadowed_by {
            problems.referring(
                at(here, &["path"]),
                format!(
                    "this route never answers: {PLACE} ({method} {first_path}) takes every \
                     request it would; give {PLACE} a `match:` that only some requests meet \
                     (`query: {{page: {{present: true}}}}`), or, for answers in turn, make \
                     them one route with `responses:` and `sequence:`"
                ),
                (*first).clone(),
                Severity::Warning,
            );
        }
        let waits_for_state = r.scenario.as_ref().is_some_and(|s| s.when.is_some());
        if r.matcher.is_none() && !waits_for_state {
            takers
                .entry(key)
                .or_default()
                .push((here, r.method, &r.path));
        }
    }
}

/// The same text for two patterns exactly when they fit the same paths
/// ([`Pattern::same_paths`]): parameters lose their names.
fn paths_key(p: &Pattern) -> String {
    let mut key = String::new();
    for s in &p.segments {
        key.push('/');
        match s {
            Segment::Static(text) => key.push_str(text),
            Segment::Param(_) => key.push_str("\0{}"),
            Segment::CatchAll(_) => key.push_str("\0{*}"),
        }
    }
    key
}

/// A static folder that holds the spec serves it to anyone who can reach the mock: the
/// routes, a token in a header. The files mockrig writes (state file, its log, the ready
/// file) are never served, but a folder of their own keeps them from being one rename away.
fn served_secrets(input: &CompileInput<'_>, parsed: &Parsed<'_>, problems: &mut Problems) {
    let spec_file = input.spec_file.and_then(canonical);
    for (i, dir) in parsed.static_roots {
        let Some(s) = input.spec.statics.get(*i) else {
            continue;
        };
        let here = || at(&index(&[Seg::Key("static".into())], *i), &["dir"]);
        if let Some(rel) = spec_file.as_ref().and_then(|f| f.strip_prefix(dir).ok()) {
            let url = format!(
                "{}/{}",
                s.path.trim_end_matches('/'),
                rel.to_string_lossy().replace('\\', "/")
            );
            problems.warn(
                here(),
                format!(
                    "'{}' holds the spec file, so anyone who can reach the mock reads it at {url}; serve a folder of its own",
                    s.dir
                ),
            );
        }
        for (what, file) in input.private.iter() {
            if file.starts_with(dir) {
                problems.warn(
                    here(),
                    format!(
                        "'{}' holds {what}: mockrig refuses to serve it, but keep it in a folder that is not served",
                        s.dir
                    ),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::compile::compile;
    use crate::model::input::CompileInput;
    use crate::model::testing::compile_yaml;
    use crate::spec::locate::display_path;

    fn problems(yaml: &str) -> Vec<(Severity, String, String)> {
        compile_yaml(yaml)
            .1
            .into_iter()
            .map(|p| {
                // The place a message names, as `model::build` writes it within one file.
                let place = p.refer.as_deref().map(display_path).unwrap_or_default();
                (
                    p.severity,
                    display_path(&p.path),
                    p.message.replace(PLACE, &place),
                )
            })
            .collect()
    }

    #[test]
    fn a_route_behind_an_unconditional_twin_is_a_warning() {
        let found = problems(
            "routes:
  - { path: '/users/{id}', response: { text: a } }
  - { method: GET, path: '/users/{name}', response: { text: b } }
  - { method: HEAD, path: '/users/{x}' }
  - { method: POST, path: '/users/{id}' }
  - { path: /a, match: { query: { x: '1' } } }
  - { path: /a }
",
        );
        let warned: Vec<&str> = found
            .iter()
            .filter(|p| p.0 == Severity::Warning)
            .map(|p| p.1.as_str())
            .collect();
        assert_eq!(warned, ["routes[1].path", "routes[2].path"], "{found:?}");
        assert!(
            found[0].2.contains("routes[0] (GET /users/{id})"),
            "{found:?}"
        );
    }

    #[test]
    fn the_paths_key_is_equal_exactly_when_the_patterns_fit_the_same_paths() {
        let patterns: Vec<Pattern> = [
            "/",
            "/users",
            "/users/{id}",
            "/users/{name}",
            "/users/{id}/posts",
            "/users/me",
            "/{a}/{b}",
            "/{a}/posts",
            "/files/{*rest}",
            "/files/{*path}",
            "/files/{x}",
        ]
        .iter()
        .map(|p| Pattern::parse(p).unwrap())
        .collect();
        for a in &patterns {
            for b in &patterns {
                assert_eq!(
                    paths_key(a) == paths_key(b),
                    a.same_paths(b),
                    "{a:?} / {b:?}"
                );
            }
        }
    }

    #[test]
    fn an_emit_to_a_near_channel_says_which_it_meant() {
        let found = problems(
            "websockets:
  - path: /ws/todos
  - path: '/ws/rooms/{room}'
routes:
  - path: /a
    emit:
      - { websocket: /ws/todo, text: x }
      - { websocket: '/ws/todo/{{ params.id }}', text: x }
      - { websocket: '/ws/rooms/{{ params.id }}', text: x }
",
        );
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[0].0, Severity::Error);
        assert!(
            found[0].2.ends_with("(did you mean '/ws/todos'?)"),
            "{found:?}"
        );
        assert_eq!(found[1].0, Severity::Warning);
        assert!(
            found[1]
                .2
                .starts_with("no WebSocket channel starts with '/ws/todo/'")
        );
    }

    #[test]
    fn an_emit_to_a_channel_that_failed_to_compile_is_not_dangling_too() {
        let found = problems(
            "websockets:
  - { path: /ws/a, replies: [ { regex: '(', send: { text: x } } ] }
routes:
  - { path: /a, emit: [ { websocket: /ws/a, text: x }, { websocket: /ws/b, text: x } ] }
",
        );
        let at: Vec<&str> = found.iter().map(|p| p.1.as_str()).collect();
        assert_eq!(
            at,
            [
                "websockets[0].replies[0].regex",
                "routes[0].emit[1].websocket"
            ],
            "{found:?}"
        );
    }

    #[test]
    fn a_static_folder_holding_the_spec_is_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let spec_file = root.join("api.yaml");
        std::fs::write(&spec_file, "").unwrap();
        let spec: crate::spec::Spec =
            serde_yaml::from_str("static:\n  - { path: /, dir: . }\n").unwrap();
        let (compiled, list, _) = compile(&CompileInput {
            spec: &spec,
            dir: &root,
            spec_file: Some(&spec_file),
            private: &crate::model::private::PrivateFiles::new([(
                "the state file",
                root.join("state.json").as_path(),
            )]),
            stubs: &[],
            unread_channels: &[],
            origins: &Default::default(),
            known_resources: &[],
            known_openapi: None,
            template_budget: crate::template::bounds::DEFAULT_BUDGET,
        });
        assert!(compiled.is_some(), "warnings do not stop a spec");
        let messages: Vec<&str> = list.iter().map(|p| p.message.as_str()).collect();
        assert_eq!(messages.len(), 2, "{messages:?}");
        assert!(messages[0].contains("the spec file") && messages[0].contains("at /api.yaml"));
        assert!(
            messages[1].contains("the state file") && messages[1].contains("refuses to serve it"),
            "{messages:?}"
        );
        assert!(
            compiled
                .unwrap()
                .private
                .which(&root.join("state.json"))
                .is_some()
        );
    }
}
