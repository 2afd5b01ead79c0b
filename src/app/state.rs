//! What every worker shares: the live spec and everything that outlives a reload beside it.
//! Created once, outside actix's per-worker app factory, so every worker sees the same state.

use std::sync::Arc;

use crate::engine::channels::hub::Hub;
use crate::engine::journal::RequestJournal;
use crate::engine::journal::shared::SharedJournal;
use crate::engine::monitor::Monitor;
use crate::engine::recording::Recorder;
use crate::engine::resources::stores::Stores;
use crate::engine::route_state::RouteState;
use crate::engine::route_state::shared::SharedRouteState;
use crate::engine::sessions::Sessions;
use crate::engine::snapshot::LiveSnapshot;
use crate::engine::upstream::client::Upstream;

use super::admin::access::AdminAccess;
use super::config::Limits;
use super::live::{LiveSpec, SwapError};
use super::reload::Reloader;

/// The server's state, shared by every worker (actix `Data`): the live snapshot and what
/// outlives a reload beside it.
pub(crate) struct AppState {
    /// The snapshot requests are served from; changes to the spec replace it whole.
    pub(crate) snapshot: Arc<LiveSnapshot>,
    /// The spec's inputs (source, stubs) and the one way to change what `snapshot` serves.
    pub(crate) live_spec: Arc<LiveSpec>,
    /// Reads the spec file again on a save or `POST /__mockrig/reload`, and keeps the status.
    pub(crate) reloader: Arc<Reloader>,
    /// Resource data, beside the spec so it outlives reloads.
    pub(crate) stores: Arc<Stores>,
    /// Open WebSocket and SSE connections, across reloads.
    pub(crate) hub: Arc<Hub>,
    /// What the dashboard watches live: requests, reloads, route changes.
    pub(crate) monitor: Arc<Monitor>,
    /// The requests answered outside any session.
    pub(crate) journal: RequestJournal,
    /// `--state redis://`: the journal every replica writes, which the admin API reads.
    pub(crate) shared_journal: Option<SharedJournal>,
    /// The sessions `X-Mockrig-Session` named, each with its own data, counts and journal.
    pub(crate) sessions: Sessions,
    /// Answer counts and scenario states of requests outside sessions.
    pub(crate) route_state: RouteState,
    /// `--state redis://`: the counts, scenario states and stubs every replica shares.
    pub(crate) shared_state: Option<SharedRouteState>,
    /// The version of the shared stubs this replica serves (`app::shared`).
    pub(crate) stubs_seen: std::sync::atomic::AtomicU64,
    /// One read of the shared stubs at a time.
    pub(crate) stubs_refresh: tokio::sync::Mutex<()>,
    /// What one request may use (URL, headers, body, time).
    pub(crate) limits: Limits,
    /// Who may call the admin API.
    pub(crate) admin: AdminAccess,
    /// Whether saves of the spec are watched.
    pub(crate) watching: bool,
    /// `--seed`: random template values and choices reproducible from run to run.
    pub(crate) seed: Option<u64>,
    /// `--trust-forwarded`: links built from `X-Forwarded-*` / `Forwarded`, not the request's
    /// own `Host`.
    pub(crate) trust_forwarded: bool,
    /// The client proxied requests go out with (`proxy:`, `server.fallback`).
    pub(crate) upstream: Upstream,
    /// `--record` / `mockrig record`: proxied exchanges written as a spec.
    pub(crate) recorder: Option<Arc<Recorder>>,
}

impl AppState {
    /// Everything back to how the spec starts it: resource data to the seeds, the journal
    /// emptied, sequences and scenarios at their start, runtime stubs removed, every session
    /// dropped. (`POST /__mockrig/reset`.)
    pub(crate) fn reset_all(&self) -> Result<(), SwapError> {
        self.stores.reset(None)?;
        self.reset_all_but_data()
    }

    /// [`AppState::reset_all`] but the resource data (which shared data resets in Redis).
    pub(crate) fn reset_all_but_data(&self) -> Result<(), SwapError> {
        self.journal.clear();
        self.route_state.reset();
        self.sessions.clear();
        self.live_spec.clear_stubs()
    }
}
