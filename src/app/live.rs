//! The spec being served and the two ways it changes: a new source from disk (a reload) and
//! new runtime stubs (`POST /__mockrig/routes`). Either way the inputs are compiled whole
//! (`model::build`), the resources' stores brought in line, and the new snapshot swapped in
//! with one store; on any error nothing changes. One change at a time: the inputs' lock is
//! held from compile to swap, so two changes cannot store out of order.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::engine::channels::hub::Hub;
use crate::engine::monitor::Monitor;
use crate::engine::resources::stores::{Stores, SyncReport};
use crate::engine::resources::wal::WalError;
use crate::engine::snapshot::{LiveSnapshot, Snapshot};
use crate::model::build::{Built, Known, build};
use crate::model::compiled::Stub;
use crate::model::private::PrivateFiles;
use crate::spec::include::parse_source;
use crate::spec::load::{Parsed, SpecSource};
use crate::spec::places::{Place, places};
use crate::spec::{Route, Severity, Spec, SpecReport};
use crate::sync::lock;

use super::changes::{RouteChanges, describe_changes};

/// Why a change was not made. The snapshot serving before goes on serving.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SwapError {
    /// The spec (or, for `stubs`, the stubs) has errors.
    #[error("{0}")]
    Spec(SpecReport),
    /// Runtime stubs have errors: one line each, by key path.
    #[error("{}", .0.join("; "))]
    Stubs(Vec<String>),
    /// The resources' new state could not be saved to the state file.
    #[error("{0}")]
    State(#[from] WalError),
}

/// What a successful change did.
pub(crate) struct Swapped {
    /// What the new spec has that the old had not (for a reload's log line).
    pub(crate) changes: String,
    /// The warnings of the spec file.
    pub(crate) warnings: SpecReport,
    /// The stubs' warnings, one line each.
    pub(crate) stub_warnings: Vec<String>,
    pub(crate) resources: SyncReport,
    /// The routes a reload added, changed and removed (none for a change of the stubs).
    pub(crate) route_changes: RouteChanges,
}

struct Inputs {
    source: SpecSource,
    parsed: Parsed,
    stubs: Vec<Stub>,
    /// The id the next stub gets.
    next_stub: u64,
}

/// The one way to change what is served: a reload, a stub added or removed. Each compiles
/// the spec with its stubs, brings the stores in line and swaps the snapshot whole, under one
/// lock, so two changes never interleave.
pub(crate) struct LiveSpec {
    snapshot: Arc<LiveSnapshot>,
    stores: Arc<Stores>,
    hub: Arc<Hub>,
    /// Told of every swap, for the dashboard.
    monitor: Arc<Monitor>,
    /// The files mockrig writes, never served.
    private: PrivateFiles,
    /// `--max-template-bytes`.
    template_budget: usize,
    inputs: Mutex<Inputs>,
}

/// The first spec, compiled and not yet serving ([`LiveSpec::compile_first`]).
pub(crate) struct FirstBuild {
    source: SpecSource,
    parsed: Parsed,
    built: Built,
    private: PrivateFiles,
    template_budget: usize,
}

impl LiveSpec {
    /// Compiles the first spec, before anything else is opened: a spec that does not compile
    /// leaves no state file or log behind.
    pub(crate) fn compile_first(
        source: SpecSource,
        private: PrivateFiles,
        template_budget: usize,
    ) -> Result<FirstBuild, SwapError> {
        let parsed = parse_source(&source);
        let built = build(
            &source,
            &parsed,
            &[],
            &private,
            Known::default(),
            template_budget,
        );
        if built.compiled.is_none() {
            return Err(SwapError::Spec(built.report));
        }
        Ok(FirstBuild {
            source,
            parsed,
            built,
            private,
            template_budget,
        })
    }

