//! What the server adds to a resource's writes: the id of a created record (`new_id`) and its
//! computed fields (`computed`), rendered with the request and the record being written.
//!
//! Rendering happens under the store's write lock, as an update's templates read the stored
//! record it changes; fuel and the template budget bound what one write can hold it for.

use std::sync::Arc;

use actix_web::HttpRequest;
use minijinja::Value as Jinja;
use serde_json::{Map, Value};

use super::change::Ids;
use super::store::Writer;
use crate::engine::template_context;
use crate::error::StoreError;
use crate::model::computed::{ComputedField, NewId, Writes};
use crate::model::resource::{MAX_DEPTH, depth, kind};
use crate::random::SeededRng;
use crate::template::TemplateSet;

/// How many `counter` values in a row a `new_id` template tries past ids already taken (a
/// record created with the id the next counter would give, or a restart that forgot deleted
/// ones) before it leaps.
const COUNTER_TRIES: u64 = 100;

/// The writes of one resource for one request.
pub(crate) struct Compute<'a> {
    writes: &'a Writes,
    templates: &'a TemplateSet,
    /// The request's part of the templates' context (and the generator), built once; none
    /// when nothing renders.
    request: Option<Jinja>,
    rng: Option<Arc<SeededRng>>,
}

/// What a write's templates are rendered with, but the resource's own part.
pub(crate) struct WriteContext<'a> {
    pub(crate) writes: &'a [Arc<Writes>],
    pub(crate) templates: &'a TemplateSet,
    pub(crate) params: Map<String, Value>,
    /// Under `--seed`: the write's generator.
    pub(crate) rng: Option<Arc<SeededRng>>,
}

impl WriteContext<'_> {
    /// The writes of resource `i` for request `req` with `body`.
    pub(crate) fn of(&self, i: usize, req: &HttpRequest, body: &[u8]) -> Compute<'_> {
        // OpenAPI collections have no entry of their own: they add nothing.
        static PLAIN: std::sync::OnceLock<Writes> = std::sync::OnceLock::new();
        let writes = self
            .writes
            .get(i)
            .map_or_else(|| PLAIN.get_or_init(Writes::default), |w| &**w);
        let request = writes.renders().then(|| {
            template_context::for_response(
                req,
                body,
                &self.params,
                writes.reads,
                self.rng.as_ref(),
                &[],
            )
        });
        Compute {
            writes,
            templates: self.templates,
            request,
            rng: self.rng.clone(),
        }
    }
}

impl Compute<'_> {
    /// The context with `record` in it, and `counter` (a new id) or `previous` (a computed
    /// field: the stored record, none on create).
    fn context(
        &self,
        record: &Map<String, Value>,
        counter: Option<u64>,
        previous: Option<&Map<String, Value>>,
    ) -> Jinja {
        let record = Jinja::from(minijinja::value::Serde(record));
        let own = match counter {
            Some(n) => minijinja::context! { record, counter => n },
            None => minijinja::context! {
                record,
                previous => previous.map(|p| Jinja::from(minijinja::value::Serde(p))),
            },
        };
        match &self.request {
            Some(request) => minijinja::value::merge_maps([own, request.clone()]),
            None => own,
        }
    }

    fn uuid(&self) -> Value {
        use rand::RngExt;
        let bytes: [u8; 16] = crate::random::with_rng(self.rng.as_deref(), |r| r.random());
        Value::String(
            uuid::Builder::from_random_bytes(bytes)
                .into_uuid()
                .to_string(),
        )
    }
}

impl Writer for Compute<'_> {
    fn new_id(&self, record: &Map<String, Value>, c: &dyn Ids) -> Result<Value, StoreError> {
        let (tpl, counts) = match &self.writes.new_id {
            NewId::Auto => return c.generate_id(),
            NewId::Int => return c.next_int(),
            NewId::Uuid => return Ok(self.uuid()),
            NewId::Template { tpl, counts } => (tpl, *counts),
        };
        let mut counter = c.count().saturating_add(1);
        let mut tries = 0;
        loop {
            let id = self
                .templates
                .try_render(tpl, &self.context(record, Some(counter), None))
                .map_err(|e| StoreError::NewId(e.0))?;
            match &id {
                Value::String(s) if s.is_empty() => {
                    return Err(StoreError::NewId("the template made an empty id".into()));
                }
                Value::String(_) | Value::Number(_) => {}
                other => {
                    return Err(StoreError::NewId(format!(
                        "the template made {}, not a string or a number",
                        kind(other)
                    )));
                }
            }
            tries += 1;
            // A taken id is the conflict it is, unless another counter makes another id.
            if !counts || !c.taken(&id) || tries >= COUNTER_TRIES + 62 {
                return Ok(id);
            }
            // One after another first; past a run of taken ones (a client that took the
            // next hundred ids itself), leaps that double, so no finite run blocks creating.
            let step = match tries.checked_sub(COUNTER_TRIES) {
                None => 1,
                Some(k) => 1u64 << k.min(62),
            };
            counter = counter.saturating_add(step);
        }
    }

    fn compute(
        &self,
        record: &mut Map<String, Value>,
        old: Option<&Map<String, Value>>,
        patch: Option<&Map<String, Value>>,
    ) -> Result<(), StoreError> {
        if self.writes.fields.is_empty() {
            return Ok(());
        }
        let sent = |r: &Map<String, Value>, name: &str| match patch {
            Some(p) => p.contains_key(name),
            None => r.contains_key(name),
        };
        let mut due: Vec<&ComputedField> = Vec::new();
        for f in &self.writes.fields {
            if f.overridable && sent(record, &f.name) {
                continue;
            }
            let computed_now = match old {
                None => f.on_create,
                Some(_) => f.on_update,
            };
            if computed_now {
                // The template sees the record without the value it replaces.
                record.shift_remove(&f.name);
                due.push(f);
            } else {
                // Not computed by this write, and not the client's either: an update keeps
                // what the create set; a create leaves an update's field to the update.
                match old.and_then(|o| o.get(&f.name)) {
                    Some(v) => {
                        record.insert(f.name.clone(), v.clone());
                    }
                    None => {
                        record.shift_remove(&f.name);
                    }
                }
            }
        }
        if due.is_empty() {
            return Ok(());
        }
        let tpls: Vec<_> = due.iter().map(|f| &f.value).collect();
        let values = self
            .templates
            .try_render_each(&tpls, &self.context(record, None, old))
            .map_err(|(i, e)| StoreError::Computed {
                field: due[i].name.clone(),
                reason: e.0,
            })?;
        for (f, v) in due.into_iter().zip(values) {
            // The record is one level more: it must stay as deep as a state file keeps.
            if depth(&v) + 1 > MAX_DEPTH {
                return Err(StoreError::Computed {
                    field: f.name.clone(),
                    reason: format!(
                        "the value nests deeper than a record may ({MAX_DEPTH} levels)"
                    ),
                });
            }
            record.insert(f.name.clone(), v);
        }
        Ok(())
    }
}
