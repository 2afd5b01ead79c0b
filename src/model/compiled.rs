//! The compiled spec: what requests are served from. Immutable once built; a reload builds a
//! new one and swaps it in whole, so a request always sees one consistent version.

use std::path::PathBuf;
use std::sync::Arc;

use actix_web::http::Method as HttpMethod;

use crate::duration::Delay;
use crate::spec::{self, Method};
use crate::template::TemplateSet;

use super::channel::{CompiledEmit, SseChannel, WsChannel};
use super::computed::Writes;
use super::cors::Cors;
use super::gate::Gate;
use super::matcher::Matcher;
use super::openapi::OpenApiModel;
use super::openapi::operation::Operation;
use super::private::PrivateFiles;
use super::proxy::ProxyTarget;
use super::resource::{Op, ResourceDef};
use super::response::ResponseSet;
use super::router::{Pattern, Router};
use crate::template::Template;

/// Everything needed to answer requests for one version of the spec.
pub(crate) struct CompiledSpec {
    /// Path → indexes into `routes`, most specific first.
    pub(crate) router: Router<usize>,
    /// Runtime stubs, then the spec's routes, channels, resource endpoints and static folders.
    pub(crate) routes: Vec<CompiledRoute>,
    pub(crate) ws: Vec<Arc<WsChannel>>,
    pub(crate) sse: Vec<Arc<SseChannel>>,
    /// In the spec's order; the engine keeps each one's data under the same index.
    pub(crate) resources: Vec<ResourceDef>,
    /// Each resource's `emit`, by resource index.
    pub(crate) resource_emit: Vec<Arc<[CompiledEmit]>>,
    /// Each resource's `new_id` and `computed`, by resource index.
    pub(crate) resource_writes: Vec<Arc<Writes>>,
    /// Each resource's `match:` and `otherwise:`, by resource index.
    pub(crate) resource_gate: Vec<Option<Arc<Gate>>>,
    /// Every template of the spec, compiled.
    pub(crate) templates: TemplateSet,
    pub(crate) cors: Option<Cors>,
    /// `server.fallback.proxy`: where requests nothing else takes are passed.
    pub(crate) fallback: Option<Arc<ProxyTarget>>,
    /// The OpenAPI document whose operations are among `routes`.
    pub(crate) openapi: Option<Arc<OpenApiModel>>,
    /// Whether any route takes a WebSocket upgrade (a channel, a proxy, the fallback): the
    /// others skip looking.
    pub(crate) takes_upgrades: bool,
    /// The scenarios routes name, each with the states they mention (`started` first).
    pub(crate) scenarios: Vec<(String, Vec<String>)>,
    /// How many of each kind the spec declares, for `/__mockrig/status`.
    pub(crate) counts: Counts,
    /// The files mockrig writes, which neither a static folder nor a `file:` serves.
    pub(crate) private: PrivateFiles,
}

/// How many routes, static folders, resources and channels a spec declares.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Counts {
    pub(crate) routes: usize,
    pub(crate) statics: usize,
    pub(crate) resources: usize,
    pub(crate) channels: usize,
}

impl CompiledSpec {
    /// The WebSocket channel declared with `path`, as this version defines it.
    pub(crate) fn ws_channel(&self, path: &str) -> Option<&Arc<WsChannel>> {
        self.ws.iter().find(|w| w.path == path)
    }

    /// The SSE stream declared with `path`, as this version defines it.
    pub(crate) fn sse_channel(&self, path: &str) -> Option<&Arc<SseChannel>> {
        self.sse.iter().find(|s| s.path == path)
    }
}

/// One entry of the path tree: a route of the spec or a stub, a channel, a resource endpoint
/// or a static folder.
#[derive(Debug)]
pub(crate) struct CompiledRoute {
    /// Where it comes from, e.g. `routes[3]` or `static[0]`; shown in logs and 404 reports.
    pub(crate) source: Arc<str>,
    pub(crate) method: Method,
    /// The path as written in the spec.
    pub(crate) path: String,
    pub(crate) pattern: Pattern,
    pub(crate) matcher: Option<Matcher>,
    pub(crate) action: Action,
    /// Messages to real-time subscribers once it has answered.
    pub(crate) emit: Arc<[CompiledEmit]>,
    /// The route's scenario step, if it has one.
    pub(crate) scenario: Option<ScenarioStep>,
    /// A fingerprint of the route's definition: the key of its answer count, which a reload
    /// keeps exactly when the route is unchanged; 0 for a route whose answers never vary.
    pub(crate) key: u64,
}

impl CompiledRoute {
    /// Whether the route takes requests with `method` (GET routes also answer HEAD).
    pub(crate) fn accepts(&self, method: &HttpMethod) -> bool {
        match self.method {
            Method::Any => true,
            // A contract that declares no HEAD does not offer one (Prism answers 405 too).
            Method::Get if matches!(self.action, Action::OpenApi { .. }) => {
                method == HttpMethod::GET
            }
            Method::Get => method == HttpMethod::GET || method == HttpMethod::HEAD,
            m => m.as_str() == method.as_str(),
        }
    }
}

/// A route's part in a scenario.
#[derive(Debug, Clone)]
pub(crate) struct ScenarioStep {
    pub(crate) scenario: String,
    /// Matches only in this state.
    pub(crate) when: Option<String>,
    /// Moves there after answering.
    pub(crate) then: Option<String>,
}

/// What a route does with a request. One variant per kind of answer; the request pipeline
/// has one module for each (`app::actions`).
#[derive(Debug)]
pub(crate) enum Action {
    /// Answer with one of the route's responses.
    Respond(ResponseSet),
    /// An endpoint of resource `resource` (an index into `resources`).
    Resource {
        resource: usize,
        op: Op,
        delay: Option<Delay>,
    },
    /// Files under `root` (canonical); the route's catch-all capture is the file's path.
    Static { root: PathBuf, delay: Option<Delay> },
    /// WebSocket channel `ws[i]`; a request that is no upgrade gets 426.
    WebSocket(usize),
    /// SSE stream `sse[i]`.
    Sse(usize),
    /// Passed to a backend.
    Proxy(Arc<ProxyTarget>),
    /// Long polling: held until an event on a topic, then answered.
    Wait(Box<WaitAction>),
    /// An operation of the OpenAPI document; with `openapi.resources`, one that is an
    /// endpoint of resource `resource.0` (an index into `resources`) once validated.
    OpenApi {
        op: Arc<Operation>,
        resource: Option<(usize, Op)>,
    },
}

/// A long-polling route: the topic it waits on, for how long, and its two answers.
#[derive(Debug)]
pub(crate) struct WaitAction {
    /// Rendered with the request's `params`.
    pub(crate) topic: Template,
    pub(crate) timeout: std::time::Duration,
    /// The route's responses, which see `event`, `event_id` and `events`.
    pub(crate) answer: ResponseSet,
    /// `on_timeout`, as a set of one.
    pub(crate) on_timeout: ResponseSet,
}

impl Action {
    /// A word for the kind of answer, as `/__mockrig/routes` lists it.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Action::Respond(_) => "route",
            Action::Resource { .. } => "resource",
            Action::Static { .. } => "static",
            Action::WebSocket(_) => "websocket",
            Action::Sse(_) => "sse",
            Action::Proxy(_) => "proxy",
            Action::Wait(_) => "wait",
            Action::OpenApi { .. } => "openapi",
        }
    }
}

/// A route added at run time (`POST /__mockrig/routes`), with the id that removes it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Stub {
    pub(crate) id: u64,
    pub(crate) route: spec::Route,
}
