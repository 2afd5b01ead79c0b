//! Checks that serde cannot make: HTTP status ranges, path patterns, durations, header syntax,
//! and files that must exist inside the spec's folder. Each problem names its key path so the
//! loader can point at the line.
//!
//! The checks are per item so that a spec with structural errors can still have its intact
//! items checked (see `load`).

use std::path::Path;

use actix_web::http::header::{HeaderName, HeaderValue};

use super::diagnose::{KeyPath, Seg};
use super::{
    Emit, Resource, Response, Route, ServerSettings, Spec, SseStream, StaticMount, WebSocket,
    WsMessage, duration, seed,
};
use crate::files::resolve_inside;
use crate::router::Pattern;

/// The URL prefix of mockrig's own endpoints; spec routes may not claim it.
pub const RESERVED_PREFIX: &str = "/__mockrig";

/// A problem found by a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: KeyPath,
    /// Point at the key itself rather than at its value.
    pub at_key: bool,
    pub message: String,
}

/// Where files named by the spec are looked up: the spec's folder, canonical.
pub struct Base<'a> {
    pub dir: &'a Path,
}

#[derive(Default)]
pub struct Problems {
    pub list: Vec<Problem>,
}

impl Problems {
    fn value(&mut self, path: KeyPath, message: impl Into<String>) {
        self.list.push(Problem {
            path,
            at_key: false,
            message: message.into(),
        });
    }

    fn key(&mut self, path: KeyPath, message: impl Into<String>) {
        self.list.push(Problem {
            path,
            at_key: true,
            message: message.into(),
        });
    }
}

fn at(base: &[Seg], more: &[&str]) -> KeyPath {
    let mut p = base.to_vec();
    p.extend(more.iter().map(|k| Seg::Key((*k).to_owned())));
    p
}

/// Every check over a whole spec.
pub fn validate(spec: &Spec, base: &Base<'_>) -> Vec<Problem> {
    let mut out = Problems::default();
    server(&spec.server, base, &mut out);
    for (i, s) in spec.statics.iter().enumerate() {
        static_mount(i, s, base, &mut out);
    }
    for (name, r) in &spec.resources {
        resource(name, r, base, &mut out);
    }
    let mut paths: Vec<(String, &str)> = Vec::new();
    for (name, r) in &spec.resources {
        let path = resource_path(name, r).trim_end_matches('/').to_owned();
        if let Some((_, first)) = paths.iter().find(|(p, _)| *p == path) {
            out.value(
                vec![
                    Seg::Key("resources".into()),
                    Seg::Key(name.clone()),
                    Seg::Key("path".into()),
                ],
                format!("'{path}' is already the path of resource '{first}'"),
            );
        }
        paths.push((path, name));
    }
    for (i, r) in spec.routes.iter().enumerate() {
        route(i, r, base, &mut out);
    }
    for (i, w) in spec.websockets.iter().enumerate() {
        websocket(i, w, &mut out);
        if let Some(first) = spec.websockets[..i].iter().position(|o| o.path == w.path) {
            out.value(
                vec![
                    Seg::Key("websockets".into()),
                    Seg::Index(i),
                    Seg::Key("path".into()),
                ],
                format!("'{}' is already websockets[{first}]", w.path),
            );
        }
    }
    for (i, s) in spec.sse.iter().enumerate() {
        sse(i, s, &mut out);
        if let Some(first) = spec.sse[..i].iter().position(|o| o.path == s.path) {
            out.value(
                vec![
                    Seg::Key("sse".into()),
                    Seg::Index(i),
                    Seg::Key("path".into()),
                ],
                format!("'{}' is already sse[{first}]", s.path),
            );
        }
    }
    emit_targets(spec, &mut out);
    for (i, s) in spec.statics.iter().enumerate() {
        if let Some(first) = spec.statics[..i].iter().position(|o| o.path == s.path) {
            out.value(
                vec![
                    Seg::Key("static".into()),
                    Seg::Index(i),
                    Seg::Key("path".into()),
                ],
                format!("'{}' is already served by static[{first}]", s.path),
            );
        }
    }
    out.list
}

