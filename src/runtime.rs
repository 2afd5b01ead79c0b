//! The compiled, immutable form of a spec that requests are served from: the path tree, each
//! route's conditions and its ready response. A reload builds a new one and swaps it in whole.

use std::path::{Path, PathBuf};

use actix_web::http::Method as HttpMethod;

use crate::files::resolve_inside;
use std::sync::Arc;

use crate::channels::{EmitDef, SseDef, WsDef};
use crate::cors::Cors;
use crate::matcher::Matcher;
use crate::progress::STARTED;
use crate::resources::http::Op;
use crate::resources::{ResourceDef, Store, Stores, SyncReport};
use crate::response::{Prepared, Responder, negotiate};
use crate::router::{Pattern, Router};
use crate::spec::duration::{self, Delay};
use crate::spec::{Loaded, Method, Spec};
use crate::template::functions::fnv1a;
use crate::template::{Builder, Templates};

/// One entry of the path tree: a spec route or a static folder.
#[derive(Debug)]
pub struct Entry {
    /// Where it comes from, e.g. `routes[3]` or `static[0]`; shown in logs and 404 reports.
    pub label: Arc<str>,
    pub method: Method,
    /// The path as written in the spec.
    pub path: String,
    pub pattern: Pattern,
    pub matcher: Option<Matcher>,
    pub action: Action,
    /// Messages to real-time subscribers once it has answered (successfully, for resources).
    pub emit: Arc<[EmitDef]>,
    /// The route's scenario step, if it has one.
    pub scenario: Option<Step>,
    /// A fingerprint of the route's definition: the key of its answer count, which a reload
    /// keeps exactly when the route is unchanged; 0 for a route whose answers never vary.
    pub key: u64,
}

/// A route's part in a scenario.
#[derive(Debug, Clone)]
pub struct Step {
    pub scenario: String,
    /// Matches only in this state.
    pub when: Option<String>,
    /// Moves there after answering.
    pub then: Option<String>,
}

#[derive(Debug)]
pub enum Action {
    Respond(Responder),
    /// An endpoint of the resource whose store is `runtime.stores[store]`.
    Resource {
        store: usize,
        op: Op,
        delay: Option<Delay>,
    },
    /// Files under `root` (canonical); the route's catch-all capture is the file's path.
    Static {
        root: PathBuf,
        delay: Option<Delay>,
    },
    /// The WebSocket channel `runtime.ws[i]`; a request that is no upgrade gets 426.
    WebSocket(usize),
    /// The SSE stream `runtime.sse[i]`.
    Sse(usize),
}

impl Entry {
    pub fn accepts(&self, method: &HttpMethod) -> bool {
        match self.method {
            Method::Any => true,
            Method::Get => method == HttpMethod::GET || method == HttpMethod::HEAD,
            m => m.as_str() == method.as_str(),
        }
    }
}

/// Everything needed to answer requests for one version of the spec.
pub struct Runtime {
    pub router: Router<usize>,
    pub entries: Vec<Entry>,
    /// The spec this was compiled from, kept to tell what a reload changed.
    pub spec: Spec,
    /// The spec's folder, to compile again with other runtime stubs.
    pub dir: PathBuf,
    /// Handles to the resources' data, which lives in [`Stores`] across reloads.
    pub stores: Vec<Arc<Store>>,
    pub ws: Vec<Arc<WsDef>>,
    pub sse: Vec<Arc<SseDef>>,
    /// Each resource's `emit`, by store index.
    pub resource_emit: Vec<Arc<[EmitDef]>>,
    /// Every template of the spec, compiled.
    pub templates: Templates,
    pub cors: Option<Cors>,
    /// The scenarios routes name, each with the states they mention (`started` first).
    pub scenarios: Vec<(String, Vec<String>)>,
}

impl Runtime {
    /// The WebSocket channel declared with `path`, as the current spec defines it.
    pub fn ws_channel(&self, path: &str) -> Option<&Arc<WsDef>> {
        self.ws.iter().find(|w| w.path == path)
    }

    pub fn sse_channel(&self, path: &str) -> Option<&Arc<SseDef>> {
        self.sse.iter().find(|s| s.path == path)
    }
}

