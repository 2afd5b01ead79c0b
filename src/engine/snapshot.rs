//! One version of what serves: a compiled spec and the stores of its resources, swapped in
//! whole by a reload. The stores are handles into data that outlives the swap (`resources`);
//! pairing them with the spec that indexes them means a request never mixes two versions.

use std::sync::Arc;

use arc_swap::ArcSwap;

use super::resources::store::Store;
use crate::model::compiled::CompiledSpec;

/// One compiled spec with the stores of its resources: what a request is answered from, from
/// start to end.
pub(crate) struct Snapshot {
    pub(crate) spec: CompiledSpec,
    /// The data of `spec.resources`, by the same index.
    pub(crate) stores: Vec<Arc<Store>>,
}

/// The snapshot being served; reloads replace it, requests take an owned copy of the pointer.
pub(crate) type LiveSnapshot = ArcSwap<Snapshot>;