pub fn server(s: &ServerSettings, base: &Base<'_>, out: &mut Problems) {
    if let Some(d) = &s.delay
        && let Err(e) = duration::parse_delay(&d.0)
    {
        out.value(at(&[], &["server", "delay"]), e);
    }
    if let Some(super::Cors::Detailed(c)) = &s.cors {
        cors(c, out);
    }
    if let Some(tls) = &s.tls {
        for (key, file) in [("cert", &tls.cert), ("key", &tls.key)] {
            match resolve_inside(base.dir, file, "the spec's folder") {
                Ok(p) if !p.is_file() => out.value(
                    at(&[], &["server", "tls", key]),
                    format!("'{file}' is not a file"),
                ),
                Ok(_) => {}
                Err(e) => out.value(at(&[], &["server", "tls", key]), e.to_string()),
            }
        }
    }
}

fn cors(c: &super::CorsPolicy, out: &mut Problems) {
    let key = |k: &str, i: usize| {
        let mut p = at(&[], &["server", "cors", k]);
        p.push(Seg::Index(i));
        p
    };
    for (i, o) in c.origins.iter().enumerate() {
        let origin_ok = o == "*"
            || o.split_once("://").is_some_and(|(scheme, host)| {
                matches!(scheme, "http" | "https")
                    && !host.trim_end_matches('/').is_empty()
                    && !host.trim_end_matches('/').contains(['/', ' ', '*'])
            });
        if !origin_ok {
            out.value(
                key("origins", i),
                format!(
                    "'{o}' is not an origin (scheme://host[:port], e.g. http://localhost:5173) or *"
                ),
            );
        }
    }
    for (i, m) in c.methods.iter().enumerate() {
        if actix_web::http::Method::from_bytes(m.as_bytes()).is_err() || m.is_empty() {
            out.value(key("methods", i), format!("'{m}' is not an HTTP method"));
        }
    }
    for (what, list) in [("headers", &c.headers), ("expose", &c.expose)] {
        for (i, h) in list.iter().enumerate() {
            if HeaderName::from_bytes(h.as_bytes()).is_err() {
                out.value(key(what, i), format!("'{h}' is not a header name"));
            }
        }
    }
}

pub fn static_mount(i: usize, s: &StaticMount, base: &Base<'_>, out: &mut Problems) {
    let here = vec![Seg::Key("static".into()), Seg::Index(i)];
    match Pattern::parse(&s.path) {
        Ok(p) if !p.is_static() => out.value(
            at(&here, &["path"]),
            format!("'{}' must be a plain prefix, without parameters", s.path),
        ),
        Ok(_) => reserved(&s.path, at(&here, &["path"]), out),
        Err(e) => out.value(at(&here, &["path"]), e),
    }
    match resolve_inside(base.dir, &s.dir, "the spec's folder") {
        Ok(dir) if !dir.is_dir() => {
            out.value(at(&here, &["dir"]), format!("'{}' is not a folder", s.dir))
        }
        Ok(_) => {}
        Err(e) => out.value(at(&here, &["dir"]), e.to_string()),
    }
}

/// Where a resource is served: its `path`, or `/` and its name.
pub fn resource_path(name: &str, r: &Resource) -> String {
    r.path.clone().unwrap_or_else(|| format!("/{name}"))
}

pub fn resource(name: &str, r: &Resource, base: &Base<'_>, out: &mut Problems) {
    let here = vec![Seg::Key("resources".into()), Seg::Key(name.to_owned())];
    let valid_name = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !valid_name {
        out.key(
            here.clone(),
            format!("'{name}' is not a resource name: use letters, digits, - and _"),
        );
    }
    let path = resource_path(name, r);
    match Pattern::parse(&path) {
        Ok(p) if !p.is_static() => out.value(
            at(&here, &["path"]),
            format!("'{path}' must be a plain path; the id segment is added by mockrig"),
        ),
        Ok(_) => reserved(&path, at(&here, &["path"]), out),
        Err(e) => out.value(at(&here, &["path"]), e),
    }
    if r.id.trim().is_empty() {
        out.value(at(&here, &["id"]), "the id field needs a name");
    }
    for (i, e) in r.emit.iter().enumerate() {
        emit(&at(&here, &["emit"]), i, e, RESOURCE_EMIT_NAMES, out);
    }
    if let Err(e) = seed::read(r, base.dir) {
        let key = if r.seed_file.is_some() {
            "seed_file"
        } else {
            "seed"
        };
        out.value(at(&here, &[key]), e);
    }
}