impl Runtime {
    /// Compiles a loaded spec and brings `stores` in line with its resources. The spec's
    /// checks have passed, so an error here means a check is missing, and it is reported
    /// rather than served half-built.
    /// `stubs` are routes added at run time (`POST /__mockrig/routes`); they go in front of
    /// the spec's routes.
    pub fn compile(
        loaded: &Loaded,
        stores: &Stores,
        stubs: &[Stub],
    ) -> Result<(Runtime, SyncReport), String> {
        let spec = &loaded.spec;
        let default_delay = spec
            .server
            .delay
            .as_ref()
            .map(|d| duration::parse_delay(&d.0))
            .transpose()?;
        let cors = match &spec.server.cors {
            Some(c) => Cors::compile(c)?,
            None => None,
        };
        let mut scenarios: Vec<(String, Vec<String>)> = Vec::new();
        let mut router = Router::default();
        let mut entries = Vec::new();
        let mut templates = Builder::default();
        let emits = |list: &[crate::spec::Emit], t: &mut Builder, label: &str| {
            list.iter()
                .map(|e| EmitDef::compile(e, t))
                .collect::<Result<Arc<[EmitDef]>, String>>()
                .map_err(|e| format!("{label}.emit: {e}"))
        };
        let stub_routes = stubs.iter().map(|s| (format!("stubs[{}]", s.id), &s.route));
        let spec_routes = spec
            .routes
            .iter()
            .enumerate()
            .map(|(i, r)| (format!("routes[{i}]"), r));
        for (label, r) in stub_routes.chain(spec_routes) {
            let pattern = Pattern::parse(&r.path).map_err(|e| format!("{label}.path: {e}"))?;
            for response in r.all_responses() {
                if let Some(f) = &response.file {
                    resolve(&loaded.dir, f).map_err(|e| format!("{label}: {e}"))?;
                }
            }
            let responder = responder(r, &loaded.dir, default_delay, &mut templates)
                .map_err(|e| format!("{label}.{e}"))?;
            let matcher = r
                .matcher
                .as_ref()
                .map(Matcher::compile)
                .transpose()
                .map_err(|e| format!("{label}.match: {e}"))?;
            let emit = emits(&r.emit, &mut templates, &label)?;
            let scenario = r.scenario.as_ref().map(|name| Step {
                scenario: name.clone(),
                when: r.when.clone(),
                then: r.then.clone(),
            });
            if let Some(step) = &scenario {
                let states = match scenarios.iter_mut().find(|(n, _)| *n == step.scenario) {
                    Some((_, states)) => states,
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
            // Only a route whose answers can vary needs a count, and so a key for it: the
            // fingerprint of a route's whole definition is not free with 10,000 routes.
            let key = if responder.counted(true) {
                fnv1a(format!("{r:?}").as_bytes(), 0)
            } else {
                0
            };
            router.insert(&pattern, entries.len());
            entries.push(Entry {
                key,
                label: label.into(),
                method: r.method,
                path: r.path.clone(),
                pattern,
                matcher,
                action: Action::Respond(responder),
                emit,
                scenario,
            });
        }
        let mut ws = Vec::new();
        for (i, w) in spec.websockets.iter().enumerate() {
            let label = format!("websockets[{i}]");
            let def = WsDef::compile(w, &mut templates).map_err(|e| format!("{label}: {e}"))?;
            let pattern = Pattern::parse(&w.path).map_err(|e| format!("{label}.path: {e}"))?;
            router.insert(&pattern, entries.len());
            entries.push(Entry {
                label: label.into(),
                method: Method::Get,
                path: w.path.clone(),
                pattern,
                matcher: None,
                action: Action::WebSocket(ws.len()),
                emit: Arc::new([]),
                scenario: None,
                key: 0,
            });
            ws.push(Arc::new(def));
        }
        let mut sse = Vec::new();
        for (i, s) in spec.sse.iter().enumerate() {
            let label = format!("sse[{i}]");
            let def = SseDef::compile(s, &mut templates).map_err(|e| format!("{label}: {e}"))?;
            let pattern = Pattern::parse(&s.path).map_err(|e| format!("{label}.path: {e}"))?;
            router.insert(&pattern, entries.len());
            entries.push(Entry {
                label: label.into(),
                method: Method::Get,
                path: s.path.clone(),
                pattern,
                matcher: None,
                action: Action::Sse(sse.len()),
                emit: Arc::new([]),
                scenario: None,
                key: 0,
            });
            sse.push(Arc::new(def));
        }
        let defs = spec
            .resources
            .iter()
            .map(|(name, r)| {
                ResourceDef::compile(name, r, &loaded.dir)
                    .map_err(|e| format!("resources.{name}: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut resource_emit = Vec::new();
        for (i, def) in defs.iter().enumerate() {
            let label = format!("resources.{}", def.name);
            resource_emit.push(emits(&spec.resources[i].emit, &mut templates, &label)?);
            for (path, method, op) in resource_endpoints(&defs, i) {
                let pattern = Pattern::parse(&path)
                    .map_err(|e| format!("resources.{}.path: {e}", def.name))?;
                router.insert(&pattern, entries.len());
                entries.push(Entry {
                    label: format!("resources.{}", def.name).into(),
                    method,
                    path,
                    pattern,
                    matcher: None,
                    action: Action::Resource {
                        store: i,
                        op,
                        delay: default_delay,
                    },
                    // A write can land in another resource (`POST /users/1/posts`): its
                    // emits are the resource's, in `resource_emit`.
                    emit: Arc::new([]),
                    scenario: None,
                    key: 0,
                });
            }
        }
        for (i, s) in spec.statics.iter().enumerate() {
            let label = format!("static[{i}]");
            let root = resolve(&loaded.dir, &s.dir).map_err(|e| format!("{label}: {e}"))?;
            let prefix = s.path.trim_end_matches('/');
            // The folder itself (its index.html) and everything below it.
            for path in [
                if prefix.is_empty() {
                    "/".to_owned()
                } else {
                    prefix.to_owned()
                },
                format!("{prefix}/{{*path}}"),
            ] {
                let pattern = Pattern::parse(&path).map_err(|e| format!("{label}.path: {e}"))?;
                router.insert(&pattern, entries.len());
                entries.push(Entry {
                    label: label.as_str().into(),
                    method: Method::Get,
                    path,
                    pattern,
                    matcher: None,
                    action: Action::Static {
                        root: root.clone(),
                        delay: default_delay,
                    },
                    emit: Arc::new([]),
                    scenario: None,
                    key: 0,
                });
            }
        }
        // Last, so that a spec that fails to compile leaves the data as it was.
        let (stores, report) = stores.sync(&defs)?;
        Ok((
            Runtime {
                router,
                entries,
                spec: spec.clone(),
                dir: loaded.dir.clone(),
                stores,
                ws,
                sse,
                resource_emit,
                templates: templates.finish(),
                cors,
                scenarios,
            },
            report,
        ))
    }
}

/// A route's responses compiled: one, a sequence, or alternatives by `Accept`. Errors start
/// with the key they are about (`response.body: ...`).
fn responder(
    r: &crate::spec::Route,
    dir: &Path,
    default_delay: Option<Delay>,
    t: &mut Builder,
) -> Result<Responder, String> {
    if !r.responses.is_empty() {
        let list = r
            .responses
            .iter()
            .enumerate()
            .map(|(i, resp)| {
                Prepared::compile(resp, dir, default_delay, t, None)
                    .map_err(|e| format!("responses[{i}]: {e}"))
            })
            .collect::<Result<_, _>>()?;
        return Ok(Responder::Sequence {
            mode: r.sequence,
            list,
        });
    }
    if !r.content.is_empty() {
        let list = r
            .content
            .iter()
            .map(|(key, resp)| {
                let types = negotiate::media_types(key);
                let prepared = Prepared::compile(resp, dir, default_delay, t, Some(&types[0]))
                    .map_err(|e| format!("content.{key}: {e}"))?;
                Ok((types, prepared))
            })
            .collect::<Result<_, String>>()?;
        return Ok(Responder::Negotiate(list));
    }
    let default = crate::spec::Response::default();
    Prepared::compile(
        r.response.as_ref().unwrap_or(&default),
        dir,
        default_delay,
        t,
        None,
    )
    .map(Responder::One)
    .map_err(|e| format!("response: {e}"))
}

/// A route added at run time, with the id that removes it.
#[derive(Debug, Clone)]
pub struct Stub {
    pub id: u64,
    pub route: crate::spec::Route,
}

/// The endpoints of resource `i`: path, method and operation. Collections also get nested
/// endpoints for every other collection (`/users/{id}/posts`).
fn resource_endpoints(defs: &[ResourceDef], i: usize) -> Vec<(String, Method, Op)> {
    let def = &defs[i];
    let base = if def.path.is_empty() {
        "/".to_owned()
    } else {
        def.path.clone()
    };
    if def.singleton {
        return vec![
            (base.clone(), Method::Get, Op::SingletonGet),
            (base.clone(), Method::Put, Op::SingletonReplace),
            (base, Method::Patch, Op::SingletonPatch),
        ];
    }
    let item = format!("{}/{{id}}", def.path);
    let mut list = vec![
        (base.clone(), Method::Get, Op::List),
        (base, Method::Post, Op::Create),
        (item.clone(), Method::Get, Op::Get),
        (item.clone(), Method::Put, Op::Replace),
        (item.clone(), Method::Patch, Op::Patch),
        (item, Method::Delete, Op::Delete),
    ];
    for (j, child) in defs.iter().enumerate() {
        if j != i && !child.singleton {
            let nested = format!("{}/{{id}}/{}", def.path, child.name);
            list.push((nested.clone(), Method::Get, Op::ChildList { child: j }));
            list.push((nested, Method::Post, Op::ChildCreate { child: j }));
        }
    }
    list
}

fn resolve(dir: &Path, relative: &str) -> Result<PathBuf, String> {
    resolve_inside(dir, relative, "the spec's folder").map_err(|e| e.to_string())
}

/// The file a static folder serves for a request path below it, or `None` when there is none:
/// a folder serves its `index.html`.
pub fn static_file(root: &Path, relative: &str) -> Option<PathBuf> {
    let path = if relative.is_empty() {
        root.to_path_buf()
    } else {
        resolve_inside(root, relative, "the static folder").ok()?
    };
    if path.is_dir() {
        // Resolved like any other name, so an index.html symlinked outside is refused too.
        let index = resolve_inside(&path, "index.html", "the static folder").ok()?;
        return index.is_file().then_some(index);
    }
    path.is_file().then_some(path)
}