    /// Serves the first spec with the data in `stores`. Nothing serves yet, so nothing is
    /// swapped.
    pub(crate) fn start(
        first: FirstBuild,
        stores: Arc<Stores>,
        hub: Arc<Hub>,
        monitor: Arc<Monitor>,
    ) -> Result<(LiveSpec, Swapped), SwapError> {
        let FirstBuild {
            source,
            parsed,
            built,
            private,
            template_budget,
        } = first;
        let summary = built.summary(&parsed.spec);
        let (snapshot, swapped) = finish(built, &stores, summary)?;
        let live = LiveSpec {
            snapshot: Arc::new(LiveSnapshot::from_pointee(snapshot)),
            stores,
            hub,
            monitor,
            private,
            template_budget,
            inputs: Mutex::new(Inputs {
                source,
                parsed,
                stubs: Vec::new(),
                next_stub: 1,
            }),
        };
        Ok((live, swapped))
    }

    /// Who is told of reloads and swaps.
    pub(crate) fn monitor(&self) -> &Arc<Monitor> {
        &self.monitor
    }

    /// The cell requests load the serving snapshot from.
    pub(crate) fn snapshot(&self) -> &Arc<LiveSnapshot> {
        &self.snapshot
    }

    /// The files of the OpenAPI document now serving (none without one).
    pub(crate) fn document_files(&self) -> Vec<std::path::PathBuf> {
        let serving = self.snapshot.load();
        serving
            .spec
            .openapi
            .as_ref()
            .map(|o| o.files.clone())
            .unwrap_or_default()
    }

    /// The files `include:` joined into the spec last loaded, and the folders its globs
    /// searched.
    pub(crate) fn included(&self) -> (Vec<std::path::PathBuf>, Vec<std::path::PathBuf>) {
        let inputs = lock(&self.inputs);
        let files = inputs.parsed.parts.iter().map(|p| p.path.clone()).collect();
        (files, inputs.parsed.searched.clone())
    }

    /// Where each item of the spec now serving was written, by label (`routes[3]`).
    pub(crate) fn places(&self) -> HashMap<String, Place> {
        let inputs = lock(&self.inputs);
        places(&inputs.source, &inputs.parsed)
    }

    /// Runs `f` with the source and the spec now serving.
    pub(crate) fn with_spec<R>(&self, f: impl FnOnce(&SpecSource, &Spec) -> R) -> R {
        let inputs = lock(&self.inputs);
        f(&inputs.source, &inputs.parsed.spec)
    }

    /// Serves `source` (read as `parsed`) instead of the spec now serving.
    pub(crate) fn replace(&self, source: SpecSource, parsed: Parsed) -> Result<Swapped, SwapError> {
        let mut inputs = lock(&self.inputs);
        let serving = self.snapshot.load();
        let built = build(
            &source,
            &parsed,
            &inputs.stubs,
            &self.private,
            Known {
                resources: &[],
                openapi: serving.spec.openapi.as_ref(),
            },
            self.template_budget,
        );
        let mut swapped = self.swap(built, String::new())?;
        // Told after the swap: the new spec serves while its changes are being compared.
        (swapped.changes, swapped.route_changes) =
            describe_changes(&inputs.parsed.spec, &parsed.spec);
        inputs.source = source;
        inputs.parsed = parsed;
        Ok(swapped)
    }

    /// Adds routes in front of the spec's, checked like the spec's own. Returns their ids.
    pub(crate) fn add_stubs(&self, routes: Vec<Route>) -> Result<(Vec<u64>, Swapped), SwapError> {
        let mut inputs = lock(&self.inputs);
        let mut stubs = inputs.stubs.clone();
        let first = inputs.next_stub;
        let ids: Vec<u64> = (first..first + routes.len() as u64).collect();
        stubs.extend(
            routes
                .into_iter()
                .zip(&ids)
                .map(|(route, &id)| Stub { id, route }),
        );
        let swapped = self.rebuild(&inputs, &stubs)?;
        inputs.stubs = stubs;
        inputs.next_stub = first + ids.len() as u64;
        Ok((ids, swapped))
    }

    /// Removes one runtime route; `false` when there is none with that id.
    pub(crate) fn remove_stub(&self, id: u64) -> Result<bool, SwapError> {
        let mut inputs = lock(&self.inputs);
        let stubs: Vec<Stub> = inputs
            .stubs
            .iter()
            .filter(|s| s.id != id)
            .cloned()
            .collect();
        if stubs.len() == inputs.stubs.len() {
            return Ok(false);
        }
        self.rebuild(&inputs, &stubs)?;
        inputs.stubs = stubs;
        Ok(true)
    }