pub fn route(i: usize, r: &Route, base: &Base<'_>, out: &mut Problems) {
    let here = vec![Seg::Key("routes".into()), Seg::Index(i)];
    match Pattern::parse(&r.path) {
        Ok(_) => reserved(&r.path, at(&here, &["path"]), out),
        Err(e) => out.value(at(&here, &["path"]), e),
    }
    if let Some(m) = &r.matcher {
        for name in m.headers.keys() {
            if HeaderName::from_bytes(name.as_bytes()).is_err() {
                out.key(
                    at(&here, &["match", "headers", name]),
                    format!("'{name}' is not a valid header name"),
                );
            }
        }
    }
    let given: Vec<&str> = [
        ("response", r.response.is_some()),
        ("responses", !r.responses.is_empty()),
        ("content", !r.content.is_empty()),
    ]
    .iter()
    .filter(|k| k.1)
    .map(|k| k.0)
    .collect();
    for extra in given.iter().skip(1) {
        out.key(
            at(&here, &[extra]),
            format!(
                "a route has one of response, responses and content; {} is already given",
                given[0]
            ),
        );
    }
    if let Some(resp) = &r.response {
        response(&at(&here, &["response"]), resp, base, out);
        weight_only_in_random(&at(&here, &["response"]), resp, out);
    }
    for (j, resp) in r.responses.iter().enumerate() {
        let mut p = at(&here, &["responses"]);
        p.push(Seg::Index(j));
        response(&p, resp, base, out);
        if r.sequence != super::Sequence::Random {
            weight_only_in_random(&p, resp, out);
        } else if let Some(w) = resp.weight
            && !(w.is_finite() && w > 0.0)
        {
            out.value(at(&p, &["weight"]), "a weight must be a number above 0");
        }
    }
    let total: f64 = r.responses.iter().filter_map(|r| r.weight).sum();
    if r.sequence == super::Sequence::Random && !total.is_finite() {
        out.value(
            at(&here, &["responses"]),
            "the weights add up to more than a number can hold",
        );
    }
    if r.sequence != super::Sequence::Last && r.responses.is_empty() {
        out.key(
            at(&here, &["sequence"]),
            "sequence orders `responses:`; this route has none",
        );
    }
    for (key, resp) in &r.content {
        let p = at(&here, &["content", key]);
        if !crate::response::negotiate::is_valid_key(key) {
            let hint =
                super::diagnose::did_you_mean(key, &["json", "xml", "html", "text", "csv", "yaml"])
                    .map(|k| format!(", did you mean '{k}'?"))
                    .unwrap_or_default();
            out.key(
                p.clone(),
                format!("'{key}' is not a media type (type/subtype) or one of json, xml, html, text, csv, yaml{hint}"),
            );
        }
        response(&p, resp, base, out);
        weight_only_in_random(&p, resp, out);
    }
    if r.scenario.is_none() {
        for (key, v) in [("when", &r.when), ("then", &r.then)] {
            if v.is_some() {
                out.key(
                    at(&here, &[key]),
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
            out.value(at(&here, &[key]), "must not be empty");
        }
    }
    for (j, e) in r.emit.iter().enumerate() {
        emit(&at(&here, &["emit"]), j, e, ROUTE_EMIT_NAMES, out);
    }
}

fn weight_only_in_random(here: &[Seg], r: &Response, out: &mut Problems) {
    if r.weight.is_some() {
        out.key(
            at(here, &["weight"]),
            "weight picks among `responses:` with `sequence: random`",
        );
    }
}

fn channel_path(path: &str, key: KeyPath, out: &mut Problems) {
    match Pattern::parse(path) {
        Ok(_) => reserved(path, key, out),
        Err(e) => out.value(key, e),
    }
}

fn duration_at(d: &Option<super::DurationText>, key: KeyPath, out: &mut Problems) {
    if let Some(d) = d {
        match duration::parse(&d.0) {
            Ok(v) if v.is_zero() => out.value(key, "an interval must be longer than 0"),
            Ok(_) => {}
            Err(e) => out.value(key, e),
        }
    }
}

/// A text template: its syntax, and the names it reads (`known`: what its context has).
fn template(s: &str, key: KeyPath, known: &[&str], out: &mut Problems) {
    let mut b = crate::template::Builder::default();
    match b.text(s) {
        Ok(tpl) => unknown_names(&b, &tpl, key, known, out),
        Err(e) => out.value(key, e),
    }
}

/// Every templated string inside a JSON value, each reported at its own key.
fn templates_in(v: &serde_json::Value, key: KeyPath, known: &[&str], out: &mut Problems) {
    // Most bodies have no template: no key paths are built for them.
    if !crate::template::contains_template(v) {
        return;
    }
    match v {
        serde_json::Value::String(text) if crate::template::is_template(text) => {
            let mut b = crate::template::Builder::default();
            match b.json(v) {
                Ok(tpl) => unknown_names(&b, &tpl, key, known, out),
                Err(e) => out.value(key, e),
            }
        }
        serde_json::Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let mut k = key.clone();
                k.push(Seg::Index(i));
                templates_in(item, k, known, out);
            }
        }
        serde_json::Value::Object(m) => {
            for (name, item) in m {
                let mut k = key.clone();
                k.push(Seg::Key(name.clone()));
                templates_in(item, k, known, out);
            }
        }
        _ => {}
    }
}

