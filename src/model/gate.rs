//! A resource's `match:` and `otherwise:`: conditions that every one of its endpoints checks
//! before the operation, and the answer to a request that fails them.
//!
//! A gate answers; it does not route. A request that fails it gets `otherwise` (or the
//! default 401), never another route of the same path: the resource owns its paths, and a
//! client that is refused should be told so rather than get some other answer.

use std::sync::Arc;

use crate::spec::Resource;
use crate::spec::locate::{KeyPath, at};

use super::matcher::Matcher;
use super::pass::CompilePass;
use super::response::{self, ResponseSet};

/// A resource's compiled gate.
#[derive(Debug)]
pub(crate) struct Gate {
    pub(crate) matcher: Matcher,
    /// What a request that fails `matcher` gets; `None`: the default 401.
    pub(crate) otherwise: Option<ResponseSet>,
}

/// Compiles the gate of resource `r` at `here`; `None` when it has none (or a problem, which
/// is reported).
pub(crate) fn compile(r: &Resource, here: &KeyPath, cx: &mut CompilePass<'_>) -> Option<Arc<Gate>> {
    let Some(m) = &r.matcher else {
        if r.otherwise.is_some() {
            cx.problems.key(
                at(here, &["otherwise"]),
                "otherwise answers the requests that fail the resource's match:, and it has \
                 none; add a match: beside it",
            );
        }
        return None;
    };
    let matcher = Matcher::compile_at(m, &at(here, &["match"]), &mut cx.problems);
    let otherwise = match &r.otherwise {
        Some(resp) => Some(ResponseSet::One(response::compile_one(
            resp,
            &at(here, &["otherwise"]),
            cx,
        )?)),
        None => None,
    };
    Some(Arc::new(Gate {
        matcher: matcher?,
        otherwise,
    }))
}