    /// Adds routes with the ids they were given (by the replicas' shared counter), in front of
    /// the spec's, checked like the spec's own.
    pub(crate) fn add_stubs_as(&self, added: Vec<Stub>) -> Result<Swapped, SwapError> {
        let mut inputs = lock(&self.inputs);
        let mut stubs = inputs.stubs.clone();
        let next = added.iter().map(|s| s.id + 1).max().unwrap_or(0);
        stubs.extend(added);
        let swapped = self.rebuild(&inputs, &stubs)?;
        inputs.stubs = stubs;
        inputs.next_stub = inputs.next_stub.max(next);
        Ok(swapped)
    }

    /// Serves exactly `stubs` (those the replicas share, read again after another changed
    /// them).
    pub(crate) fn set_stubs(&self, stubs: Vec<Stub>) -> Result<(), SwapError> {
        let mut inputs = lock(&self.inputs);
        if inputs.stubs == stubs {
            return Ok(());
        }
        self.rebuild(&inputs, &stubs)?;
        let next = stubs.iter().map(|s| s.id + 1).max().unwrap_or(0);
        inputs.stubs = stubs;
        inputs.next_stub = inputs.next_stub.max(next);
        Ok(())
    }

    /// Removes every runtime route.
    pub(crate) fn clear_stubs(&self) -> Result<(), SwapError> {
        let mut inputs = lock(&self.inputs);
        if inputs.stubs.is_empty() {
            return Ok(());
        }
        self.rebuild(&inputs, &[])?;
        inputs.stubs.clear();
        Ok(())
    }

    /// The serving spec compiled again with other stubs: the spec file is not read again, nor
    /// are the resources' seed files (their definitions are the serving ones).
    fn rebuild(&self, inputs: &Inputs, stubs: &[Stub]) -> Result<Swapped, SwapError> {
        let serving = self.snapshot.load();
        let built = build(
            &inputs.source,
            &inputs.parsed,
            stubs,
            &self.private,
            Known {
                resources: &serving.spec.resources,
                openapi: serving.spec.openapi.as_ref(),
            },
            self.template_budget,
        );
        self.swap(built, String::new())
    }

    fn swap(&self, built: Built, changes: String) -> Result<Swapped, SwapError> {
        let (snapshot, swapped) = finish(built, &self.stores, changes)?;
        let ws: Vec<String> = snapshot.spec.ws.iter().map(|w| w.path.clone()).collect();
        let sse: Vec<String> = snapshot.spec.sse.iter().map(|s| s.path.clone()).collect();
        self.snapshot.store(Arc::new(snapshot));
        // After the swap: a connection that looks its channel up from now on sees the new spec.
        let ws: Vec<&str> = ws.iter().map(String::as_str).collect();
        let sse: Vec<&str> = sse.iter().map(String::as_str).collect();
        self.hub.retire(&ws, &sse);
        self.monitor.announce("routes", serde_json::json!({}));
        Ok(swapped)
    }
}

/// The snapshot of a successful build, with the stores brought in line with its resources.
/// Last, so that a spec that fails to compile leaves the data as it was.
fn finish(
    built: Built,
    stores: &Stores,
    changes: String,
) -> Result<(Snapshot, Swapped), SwapError> {
    let stub_errors = built.stub_lines(Severity::Error);
    if !stub_errors.is_empty() {
        return Err(SwapError::Stubs(stub_errors));
    }
    let stub_warnings = built.stub_lines(Severity::Warning);
    let Some(spec) = built.compiled else {
        return Err(SwapError::Spec(built.report));
    };
    let (handles, resources) = stores.sync(&spec.resources)?;
    Ok((
        Snapshot {
            spec,
            stores: handles,
        },
        Swapped {
            changes,
            warnings: built.report,
            stub_warnings,
            resources,
            route_changes: RouteChanges::default(),
        },
    ))
}