fn unknown_names(
    b: &crate::template::Builder,
    tpl: &crate::template::Tpl,
    key: KeyPath,
    known: &[&str],
    out: &mut Problems,
) {
    for method in b.unknown_fake_methods(tpl) {
        let methods = crate::template::functions::FAKE_METHODS;
        let hint = super::diagnose::did_you_mean(&method, methods)
            .map(|k| format!(", did you mean '{k}'?"))
            .unwrap_or_default();
        out.value(
            key.clone(),
            format!(
                "template: fake has no '{method}' (it has {}){hint}",
                methods.join(", ")
            ),
        );
    }
    if known.contains(&"request") {
        let fields = crate::template::context::REQUEST_FIELDS;
        for field in b.unknown_fields(tpl, "request", fields) {
            let hint = super::diagnose::did_you_mean(&field, fields)
                .map(|k| format!(", did you mean '{k}'?"))
                .unwrap_or_default();
            out.value(
                key.clone(),
                format!(
                    "template: request has no '{field}' (it has {}){hint}",
                    fields.join(", ")
                ),
            );
        }
    }
    for name in b.unknown_names(tpl, known) {
        let hint = super::diagnose::did_you_mean(&name, known)
            .map(|k| format!(", did you mean '{k}'?"))
            .unwrap_or_default();
        out.value(
            key.clone(),
            format!(
                "template: unknown name '{name}' (here: {}, and the functions){hint}",
                known.join(", ")
            ),
        );
    }
}

/// What the templates of each place see.
const RESPONSE_NAMES: &[&str] = crate::response::TEMPLATE_NAMES;
const MESSAGE_NAMES: &[&str] = &["message", "params", "counter"];
const SSE_NAMES: &[&str] = &["request", "params", "counter"];
const ROUTE_EMIT_NAMES: &[&str] = &["request", "params"];
const RESOURCE_EMIT_NAMES: &[&str] = &["request", "params", "action", "resource", "record"];

fn message(here: &[Seg], m: &WsMessage, out: &mut Problems) {
    match (&m.text, &m.json) {
        (Some(_), Some(_)) => out.key(
            at(here, &["json"]),
            "a message is either text or json, not both",
        ),
        (None, None) => out.value(here.to_vec(), "a message needs text or json"),
        (Some(t), None) => template(t, at(here, &["text"]), MESSAGE_NAMES, out),
        (None, Some(j)) => templates_in(j, at(here, &["json"]), MESSAGE_NAMES, out),
    }
}

pub fn websocket(i: usize, w: &WebSocket, out: &mut Problems) {
    let here = vec![Seg::Key("websockets".into()), Seg::Index(i)];
    channel_path(&w.path, at(&here, &["path"]), out);
    for (j, m) in w.on_connect.iter().enumerate() {
        let mut p = at(&here, &["on_connect"]);
        p.push(Seg::Index(j));
        message(&p, m, out);
    }
    for (j, r) in w.replies.iter().enumerate() {
        let mut rp = at(&here, &["replies"]);
        rp.push(Seg::Index(j));
        let conditions = [r.text.is_some(), r.regex.is_some(), r.json.is_some()];
        if conditions.iter().filter(|c| **c).count() > 1 {
            out.value(
                rp.clone(),
                "a reply has one condition: match, regex or json",
            );
        }
        if let Some(re) = &r.regex
            && let Err(e) = regex::Regex::new(re)
        {
            // regex's own message draws a caret over several lines; ours already points.
            let e = e.to_string();
            let why = e
                .lines()
                .last()
                .unwrap_or_default()
                .trim_start_matches("error: ");
            out.value(
                at(&rp, &["regex"]),
                format!("not a regular expression: {why}"),
            );
        }
        for (k, m) in r.send.0.iter().enumerate() {
            let mut p = at(&rp, &["send"]);
            p.push(Seg::Index(k));
            message(&p, m, out);
        }
        if let Some(d) = &r.delay
            && let Err(e) = duration::parse(&d.0)
        {
            out.value(at(&rp, &["delay"]), e);
        }
    }
    if let Some(every) = &w.every {
        duration_at(
            &Some(every.interval.clone()),
            at(&here, &["every", "interval"]),
            out,
        );
        for (k, m) in every.send.0.iter().enumerate() {
            let mut p = at(&here, &["every", "send"]);
            p.push(Seg::Index(k));
            message(&p, m, out);
        }
    }
    if w.max_message_bytes == Some(0) {
        out.value(at(&here, &["max_message_bytes"]), "must be at least 1");
    }
    duration_at(&w.ping_interval, at(&here, &["ping_interval"]), out);
}

pub fn sse(i: usize, s: &SseStream, out: &mut Problems) {
    let here = vec![Seg::Key("sse".into()), Seg::Index(i)];
    channel_path(&s.path, at(&here, &["path"]), out);
    duration_at(&s.every, at(&here, &["every"]), out);
    duration_at(&s.keep_alive, at(&here, &["keep_alive"]), out);
    for (j, e) in s.events.iter().enumerate() {
        let mut p = at(&here, &["events"]);
        p.push(Seg::Index(j));
        sse_fields(&p, e.event.as_deref(), e.id.as_ref(), out);
        if let Some(d) = &e.data {
            templates_in(d, at(&p, &["data"]), SSE_NAMES, out);
        }
    }
}

/// `event` and `id` go on one line each: no line breaks.
fn sse_fields(
    here: &[Seg],
    event: Option<&str>,
    id: Option<&super::HeaderValues>,
    out: &mut Problems,
) {
    if event.is_some_and(|e| e.contains(['\n', '\r'])) {
        out.value(
            at(here, &["event"]),
            "an event type cannot contain a line break",
        );
    }
    if let Some(id) = id {
        if id.0.len() != 1 {
            out.value(at(here, &["id"]), "an id is one value");
        } else if id.0[0].contains(['\n', '\r', '\0']) {
            out.value(at(here, &["id"]), "an id cannot contain line breaks or NUL");
        }
    }
}

fn emit(base: &[Seg], i: usize, e: &Emit, known: &[&str], out: &mut Problems) {
    let mut here = base.to_vec();
    here.push(Seg::Index(i));
    match (&e.websocket, &e.sse) {
        (Some(_), Some(_)) => out.value(
            here.clone(),
            "an emit goes to one websocket or one sse path",
        ),
        (None, None) => out.value(
            here.clone(),
            "an emit needs a target: websocket: PATH or sse: PATH",
        ),
        _ => {}
    }
    let given: Vec<&str> = [
        ("json", e.json.is_some()),
        ("text", e.text.is_some()),
        ("data", e.data.is_some()),
    ]
    .iter()
    .filter(|k| k.1)
    .map(|k| k.0)
    .collect();
    if given.len() > 1 {
        out.key(
            at(&here, &[given[1]]),
            format!("an emit has one payload; {} is already given", given[0]),
        );
    }
    for (key, v) in [("json", &e.json), ("data", &e.data)] {
        if let Some(v) = v {
            templates_in(v, at(&here, &[key]), known, out);
        }
    }
    for (key, v) in [
        ("text", &e.text),
        ("websocket", &e.websocket),
        ("sse", &e.sse),
        ("event", &e.event),
    ] {
        if let Some(v) = v {
            template(v, at(&here, &[key]), known, out);
        }
    }
    if let Some(id) = e.id.as_ref().and_then(|id| id.0.first()) {
        template(id, at(&here, &["id"]), known, out);
    }
    if e.websocket.is_some() && (e.event.is_some() || e.id.is_some()) {
        out.value(here.clone(), "event and id belong to sse emits");
    }
    sse_fields(&here, e.event.as_deref(), e.id.as_ref(), out);
}

/// An emit to a path no channel serves would reach no one, silently: a typo, or a pattern
/// (`/ws/rooms/{room}`) where a concrete path belongs. Templated targets are known only when
/// they are sent.
fn emit_targets(spec: &Spec, out: &mut Problems) {
    let ws: Vec<Pattern> = spec
        .websockets
        .iter()
        .filter_map(|w| Pattern::parse(&w.path).ok())
        .collect();
    let sse: Vec<Pattern> = spec
        .sse
        .iter()
        .filter_map(|s| Pattern::parse(&s.path).ok())
        .collect();
    let routes = spec.routes.iter().enumerate().map(|(i, r)| {
        (
            vec![
                Seg::Key("routes".into()),
                Seg::Index(i),
                Seg::Key("emit".into()),
            ],
            &r.emit,
        )
    });
    let resources = spec.resources.iter().map(|(name, r)| {
        (
            vec![
                Seg::Key("resources".into()),
                Seg::Key(name.clone()),
                Seg::Key("emit".into()),
            ],
            &r.emit,
        )
    });
    for (here, list) in routes.chain(resources) {
        for (i, e) in list.iter().enumerate() {
            let (key, path, channels, kind) = match (&e.websocket, &e.sse) {
                (Some(p), None) => ("websocket", p, &ws, "WebSocket channel"),
                (None, Some(p)) => ("sse", p, &sse, "SSE stream"),
                _ => continue,
            };
            if crate::template::is_template(path) {
                continue;
            }
            let mut at_key = here.clone();
            at_key.push(Seg::Index(i));
            at_key.push(Seg::Key(key.into()));
            if path.contains('{') {
                out.value(
                    at_key,
                    format!(
                        "'{path}' is a pattern; an emit goes to a concrete path (`/ws/rooms/a`, or a template: `/ws/rooms/{{{{ params.room }}}}`)"
                    ),
                );
                continue;
            }
            let segments = crate::router::request_segments(path);
            if !channels
                .iter()
                .any(|p| p.explain_mismatch(&segments).is_none())
            {
                out.value(at_key, format!("no {kind} is declared at '{path}'"));
            }
        }
    }
}

fn reserved(path: &str, key: KeyPath, out: &mut Problems) {
    let p = path.trim_end_matches('/');
    if p == RESERVED_PREFIX || p.starts_with(&format!("{RESERVED_PREFIX}/")) {
        out.value(
            key,
            format!("'{path}' is under {RESERVED_PREFIX}/, which is reserved for mockrig's own endpoints"),
        );
    }
}

fn response(here: &[Seg], r: &Response, base: &Base<'_>, out: &mut Problems) {
    if !(100..=599).contains(&r.status) {
        out.value(
            at(here, &["status"]),
            format!("{} is not an HTTP status (100-599)", r.status),
        );
    }
    for (name, values) in &r.headers {
        if HeaderName::from_bytes(name.as_bytes()).is_err() {
            out.key(
                at(here, &["headers", name]),
                format!("'{name}' is not a valid header name"),
            );
        }
        for v in &values.0 {
            if crate::template::is_template(v) {
                template(v, at(here, &["headers", name]), RESPONSE_NAMES, out);
            } else if HeaderValue::from_str(v).is_err() {
                out.value(
                    at(here, &["headers", name]),
                    format!(
                        "{v:?} is not a valid header value (no control characters or newlines)"
                    ),
                );
            }
        }
    }
    let kinds = [
        ("body", r.body.is_some()),
        ("text", r.text.is_some()),
        ("file", r.file.is_some()),
    ];
    let given: Vec<&str> = kinds.iter().filter(|k| k.1).map(|k| k.0).collect();
    for extra in given.iter().skip(1) {
        out.key(
            at(here, &[extra]),
            format!(
                "a response has one of body, text or file; {} is already given",
                given[0]
            ),
        );
    }
    if let Some(file) = &r.file {
        match resolve_inside(base.dir, file, "the spec's folder") {
            Ok(p) if !p.is_file() => {
                out.value(at(here, &["file"]), format!("'{file}' is not a file"))
            }
            Ok(_) => {}
            Err(e) => out.value(at(here, &["file"]), e.to_string()),
        }
    }
    if let Some(d) = &r.delay
        && let Err(e) = duration::parse_delay(&d.0)
    {
        out.value(at(here, &["delay"]), e);
    }
    if let Some(t) = &r.throttle
        && let Err(e) = duration::parse_rate(t)
    {
        out.value(at(here, &["throttle"]), e);
    }
    if r.fault.is_some() && r.throttle.is_some() {
        out.key(
            at(here, &["throttle"]),
            "a response with a fault sends no body to throttle",
        );
    }
    if let Some(b) = &r.body {
        templates_in(b, at(here, &["body"]), RESPONSE_NAMES, out);
    }
    if let Some(t) = &r.text {
        template(t, at(here, &["text"]), RESPONSE_NAMES, out);
    }
}
